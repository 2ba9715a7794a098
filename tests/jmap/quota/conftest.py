"""A JMAP HTTP server on a real Redis with the default registry plus the Parcel test type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.capabilities import CORE, QUOTA
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.quota_usage import stage_limits
from stalwart_tx.jmap.methods import METHOD_MODULES, default_registry
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.backend import open_redis_store
from tests.jmap.api.conftest import (  # noqa: F401  (fixtures used here by name)
    ApiServer,
    MethodCaller,
    StartServer,
    cheap_hashes,
    start_server,
)
from tests.jmap.quota import parcels

USING = [CORE, QUOTA, parcels.CAPABILITY]


class Client(MethodCaller):
    """Requests to POST /jmap/api/ using core, quota and the Parcel test capability."""

    USING: ClassVar[list[str]] = USING

    async def quotas(self) -> dict[str, dict[str, Any]]:
        return {q["id"]: q for q in (await self.ok("Quota/get"))["list"]}

    async def query(self, **arguments: Any) -> list[str]:
        ids: list[str] = (await self.ok("Quota/query", **arguments))["ids"]
        return ids

    async def set_limits(self, **limits: int | None) -> None:
        """As ``stalwart-admin quota set`` does: one atomic write through the store."""
        objects = WorkingSet(self.server.store, self.account)
        await stage_limits(objects, limits)
        await self.server.store.accounts.write(self.account, objects.batch())


@pytest_twisted.async_yield_fixture
async def client(
    start_server: StartServer, redis_url: str  # noqa: F811  (the fixture imported above)
) -> AsyncIterator[Client]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits(maxConcurrentRequests=16)  # the concurrency test sends 8 at once
    registry = default_registry(limits, modules=[*METHOD_MODULES, parcels])
    server = await start_server(limits=limits, registry=registry, store=bundle)
    yield Client(server)
    await bundle.close()
