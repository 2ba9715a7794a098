"""A blob this process just put is read back without a round trip, and never outlives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import WriteBatch
from stalwart_tx.store.redis.blobs import RedisBlobStore
from stalwart_tx.store.redis.recent_blobs import KEEP_SECONDS, MAX_BLOB, MAX_TOTAL, RecentBlobs
from tests.store.conformance import A, B, clock_at, use_clock


@pytest_twisted.async_yield_fixture
async def store(redis_url: str) -> AsyncIterator[StoreBundle]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    yield bundle
    await bundle.close()


def count_scripts(store: StoreBundle) -> list[str]:
    """The names of the scripts the blob store runs from now on."""
    blobs = store.blobs
    assert isinstance(blobs, RedisBlobStore)
    ran: list[str] = []
    original = blobs.redis.run_script

    async def run_script(script: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(script.name)
        return await original(script, *args, **kwargs)

    blobs.redis.run_script = run_script  # type: ignore[method-assign]
    return ran


@pytest_twisted.ensureDeferred
async def test_a_blob_just_put_is_read_back_without_a_round_trip(store: StoreBundle) -> None:
    use_clock(store, clock_at(1000))
    blob_id = (await store.blobs.put(A, b"0123456789")).blob_id
    ran = count_scripts(store)
    assert await store.blobs.get(A, blob_id) == b"0123456789"
    assert await store.blobs.get(A, blob_id, 2, 3) == b"234"
    assert await store.blobs.get(A, blob_id, 8) == b"89"
    assert ran == []
    # another account does not see it, though the content is the same
    with pytest.raises(BlobNotFound):
        await store.blobs.get(B, blob_id)
    assert ran == ["blob_get"]


@pytest_twisted.ensureDeferred
async def test_the_copy_goes_with_age_a_delete_and_the_account(store: StoreBundle) -> None:
    use_clock(store, clock_at(1000))
    old = (await store.blobs.put(A, b"old")).blob_id
    use_clock(store, clock_at(1000 + KEEP_SECONDS + 1))
    ran = count_scripts(store)
    assert await store.blobs.get(A, old) == b"old"
    assert ran == ["blob_get"]  # too old to be held: read from Redis
    deleted = (await store.blobs.put(A, b"deleted")).blob_id
    await store.blobs.delete(A, deleted)
    with pytest.raises(BlobNotFound):
        await store.blobs.get(A, deleted)
    kept = (await store.blobs.put(A, b"kept")).blob_id
    await store.accounts.write(
        A, WriteBatch().create("Email", "e", {}).claim_blob(kept, "Email", "e")
    )
    await store.accounts.destroy_account(A)
    with pytest.raises(BlobNotFound):
        await store.blobs.get(A, kept)


def test_the_copies_are_bounded_by_size_and_total() -> None:
    recent = RecentBlobs()
    recent.put(A, "big", b"x" * (MAX_BLOB + 1), 0.0)
    assert recent.get(A, "big", 0.0) is None
    piece = b"y" * MAX_BLOB
    count = MAX_TOTAL // MAX_BLOB + 2
    for n in range(count):
        recent.put(A, f"b{n}", piece, 0.0)
    held = [n for n in range(count) if recent.get(A, f"b{n}", 0.0) is not None]
    # the oldest went first, and what is held fits the total
    assert held == list(range(count - len(held), count))
    assert len(held) * MAX_BLOB <= MAX_TOTAL
    # a clock set back does not keep entries from the future
    assert recent.get(A, f"b{count - 1}", -1.0) is None
