"""A JMAP HTTP server with the default registry on a real Redis store, and a mail client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.capabilities import CORE, MAIL, VACATION_RESPONSE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.store.backend import open_redis_store
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
