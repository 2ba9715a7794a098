from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from tests.jmap.standard.widgets import Api


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """"memory", or the URL of an empty database on the test redis-server."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return "memory"


@pytest_twisted.async_yield_fixture
async def store(backend: str) -> AsyncIterator[StoreBundle]:
    if backend == "memory":
        bundle = await open_memory_store()
    else:
        bundle = await open_redis_store(backend, reactor, timeout=5.0)
    yield bundle
    await bundle.close()


@pytest.fixture
def api(store: StoreBundle) -> Api:
    return Api(store, reactor)
