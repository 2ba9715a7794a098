"""The Redis keys behind blob claims and expiry, and the sweep index's answer to racing writers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_twisted
import redis as redis_py
from twisted.internet import reactor

from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.records import WriteBatch
from stalwart_tx.store.redis.blobs import RedisBlobStore
from stalwart_tx.store.redis.keys import AccountKeys
from tests.store.conformance import A, B, clock_at, use_clock

INDEX = "stx:{blobsweep}:accounts"


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    yield client
    client.close()


@pytest_twisted.async_yield_fixture
async def store(redis_url: str) -> AsyncIterator[StoreBundle]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    yield bundle
    await bundle.close()


def blobs_of(store: StoreBundle) -> RedisBlobStore:
    assert isinstance(store.blobs, RedisBlobStore)
    return store.blobs


@pytest_twisted.ensureDeferred
async def test_keys_of_a_claimed_and_an_unreferenced_blob(
    store: StoreBundle, raw: redis_py.Redis
) -> None:
    use_clock(store, clock_at(1000))
    claimed = (await store.blobs.put(A, b"claimed")).blob_id
    loose = (await store.blobs.put(A, b"loose")).blob_id
    await store.accounts.write(
        A, WriteBatch().create("Email", "e/1", {}).claim_blob(claimed, "Email", "e/1")
    )
    assert raw.smembers(f"stx:{{a:{A}}}:blobrefs:{claimed}") == {b"Email/e/1"}
    assert not raw.exists(f"stx:{{a:{A}}}:blobrefs:{loose}")
    assert raw.zrange(f"stx:{{a:{A}}}:unreferenced", 0, -1, withscores=True) == [
        (loose.encode(), 1000.0)
    ]
    assert raw.zrange(INDEX, 0, -1, withscores=True) == [(A.encode(), 1000.0)]


@pytest_twisted.ensureDeferred
async def test_the_index_keeps_the_earliest_stamp_and_empties_with_the_sweep(
    store: StoreBundle, raw: redis_py.Redis
) -> None:
    clock = use_clock(store, clock_at(10))
    await store.blobs.put(A, b"first")
    clock.advance(10)
    await store.blobs.put(A, b"second")
    await store.blobs.put(B, b"other account")
    assert raw.zscore(INDEX, A) == 10.0 and raw.zscore(INDEX, B) == 20.0
    assert await store.blobs.sweep_unreferenced(15, 100) == 1
    assert raw.zscore(INDEX, A) == 20.0, "rescheduled at its next stamp"
    assert await store.blobs.sweep_unreferenced(20, 100) == 2
    assert raw.zcard(INDEX) == 0


@pytest_twisted.ensureDeferred
async def test_a_writer_racing_the_reindex_keeps_its_account_listed(
    store: StoreBundle, raw: redis_py.Redis, monkeypatch: Any
) -> None:
    """The sweep found the account empty and drops it from the index; a writer had just stamped
    a blob and indexed the account before that drop. The sweep's second look restores it."""
    blobs = blobs_of(store)
    keys = AccountKeys("stx:", A)
    real_earliest = blobs._earliest
    looks = []

    async def earliest_then_writer_stamps(account_keys: AccountKeys) -> str | None:
        found = await real_earliest(account_keys)
        looks.append(found)
        if len(looks) == 1:
            raw.zadd(keys.unreferenced, {"B" + "a" * 64: 42})  # the writer's account-side step
            raw.zadd(INDEX, {A: 42}, lt=True)  # ...and its index step, about to be overwritten
        return found

    monkeypatch.setattr(blobs, "_earliest", earliest_then_writer_stamps)
    await blobs._reindex(INDEX, keys)
    assert looks == [None, "42"]
    assert raw.zscore(INDEX, A) == 42.0


@pytest_twisted.ensureDeferred
async def test_stray_members_are_dropped_not_used_as_keys(
    store: StoreBundle, raw: redis_py.Redis
) -> None:
    raw.zadd(INDEX, {"bad{account}": 1})
    raw.zadd(f"stx:{{a:{A}}}:unreferenced", {"../not-a-blob-id": 1})
    raw.zadd(INDEX, {A: 1})
    assert await store.blobs.sweep_unreferenced(5, 10) == 0
    assert raw.zcard(INDEX) == 0
    assert raw.zcard(f"stx:{{a:{A}}}:unreferenced") == 0


@pytest_twisted.ensureDeferred
async def test_destroy_account_removes_claims_and_stamps(
    store: StoreBundle, raw: redis_py.Redis
) -> None:
    claimed = (await store.blobs.put(A, b"claimed")).blob_id
    await store.blobs.put(A, b"loose")
    await store.accounts.write(A, WriteBatch().claim_blob(claimed, "Email", "e"))
    await store.accounts.destroy_account(A)
    assert list(raw.scan_iter(match="*{a:acct1}*", count=1000)) == []
    assert await store.blobs.sweep_unreferenced(10**10, 10) == 0
    assert raw.zcard(INDEX) == 0


@pytest_twisted.ensureDeferred
async def test_a_failed_index_update_does_not_fail_an_applied_write(
    store: StoreBundle, monkeypatch: Any
) -> None:
    from stalwart_tx.store.errors import StoreUnavailable
    from stalwart_tx.store.redis import blobs as redis_blobs

    blob = (await store.blobs.put(A, b"claimed")).blob_id
    await store.accounts.write(A, WriteBatch().claim_blob(blob, "Email", "e"))

    async def unreachable(*args: Any) -> None:
        raise StoreUnavailable("the index is on a shard that is down")

    monkeypatch.setattr(redis_blobs, "note_unreferenced", unreachable)
    result = await store.accounts.write(
        A, WriteBatch().create("Email", "e2", {}).release_blob(blob, "Email", "e")
    )
    assert result.account_modseq == 1
    assert await store.blobs.referrers(A, [blob]) == {blob: set()}
