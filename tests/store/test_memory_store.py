"""The conformance tests against the in-memory backend."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.store.backend import StoreBundle, open_memory_store
from tests.store.conformance import (
    AccountStoreConformance,
    BlobStoreConformance,
    ClaimsConformance,
    DirectoryConformance,
    NotifierConformance,
)


@pytest_twisted.async_fixture
async def store() -> StoreBundle:
    return await open_memory_store()


@pytest_twisted.async_fixture
async def peer_store(store: StoreBundle) -> StoreBundle:
    # one process has one memory store: its "peer" is itself
    return store


class TestMemoryAccountStore(AccountStoreConformance):
    pass


class TestMemoryBlobStore(BlobStoreConformance):
    pass


class TestMemoryNotifier(NotifierConformance):
    pass


class TestMemoryClaims(ClaimsConformance):
    pass


class TestMemoryDirectory(DirectoryConformance):
    pass
