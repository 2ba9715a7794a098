"""An IMAP listener on a real port over a real Redis store, and imaplib clients for it.

imaplib blocks, so each client runs its calls in a thread of its own (``ImapClient.run``) while
the server runs in the reactor, exactly as a separate client process would talk to it.
"""

from __future__ import annotations

import imaplib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from stalwart_tx.auth import passwords
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap.protocol import ImapServerFactory
from stalwart_tx.imap.service import ImapParts, imap_services
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from tests.thread_calls import in_thread

T = TypeVar("T")
PASSWORD = "wonderland"


@pytest.fixture(autouse=True)
def cheap_hashes() -> Any:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    yield
    passwords.use_hasher(previous)


@dataclass
class ImapServer:
    port: int
    store: StoreBundle
    account: str
    api: JMAPApi
    factory: ImapServerFactory
    clients: list[ImapClient] = field(default_factory=list)

    async def client(self, *, login: bool = True) -> ImapClient:
        client = ImapClient(self)
        self.clients.append(client)
        await client.run(client.connect)
        if login:
            await client.run(client.imap.login, "alice", PASSWORD)
        return client

    async def jmap(self, method: str, **arguments: Any) -> dict[str, Any]:
        """One JMAP call as alice, in process (the same API the bridge uses)."""
        from stalwart_tx.imap.mail_client import USING

        user = await self._user()
        response = await self.api.process_request(user, {
            "using": sorted(USING),
            "methodCalls": [[method, {"accountId": self.account, **arguments}, "c"]],
        })
        [[name, result, _]] = response["methodResponses"]
        assert name == method, result
        return result  # type: ignore[no-any-return]

    async def _user(self) -> Any:
        from stalwart_tx.auth.avatar import MailUser

        return MailUser(principal_id=self.account, name="alice")


class ImapClient:
    """An imaplib client whose blocking calls run in its own thread."""

    def __init__(self, server: ImapServer) -> None:
        self.server = server
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.imap: imaplib.IMAP4 = None  # type: ignore[assignment]

    def connect(self) -> None:
        self.imap = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=20)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await in_thread(self.pool, call, *args)

    async def ok(self, command: str, *args: Any) -> list[Any]:
        """Run an imaplib command method; assert OK; its data."""
        typ, data = await self.run(getattr(self.imap, command), *args)
        assert typ == "OK", (command, typ, data)
        return list(data)

    async def raw(self, line: bytes) -> list[bytes]:
        """Send one raw command line (tag added) and read until its tagged answer; every line."""
        def exchange() -> list[bytes]:
            tag = self.imap._new_tag()
            self.imap.send(tag + b" " + line + b"\r\n")
            lines = []
            while True:
                got = self.imap.readline()
                if not got:
                    raise EOFError("connection closed")
                lines.append(got.rstrip(b"\r\n"))
                if got.startswith(tag + b" "):
                    return lines
        return await self.run(exchange)

    async def close(self) -> None:
        def shut() -> None:
            try:
                self.imap.shutdown()
            except Exception:
                pass
        if self.imap is not None:
            await self.run(shut)
        self.pool.shutdown(wait=False)


StartImap = Callable[..., Any]


@pytest_twisted.async_yield_fixture
async def start_imap(redis_url: str) -> AsyncIterator[StartImap]:
    """Start IMAP listeners over one store (alice's account): ``await start_imap(
    certificate=..., key=..., append_limit=...)``; all stopped after the test."""
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    alice = await bundle.directory.create_principal("alice", passwords.hash_password(PASSWORD))
    limits = CoreLimits()
    registry = default_registry(limits)
    hub = PushHub(lambda: bundle, reactor)
    portal = build_portal(bundle.directory)
    servers: list[ImapServer] = []
    services: list[Any] = []

    async def start(**options: Any) -> ImapServer:
        [service] = imap_services(ImapParts(
            registry=registry, limits=limits, store=lambda: bundle, portal=lambda: portal,
            limiter=options.pop("limiter", LoginRateLimiter(Clock())), hub=hub,
            reactor=reactor, public_url="http://localhost", **options,
        ), plain="tcp:0:interface=127.0.0.1", implicit=None)
        service.startService()
        services.append(service)
        port = await service.listener._waitingForPort
        api = JMAPApi(registry, limits, store=lambda: bundle, reactor=reactor,
                      urls=SessionUrls.under("http://localhost"))
        server = ImapServer(port.getHost().port, bundle, alice.id, api, service.factory)
        servers.append(server)
        return server

    yield start
    for server in servers:
        for client in server.clients:
            await client.close()
    for service in services:
        await maybeDeferred(service.stopService)
    await hub.stop()
    await bundle.close()


@pytest_twisted.async_yield_fixture
async def imap_server(start_imap: StartImap) -> AsyncIterator[ImapServer]:
    yield await start_imap()


class RawConnection:
    """A plain socket to the server for byte-exact protocol tests (blocking, in a thread)."""

    def __init__(self, server: ImapServer) -> None:
        import socket

        self.pool = ThreadPoolExecutor(max_workers=1)
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.buffer = b""

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await ImapClient.run(self, call, *args)  # type: ignore[arg-type]

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    async def line(self) -> bytes:
        return await self.run(self._line)

    async def send(self, data: bytes) -> None:
        await self.run(self.sock.sendall, data)

    async def until(self, tag: bytes) -> list[bytes]:
        """Every line up to and including the one tagged ``tag``."""
        def read() -> list[bytes]:
            lines = []
            while True:
                line = self._line()
                lines.append(line)
                if line.startswith(tag + b" "):
                    return lines
        return await self.run(read)

    async def command(self, line: bytes, tag: bytes = b"t") -> list[bytes]:
        await self.send(tag + b" " + line + b"\r\n")
        return await self.until(tag)

    async def closed(self) -> bool:
        def read() -> bool:
            try:
                while True:
                    data = self.sock.recv(65536)
                    if not data:
                        return True
                    self.buffer += data
            except OSError:
                return False
        return await self.run(read)

    def close(self) -> None:
        self.sock.close()
        self.pool.shutdown(wait=False)


@pytest_twisted.async_yield_fixture
async def raw(imap_server: ImapServer) -> AsyncIterator[RawConnection]:
    connection = RawConnection(imap_server)
    greeting = await connection.line()
    assert greeting.startswith(b"* OK [CAPABILITY ")
    yield connection
    connection.close()


async def logged_in(connection: RawConnection) -> RawConnection:
    lines = await connection.command(b'LOGIN alice "' + PASSWORD.encode() + b'"', b"L")
    assert lines[-1].startswith(b"L OK"), lines
    return connection
