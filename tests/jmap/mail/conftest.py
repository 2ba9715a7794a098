"""A JMAP HTTP server with the default registry on a real Redis store, and a mail client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.capabilities import CORE, MAIL, QUOTA, SUBMISSION, VACATION_RESPONSE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import StateMismatch
from stalwart_tx.store.records import WriteBatch
from tests.jmap.api.conftest import (  # noqa: F401  (fixtures used here by name)
    ApiServer,
    MethodCaller,
    StartServer,
    cheap_hashes,
    start_server,
)

USING = [CORE, MAIL, VACATION_RESPONSE]


class Mail(MethodCaller):
    """Requests to POST /jmap/api/ using core, mail and vacationresponse."""

    USING: ClassVar[list[str]] = USING

    async def request(self, *calls: list[Any]) -> list[list[Any]]:
        responses: list[list[Any]] = (await self.response(*calls))["methodResponses"]
        return responses

    async def mailboxes(self) -> dict[str, dict[str, Any]]:
        """Every mailbox by name (names are unique in the tests that use this)."""
        found = (await self.ok("Mailbox/get"))["list"]
        return {mailbox["name"]: mailbox for mailbox in found}

    async def set(self, **arguments: Any) -> dict[str, Any]:
        return await self.ok("Mailbox/set", **arguments)

    async def create(self, **mailbox: Any) -> str:
        result = await self.set(create={"m": mailbox})
        assert result["notCreated"] is None, result["notCreated"]
        mailbox_id: str = result["created"]["m"]["id"]
        return mailbox_id

    async def not_created(self, **mailbox: Any) -> dict[str, Any]:
        result = await self.set(create={"m": mailbox})
        assert result["created"] is None, result["created"]
        error: dict[str, Any] = result["notCreated"]["m"]
        return error

    async def not_updated(self, mailbox_id: str, **patch: Any) -> dict[str, Any]:
        result = await self.set(update={mailbox_id: patch})
        assert result["updated"] is None, result["updated"]
        error: dict[str, Any] = result["notUpdated"][mailbox_id]
        return error

    async def query(self, **arguments: Any) -> list[str]:
        ids: list[str] = (await self.ok("Mailbox/query", **arguments))["ids"]
        return ids


@pytest_twisted.async_yield_fixture
async def mail(
    start_server: StartServer, redis_url: str  # noqa: F811  (the fixture imported above)
) -> AsyncIterator[Mail]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits(maxConcurrentRequests=16)  # the concurrency tests send 12 at once
    server = await start_server(limits=limits, registry=default_registry(limits), store=bundle)
    yield Mail(server)
    await bundle.close()


def message(
    subject: str = "Hello",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    sender: str = "Alice <alice@example.com>",
    to: str = "Bob <bob@example.org>",
    body: str = "Hello there.\r\n",
    date: str = "Mon, 02 Jan 2023 10:00:00 +0000",
    extra_headers: str = "",
) -> bytes:
    """A small RFC 5322 message."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{r}>" for r in references))
    head = "\r\n".join(lines) + "\r\n" + extra_headers
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


class Emails(Mail):
    """Mail with the Email calls the Email tests use."""

    USING: ClassVar[list[str]] = [*USING, QUOTA, SUBMISSION]

    async def upload(self, raw: bytes) -> str:
        info = await self.server.store.blobs.put(self.account, raw)
        return info.blob_id

    async def inbox(self) -> str:
        return str((await self.mailboxes())["Inbox"]["id"])

    async def import_raw(
        self, raw: bytes, mailbox_ids: list[str] | None = None, **entry: Any
    ) -> dict[str, Any]:
        """Import one message; its ``created`` entry (id, blobId, threadId, size)."""
        blob_id = await self.upload(raw)
        mailboxes = mailbox_ids if mailbox_ids is not None else [await self.inbox()]
        result = await self.ok("Email/import", emails={"e": {
            "blobId": blob_id, "mailboxIds": dict.fromkeys(mailboxes, True), **entry,
        }})
        assert result["notCreated"] is None, result["notCreated"]
        created: dict[str, Any] = result["created"]["e"]
        return created

    async def get_email(self, email_id: str, *properties: str, **arguments: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {"properties": list(properties)} if properties else {}
        found = (await self.ok("Email/get", ids=[email_id], **extra, **arguments))["list"]
        assert len(found) == 1, found
        email: dict[str, Any] = found[0]
        return email

    async def counts(self, mailbox_id: str) -> dict[str, int]:
        names = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]
        [found] = (await self.ok("Mailbox/get", ids=[mailbox_id], properties=names))["list"]
        return {name: found[name] for name in names}

    async def thread_ids(self, thread_id: str) -> list[str]:
        [thread] = (await self.ok("Thread/get", ids=[thread_id]))["list"]
        ids: list[str] = thread["emailIds"]
        return ids


@pytest_twisted.async_yield_fixture
async def emails(
    start_server: StartServer, redis_url: str  # noqa: F811  (the fixture imported above)
) -> AsyncIterator[Emails]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits(maxConcurrentRequests=16)
    server = await start_server(limits=limits, registry=default_registry(limits), store=bundle)
    yield Emails(server)
    await bundle.close()


class ConflictOnce:
    """The store's first write fails as if another process had written first, and every
    analysis of a message is recorded: to see what an attempt that starts over does again."""

    def __init__(self, store: StoreBundle, monkeypatch: pytest.MonkeyPatch) -> None:
        import stalwart_tx.jmap.mail.message_analyzer as message_analyzer

        self.analysed: list[bytes] = []
        self.writes: list[str] = []  # the account of each write
        real_analyze, real_write = message_analyzer.analyze, store.accounts.write

        async def counting_analyze(reactor: Any, raw: bytes) -> Any:
            self.analysed.append(raw)
            return await real_analyze(reactor, raw)

        async def conflicting_once(account_id: str, batch: WriteBatch) -> Any:
            self.writes.append(account_id)
            if len(self.writes) == 1:
                raise StateMismatch("Email", "0", "1")
            return await real_write(account_id, batch)

        monkeypatch.setattr(message_analyzer, "analyze", counting_analyze)
        monkeypatch.setattr(store.accounts, "write", conflicting_once)


class BothAccounts(RequestContext):
    """As if bob had shared his account with alice (sharing itself comes later)."""

    others: list[str] = []

    def account_ids(self) -> list[str]:
        return [self.user.account_id, *self.others]


@pytest_twisted.async_yield_fixture
async def two(
    start_server: StartServer, redis_url: str  # noqa: F811  (the fixture imported above)
) -> AsyncIterator[Emails]:
    """Alice's mail client, allowed to use her account and bob's."""
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits()
    server = await start_server(limits=limits, registry=default_registry(limits), store=bundle,
                                context_factory=BothAccounts)
    BothAccounts.others = [server.other_user_id]
    yield Emails(server)
    BothAccounts.others = []
    await bundle.close()
