"""A JMAP server on a real Redis store sending through a real local SMTP server, for the
EmailSubmission tests, with the calls they share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.email_submission_scheduler import SubmissionScheduler
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store.backend import open_redis_store
from tests.jmap.api.conftest import StartServer
from tests.jmap.mail.conftest import Emails, message
from tests.smtp_server import SMTPTestServer

ALICE = "alice@example.com"
OTHER = "alice.other@example.com"


@dataclass
class Sending(Emails):
    """Emails, plus Identity and EmailSubmission calls, and the relay the server sends to."""

    relay_server: SMTPTestServer | None = field(default=None, kw_only=True)
    relay: RelayConfig | None = field(default=None, kw_only=True)

    @property
    def received(self) -> list[Any]:
        assert self.relay_server is not None
        return self.relay_server.received

    async def identity(self, email: str = ALICE) -> str:
        found = (await self.ok("Identity/get"))["list"]
        [identity_id] = [i["id"] for i in found if i["email"] == email]
        return str(identity_id)

    async def mailbox(self, name: str) -> str:
        return str((await self.mailboxes())[name]["id"])

    async def draft(self, raw: bytes | None = None, **headers: Any) -> dict[str, Any]:
        """Import a message into Drafts with $draft; its created entry plus ``raw``."""
        raw = raw if raw is not None else message(**headers)
        created = await self.import_raw(
            raw, [await self.mailbox("Drafts")], keywords={"$draft": True}
        )
        return {**created, "raw": raw}

    async def submission_set(self, **arguments: Any) -> list[list[Any]]:
        arguments.setdefault("accountId", self.account)
        return await self.request(["EmailSubmission/set", arguments, "s0"])

    async def submit(self, **submission: Any) -> dict[str, Any]:
        """Create one submission; the EmailSubmission/set response."""
        [[name, result, call_id]] = await self.submission_set(create={"s": submission})
        assert (name, call_id) == ("EmailSubmission/set", "s0"), result
        assert isinstance(result, dict)
        return result

    async def created(self, **submission: Any) -> dict[str, Any]:
        result = await self.submit(**submission)
        assert result["notCreated"] is None, result["notCreated"]
        created: dict[str, Any] = result["created"]["s"]
        return created

    async def not_created(self, **submission: Any) -> dict[str, Any]:
        result = await self.submit(**submission)
        assert result["created"] is None, result["created"]
        error: dict[str, Any] = result["notCreated"]["s"]
        return error

    async def submission(self, submission_id: str) -> dict[str, Any]:
        [found] = (await self.ok("EmailSubmission/get", ids=[submission_id]))["list"]
        assert isinstance(found, dict)
        return found

    def scheduler(self, at: float) -> SubmissionScheduler:
        """A scheduler of this server's store whose clock says ``at`` (Unix seconds)."""
        clock = Clock()
        clock.advance(at)
        store = self.server.store
        return SubmissionScheduler(lambda: store, reactor, self.relay, clock=clock)


@pytest_twisted.async_yield_fixture(name="sending")
async def sending_fixture(
    start_server: StartServer, redis_url: str, smtp_server: Callable[..., SMTPTestServer]
) -> AsyncIterator[Sending]:
    relay_server = smtp_server()
    relay = RelayConfig(endpoint=relay_server.endpoint, starttls="off", timeout=10)
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits(maxConcurrentRequests=16)
    server = await start_server(
        limits=limits, registry=default_registry(limits, relay=relay), store=bundle
    )
    for address in (ALICE, OTHER):
        await bundle.directory.add_address(server.user_id, address)
    yield Sending(server, relay_server=relay_server, relay=relay)
    await bundle.close()


__all__ = ["ALICE", "OTHER", "Sending", "sending_fixture"]
