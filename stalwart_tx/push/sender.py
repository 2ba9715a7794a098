"""One Web Push request (RFC 8030 §5): POST a message to a push resource and classify the answer.

The URL is used exactly as the client gave it. Redirects are not followed (a push resource has no
reason to redirect, and following one would let a client aim the server elsewhere). Certificates
are verified as a browser would. Connecting and the whole exchange are each bounded in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse
from zope.interface import implementer

from stalwart_tx.push.retry import parse_retry_after

# A push service answers with an empty body or a short error; more than this is not read.
MAX_RESPONSE_BODY = 64 * 1024


class Verdict(Enum):
    DELIVERED = "delivered"  # 2xx: the push service took it
    GONE = "gone"  # 404/410: the subscription no longer exists there
    RETRY = "retry"  # network error, timeout, 429 or 5xx: try again later
    REJECTED = "rejected"  # any other answer: this message will never be accepted


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""


def classify(status: int, retry_after: float | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, status)
    if status in (404, 410):
        return Outcome(Verdict.GONE, status)
    if status == 429 or 500 <= status < 600:
        return Outcome(Verdict.RETRY, status, retry_after)
    return Outcome(Verdict.REJECTED, status)


@implementer(IBodyProducer)
class _BytesBody:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:
        consumer.write(self._data)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _DiscardBody(Protocol):
    """Reads and drops the response body, so the connection can be reused; cuts off a huge one."""

    def __init__(self, done: defer.Deferred[None]) -> None:
        self._done = done
        self._received = 0

    def dataReceived(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > MAX_RESPONSE_BODY and self.transport is not None:
            # a response body's transport is a producer: stopping it drops the connection
            self.transport.stopProducing()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self._done.called:
            self._done.callback(None)


class WebPushSender:
    """Posts push messages through one connection pool (kept-alive connections are reused)."""

    def __init__(
        self, reactor: Any, *, connect_timeout: float = 10.0, exchange_timeout: float = 30.0
    ) -> None:
        self._reactor = reactor
        self._exchange_timeout = exchange_timeout
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 2
        self._pool.cachedConnectionTimeout = 60
        self._agent = Agent(reactor, connectTimeout=connect_timeout, pool=self._pool)

    async def post(
        self, url: str, body: bytes, *, ttl: int, content_encoding: str | None = None
    ) -> Outcome:
        """POST ``body`` (JSON, encrypted when ``content_encoding`` is given) to ``url``.

        Never raises for anything the network or the push service does; cancelling the call
        (the service stopping) raises CancelledError.
        """
        headers = Headers({
            b"Content-Type": [b"application/json"],
            # RFC 8030 §5.2: how long the push service may keep the message for an offline device
            b"TTL": [str(ttl).encode()],
        })
        if content_encoding is not None:
            headers.addRawHeader(b"Content-Encoding", content_encoding.encode())
        try:
            pending: defer.Deferred[IResponse] = self._agent.request(
                b"POST", url.encode("ascii"), headers, _BytesBody(body)
            )
            pending.addTimeout(self._exchange_timeout, self._reactor)
            response = await pending
            retry_after = parse_retry_after(
                (response.headers.getRawHeaders(b"Retry-After") or [None])[0],
                self._reactor.seconds(),
            )
            finished: defer.Deferred[None] = defer.Deferred()
            response.deliverBody(_DiscardBody(finished))
            finished.addTimeout(self._exchange_timeout, self._reactor)
            await finished
        except defer.CancelledError:
            raise  # our own cancellation; a timeout arrives as TimeoutError
        except Exception as error:
            return Outcome(Verdict.RETRY, detail=f"{type(error).__name__}: {error}")
        return classify(response.code, retry_after)

    async def close(self) -> None:
        await self._pool.closeCachedConnections()
