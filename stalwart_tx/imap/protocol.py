"""The IMAP connection: bytes in, commands run one at a time, responses out.

``CommandReader`` frames the stream (literals, limits), ``syntax.parse_command`` parses, the
``ImapSession`` runs each command. Commands run strictly in order; while a command waits for
the client (IDLE's DONE, a SASL response) the next line goes to it raw. A client that pipelines
faster than commands finish is paused once enough commands wait. Any failure becomes a protocol
answer (BAD, NO, BYE), never a traceback on the wire.
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from stalwart_tx import send_now
from stalwart_tx.imap import syntax
from stalwart_tx.imap.grammar import ImapSyntaxError, ImapTagError
from stalwart_tx.imap.parse_search import BadCharsetError
from stalwart_tx.imap.reader import (
    Command,
    CommandReader,
    Continue,
    Event,
    LineTooLong,
    LiteralTooBig,
    RawLine,
)
from stalwart_tx.imap.session import ImapSession, ServerContext, State

log = Logger()

# commands waiting to run before the connection stops reading
MAX_QUEUED = 32
# RFC 9051 §5.4: at least 30 minutes once logged in; less before
AUTHENTICATED_TIMEOUT = 30 * 60.0
UNAUTHENTICATED_TIMEOUT = 120.0
MAX_LINE = 65536
# a command's collected responses leave once they reach this size
FLUSH_SIZE = 65536


@implementer(IPushProducer)
class _WriteGate:
    """Told by the transport when its send buffer is full and when it drained, so a response
    read from the store piece by piece (a big FETCH) waits for a slow client instead of
    piling up in memory."""

    def __init__(self) -> None:
        self._waiting: Deferred[None] | None = None

    def pauseProducing(self) -> None:
        if self._waiting is None:
            self._waiting = Deferred()

    def resumeProducing(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def stopProducing(self) -> None:
        self.resumeProducing()

    async def drained(self) -> None:
        while self._waiting is not None:
            await self._waiting


class ImapServerProtocol(protocol.Protocol):
    def __init__(
        self, server: ServerContext, clock: IReactorTime, *, tls_options: Any = None,
        implicit_tls: bool = False,
    ) -> None:
        self.server = server
        self.clock = clock
        self.tls_options = tls_options
        self.implicit_tls = implicit_tls
        self.reader = CommandReader(
            max_line=MAX_LINE, max_literal=server.append_limit, literal_minus=False
        )
        self.session: ImapSession | None = None
        self._queue: deque[Event] = deque()
        self._running = False
        self._paused = False
        self._line_waiter: Deferred[bytes] | None = None
        self._timer: IDelayedCall | None = None
        self._closed = False
        self._deflate: Any = None
        self._inflate: Any = None
        self._gate = _WriteGate()
        # while a command runs its responses collect here and leave in one write when it
        # ends, so a response never trickles out in pieces that wait on the client's ACKs
        self._corked = False
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._direct = False

    # -- connection -----------------------------------------------------------------------

    def connectionMade(self) -> None:
        transport: Any = self.transport
        peer = transport.getPeer()
        address = getattr(peer, "host", None) or "unix"
        if isinstance(self.factory, ImapServerFactory):
            self.factory.connections.add(self)
        self.session = ImapSession(self.server, self, remote_address=address,
                                   tls=self.implicit_tls)
        caps = " ".join(self.session.capabilities())
        if hasattr(transport, "setTcpNoDelay"):
            # each command's response leaves in one write already; Nagle would only hold the
            # last piece of a streamed FETCH back for the client's delayed ACK
            transport.setTcpNoDelay(True)
        transport.registerProducer(self._gate, True)
        # a response is one write already (the session corks them): it may leave at once
        self._direct = send_now.direct(transport)
        self.send(f"* OK [CAPABILITY {caps}] {self.server.server_name} ready".encode())
        self._touch()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._closed = True
        self._gate.stopProducing()
        if isinstance(self.factory, ImapServerFactory):
            self.factory.connections.discard(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        waiter, self._line_waiter = self._line_waiter, None
        if waiter is not None:
            waiter.cancel()
        if self.session is not None:
            self.session.closed()

    def _touch(self) -> None:
        timeout = UNAUTHENTICATED_TIMEOUT
        if self.session is not None and self.session.state is not State.NOT_AUTHENTICATED:
            timeout = AUTHENTICATED_TIMEOUT
        if self._timer is not None and self._timer.active():
            self._timer.reset(timeout)
        else:
            self._timer = self.clock.callLater(timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self.send(b"* BYE autologout: idle for too long")
        self.close()

    # -- input ----------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._touch()
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.send(b"* BYE the compressed stream is corrupt")
                self.close()
                return
        # the store reads the commands start with leave together (send_now)
        send_now.open_batch()
        try:
            self._take(self.reader.feed(data))
        finally:
            send_now.close_batch()

    def _take(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, RawLine) and self._line_waiter is not None:
                waiter, self._line_waiter = self._line_waiter, None
                waiter.callback(event.data)
            else:
                self._queue.append(event)
        if len(self._queue) > MAX_QUEUED and not self._paused and self.transport is not None:
            self._paused = True
            transport: Any = self.transport
            transport.pauseProducing()
        if not self._running and self._queue:
            self._running = True
            Deferred.fromCoroutine(self._run()).addErrback(self._crashed)

    async def _run(self) -> None:
        try:
            while self._queue and not self._closed:
                event = self._queue.popleft()
                await self._handle(event)
                if self._paused and len(self._queue) < MAX_QUEUED // 2 and not self._closed:
                    self._paused = False
                    transport: Any = self.transport
                    transport.resumeProducing()
        finally:
            self._running = False

    def _crashed(self, failure: Failure) -> None:
        if not failure.check(CancelledError):
            log.failure("IMAP connection failed", failure=failure)
        self.close()

    async def _handle(self, event: Event) -> None:
        session = self.session
        assert session is not None
        if isinstance(event, Continue):
            self.send(b"+ Ready for literal data")
        elif isinstance(event, LiteralTooBig):
            if event.tag is None:
                self.send(b"* BAD [TOOBIG] literal too big")
            else:
                self.send(f"{event.tag} NO [TOOBIG] literal too big".encode())
        elif isinstance(event, LineTooLong):
            self.send(f"{event.tag or '*'} BAD [TOOBIG] command line too long".encode())
        elif isinstance(event, RawLine):
            self.send(b"* BAD unexpected line")
            self._take(self.reader.resume())
        elif isinstance(event, Command):
            await self._command(session, event)

    async def _command(self, session: ImapSession, command: Command) -> None:
        try:
            parsed = syntax.parse_command(command, utf8=session.utf8)
        except ImapTagError:
            self.send(b"* BAD missing or invalid tag")
            self._resume_after(command)
            return
        except BadCharsetError:
            self.send(f"{command.tag} NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset"
                      .encode())
            self._resume_after(command)
            return
        except ImapSyntaxError as error:
            self.send(f"{command.tag} BAD {error}".encode())
            self._resume_after(command)
            return
        self._corked = True
        try:
            await session.execute(parsed)
        finally:
            self._corked = False
            self._flush()
        self._touch()
        if session.state is State.LOGOUT:
            return
        self._resume_after(command)

    def _resume_after(self, command: Command) -> None:
        if self.reader.paused and not self._closed:
            self.reader.raw_line_mode = False
            self._take(self.reader.resume())

    # -- the session's Output -------------------------------------------------------------

    def send(self, line: bytes) -> None:
        self.write(line + b"\r\n")

    def write(self, data: bytes) -> None:
        if self._corked:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size >= FLUSH_SIZE:
                self._flush()
        else:
            self._transmit(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        if not self._closed and self.transport is not None:
            if self._deflate is not None:
                data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            if self._direct:
                send_now.write(self.transport, data)
            else:
                self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the client is slow to take what was sent; what is collected stays until
        there is a piece worth sending (a FETCH drains after each of many short answers)."""
        if self._pending_size >= FLUSH_SIZE or not self._corked:
            self._flush()
        await self._gate.drained()

    def read_line(self) -> Deferred[bytes]:
        # the command now talks with the client (IDLE, AUTHENTICATE): what it sends from here
        # on, such as IDLE's updates, must leave at once
        self._corked = False
        self._flush()
        waiter: Deferred[bytes] = Deferred()
        self._line_waiter = waiter
        self._take(self.reader.expect_line())
        return waiter

    def start_tls(self) -> None:
        self._flush()  # the tagged OK goes out before the handshake, in the clear
        self.reader.take_buffered()  # a client must not pipeline past STARTTLS (RFC 9051 §11.1)
        transport: Any = self.transport
        transport.startTLS(self.tls_options)

    def start_compression(self) -> None:
        """COMPRESS=DEFLATE (RFC 4978): raw deflate both ways from the next octet on."""
        self._flush()  # the tagged OK goes out uncompressed
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)
        pending = self.reader.take_buffered()
        self.reader.resume()
        if pending:
            self.dataReceived(pending)

    def close(self) -> None:
        self._flush()
        if not self._closed and self.transport is not None:
            self.transport.loseConnection()
        self._closed = True


class ImapServerFactory(protocol.Factory):
    def __init__(
        self, server: ServerContext, clock: IReactorTime, *, tls_options: Any = None,
        implicit_tls: bool = False,
    ) -> None:
        self.server = server
        self.clock = clock
        self.tls_options = tls_options
        self.implicit_tls = implicit_tls
        # open connections, told BYE when the listener stops
        self.connections: set[ImapServerProtocol] = set()

    def buildProtocol(self, addr: Any) -> ImapServerProtocol:
        built = ImapServerProtocol(
            self.server, self.clock, tls_options=self.tls_options,
            implicit_tls=self.implicit_tls,
        )
        built.factory = self
        return built
