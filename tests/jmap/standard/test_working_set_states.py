"""Reads side by side, each bringing the state of what it read: the earliest is the condition.

A computation may read objects of a type and a map derived from it at once, each read taking
the type's state with it (no read of the states first). A change landing between two of those
reads must still make the write start over, on either store. For a per-object type (Thread:
EmailWork reads threads and the thread link map) the fields read are the conditions instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.standard.working_set import WorkingSet, condition_per_object
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from stalwart_tx.store.errors import StateMismatch
from stalwart_tx.store.records import WriteBatch

A = "acct"


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[StoreBundle]:
    if request.param == "memory":
        bundle = await open_memory_store()
    else:
        bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
        await bundle.accounts.destroy_account(A)
    yield bundle
    await bundle.close()


@pytest_twisted.ensureDeferred
async def test_a_change_between_two_reads_of_a_type_makes_the_write_conflict(
    store: StoreBundle,
) -> None:
    await store.accounts.write(A, WriteBatch().create("Note", "t", {"n": 1})
                               .map_set("Note:links", "m", '["t"]'))
    objects = WorkingSet(store, A)
    assert await objects.get("Note", ["t"]) == {"t": {"n": 1}}  # at the first state
    # another writer, then the map: read as it is now, under the state first read
    await store.accounts.write(A, WriteBatch().update("Note", "t", {"n": 2})
                               .map_set("Note:links", "m", '["t", "u"]'))
    assert await objects.map_get("Note", "Note:links", ["m"]) == {"m": '["t", "u"]'}
    objects.update("Note", "t", {"n": 10})
    with pytest.raises(StateMismatch):
        await store.accounts.write(A, objects.batch())


@pytest_twisted.ensureDeferred
async def test_reads_side_by_side_keep_the_earliest_state(store: StoreBundle) -> None:
    await store.accounts.write(A, WriteBatch().create("Note", "t", {"n": 1})
                               .map_set("Note:links", "m", '["t"]'))
    first = await store.changes.current_state(A, "Note")
    objects = WorkingSet(store, A)
    # the map is read (with its state) without a state read first, side by side with the
    # thread; the state each brings is the same here, and a later one would not replace it
    found = await gather(objects.map_get("Note", "Note:links", ["m"]),
                         objects.get("Note", ["t"]))
    assert found == [{"m": '["t"]'}, {"t": {"n": 1}}]
    assert await objects.state("Note") == first
    await store.accounts.write(A, WriteBatch().create("Note", "u", {}))
    assert await objects.map_get("Note", "Note:links", ["m"]) == {"m": '["t"]'}
    assert await objects.state("Note") == first  # a read after keeps the first condition
    objects.update("Note", "t", {"n": 3})
    with pytest.raises(StateMismatch):
        await store.accounts.write(A, objects.batch())
    # computed again from the map (and its state) alone, it goes through
    fresh = WorkingSet(store, A)
    await fresh.map_get("Note", "Note:links", ["m"])
    assert await fresh.state("Note") == await store.changes.current_state(A, "Note")
    assert await fresh.exists("Note", "t")
    fresh.update("Note", "t", {"n": 3})
    await store.accounts.write(A, fresh.batch())
    assert (await store.accounts.get(A, "Note", ["t"]))["t"] == {"n": 3}


@pytest_twisted.ensureDeferred
async def test_a_later_state_brought_by_a_slower_read_does_not_replace_the_earlier(
    store: StoreBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.accounts.write(A, WriteBatch().create("Note", "t", {"n": 1})
                               .map_set("Note:links", "m", '["t"]'))
    first = await store.changes.current_state(A, "Note")
    real = store.indexes.map_get_at_state

    async def slow_map_read(*args: str) -> tuple[str, dict[str, str]]:
        # another writer gets in before this read reaches the store
        await task.deferLater(reactor, 0, lambda: None)
        await store.accounts.write(A, WriteBatch().update("Note", "t", {"n": 2}))
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store.indexes, "map_get_at_state", slow_map_read)
    objects = WorkingSet(store, A)
    found = await gather(objects.map_get("Note", "Note:links", ["m"]),
                         objects.get("Note", ["t"]))
    assert found == [{"m": '["t"]'}, {"t": {"n": 1}}]  # the thread as it was at the first state
    assert await objects.state("Note") == first
    objects.update("Note", "t", {"n": 10})
    with pytest.raises(StateMismatch):  # so the write computed from it cannot go through
        await store.accounts.write(A, objects.batch())


@pytest_twisted.ensureDeferred
async def test_map_fields_read_for_a_per_object_type_are_the_conditions(
    store: StoreBundle
) -> None:
    condition_per_object("Linked")
    await store.accounts.write(A, WriteBatch().create("Linked", "t", {})
                               .map_set("Linked:links", "m", '["t"]'))
    objects = WorkingSet(store, A)
    assert await objects.map_get("Linked", "Linked:links", ["m", "absent"]) == {"m": '["t"]'}
    # another object of the type changing, and other fields of the map: no conflict
    await store.accounts.write(A, WriteBatch().create("Linked", "other", {})
                               .map_set("Linked:links", "elsewhere", "1"))
    objects.create("Linked", "u", {})
    objects.stage_derived(lambda b: b.map_set("Linked:links", "absent", '["u"]'))
    await store.accounts.write(A, objects.batch())
    # a field read that changed since: refused, nothing applied
    for changed in ("m", "absent"):
        late = WorkingSet(store, A)
        await late.map_get("Linked", "Linked:links", [changed])
        await store.accounts.write(A, WriteBatch().map_set("Linked:links", changed, "[]"))
        late.create("Linked", "v", {})
        with pytest.raises(StateMismatch):
            await store.accounts.write(A, late.batch())
    assert await store.accounts.get(A, "Linked", ["v"]) == {}
