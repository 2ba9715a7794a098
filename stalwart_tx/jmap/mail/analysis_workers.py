"""Messages analysed in worker processes, so storing email uses every core.

``analyze_message`` is pure Python: on the reactor's thread pool it runs on one core at a time
(the GIL). ``AnalysisWorkers`` keeps up to ``count`` children, each running
``python -P -m stalwart_tx.jmap.mail.analysis_worker`` (``reactor.spawnProcess``, not
multiprocessing: its spawn and forkserver re-import the main module, a twistd script, and a
plain fork of a threaded process is unsafe). The parent frames each message onto a child's
stdin and reads the answers (the AnalyzedMessage's fields, pickled: the child is our code), in
order, from its stdout; the child's stderr is logged.

* Children start at the first analysis, not with the service (every test builds the service),
  one more whenever all running ones are busy, at most ``count``.
* A request goes to the child with the fewest outstanding, at most ``PER_WORKER`` outstanding
  each (so a child never idles between two messages); the rest wait here, first come first
  served.
* A child that dies (killed, crashed, out of memory) has its outstanding messages analysed by
  the fallback (``ThreadAnalyzer``): no caller sees its death. The next demand starts another
  one, unless children keep dying (``DEATHS`` within ``DEATH_WINDOW`` seconds) or cannot be
  started: then nothing is spawned for ``PAUSE`` seconds and the fallback analyses meanwhile.
* Stopping closes every child's stdin (a child exits once it has answered all it was sent),
  kills those still running after ``STOP_GRACE`` seconds, and fires once all have exited.
  Analyses asked for afterwards, and all of them with ``count`` 0, use the fallback.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

import stalwart_tx
from stalwart_tx import send_now
from stalwart_tx.jmap.mail.analysis_worker import HEADER_SIZE
from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage
from stalwart_tx.jmap.mail.message_analyzer import ThreadAnalyzer

WORKER_MODULE: Final = "stalwart_tx.jmap.mail.analysis_worker"
ANALYZED_FIELDS: Final = tuple(f.name for f in dataclasses.fields(AnalyzedMessage))
PER_WORKER: Final = 2
DEATHS: Final = 3
DEATH_WINDOW: Final = 10.0
PAUSE: Final = 60.0
STOP_GRACE: Final = 5.0

log = Logger()


def worker_environment() -> dict[str, str]:
    """The parent's environment, with the directory of the parent's ``stalwart_tx`` first on
    PYTHONPATH: a child analyses with the very code its parent runs (the working tree under
    test, the installed copy in production)."""
    env = dict(os.environ)
    root = str(Path(stalwart_tx.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class _Request:
    raw: bytes
    done: Deferred[AnalyzedMessage] = field(default_factory=Deferred)


class _WorkerProtocol(ProcessProtocol):
    """One child: the requests it has been sent (answered in order) and its output so far."""

    def __init__(self, owner: AnalysisWorkers) -> None:
        self.owner = owner
        self.outstanding: deque[_Request] = deque()
        self.answers = bytearray()
        self.errors = bytearray()
        self.answered = 0
        self.ended: Deferred[None] = Deferred()
        self.kill_call: IDelayedCall | None = None
        self.pid: int | None = None
        self.broken = False

    def connectionMade(self) -> None:
        # the transport forgets its pid once the child is reaped; logs want it after that
        self.pid = getattr(self.transport, "pid", None)

    def send(self, request: _Request) -> None:
        self.outstanding.append(request)
        assert self.transport is not None
        # header and message apart: no copy of a message of megabytes
        self.transport.writeSequence([len(request.raw).to_bytes(HEADER_SIZE, "big"), request.raw])

    def outReceived(self, data: bytes) -> None:
        # what the answers set off (an import's reads, side by side) leaves in one send per
        # connection, as for replies from Redis
        send_now.open_batch()
        try:
            self._take_answers(data)
        finally:
            send_now.close_batch()

    def _take_answers(self, data: bytes) -> None:
        if self.broken:
            return
        self.answers += data
        while len(self.answers) >= HEADER_SIZE:
            size = int.from_bytes(self.answers[:HEADER_SIZE], "big")
            if len(self.answers) < HEADER_SIZE + size:
                return
            payload = bytes(self.answers[HEADER_SIZE:HEADER_SIZE + size])
            del self.answers[:HEADER_SIZE + size]
            try:
                analyzed = self._analyzed(payload)
            except Exception:
                # its stream can no longer be trusted: the death handling re-analyses the rest
                log.failure("Analysis worker {pid} answered garbage; killing it", pid=self.pid)
                self.broken = True
                self.kill()
                return
            self.answered += 1
            if self.pid is not None:
                self.owner.answers_by_pid[self.pid] = self.answered
            self.outstanding.popleft().done.callback(analyzed)
            self.owner._dispatch()

    def _analyzed(self, payload: bytes) -> AnalyzedMessage:
        if not self.outstanding:
            raise ValueError("an answer to no request")
        values = pickle.loads(payload)
        if not isinstance(values, tuple) or len(values) != len(ANALYZED_FIELDS):
            raise TypeError(f"an answer of {type(values)} is no AnalyzedMessage")
        return AnalyzedMessage(*values)

    def errReceived(self, data: bytes) -> None:
        self.errors += data
        *lines, rest = bytes(self.errors).split(b"\n")
        self.errors = bytearray(rest)
        for line in lines:
            self._log_error_line(line)

    def _log_error_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            log.warn("Analysis worker {pid}: {line}", pid=self.pid, line=text)

    def kill(self) -> None:
        try:
            if self.transport is not None:
                self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    def processEnded(self, reason: Failure) -> None:
        if self.errors:
            self._log_error_line(bytes(self.errors))
            self.errors.clear()
        if self.kill_call is not None and self.kill_call.active():
            self.kill_call.cancel()
        self.owner._ended(self, reason)
        self.ended.callback(None)


class AnalysisWorkers(Service):
    """A ``MessageAnalyzer`` running ``analyze_message`` in up to ``count`` child processes."""

    def __init__(self, reactor: Any, count: int, *, executable: str = sys.executable) -> None:
        if count < 0:
            raise ValueError("the number of analysis workers cannot be negative")
        self.reactor = reactor
        self.count = count
        self.executable = executable
        self.fallback = ThreadAnalyzer(reactor)
        self._workers: list[_WorkerProtocol] = []
        self._waiting: deque[_Request] = deque()
        self._deaths: deque[float] = deque()
        self._paused_until = 0.0
        self._stopped = False
        # answers per child pid, for diagnostics and tests
        self.answers_by_pid: dict[int, int] = {}

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the running children."""
        return tuple(w.pid for w in self._workers if w.pid is not None)

    async def analyze(self, raw: bytes) -> AnalyzedMessage:
        if self._stopped or self.count == 0:
            return await self.fallback.analyze(raw)
        request = _Request(raw)
        self._waiting.append(request)
        self._dispatch()
        return await request.done

    def startService(self) -> None:
        super().startService()
        self._stopped = False

    def stopService(self) -> Deferred[Any]:  # type: ignore[override]
        super().stopService()
        self._stopped = True
        while self._waiting:
            self._to_fallback(self._waiting.popleft())
        ended = [worker.ended for worker in self._workers]
        for worker in self._workers:
            # the child answers everything it was sent, then exits at end of input
            assert worker.transport is not None
            worker.transport.closeStdin()
            worker.kill_call = self.reactor.callLater(STOP_GRACE, worker.kill)
        return DeferredList(ended)

    def _dispatch(self) -> None:
        """Hand waiting requests to children, starting one when all are busy and one may be."""
        while self._waiting:
            if self._stopped or (not self._workers and not self._may_spawn()):
                self._to_fallback(self._waiting.popleft())
                continue
            worker = min(self._workers, key=lambda w: len(w.outstanding), default=None)
            if (worker is None or worker.outstanding) and len(self._workers) < self.count:
                worker = self._spawn() or worker
            if worker is None:
                continue  # spawning failed: the next round sends the request to the fallback
            if len(worker.outstanding) >= PER_WORKER:
                return
            worker.send(self._waiting.popleft())

    def _may_spawn(self) -> bool:
        return not self._stopped and self.reactor.seconds() >= self._paused_until

    def _spawn(self) -> _WorkerProtocol | None:
        if not self._may_spawn():
            return None
        worker = _WorkerProtocol(self)
        try:
            self.reactor.spawnProcess(
                # -P: not the current directory first on sys.path (as -m would put it), so
                # only PYTHONPATH decides which stalwart_tx the child imports
                worker, self.executable, [self.executable, "-P", "-m", WORKER_MODULE],
                env=worker_environment(),
            )
        except Exception:
            log.failure("Cannot start an analysis worker")
            self._pause()
            return None
        self._workers.append(worker)
        return worker

    def _pause(self) -> None:
        self._paused_until = self.reactor.seconds() + PAUSE
        self._deaths.clear()
        log.error(
            "Analysis workers keep failing; messages are analysed in threads for {pause} s",
            pause=PAUSE,
        )

    def _ended(self, worker: _WorkerProtocol, reason: Failure) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        pid = worker.pid
        orphans = list(worker.outstanding)
        worker.outstanding.clear()
        for request in orphans:
            self._to_fallback(request)
        if not self._stopped:
            log.warn(
                "Analysis worker {pid} ended: {reason}; {count} messages re-analysed in threads",
                pid=pid, reason=reason.getErrorMessage(), count=len(orphans),
            )
            now = self.reactor.seconds()
            self._deaths.append(now)
            while self._deaths and self._deaths[0] < now - DEATH_WINDOW:
                self._deaths.popleft()
            if len(self._deaths) >= DEATHS:
                self._pause()
        self._dispatch()

    def _to_fallback(self, request: _Request) -> None:
        Deferred.fromCoroutine(self.fallback.analyze(request.raw)).chainDeferred(request.done)
