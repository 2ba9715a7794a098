"""The conformance tests against the in-memory backend."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.store.backend import StoreBundle, open_memory_store
from tests.store.conformance import (
    AccountStoreConformance,
    BlobStoreConformance,
    ClaimsConformance,
    DirectoryConformance,
    DueAccountsConformance,
    IndexStoreConformance,
    NotifierConformance,
    StoreFactory,
)


@pytest_twisted.async_fixture
async def store() -> StoreBundle:
    return await open_memory_store()


@pytest_twisted.async_fixture
async def peer_store(store: StoreBundle) -> StoreBundle:
    # one process has one memory store: its "peer" is itself
    return store


@pytest.fixture
def open_store() -> StoreFactory:
    # one process has one memory store per space: asking for a space again gives it back
    opened: dict[str, StoreBundle] = {}

    async def open_in(max_tombstones: int, space: str = "trim") -> StoreBundle:
        if space not in opened:
            opened[space] = await open_memory_store(max_tombstones=max_tombstones)
        assert opened[space].accounts.max_tombstones == max_tombstones  # type: ignore[attr-defined]
        return opened[space]

    return open_in


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


class TestMemoryIndexStore(IndexStoreConformance):
    pass


class TestMemoryDueAccounts(DueAccountsConformance):
    pass
