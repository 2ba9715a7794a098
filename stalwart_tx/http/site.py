"""An HTTP Site that knows its in-flight requests, so shutdown can let them finish."""

from __future__ import annotations

import io
import json
import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site


class TrackedRequest(Request):
    # Set by a long-lived response (event stream, WebSocket) to end itself when draining starts.
    end_when_draining: Callable[[], object] | None = None
    _body_limit: int | None = None
    _body_received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        # Twisted spools a body to memory or disk before any route sees it: refuse an oversized
        # one from its Content-Length (or, when chunked, as it streams) before storing a byte.
        site: DrainableSite = self.channel.site  # type: ignore[attr-defined]
        self._body_limit = site.body_limit(getattr(self.channel, "_path", b"") or b"")
        if length is not None and length > self._body_limit:
            self._refuse_body()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._body_received += len(data)
        if self._body_limit is not None and self._body_received > self._body_limit:
            self._refuse_body()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse_body(self) -> None:
        """Answer 413 with a problem body at once and close, reading nothing more."""
        if self._refused:
            return
        self._refused = True
        self.content = io.BytesIO()
        body = json.dumps({
            "type": "urn:ietf:params:jmap:error:limit", "status": 413,
            "title": "Content Too Large", "limit": body_limit_name(self.channel),
            "detail": f"The request body is larger than {self._body_limit} bytes.",
        }).encode()
        head = (
            b"HTTP/1.1 413 Content Too Large\r\n"
            b"Content-Type: application/problem+json\r\n"
            b"Access-Control-Allow-Origin: *\r\n"
            b"Connection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        transport = self.channel.transport  # type: ignore[union-attr]
        if transport is None:
            return
        transport.write(head + body)
        transport.loseConnection()

    def process(self) -> None:
        site: DrainableSite = self.channel.site  # type: ignore[attr-defined]
        site.in_flight.add(self)
        self.notifyFinish().addBoth(lambda _: site.request_done(self))
        if site.draining:
            close_after(self)
        super().process()


def body_limit_name(channel: object) -> str:
    path = getattr(channel, "_path", b"") or b""
    return "maxSizeUpload" if path.startswith(UPLOAD_PATH) else "maxSizeRequest"


UPLOAD_PATH = b"/jmap/upload/"
DEFAULT_BODY_LIMIT = 50_000_000


def close_after(request: Request) -> None:
    """Make the connection close once this response is sent, instead of being kept alive."""
    if not request.startedWriting:
        request.setHeader(b"Connection", b"close")
    request.channel.persistent = False  # type: ignore[union-attr]


class DrainableSite(Site):
    logger = Logger()
    requestFactory = TrackedRequest
    # Tracebacks go to the log, never to clients.
    displayTracebacks = False

    def __init__(
        self, resource: IResource, *, body_limit: Callable[[bytes], int] | None = None,
        access_log: bool = True, **kwargs: Any,
    ) -> None:
        super().__init__(resource, **kwargs)
        # a log line per request costs as much as a small request itself: off unless asked for
        self.access_log = access_log
        # Largest request body accepted for a path; the routes enforce their own limits too.
        self.body_limit = body_limit or (lambda _path: DEFAULT_BODY_LIMIT)
        self.in_flight: set[Request] = set()
        self.draining = False
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._drained: list[Deferred[None]] = []

    def log(self, request: http.Request) -> None:
        if self.access_log:
            super().log(request)

    def buildProtocol(self, addr: IAddress | None) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            self._connections.add(protocol)
        return protocol

    def request_done(self, request: Request) -> None:
        self.in_flight.discard(request)
        if not self.in_flight:
            waiting, self._drained = self._drained, []
            for waiter in waiting:
                waiter.callback(None)

    def _close_idle_connections(self) -> None:
        busy = {request.channel for request in self.in_flight}
        for protocol in list(self._connections):
            channel = getattr(protocol, "_channel", protocol)
            transport = getattr(channel, "transport", None)
            if channel not in busy and transport is not None:
                transport.loseConnection()

    async def drain(self, clock: IReactorTime, timeout: float) -> None:
        """Let in-flight requests finish (closing their connections after), then cut the rest.

        Call after the listening port has stopped; keep-alive connections would otherwise go on
        carrying new requests.
        """
        self.draining = True
        for request in list(self.in_flight):
            close_after(request)
            end = getattr(request, "end_when_draining", None)
            if end is not None:
                end()
        self._close_idle_connections()
        if self.in_flight:
            self.logger.info("Waiting for {count} in-flight requests", count=len(self.in_flight))
            waiter: Deferred[None] = Deferred()
            self._drained.append(waiter)
            waiter.addTimeout(timeout, clock, onTimeoutCancel=lambda *_: None)
            await waiter
        for request in list(self.in_flight):
            self.logger.warn("Aborting request {uri} still running at shutdown", uri=request.uri)
            request.channel.transport.abortConnection()  # type: ignore[union-attr]
        self._close_idle_connections()
