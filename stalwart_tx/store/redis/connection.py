"""Connections to Redis: a URL becomes a txredisapi pool (direct or through Sentinel).

Every command runs under a deadline (txredisapi's reply timeout on a ready connection, which
then drops that connection; ours, on the injected reactor, while none is ready), so no call can
hang; every failure of txredisapi or of the network is translated into a typed store error here
and only here. The pool reconnects with backoff forever (also after a refused password or a
missing database, which an operator may fix while the service runs), and the outage is logged
once when it starts and once when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import txredisapi
from hiredis import pack_command
from twisted.internet import defer
from twisted.internet import error as net_error
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    PrivateCertificate,
    optionsForClientTLS,
    trustRootFromCertificates,
)
from twisted.logger import Logger

from stalwart_tx import send_now
from stalwart_tx.store.errors import StoreError, StoreUnavailable
from stalwart_tx.store.redis.scripts import Script
from stalwart_tx.store.redis.unix_endpoint import plain_read_unix_endpoint
from stalwart_tx.store.redis.url import RedisURL

log = Logger()

# The write script allocates a few KB a call (its arguments become Lua strings), and Lua's
# collector runs a full cycle over the interpreter's whole heap (every loaded script) each time
# the heap doubles (pause 200 %). Letting the heap grow to ten times what survived the last cycle
# (a few MB) before the next makes those cycles rarer: a flag change's two scripts went from
# 91, 102 and 116 to 74, 83 and 95 us of Redis time (one client, 1,000 changes each). The
# setting is the interpreter's, so it holds until Redis makes a new one, when none of our
# scripts is known any more (``run_script`` then sends it again).
LUA_GC_PAUSE = 1000
TUNE_LUA_GC = f"return collectgarbage('setpause', {LUA_GC_PAUSE})"


def _lua_gc_untuned(failure: Any) -> None:
    log.info("Redis refused to tune its Lua garbage collector: {error}", error=failure.value)

# commands are pipelined, and scripts run one at a time in Redis anyway: every command goes to
# the first ready connection (so commands run in the order issued), and the second stands ready
# to take over at once when the first is dropped
POOL_SIZE = 2
# first retry soon (a restart is usually quick), then every few seconds at most
RECONNECT_INITIAL_DELAY = 0.1
RECONNECT_MAX_DELAY = 2.0

# txredisapi logs every failed AUTH or SELECT of a "lazy" factory, i.e. once per retry; we report
# the outage once instead (isLazy changes nothing else for a factory that reconnects)
_QUIET = False

# replies that mean "not now" rather than "never": the caller should retry later
_TRANSIENT_REPLIES = frozenset({
    "LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "OOM",
    "NOREPLICAS", "NOAUTH", "WRONGPASS", "NOPERM",
})


def as_text(value: str | bytes) -> str:
    """A reply as text: txredisapi decodes UTF-8 replies and leaves other bytes alone."""
    return value if isinstance(value, str) else value.decode()


def as_bytes(value: str | bytes) -> bytes:
    # a reply that was valid UTF-8 came decoded; encoding it again restores the exact bytes
    return value.encode() if isinstance(value, str) else value


def pairs(flat: list[Any]) -> list[tuple[Any, Any]]:
    """[k1, v1, k2, v2, ...] (as HGETALL answers) as [(k1, v1), (k2, v2), ...]."""
    return list(zip(flat[::2], flat[1::2], strict=True))


def translate_error(exc: BaseException, what: str, timeout: float) -> BaseException:
    """The typed store error for a failure of ``what``; other exceptions (bugs) pass unchanged."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, txredisapi.ResponseError):
        message = str(exc)
        if message.split(" ", 1)[0].upper() in _TRANSIENT_REPLIES:
            return StoreUnavailable(f"Redis cannot serve {what} now: {message}")
        return StoreError(f"Redis refused {what}: {message}")
    if isinstance(exc, defer.TimeoutError | defer.CancelledError | txredisapi.TimeoutError):
        return StoreUnavailable(f"Redis did not answer {what} within {timeout:g} s")
    if isinstance(
        exc,
        txredisapi.ConnectionError | txredisapi.InvalidResponse | net_error.ConnectError
        | net_error.ConnectionLost | net_error.ConnectionDone | OSError,
    ):
        return StoreUnavailable(f"Redis is unreachable ({what}): {exc}")
    if isinstance(exc, txredisapi.RedisError):
        return StoreError(f"Redis client error in {what}: {exc}")
    return exc


class Availability:
    """Whether Redis answers; logs only when that changes, never once per request."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.up: bool | None = None

    def succeeded(self) -> None:
        if self.up is False:
            log.info("Redis at {where} is reachable again", where=self.where)
        self.up = True

    def failed(self, reason: str) -> None:
        if self.up is not False:
            log.warn(
                "Redis at {where} is unavailable ({reason}); store calls fail until it is back",
                where=self.where, reason=reason,
            )
        self.up = False


class _Resilient:
    """Factory behaviour shared by our pools: reconnect with backoff whatever went wrong."""

    initialDelay = RECONNECT_INITIAL_DELAY
    maxDelay = RECONNECT_MAX_DELAY
    # set by RedisFactory
    size: int
    pool: list[Any]
    disconnectCalled: bool

    def __init__(self, *args: Any, availability: Availability, **kwargs: Any) -> None:
        self.availability = availability
        super().__init__(*args, **kwargs)

    def stopTrying(self) -> defer.Deferred[None]:
        # txredisapi gives up after a refused AUTH or SELECT; we keep trying (with backoff), so
        # the store recovers once the server is fixed, without a restart of the service
        return defer.succeed(None)

    def connectionError(self, why: str) -> None:
        # a failed AUTH or SELECT; reported once per outage instead of failing a Deferred
        self.availability.failed(str(why))


class _SendingNow:
    """A pool connection's transport whose writes leave at once when nothing waits before
    them (``send_now``): queued for the reactor's next turn, they cost a third of a sequential
    call's CPU. Anything but ``write`` goes to the transport itself."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    @staticmethod
    def fits(transport: Any) -> bool:
        return send_now.direct(transport)

    def write(self, data: bytes) -> None:
        send_now.write_batched(self._transport, data)

    @property
    def _aborting(self) -> bool:
        # asked before every command (RedisConnection._connection): a property, not a miss
        # that goes through __getattr__
        return bool(getattr(self._transport, "_aborting", False))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _LeanCodec:
    """txredisapi's encoding of commands and decoding of replies, the same bytes and values
    for what the pool sends (no pipelining, no number conversion), written for speed: they were
    a tenth of an IMAP process's CPU (a command of 200 ids went argument by argument through
    a bytearray)."""

    errors: str

    def _build_command(self, *args: Any, **kwargs: Any) -> bytes:
        try:
            # hiredis's C encoder: the same bytes for str (strict UTF-8), bytes and int (a
            # float as its shortest text, where txredisapi gave six decimals), at a fraction of
            # the cost (this was 3 % of an IMAP process's samples); anything else, and text it
            # cannot encode (an InvalidData below), goes the long way
            return pack_command(args)  # type: ignore[no-any-return]
        except (TypeError, UnicodeEncodeError):
            pass
        parts = [b"*%d\r\n" % len(args)]
        append = parts.append
        for arg in args:
            kind = type(arg)
            if kind is str:
                try:
                    data = arg.encode("utf-8", self.errors)
                except UnicodeEncodeError as error:
                    raise txredisapi.InvalidData(
                        f"Error encoding unicode value {arg!r}: {error}"
                    ) from None
            elif kind is bytes:
                data = arg
            elif kind is int:
                data = b"%d" % arg
            elif kind is float:
                data = repr(arg).encode()  # as pack_command writes it
            else:
                data = self._encode_value(arg)  # type: ignore[attr-defined]
            append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    def tryConvertData(self, data: Any) -> Any:
        kind = type(data)
        if kind is bytes:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return data
        if kind is list:
            convert = self.tryConvertData
            return [convert(item) for item in data]
        return data


class _Batching:
    """The commands the replies of one read set off leave together (``send_now``)."""

    def dataReceived(self, data: bytes, *rest: Any) -> Any:
        send_now.open_batch()
        try:
            return super().dataReceived(data, *rest)  # type: ignore[misc]
        finally:
            send_now.close_batch()


class _OneTimer:
    """A pool command costs one Deferred, and the connection one timer for all its commands:
    txredisapi gave each command three Deferreds and a timer of its own, set and cancelled,
    a few per cent of an IMAP process's CPU. The timer runs while replies are awaited and
    starts over at each reply; when it fires, every awaited command fails and the connection
    is dropped, as txredisapi does when one command's timer fires (a reply that late must
    never be taken for a later command's). Pipelines, MULTI and calls with options take
    txredisapi's way."""

    replyTimeout: float | None
    replyQueue: Any
    transport: Any
    connected: int
    pipelining: bool
    inMulti: bool
    callLater: Any
    _timer: Any = None

    def execute_command(self, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        if kwargs or self.pipelining or self.inMulti or not self.replyTimeout:
            return super().execute_command(*args, **kwargs)  # type: ignore[misc, no-any-return]
        if not self.connected:
            raise txredisapi.ConnectionError("Not connected")
        self.transport.write(self._build_command(*args))  # type: ignore[attr-defined]
        result: defer.Deferred[Any] = defer.Deferred()
        self.replyQueue.waiting.append(result)
        if self._timer is None:
            self._timer = self.callLater(self.replyTimeout, self._timed_out)
        return result

    def replyReceived(self, reply: Any) -> None:
        waiting = self.replyQueue.waiting
        if not waiting:
            self.replyQueue.pending.append(reply)  # as DeferredQueue.put keeps it
            return
        awaited = waiting.pop(0)
        if self._timer is not None:
            if waiting:
                self._timer.reset(self.replyTimeout)
            else:
                self._timer.cancel()
                self._timer = None
        if awaited.called:  # given up on (cancelled) before its reply came
            return
        if isinstance(reply, Exception):
            awaited.errback(reply)
        else:
            awaited.callback(reply)

    def _timed_out(self) -> None:
        self._timer = None
        late = TimeoutError(f"Not received Redis response in {self.replyTimeout} seconds")
        while self.replyQueue.waiting:
            self.replyReceived(late)
        self.transport.abortConnection()

    def connectionLost(self, why: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connectionLost(why)  # type: ignore[misc]


class _PoolProtocol(_Batching, _OneTimer, _LeanCodec, txredisapi.RedisProtocol):  # type: ignore[misc]
    pass


_SentinelBase: Any = txredisapi.SentinelRedisProtocol


class _SentinelPoolProtocol(_Batching, _OneTimer, _LeanCodec, _SentinelBase):  # type: ignore[misc]
    pass


class _TrackedPool(_Resilient):
    def addConnection(self, conn: Any) -> None:
        transport: Any = getattr(conn, "transport", None)
        if hasattr(transport, "setTcpNoDelay"):
            # commands of concurrent requests follow each other before the last one's reply;
            # Nagle would hold each back until the server acknowledged the one before
            transport.setTcpNoDelay(True)
        if _SendingNow.fits(transport):
            conn.transport = _SendingNow(transport)
        super().addConnection(conn)  # type: ignore[misc]
        if conn in self.pool:
            # proves the server answers before any request does
            conn.ping().addCallbacks(lambda _: self.availability.succeeded(), lambda _: None)

    def delConnection(self, conn: Any) -> None:
        super().delConnection(conn)  # type: ignore[misc]
        if not self.size and not self.disconnectCalled:
            self.availability.failed("connection lost")


class _PoolFactory(_TrackedPool, txredisapi.RedisFactory):  # type: ignore[misc]
    protocol = _PoolProtocol


class _SentinelPoolFactory(_TrackedPool, txredisapi.SentinelConnectionFactory):  # type: ignore[misc]
    protocol = _SentinelPoolProtocol


class SubscriptionHooks(Protocol):
    def subscribed(self) -> None: ...
    def lost(self) -> None: ...
    def message(self, data: str | bytes) -> None: ...


class _SubscribingFactory(_Resilient):
    """A one-connection factory that (re)subscribes to one channel on every connection."""

    def __init__(
        self, *args: Any, channel: str, hooks: SubscriptionHooks, **kwargs: Any
    ) -> None:
        self.channel = channel
        self.hooks = hooks
        super().__init__(*args, **kwargs)

    def addConnection(self, conn: Any) -> None:
        super().addConnection(conn)  # type: ignore[misc]
        if conn in self.pool:
            conn.subscribe(self.channel).addCallbacks(
                lambda _: self.hooks.subscribed(), lambda _: None
            )

    def delConnection(self, conn: Any) -> None:
        super().delConnection(conn)  # type: ignore[misc]
        self.hooks.lost()


class _ChannelProtocol(txredisapi.SubscriberProtocol):  # type: ignore[misc]
    def messageReceived(self, pattern: Any, channel: Any, message: str | bytes) -> None:
        self.factory.hooks.message(message)


class _SentinelChannelProtocol(_ChannelProtocol, txredisapi.SentinelRedisProtocol):  # type: ignore[misc]
    """Subscribes like _ChannelProtocol, once Sentinel's check says it reached a master."""


class _SubscriberFactory(_SubscribingFactory, txredisapi.SubscriberFactory):  # type: ignore[misc]
    protocol = _ChannelProtocol


class _SentinelSubscriberFactory(_SubscribingFactory, txredisapi.SentinelConnectionFactory):  # type: ignore[misc]
    protocol = _SentinelChannelProtocol


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{what}={path}: cannot read it: {error.strerror}") from None


def tls_options(url: RedisURL) -> Any:
    """The client TLS settings of a rediss:// URL (read once, at start-up)."""
    client: PrivateCertificate | None = None
    if url.cert_file:
        pem = _read(url.cert_file, "cert")
        if url.key_file:
            pem += b"\n" + _read(url.key_file, "key")
        try:
            client = PrivateCertificate.loadPEM(pem)  # type: ignore[no-untyped-call]
        except Exception as error:
            raise ValueError(f"cert={url.cert_file}: not a PEM certificate and key: {error}") \
                from None
    if not url.verify:
        if client is None:
            return CertificateOptions(verify=False)
        return CertificateOptions(
            privateKey=client.privateKey.original, certificate=client.original, verify=False
        )
    trust: Any = None
    if url.ca_file:
        pem = _read(url.ca_file, "ca")
        blocks = [b + b"-----END CERTIFICATE-----" for b in pem.split(b"-----END CERTIFICATE-----")
                  if b"-----BEGIN CERTIFICATE-----" in b]
        try:
            trust = trustRootFromCertificates(  # type: ignore[no-untyped-call]
                [Certificate.loadPEM(b) for b in blocks]
            )
        except Exception as error:
            raise ValueError(f"ca={url.ca_file}: not a PEM certificate: {error}") from None
        if not blocks:
            raise ValueError(f"ca={url.ca_file}: holds no PEM certificate")
    return optionsForClientTLS(url.host, trustRoot=trust, clientCertificate=client)


class ChannelSubscriber:
    """A dedicated connection subscribed to one channel, resubscribing after every reconnect."""

    def __init__(
        self, connection: RedisConnection, channel: str, on_message: Callable[[str | bytes], None]
    ) -> None:
        self._connection = connection
        self._on_message = on_message
        self._ready = False
        self._waiters: list[defer.Deferred[None]] = []
        self._handler = connection._open_subscriber(channel, self)

    def subscribed(self) -> None:
        self._ready = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def lost(self) -> None:
        self._ready = False

    def message(self, data: str | bytes) -> None:
        self._on_message(data)

    async def wait_ready(self) -> None:
        """Return once the subscription is active; StoreUnavailable if it is not in time."""
        if self._ready:
            return
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(waiter)
        waiter.addTimeout(self._connection.timeout, self._connection.reactor)
        try:
            await waiter
        except (defer.TimeoutError, defer.CancelledError) as error:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            failure = translate_error(error, "SUBSCRIBE", self._connection.timeout)
            self._connection.availability.failed(str(failure))
            raise failure from None

    async def close(self) -> None:
        await self._connection._bounded_close(self._handler.disconnect)


class RedisConnection:
    """A lazily connected, self-healing pool for one Redis URL; shared by every Redis store."""

    def __init__(
        self, url: RedisURL, reactor: Any, *, timeout: float = 5.0, pool_size: int = POOL_SIZE
    ) -> None:
        if timeout <= 0:
            raise ValueError("the Redis timeout must be positive")
        self.url = url
        self.reactor = reactor
        self.timeout = timeout
        self.availability = Availability(str(url))
        self._tls = tls_options(url) if url.tls else None
        self._closed = False
        self._sentinel: Any = None
        self._settings: dict[str, Any] = {
            "charset": "utf-8",
            "convertNumbers": False,
            "password": url.password,
            "username": url.username,
            "replyTimeout": timeout,
        }
        if url.kind == "sentinel":
            self._sentinel = txredisapi.Sentinel(
                list(url.sentinels), connectTimeout=timeout, replyTimeout=timeout,
                password=url.sentinel_password, username=url.sentinel_username,
            )
            self._sentinel.discovery_timeout = timeout
            self._handler = self._sentinel.master_for(
                url.service_name,
                factory_class=partial(_SentinelPoolFactory, availability=self.availability),
                dbid=url.db or None, poolsize=pool_size, **self._settings,
            )
        else:
            factory = _PoolFactory(
                str(url), url.db or None, pool_size, isLazy=_QUIET,
                handler=txredisapi.ConnectionHandler, availability=self.availability,
                **self._settings,
            )
            factory.startConnecting(self._endpoint())
            self._handler = factory.handler

    def _endpoint(self) -> IStreamClientEndpoint:
        if self.url.kind == "unix":
            return plain_read_unix_endpoint(self.reactor, self.url.path, self.timeout)
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self.reactor, self.url.host, self.url.port, timeout=self.timeout
        )
        if self._tls is not None:
            endpoint = wrapClientTLS(self._tls, endpoint)
        return endpoint

    def _open_subscriber(self, channel: str, hooks: SubscriptionHooks) -> Any:
        common: dict[str, Any] = {
            "channel": channel, "hooks": hooks, "availability": self.availability,
        }
        if self._sentinel is not None:
            return self._sentinel.master_for(
                self.url.service_name, factory_class=partial(_SentinelSubscriberFactory, **common),
                poolsize=1, **self._settings,
            )
        factory = _SubscriberFactory(isLazy=_QUIET, **common)
        for name, value in self._settings.items():
            setattr(factory, name, value)
        factory.startConnecting(self._endpoint())
        return factory.handler

    def subscriber(
        self, channel: str, on_message: Callable[[str | bytes], None]
    ) -> ChannelSubscriber:
        """A new connection subscribed to ``channel``, calling ``on_message`` with each message."""
        if self._closed:
            raise StoreUnavailable("the Redis store is closed")
        return ChannelSubscriber(self, channel, on_message)

    def _connection(self) -> Any:
        """The first ready pool connection, or None (then the handler waits for one). Taking
        it directly skips txredisapi's per-call Deferreds; always the same one, as the
        handler does, so commands issued one after another run in that order. A connection
        being dropped (a reply came too late) is passed over."""
        for conn in self._handler._factory.pool:
            if conn.connected and not getattr(conn.transport, "_aborting", False):
                return conn
        return None

    def _send(self, *args: object) -> defer.Deferred[Any]:
        """The command on a ready connection (txredisapi's reply timeout then bounds it and
        drops the connection, so replies cannot pair with the wrong command), or through the
        handler, bounded by our own deadline, while none is ready."""
        conn = self._connection()
        if conn is None:
            waiting: defer.Deferred[Any] = self._handler.execute_command(*args)
            return waiting.addTimeout(self.timeout, self.reactor)
        pending: defer.Deferred[Any] = conn.execute_command(*args)
        return pending.addErrback(self._on_a_later_turn)

    def _on_a_later_turn(self, failure: Any) -> defer.Deferred[Any]:
        # txredisapi fails a timed-out command before it drops the connection and fails the
        # others waiting on it: a caller going on at once would send on that connection and
        # have its reply taken by the loop failing the waiting ones (again and again)
        later: defer.Deferred[Any] = defer.Deferred()
        self.reactor.callLater(0, later.errback, failure)
        return later

    async def _call(self, what: str, start: Callable[[], defer.Deferred[Any]]) -> Any:
        if self._closed:
            raise StoreUnavailable("the Redis store is closed")
        try:
            result = await start()
        except Exception as error:
            translated = translate_error(error, what, self.timeout)
            if isinstance(translated, StoreUnavailable):
                self.availability.failed(str(translated))
            elif isinstance(translated, StoreError):
                self.availability.succeeded()  # it answered, if only to refuse
            if translated is error:
                raise
            raise translated from error
        self.availability.succeeded()
        return result

    async def execute(self, *args: object) -> Any:
        """Run one command; replies come as str (or bytes where not UTF-8), ints and lists."""
        return await self._call(str(args[0]), lambda: self._send(*args))

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[object] = ()
    ) -> Any:
        """EVALSHA the script, sending its body (EVAL) only when Redis does not know it yet.

        Redis knows none of our scripts when its Lua interpreter is new (a restart, SCRIPT
        FLUSH): the interpreter's garbage collector is then tuned (``TUNE_LUA_GC``) before the
        body goes, in the same round trip."""

        def start() -> defer.Deferred[Any]:
            d = self._send("EVALSHA", script.sha, len(keys), *keys, *args)

            def unknown_script(failure: Any) -> Any:
                if failure.check(txredisapi.ResponseError) and str(failure.value).startswith(
                    "NOSCRIPT"
                ):
                    # its answer is not waited for: an interpreter that refuses it is left as is
                    self._send("EVAL", TUNE_LUA_GC, 0).addErrback(_lua_gc_untuned)
                    return self._send("EVAL", script.source, len(keys), *keys, *args)
                return failure

            return d.addErrback(unknown_script)

        return await self._call(script.name, start)

    async def publish(self, channel: str, message: str) -> None:
        await self.execute("PUBLISH", channel, message)

    async def _bounded_close(self, disconnect: Callable[[], defer.Deferred[Any]]) -> None:
        try:
            pending = disconnect()
            pending.addTimeout(self.timeout, self.reactor)
            await pending
        except Exception:
            log.failure("closing a Redis connection failed")

    async def close(self) -> None:
        """Close every connection; later calls fail with StoreUnavailable."""
        if self._closed:
            return
        self._closed = True
        await self._bounded_close(self._handler.disconnect)
        if self._sentinel is not None:
            await self._bounded_close(self._sentinel.disconnect)
