"""Extra processes serving IMAP on the main process's listening sockets (``imap-processes``).

Each child runs ``python -P -m stalwart_tx.imap.worker`` with the listening sockets as its file
descriptors 3 (imap) and 4 (imaps), and reads a WorkerSpec line from its stdin; the kernel hands
each new connection to whichever process accepts it first. Everything sessions must agree on
(UIDs, MODSEQ, \\Recent, change notifications) is in Redis, so it does not matter which one.

* Children start once the embedded Redis answers and the main process's ports listen.
* A child's stderr lines (``<level> <text>``) are logged here at that level, with its pid.
* A child that exits while the service runs is started again, after a delay that doubles with
  each quick death (FIRST_DELAY up to MAX_DELAY; a child that lived STABLE_AFTER seconds resets
  it).
* Stopping sends SIGTERM (a child tells its sessions BYE, closes its store, exits 0), then
  SIGKILL to those still running after the shutdown grace. The child's stdin stays open until
  then: its end of input means the main process is gone, and the child stops too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Final

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import InvalidLogLevelError, Logger, LogLevel
from twisted.python.failure import Failure

from stalwart_tx.imap.fair_accept import FairAccept
from stalwart_tx.imap.service import ImapListenerService
from stalwart_tx.imap.session_board import SessionBoard
from stalwart_tx.imap.worker_spec import (
    BOARD_FD,
    IMPLICIT_FD,
    PLAIN_FD,
    BoardPlace,
    InheritedSocket,
    WorkerSpec,
)
from stalwart_tx.jmap.mail.analysis_workers import worker_environment

WORKER_MODULE: Final = "stalwart_tx.imap.worker"
FIRST_DELAY: Final = 0.5
MAX_DELAY: Final = 30.0
STABLE_AFTER: Final = 30.0

log = Logger()


class _ChildProtocol(ProcessProtocol):
    def __init__(self, owner: ImapProcesses, spec: bytes, slot: int) -> None:
        self.owner = owner
        self.spec = spec
        self.slot = slot
        self.pid: int | None = None
        self.started = owner.reactor.seconds()
        self.buffers: dict[int, bytes] = {1: b"", 2: b""}
        self.ended: Deferred[None] = Deferred()
        self.kill_call: IDelayedCall | None = None

    def connectionMade(self) -> None:
        # the transport forgets its pid once the child is reaped; logs want it after that
        self.pid = getattr(self.transport, "pid", None)
        assert self.transport is not None
        # stdin is never closed: its end tells the child that this process is gone
        self.transport.write(self.spec)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        *lines, self.buffers[childFD] = (self.buffers.get(childFD, b"") + data).split(b"\n")
        for line in lines:
            self._log_line(line)

    def _log_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if not text:
            return
        name, _, rest = text.partition(" ")
        try:
            level = LogLevel.levelWithName(name)
        except InvalidLogLevelError:
            level, rest = LogLevel.warn, text  # not a log line: Python's own last words
        log.emit(level, "IMAP process {pid}: {line}", pid=self.pid, line=rest)

    def signal(self, name: str) -> None:
        try:
            if self.transport is not None:
                self.transport.signalProcess(name)
        except ProcessExitedAlready:
            pass

    def processEnded(self, reason: Failure) -> None:
        for rest in self.buffers.values():
            self._log_line(rest)
        if self.kill_call is not None and self.kill_call.active():
            self.kill_call.cancel()
        self.owner._ended(self, reason)
        self.ended.callback(None)


class ImapProcesses(Service):
    """``count`` child processes accepting IMAP connections on ``listeners``' sockets."""

    def __init__(
        self, reactor: Any, count: int, listeners: Sequence[ImapListenerService],
        settings: dict[str, Any], *, ready: Callable[[], Deferred[None]] | None = None,
        grace: float = 10.0, executable: str = sys.executable,
    ) -> None:
        if count < 1:
            raise ValueError("ImapProcesses needs at least one child")
        self.reactor = reactor
        self.count = count
        self.listeners = tuple(listeners)
        self.settings = settings
        self.ready = ready
        self.grace = grace
        self.executable = executable
        self._children: list[_ChildProtocol] = []
        self._restarts: list[IDelayedCall] = []
        self._quick_deaths = 0
        self._starting: Deferred[None] | None = None
        self._spec: WorkerSpec | None = None
        self._fds: dict[int, int] = {}
        self._board: SessionBoard | None = None

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the running children."""
        return tuple(c.pid for c in self._children if c.pid is not None)

    def startService(self) -> None:
        super().startService()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._not_started)

    async def _start(self) -> None:
        if self.ready is not None:
            await self.ready()
        plain = implicit = None
        # slot 0 is this process's, then one per child
        self._board = board = SessionBoard.create(self.count + 1)
        self._fds[BOARD_FD] = board.fd
        listeners = self.listeners

        def total() -> int:
            return sum(len(listener.factory.connections) for listener in listeners)

        for listener in self.listeners:
            # a tcp or unix Port: IListeningPort itself has neither attribute
            port: Any = await listener.listening()
            family, fileno = int(port.addressFamily), int(port.fileno())
            FairAccept(port, partial(len, listener.factory.connections), self.reactor,
                       board=board, total=total)
            if listener.factory.implicit_tls:
                implicit = InheritedSocket(IMPLICIT_FD, family)
                self._fds[IMPLICIT_FD] = fileno
            else:
                plain = InheritedSocket(PLAIN_FD, family)
                self._fds[PLAIN_FD] = fileno
        self._spec = WorkerSpec(self.settings, plain, implicit)
        for slot in range(1, self.count + 1):
            self._spawn(slot)

    def _not_started(self, failure: Failure) -> None:
        if self.running:
            log.failure("The extra IMAP processes cannot start", failure=failure)

    def _spawn(self, slot: int) -> None:
        if not self.running or self._spec is None or self._board is None:
            return
        place = BoardPlace(BOARD_FD, self._board.slots, slot)
        spec = replace(self._spec, board=place).to_line()
        child = _ChildProtocol(self, spec, slot)
        try:
            self.reactor.spawnProcess(
                # -P: only PYTHONPATH (the parent's own package first) decides what is imported
                child, self.executable, [self.executable, "-P", "-m", WORKER_MODULE],
                env=worker_environment(), childFDs={0: "w", 1: "r", 2: "r", **self._fds},
            )
        except Exception:
            log.failure("Cannot start an IMAP process")
            self._restart_later(None, slot)
            return
        self._children.append(child)
        log.info("IMAP process {pid} started", pid=child.pid)

    def _ended(self, child: _ChildProtocol, reason: Failure) -> None:
        if child in self._children:
            self._children.remove(child)
        if self._board is not None:
            self._board.clear(child.slot)  # its sessions ended with it
        if not self.running:
            log.info("IMAP process {pid} stopped: {reason}", pid=child.pid,
                     reason=reason.getErrorMessage())
            return
        if self.reactor.seconds() - child.started >= STABLE_AFTER:
            self._quick_deaths = 0
        self._restart_later(child.pid, child.slot, reason)

    def _restart_later(
        self, pid: int | None, slot: int, reason: Failure | None = None
    ) -> None:
        delay = min(MAX_DELAY, FIRST_DELAY * 2 ** self._quick_deaths)
        self._quick_deaths += 1
        log.warn(
            "IMAP process {pid} ended ({reason}); starting another in {delay} s",
            pid=pid, reason=reason.getErrorMessage() if reason else "not started", delay=delay,
        )
        call: IDelayedCall | None = None

        def restart() -> None:
            if call in self._restarts:
                self._restarts.remove(call)
            self._spawn(slot)

        call = self.reactor.callLater(delay, restart)
        self._restarts.append(call)

    def stopService(self) -> Deferred[Any]:  # type: ignore[override]
        super().stopService()
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        for call in self._restarts:
            if call.active():
                call.cancel()
        self._restarts.clear()
        ended = [child.ended for child in self._children]
        for child in self._children:
            # the child tells its sessions BYE and closes its store; the grace bounds that
            child.signal("TERM")
            child.kill_call = self.reactor.callLater(self.grace, child.signal, "KILL")
        return DeferredList(ended)
