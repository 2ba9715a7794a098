"""The embedded Redis: a supervised redis-server child that owns one data directory.

With no ``--redis URL`` the service runs its own redis-server on a unix socket in the data dir, with
the append-only file as its only persistence. One process at a time owns the dir (an flock on
``redis.lock``); the admin CLI borrows the running server or, if none runs, starts a temporary one
the same way. docs/embedded-redis.md explains the choices.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, TypeVar, cast

from twisted.application.service import Service
from twisted.internet import error
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import (
    IDelayedCall,
    IProcessTransport,
    IReactorProcess,
    IReactorTime,
    IReactorUNIX,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from stalwart_tx.store.redis_binary import find_redis_server

Fsync = Literal["always", "everysec"]

# sun_path holds 108 bytes on Linux, one of them the terminating NUL. redis-server truncates a
# longer path silently and would listen on a socket nobody looks for, so we refuse it up front.
MAX_SOCKET_PATH_BYTES = 107

_POLL_INTERVAL = 0.05
_PING_TIMEOUT = 2.0
# A dead orphan's pid is only waited for politely: its socket is gone, so its AOF is flushed.
_ORPHAN_EXIT_TIMEOUT = 5.0
_LOG_TAIL_BYTES = 2048
_LOG_TAIL_LINES = 10

_T = TypeVar("_T")

log = Logger()


class EmbeddedRedisError(Exception):
    """The embedded redis-server could not be started, reached or stopped as asked."""


class SocketPathTooLong(EmbeddedRedisError):
    """The data dir is so deep that its redis.sock path does not fit in a unix socket address."""


class DataDirLocked(EmbeddedRedisError):
    """Another process owns the data dir and did not let go in time."""


class RedisServerFailed(EmbeddedRedisError):
    """redis-server exited, did not answer, or refused to shut down."""


class _DataDir:
    """Where the embedded redis keeps everything, all inside one directory."""

    def __init__(self, data_dir: Path) -> None:
        # Absolute, because redis-server changes into --dir before it opens the other paths.
        self.path = data_dir.absolute()
        self.socket_path = self.path / "redis.sock"
        self.lock_path = self.path / "redis.lock"
        self.pid_path = self.path / "redis.pid"
        self.log_path = self.path / "redis.log"

    def check_socket_path(self) -> None:
        size = len(os.fsencode(self.socket_path))
        if size > MAX_SOCKET_PATH_BYTES:
            raise SocketPathTooLong(
                f"the embedded redis socket path {self.socket_path} is {size} bytes long, but a "
                f"unix socket path is limited to {MAX_SOCKET_PATH_BYTES} bytes: use a shorter "
                f"data dir"
            )

    def create(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def server_arguments(self, binary: Path, fsync: Fsync) -> list[str]:
        return [
            str(binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.path),
            "--appendonly", "yes",
            "--appendfsync", fsync,
            "--appendfilename", "appendonly.aof",
            "--save", "",
            "--pidfile", str(self.pid_path),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip

    def read_pid(self) -> int | None:
        try:
            text = self.pid_path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def log_tail(self) -> str:
        """The last lines of redis.log, indented, for an error message ("" when there are none)."""
        try:
            with self.log_path.open("rb") as file:
                file.seek(max(0, file.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
                data = file.read()
        except OSError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()[-_LOG_TAIL_LINES:]
        if not lines:
            return ""
        return f"; last lines of {self.log_path}:\n" + "\n".join(f"    {line}" for line in lines)


class _DirLock:
    """An exclusive flock on redis.lock, held for as long as one process owns the data dir."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _try_lock(data_dir: _DataDir) -> _DirLock | None:
    # O_CLOEXEC (also Python's default) keeps the fd out of redis-server: the lock must die with the
    # process that took it, so that a redis-server orphan never looks like a live owner.
    fd = os.open(data_dir.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    # Only for the message a waiting contender shows; the flock is what excludes.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return _DirLock(fd)


def _locked_error(data_dir: _DataDir, waited: float) -> DataDirLocked:
    try:
        owner = data_dir.lock_path.read_text().strip()
    except OSError:
        owner = ""
    holder = f" (pid {owner})" if owner.isdigit() else ""
    return DataDirLocked(
        f"another process owns the data dir {data_dir.path}{holder}: it holds the lock on "
        f"{data_dir.lock_path} and did not release it within {waited:g} s. Stop the other "
        f"stalwart-tx service or admin command using this dir, or give this one another dir"
    )


async def _lock_data_dir(
    clock: IReactorTime,
    data_dir: _DataDir,
    timeout: float,
    borrow: Callable[[], Awaitable[bool]] | None = None,
) -> _DirLock | None:
    """Take the data dir's lock, retrying up to ``timeout`` seconds.

    ``borrow``, when given, is asked each time the lock is busy; if it says yes the wait ends
    without the lock (None), because the owner's server can be shared.
    """
    deadline = clock.seconds() + timeout
    while True:
        lock = _try_lock(data_dir)
        if lock is not None:
            return lock
        if borrow is not None and await borrow():
            return None
        if clock.seconds() >= deadline:
            raise _locked_error(data_dir, timeout)
        await deferLater(clock, _POLL_INTERVAL)


class _OneReply(Protocol):
    """Sends one inline command and keeps the first reply line; None if the server just hangs up."""

    def __init__(self, command: bytes) -> None:
        self._command = command
        self._buffer = b""
        self.reply: Deferred[bytes | None] = Deferred(self._abort)

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self._command)

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        line, separator, _ = self._buffer.partition(b"\r\n")
        if separator and not self.reply.called:
            self.reply.callback(line)
            assert self.transport is not None
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.reply.called:
            self.reply.callback(None)

    def _abort(self, _: Deferred[bytes | None]) -> None:
        if self.transport is not None:
            cast(ITCPTransport, self.transport).abortConnection()


async def _exchange(
    reactor: IReactorUNIX, clock: IReactorTime, socket_path: Path, command: bytes, timeout: float
) -> bytes | None:
    """One command over the unix socket, without txredisapi: this runs before any store exists."""
    protocol = _OneReply(command)
    endpoint = UNIXClientEndpoint(  # type: ignore[no-untyped-call]
        reactor, str(socket_path), timeout=timeout
    )
    factory = Factory.forProtocol(lambda: protocol)
    # Polled every few milliseconds while redis-server starts: keep the log free of factory noise.
    factory.noisy = False
    connecting: Deferred[Protocol] = endpoint.connect(factory)  # type: ignore[no-untyped-call]
    await connecting.addTimeout(timeout, clock)
    return await protocol.reply.addTimeout(timeout, clock)


async def _answers_ping(reactor: IReactorUNIX, clock: IReactorTime, socket_path: Path) -> bool:
    try:
        return await _exchange(reactor, clock, socket_path, b"PING\r\n", _PING_TIMEOUT) == b"+PONG"
    except (error.ConnectError, error.TimeoutError):
        # CancelledError is left to propagate: it means our caller is being stopped.
        return False


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An orphan's zombie lingers when nobody reaps it (no init in a container); it holds no files.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _observe(deferred: Deferred[_T]) -> Deferred[_T]:
    """A new Deferred with ``deferred``'s result; cancelling it (a timeout) leaves the original."""
    observer: Deferred[_T] = Deferred()

    def relay(result: _T | Failure) -> _T | Failure:
        if not observer.called:
            if isinstance(result, Failure):
                observer.errback(result)
            else:
                observer.callback(result)
        return result

    deferred.addBoth(relay)
    return observer


class _Reactor:
    """The three faces of the reactor this module uses, adapted once."""

    def __init__(self, reactor: IReactorProcess) -> None:
        self.process = IReactorProcess(reactor)
        self.clock = IReactorTime(reactor)
        self.unix = IReactorUNIX(reactor)

    async def answers_ping(self, socket_path: Path) -> bool:
        return await _answers_ping(self.unix, self.clock, socket_path)


class _ServerProtocol(ProcessProtocol):
    """redis-server logs to redis.log; anything on its stdio is an early failure worth logging."""

    def __init__(self) -> None:
        self.ended: Deferred[error.ProcessDone | error.ProcessTerminated] = Deferred()

    def outReceived(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            log.info("redis-server: {line}", line=line)

    def errReceived(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            log.warn("redis-server: {line}", line=line)

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(cast(error.ProcessDone | error.ProcessTerminated, reason.value))


def _describe_exit(status: error.ProcessDone | error.ProcessTerminated) -> str:
    if status.signal is not None:
        return f"killed by signal {status.signal}"
    return f"exit code {status.exitCode}"


class _ServerRun:
    """One run of redis-server on a data dir whose lock the caller holds."""

    def __init__(self, reactor: _Reactor, data_dir: _DataDir, binary: Path, fsync: Fsync) -> None:
        self._reactor = reactor
        self._data_dir = data_dir
        self._protocol = _ServerProtocol()
        self.started_at = reactor.clock.seconds()
        self._transport: IProcessTransport = reactor.process.spawnProcess(
            self._protocol,
            str(binary),
            data_dir.server_arguments(binary, fsync),
            env=dict(os.environ),
            path=str(data_dir.path),
        )
        self._transport.closeStdin()
        self.pid: int = cast(int, self._transport.pid)
        self.exit_description = ""
        self.ended = self._protocol.ended
        self.ended.addCallback(self._record_exit)

    def _record_exit(
        self, status: error.ProcessDone | error.ProcessTerminated
    ) -> error.ProcessDone | error.ProcessTerminated:
        self.exit_description = _describe_exit(status)
        return status

    async def wait_answering(self, timeout: float) -> None:
        clock = self._reactor.clock
        deadline = clock.seconds() + timeout
        socket_path = self._data_dir.socket_path
        while not await self._reactor.answers_ping(socket_path):
            if self.ended.called:
                raise RedisServerFailed(
                    f"redis-server (pid {self.pid}) exited ({self.exit_description}) before it "
                    f"answered on {socket_path}{self._data_dir.log_tail()}"
                )
            if clock.seconds() >= deadline:
                raise RedisServerFailed(
                    f"redis-server (pid {self.pid}) did not answer on {socket_path} within "
                    f"{timeout:g} s{self._data_dir.log_tail()}"
                )
            await deferLater(clock, _POLL_INTERVAL)

    def _signal(self, name: str) -> None:
        try:
            self._transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    async def stop(self, timeout: float) -> None:
        """SIGTERM (redis-server flushes its AOF and exits); SIGKILL if it hangs past timeout."""
        if self.ended.called:
            return
        self._signal("TERM")
        try:
            await _observe(self.ended).addTimeout(timeout, self._reactor.clock)
        except CancelledError:
            # Our caller will not wait; make sure the server does not outlive its lock holder.
            self._signal("KILL")
            raise
        except error.TimeoutError:
            log.error(
                "redis-server (pid {pid}) still running {timeout} s after SIGTERM; killing it",
                pid=self.pid,
                timeout=timeout,
            )
            self._signal("KILL")
            await _observe(self.ended)


async def _retire_orphan(reactor: _Reactor, data_dir: _DataDir, timeout: float) -> None:
    """Shut down a redis-server left serving this dir by an owner that died without stopping it.

    Called with the lock held, so whatever answers on the socket has no live owner. SHUTDOWN (not a
    signal) because the pid file may be stale, and it flushes the AOF before the server exits.
    """
    socket_path = data_dir.socket_path
    if await reactor.answers_ping(socket_path):
        pid = data_dir.read_pid()
        log.warn(
            "a redis-server (pid {pid}) left behind by an earlier owner still serves {socket}; "
            "shutting it down so its AOF is flushed before ours starts",
            pid=pid,
            socket=socket_path,
        )
        clock = reactor.clock
        reply = await _exchange(reactor.unix, clock, socket_path, b"SHUTDOWN\r\n", timeout)
        # Success is the server hanging up; any reply line is a refusal.
        if reply is not None:
            raise RedisServerFailed(
                f"the redis-server left running on {socket_path} refused SHUTDOWN: "
                f"{reply.decode('utf-8', 'replace')}{data_dir.log_tail()}"
            )
        deadline = clock.seconds() + timeout
        while await reactor.answers_ping(socket_path):
            if clock.seconds() >= deadline:
                raise RedisServerFailed(
                    f"the redis-server left running on {socket_path} (pid {pid}) still answers "
                    f"{timeout:g} s after SHUTDOWN"
                )
            await deferLater(clock, _POLL_INTERVAL)
        deadline = clock.seconds() + _ORPHAN_EXIT_TIMEOUT
        while pid is not None and _pid_running(pid):
            if clock.seconds() >= deadline:
                log.warn("the old redis-server (pid {pid}) has not exited yet", pid=pid)
                break
            await deferLater(clock, _POLL_INTERVAL)
    # A socket file nobody answers on is left by a server that was killed; clear it for ours.
    socket_path.unlink(missing_ok=True)


async def _start_server(
    reactor: _Reactor,
    data_dir: _DataDir,
    binary: Path,
    fsync: Fsync,
    start_timeout: float,
    stop_timeout: float,
) -> _ServerRun:
    """Start redis-server on a locked data dir; wait until it answers PING (AOF replayed)."""
    await _retire_orphan(reactor, data_dir, stop_timeout)
    run = _ServerRun(reactor, data_dir, binary, fsync)
    try:
        await run.wait_answering(start_timeout)
    except BaseException:
        await run.stop(stop_timeout)
        raise
    return run


def _ignore_cancel(failure: Failure) -> Failure | None:
    # A restart cancelled by stopService is expected; _relaunch logs and retries everything else.
    return None if isinstance(failure.value, CancelledError) else failure


def _check_fsync(fsync: str) -> Fsync:
    if fsync not in ("always", "everysec"):
        raise ValueError(f"fsync must be 'always' or 'everysec', not {fsync!r}")
    return cast(Fsync, fsync)


class EmbeddedRedisService(Service):
    """Runs and supervises the redis-server that owns ``data_dir`` for as long as it runs.

    ``startService`` raises at once for what is wrong before anything runs (no redis-server binary,
    socket path too long); the rest (lock, orphan, AOF replay) is asynchronous and reported by
    ``whenReady``. While running, a redis-server that exits is restarted with exponential backoff.
    """

    def __init__(
        self,
        data_dir: Path,
        reactor: IReactorProcess,
        redis_server_path: str | None = None,
        fsync: str = "always",
        *,
        lock_timeout: float = 10.0,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        restart_delay: float = 0.1,
        restart_max_delay: float = 5.0,
        restart_reset_after: float = 30.0,
    ) -> None:
        self._data_dir = _DataDir(data_dir)
        self._reactor = _Reactor(reactor)
        self._redis_server_path = redis_server_path
        self._fsync = _check_fsync(fsync)
        self._lock_timeout = lock_timeout
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._restart_delay = restart_delay
        self._restart_max_delay = restart_max_delay
        self._restart_reset_after = restart_reset_after

        self._binary: Path | None = None
        self._lock: _DirLock | None = None
        self._process: _ServerRun | None = None
        self._starting: Deferred[None] | None = None
        self._restart_call: IDelayedCall | None = None
        self._next_delay = restart_delay
        self._stopping = False
        self._stopped: Deferred[None] | None = None
        self._ready_waiters: list[Deferred[None]] = []
        # None until the first start finishes; then (True, None) or (False, failure).
        self._ready_outcome: tuple[bool, Failure | None] | None = None

    @property
    def socket_path(self) -> Path:
        return self._data_dir.socket_path

    @property
    def url(self) -> str:
        return f"unix://{self._data_dir.socket_path}"

    @property
    def pid(self) -> int | None:
        """The pid of the redis-server running now, if any."""
        return self._process.pid if self._process is not None else None

    def startService(self) -> None:
        # Raised here, before anything runs, so that twistd start-up fails with these messages.
        binary = find_redis_server(self._redis_server_path)
        self._data_dir.check_socket_path()
        super().startService()  # type: ignore[no-untyped-call]
        self._binary = binary
        self._stopping = False
        self._next_delay = self._restart_delay
        self._ready_outcome = None
        starting = Deferred.fromCoroutine(self._start())
        self._starting = starting
        starting.addBoth(self._started)

    def whenReady(self) -> Deferred[None]:
        """Fires once the first redis-server answers PING, or fails with why it could not start."""
        waiter: Deferred[None] = Deferred()
        if self._ready_outcome is None:
            self._ready_waiters.append(waiter)
        else:
            self._fire(waiter, self._ready_outcome)
        return waiter

    async def wait_ready(self) -> None:
        await self.whenReady()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        # A second caller waits for the same stop rather than releasing the lock under it.
        if self._stopped is None or self._stopped.called:
            self._stopped = Deferred.fromCoroutine(self._stop())
        return _observe(self._stopped)

    async def _start(self) -> None:
        self._data_dir.create()
        self._lock = await _lock_data_dir(
            self._reactor.clock, self._data_dir, self._lock_timeout
        )
        try:
            run = await self._start_server()
        except BaseException:
            self._release_lock()
            raise
        log.info(
            "embedded redis-server (pid {pid}) ready on {socket}",
            pid=run.pid,
            socket=self.socket_path,
        )
        self._supervise(run)

    async def _start_server(self) -> _ServerRun:
        assert self._binary is not None
        return await _start_server(
            self._reactor,
            self._data_dir,
            self._binary,
            self._fsync,
            self._start_timeout,
            self._stop_timeout,
        )

    def _started(self, result: Failure | None) -> None:
        self._starting = None
        if isinstance(result, Failure):
            if not isinstance(result.value, CancelledError):
                log.critical(
                    "the embedded redis-server could not be started: {message}",
                    message=result.getErrorMessage(),
                )
            outcome: tuple[bool, Failure | None] = (False, result)
        else:
            outcome = (True, None)
        self._ready_outcome = outcome
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            self._fire(waiter, outcome)

    @staticmethod
    def _fire(waiter: Deferred[None], outcome: tuple[bool, Failure | None]) -> None:
        succeeded, failure = outcome
        if succeeded or failure is None:
            waiter.callback(None)
        else:
            waiter.errback(failure)

    def _supervise(self, run: _ServerRun) -> None:
        self._process = run
        run.ended.addCallback(self._exited, run)

    def _exited(
        self, status: error.ProcessDone | error.ProcessTerminated, run: _ServerRun
    ) -> error.ProcessDone | error.ProcessTerminated:
        if self._stopping or run is not self._process:
            return status
        self._process = None
        uptime = self._reactor.clock.seconds() - run.started_at
        if uptime >= self._restart_reset_after:
            self._next_delay = self._restart_delay
        delay = self._schedule_restart()
        log.error(
            "redis-server (pid {pid}) exited unexpectedly ({how}) after {uptime:.1f} s; restarting "
            "it in {delay:g} s{tail}",
            pid=run.pid,
            how=run.exit_description,
            uptime=uptime,
            delay=delay,
            tail=self._data_dir.log_tail(),
        )
        return status

    def _schedule_restart(self) -> float:
        delay = self._next_delay
        self._next_delay = min(delay * 2, self._restart_max_delay)
        self._restart_call = self._reactor.clock.callLater(delay, self._restart)
        return delay

    def _restart(self) -> None:
        self._restart_call = None
        restarting = Deferred.fromCoroutine(self._relaunch())
        self._starting = restarting
        restarting.addErrback(_ignore_cancel)
        restarting.addBoth(self._restarted)

    def _restarted(self, _: object) -> None:
        self._starting = None

    async def _relaunch(self) -> None:
        try:
            run = await self._start_server()
        except CancelledError:
            raise
        except Exception as e:
            delay = self._schedule_restart()
            log.error(
                "could not restart redis-server: {message}; trying again in {delay:g} s",
                message=str(e),
                delay=delay,
            )
            return
        log.info("redis-server restarted (pid {pid})", pid=run.pid)
        self._supervise(run)

    async def _stop(self) -> None:
        self._stopping = True
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        self._restart_call = None
        starting = self._starting
        if starting is not None:
            # The start stops whatever it had spawned before it gives up.
            starting.cancel()
            await _observe(starting)
        run, self._process = self._process, None
        if run is not None:
            await run.stop(self._stop_timeout)
            log.info("embedded redis-server (pid {pid}) stopped", pid=run.pid)
        self._release_lock()

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


class EmbeddedRedisLease:
    """One admin command's use of a data dir's redis-server; ``release`` it when done.

    ``owned`` says the lease started a temporary server (stopped on release) rather than borrowing
    the one a running service supervises (left alone on release).
    """

    def __init__(self, socket_path: Path, release: Callable[[], Awaitable[None]] | None) -> None:
        self.socket_path = socket_path
        self.owned = release is not None
        self._release = release

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            await release()

    async def __aenter__(self) -> EmbeddedRedisLease:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


async def open_embedded_redis(
    data_dir: Path,
    reactor: IReactorProcess,
    redis_server_path: str | None = None,
    *,
    fsync: str = "always",
    lock_timeout: float = 10.0,
    start_timeout: float = 60.0,
    stop_timeout: float = 30.0,
) -> EmbeddedRedisLease:
    """The data dir's redis for an admin command: the service's if one runs, else a temporary one.

    The temporary server is started exactly as the service starts its own (same arguments, same
    AOF, same lock), so the service cannot start on the dir while the command holds it.
    """
    layout = _DataDir(data_dir)
    layout.check_socket_path()
    checked_fsync = _check_fsync(fsync)
    reactors = _Reactor(reactor)
    layout.create()

    async def owner_serves() -> bool:
        return await reactors.answers_ping(layout.socket_path)

    lock = await _lock_data_dir(reactors.clock, layout, lock_timeout, borrow=owner_serves)
    if lock is None:
        return EmbeddedRedisLease(layout.socket_path, None)
    try:
        binary = find_redis_server(redis_server_path)
        run = await _start_server(
            reactors, layout, binary, checked_fsync, start_timeout, stop_timeout
        )
    except BaseException:
        lock.release()
        raise

    async def release() -> None:
        try:
            await run.stop(stop_timeout)
        finally:
            lock.release()

    return EmbeddedRedisLease(layout.socket_path, release)
