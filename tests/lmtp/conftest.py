"""An LMTP listener on a Unix socket over a real Redis store, and smtplib.LMTP clients for it.

smtplib blocks, so each client's calls run in a thread of its own while the server runs in the
reactor, as an MTA's delivery agent in another process would talk to it.
"""

from __future__ import annotations

import smtplib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.lmtp.service import lmtp_service
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from tests.thread_calls import in_thread

T = TypeVar("T")


@dataclass
class LmtpServer:
    socket: str
    store: StoreBundle
    api: JMAPApi
    accounts: dict[str, str]  # login name -> account id
    clients: list[LmtpClient] = field(default_factory=list)

    async def client(self) -> LmtpClient:
        client = LmtpClient(self.socket)
        self.clients.append(client)
        await client.run(client.connect)
        return client

    async def send(self, sender: str, to: list[str], data: bytes) -> dict[str, Any]:
        """One message on a new connection (smtplib reads a single reply after the data, LMTP
        gives one per recipient: a connection that went on would read them late); the
        recipients refused, as smtplib's sendmail gives them."""
        client = await self.client()
        await client.run(client.lmtp.ehlo, "mta")
        refused: dict[str, Any] = await client.run(client.lmtp.sendmail, sender, to, data)
        return refused

    async def stored(self, name: str, mail: dict[str, Any]) -> bytes:
        """The message as stored for the named user (``mail`` from ``inbox``)."""
        return await self.store.blobs.get(self.accounts[name], mail["blobId"])

    async def inbox(self, name: str) -> list[dict[str, Any]]:
        """The emails in the named user's Inbox (subject, from, size, preview)."""
        client = MailClient(self.api, MailUser(self.accounts[name], name))
        [inbox] = (await client.call("Mailbox/query", filter={"role": "inbox"}))["ids"]
        found = await client.call("Email/query", filter={"inMailbox": inbox})
        got = await client.call("Email/get", ids=found["ids"],
                                properties=["subject", "from", "size", "blobId", "keywords"])
        return list(got["list"])


class LmtpClient:
    def __init__(self, path: str) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.lmtp: smtplib.LMTP = None  # type: ignore[assignment]

    def connect(self) -> None:
        self.lmtp = smtplib.LMTP(self.path, timeout=20)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await in_thread(self.pool, call, *args)

    async def close(self) -> None:
        def shut() -> None:
            try:
                self.lmtp.close()
            except Exception:
                pass
        if self.lmtp is not None:
            await self.run(shut)
        self.pool.shutdown(wait=False)


StartLmtp = Callable[..., Any]


@pytest_twisted.async_yield_fixture
async def lmtp_server(redis_url: str, tmp_path: Path) -> AsyncIterator[LmtpServer]:
    """Users alice and bob with addresses at example.org, an alias team@ for both, and the
    listener on a socket in the test's directory."""
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    directory = bundle.directory
    accounts: dict[str, str] = {}
    for name in ("alice", "bob"):
        principal = await directory.create_principal(name, None)
        accounts[name] = principal.id
        await directory.add_address(principal.id, f"{name}@example.org")
    await directory.add_domain("example.org")
    await directory.set_alias("team@example.org", [accounts["alice"], accounts["bob"]])
    limits = CoreLimits()
    registry = default_registry(limits)
    path = str(tmp_path / "lmtp.sock")
    service = lmtp_service(
        f"unix:{path}", registry=registry, limits=limits, store=lambda: bundle, reactor=reactor,
        public_url="http://localhost", size_limit=64 * 1024, hostname="mx.example.org",
    )
    service.startService()
    await service._waitingForPort  # type: ignore[attr-defined]
    api = JMAPApi(registry, limits, store=lambda: bundle, reactor=reactor,
                  urls=SessionUrls.under("http://localhost"))
    server = LmtpServer(path, bundle, api, accounts)
    yield server
    for client in server.clients:
        await client.close()
    await maybeDeferred(service.stopService)
    await bundle.close()
