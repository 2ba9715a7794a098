"""``imap-processes``: the real service (twistd) with extra processes accepting IMAP connections
on the main process's listening sockets.

Which process serves a connection is read from the kernel (Linux /proc): the process holding
the server side of the connection's socket. Nothing in the protocol says it.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.imap.processes import ImapProcesses
from stalwart_tx.imap.session_board import SessionBoard
from stalwart_tx.imap.worker_spec import BoardPlace, InheritedSocket, WorkerSpec
from tests.service_process import (
    RunningService,
    admin,
    basic,
    free_port,
    pid_alive,
    start_service,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc"),
]

PASSWORD = "wonderland"
MESSAGE = b"From: a@example.com\r\nSubject: across processes\r\n\r\nbody\r\n"


# -- the kernel's view: processes and their sockets -------------------------------------------

def imap_workers(parent: int) -> set[int]:
    """The live IMAP worker processes whose parent is ``parent``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and b"stalwart_tx.imap.worker" in command \
                and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _hex_address(host: str, port: int) -> str:
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"


def socket_inode(server_port: int, client: socket.socket) -> int:
    """The inode of the server side of ``client``'s connection."""
    local = _hex_address("127.0.0.1", server_port)
    remote = _hex_address(*client.getsockname())
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote and int(fields[9]):
            return int(fields[9])
    raise AssertionError(f"no server socket for {client.getsockname()}")


def owner(server_port: int, client: socket.socket, pids: set[int]) -> int:
    """Which of ``pids`` holds the server side of ``client``'s connection."""
    target = f"socket:[{socket_inode(server_port, client)}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"none of {pids} holds {target}")


# -- a line-oriented IMAP client ---------------------------------------------------------------

class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stream = self.sock.makefile("rwb")
        self.greeting = self.line()

    def line(self) -> bytes:
        got = self.stream.readline()
        if not got:
            raise EOFError("connection closed")
        return got.rstrip(b"\r\n")

    def send(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()

    def command(self, line: bytes, tag: bytes = b"t") -> list[bytes]:
        self.send(tag + b" " + line + b"\r\n")
        lines = []
        while not lines or not lines[-1].startswith(tag + b" "):
            lines.append(self.line())
        return lines

    def login(self) -> None:
        lines = self.command(b"LOGIN alice " + PASSWORD.encode(), b"L")
        assert lines[-1].startswith(b"L OK"), lines

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


# -- the service --------------------------------------------------------------------------------

class ImapService:
    def __init__(self, service: RunningService, imap_port: int) -> None:
        self.service = service
        self.imap_port = imap_port
        self.clients: list[Client] = []

    @property
    def main(self) -> int:
        return self.service.process.pid

    def workers(self) -> set[int]:
        return imap_workers(self.main)

    def wait_for_workers(self, count: int, exclude: frozenset[int] = frozenset(),
                         timeout: float = 20) -> set[int]:
        """``count`` workers, none of ``exclude``, each listening."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self.workers()
            log = self.service.log()
            if len(workers) == count and not workers & exclude and all(
                f"IMAP process {pid}: [stalwart_tx.imap.protocol.ImapServerFactory] Starting "
                in log for pid in workers
            ):
                return workers
            time.sleep(0.05)
        raise AssertionError(f"workers {self.workers()}, not {count} new:\n{self.service.log()}")

    def client(self) -> Client:
        client = Client(self.imap_port)
        self.clients.append(client)
        assert client.greeting.startswith(b"* OK [CAPABILITY"), client.greeting
        return client

    def owner(self, client: Client) -> int:
        return owner(self.imap_port, client.sock, self.workers() | {self.main})

    def client_in(self, pid: int) -> Client:
        """A connection served by ``pid``."""
        with only(pid, self.workers() | {self.main}):
            client = self.client()
        assert self.owner(client) == pid
        return client


@contextmanager
def only(pid: int, pids: set[int]) -> Iterator[None]:
    """Only ``pid`` of ``pids`` accepts connections meanwhile: the others are stopped (SIGSTOP),
    as left to itself the kernel gives a connection to whichever process is first."""
    others = pids - {pid}
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def start_imap_service(directory: Path, *args: str) -> ImapService:
    data = directory / "data"
    added = admin("--data", str(data), "user", "add", "alice", "--password", PASSWORD)
    assert added.returncode == 0, added.stderr
    imap_port = free_port()
    service = start_service(
        directory, "--data", str(data), "--imap", f"tcp:{imap_port}:interface=127.0.0.1",
        "--analysis-workers", "0", *args,
    )
    service.wait_for(basic("alice", PASSWORD))
    return ImapService(service, imap_port)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapService]:
    """One service, imap-processes 3, for the tests of this module in order (the last stops it)."""
    running = start_imap_service(tmp_path_factory.mktemp("three"), "--imap-processes", "3")
    try:
        running.wait_for_workers(2)
        yield running
    finally:
        for client in running.clients:
            client.close()
        running.service.kill()


# -- tests ----------------------------------------------------------------------------------------

def test_connections_are_served_by_several_processes(three: ImapService) -> None:
    workers = three.wait_for_workers(2)
    # opened together, as a client starting several sessions does: a burst no one process
    # swallows whole (each accepts one at a time and yields to the others)
    clients = [three.client() for _ in range(12)]
    owners = [three.owner(client) for client in clients]
    assert set(owners) <= workers | {three.main}
    counts = sorted(Counter(owners).values())
    assert len(counts) == 3 and counts[-1] - counts[0] <= 2, owners


def test_sessions_opened_one_after_another_spread_evenly(three: ImapService) -> None:
    workers = three.wait_for_workers(2)
    pids = workers | {three.main}
    for client in three.clients:
        client.close()
    three.clients.clear()
    time.sleep(0.3)  # the closed sessions end, and the next accepts count them out
    # each logs in before the next connects, as the sessions of a client starting up, or of
    # users arriving over time: every connection comes to processes that are all awake
    clients = []
    for _ in range(12):
        client = three.client()
        client.login()
        clients.append(client)
    counts = Counter(three.owner(client) for client in clients)
    assert set(counts) == pids and max(counts.values()) - min(counts.values()) <= 1, counts
    for client in clients:
        client.close()
    three.clients.clear()


def test_a_session_in_one_process_sees_an_append_in_another(three: ImapService) -> None:
    watcher = three.client_in(min(three.wait_for_workers(2)))
    writer = three.client_in(three.main)
    watcher.login()
    writer.login()
    assert any(b"0 EXISTS" in line for line in watcher.command(b"SELECT INBOX"))
    watcher.send(b"i IDLE\r\n")
    assert watcher.line().startswith(b"+ ")
    appended = writer.command(b"APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE)
    assert appended[-1].startswith(b"t OK"), appended
    started = time.monotonic()
    watcher.sock.settimeout(2)
    assert watcher.line() == b"* 1 EXISTS"
    assert time.monotonic() - started < 2
    watcher.send(b"DONE\r\n")
    rest = [watcher.line()]
    while not rest[-1].startswith(b"i "):
        rest.append(watcher.line())
    assert rest[-1].startswith(b"i OK"), rest
    # \Recent is the watcher's, which saw the message first, in whichever process it runs
    assert b"* 1 RECENT" in rest
    selected = writer.command(b"SELECT INBOX")
    assert b"* 1 EXISTS" in selected and b"* 0 RECENT" in selected, selected
    fetched = writer.command(b"UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert any(b"across processes" in line for line in fetched), fetched


def test_a_killed_process_is_replaced(three: ImapService) -> None:
    before = three.wait_for_workers(2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    after = three.wait_for_workers(2, exclude=frozenset({victim}))
    assert len(after - before) == 1
    assert f"IMAP process {victim} ended" in three.service.log()
    # the new process serves connections, and so do the others
    for pid in after | {three.main}:
        client = three.client_in(pid)
        client.login()
        assert client.command(b"NOOP")[-1].startswith(b"t OK")


def test_stopping_the_service_ends_every_process_and_session(three: ImapService) -> None:
    workers = three.wait_for_workers(2)
    sessions = [(three.client_in(pid), pid) for pid in workers | {three.main}]
    assert service_stops_cleanly(three.service)
    for client, pid in sessions:
        client.sock.settimeout(5)
        assert client.line().startswith(b"* BYE"), pid
    for pid in workers:
        assert not pid_alive(pid), f"IMAP process {pid} outlived the service"
        assert f"IMAP process {pid} stopped: A process has ended without apparent errors: " \
            "process finished with exit code 0." in three.service.log()
    assert "Traceback" not in three.service.log()


def service_stops_cleanly(service: RunningService) -> bool:
    return service.terminate(timeout=30)


def test_implicit_tls_is_served_by_every_process(tmp_path: Path) -> None:
    from tests.certificates import make_certificates

    files = make_certificates(tmp_path / "certs")
    imaps_port = free_port()
    running = start_imap_service(
        tmp_path, "--imap-processes", "2", "--imaps", f"tcp:{imaps_port}:interface=127.0.0.1",
        "--tls-certificate", files["server"], "--tls-key", files["server_key"],
    )
    context = ssl.create_default_context(cafile=files["ca"])
    tls_clients: list[ssl.SSLSocket] = []
    try:
        [worker] = running.wait_for_workers(1)
        for pid in (worker, running.main):
            with only(pid, {worker, running.main}):
                tls = context.wrap_socket(
                    socket.create_connection(("127.0.0.1", imaps_port), timeout=10),
                    server_hostname="localhost",
                )
                tls_clients.append(tls)
                assert tls.recv(4096).startswith(b"* OK [CAPABILITY")
            assert owner(imaps_port, tls, {worker, running.main}) == pid
            tls.sendall(b"a LOGIN alice " + PASSWORD.encode() + b"\r\n")
            assert tls.recv(4096).startswith(b"a OK"), pid
        assert service_stops_cleanly(running.service)
        assert not pid_alive(worker)
    finally:
        for tls in tls_clients:
            tls.close()
        running.service.kill()


def test_processes_exit_when_the_main_process_dies(tmp_path: Path) -> None:
    running = start_imap_service(tmp_path, "--imap-processes", "2")
    try:
        [worker] = running.wait_for_workers(1)
        session = running.client_in(worker)
        os.kill(running.main, signal.SIGKILL)
        # its stdin ends with the main process: it stops as on SIGTERM
        session.sock.settimeout(10)
        assert session.line().startswith(b"* BYE")
        deadline = time.monotonic() + 10
        while pid_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(worker), "an IMAP process outlived the main process"
    finally:
        for client in running.clients:
            client.close()
        running.service.kill()


# -- restarts and stopping, on a fake reactor ------------------------------------------------------

class FakeTransport:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class FakeReactor(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[Any, dict[int, Any]]] = []

    def spawnProcess(self, protocol: Any, executable: str, args: list[str], env: Any,
                     childFDs: dict[int, Any]) -> None:
        assert args[1:] == ["-P", "-m", "stalwart_tx.imap.worker"]
        protocol.makeConnection(FakeTransport(1000 + len(self.spawned)))
        self.spawned.append((protocol, childFDs))


class FakeListener:
    def __init__(self, implicit_tls: bool, fileno: int) -> None:
        self.factory = SimpleNamespace(implicit_tls=implicit_tls, connections=set())
        self.port = SimpleNamespace(addressFamily=socket.AF_INET6, fileno=lambda: fileno,
                                    doRead=lambda: None)

    def listening(self) -> Deferred[Any]:
        return succeed(self.port)


def end(protocol: Any, code: int | None = None, signal_name: int | None = None) -> None:
    from twisted.internet.error import ProcessTerminated

    protocol.processEnded(Failure(ProcessTerminated(code, signal_name)))


def test_a_child_that_keeps_dying_is_restarted_later_each_time() -> None:
    reactor = FakeReactor()
    ready: Deferred[None] = Deferred()
    processes = ImapProcesses(
        reactor, 2, [FakeListener(False, 12), FakeListener(True, 13)],  # type: ignore[list-item]
        {"redis": "unix:///r.sock"}, ready=lambda: ready, grace=5.0,
    )
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        processes.startService()
        assert reactor.spawned == [], "nothing starts before Redis answers"
        ready.callback(None)
        assert len(reactor.spawned) == 2
        first, fds = reactor.spawned[0]
        board_fd = fds.pop(5)
        assert fds == {0: "w", 1: "r", 2: "r", 3: 12, 4: 13}
        spec = WorkerSpec.from_line(first.transport.written)
        # the session board: slot 0 is this process's, then one per child
        assert spec.board == BoardPlace(5, 3, 1)
        assert WorkerSpec.from_line(reactor.spawned[1][0].transport.written).board == (
            BoardPlace(5, 3, 2)
        )
        board = SessionBoard(board_fd, 3, 2)
        board.publish(7)
        assert spec.plain == InheritedSocket(3, socket.AF_INET6)
        assert spec.implicit == InheritedSocket(4, socket.AF_INET6)
        assert spec.settings == {"redis": "unix:///r.sock"}

        delays = []
        for _ in range(4):
            protocol = reactor.spawned[-1][0]
            end(protocol, signal_name=9)
            spawned = len(reactor.spawned)
            waited = 0.0
            while len(reactor.spawned) == spawned:
                reactor.advance(0.25)
                waited += 0.25
            delays.append(waited)
        assert delays == [0.5, 1.0, 2.0, 4.0]
        # the child replaced takes the slot of the one that ended, which now counts nothing
        replaced = WorkerSpec.from_line(reactor.spawned[-1][0].transport.written).board
        assert replaced == BoardPlace(5, 3, 2)
        assert board.count(2) == 0
        assert any("ended (A process has ended with a probable error condition: process "
                   "ended by signal 9.); starting another in 4.0 s" in formatEvent(e)
                   for e in events)
        # a child that ran a while resets the delay
        reactor.advance(60)
        end(reactor.spawned[-1][0], code=1)
        reactor.advance(0.5)
        assert len(reactor.spawned) == 7

        stopped = processes.stopService()
        running = [p for p, _ in reactor.spawned if p.transport.signals == ["TERM"]]
        assert len(running) == 2
        end(running[0], code=0)
        reactor.advance(5.0)
        assert running[1].transport.signals == ["TERM", "KILL"]
        assert not stopped.called
        end(running[1], signal_name=9)
        assert stopped.called
        reactor.advance(60)
        assert len(reactor.spawned) == 7, "nothing restarts once stopped"
    finally:
        globalLogPublisher.removeObserver(events.append)


# -- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", 0, "two", "1.5", -1, True])
def test_imap_processes_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ConfigError, match="imap-processes"):
        build_config({"imap-processes": value})


def test_one_imap_process_by_default_and_then_no_children(tmp_path: Path) -> None:
    from stalwart_tx.service import makeService

    config = build_config({"data": str(tmp_path)})
    assert config.imap_processes == 1
    assert not [s for s in makeService(config) if isinstance(s, ImapProcesses)]
    three = makeService(build_config({"data": str(tmp_path), "imap-processes": "3"}))
    [processes] = [s for s in three if isinstance(s, ImapProcesses)]
    assert processes.count == 2
    # stopped last-started-first: the children stop before the listeners and the store
    assert list(three)[-1] is processes


def test_imap_processes_need_listeners_other_processes_can_adopt(tmp_path: Path) -> None:
    from tests.certificates import make_certificates

    files = make_certificates(tmp_path)
    ssl_endpoint = f"ssl:0:privateKey={files['server_key']}:certKey={files['server']}"
    assert build_config({"imaps": ssl_endpoint}).imaps == ssl_endpoint
    with pytest.raises(ConfigError, match=r"imap-processes: .*not ssl: endpoints"):
        build_config({"imap-processes": 2, "imaps": ssl_endpoint})
    with pytest.raises(ConfigError, match=r"imap-processes: .*neither imap nor imaps"):
        build_config({"imap-processes": 2, "imap": "none"})
    assert build_config({"imap-processes": "2"}).imap_processes == 2
