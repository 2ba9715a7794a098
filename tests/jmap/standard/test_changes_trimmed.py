"""Foo/changes and Foo/queryChanges once retention has forgotten old tombstones: the store keeps
at most ``changelog-max-tombstones`` destroyed objects per type, and a state from before the ones
it forgot gets cannotCalculateChanges (RFC 8620 §5.2), while later states still get exact
answers. Also the setting and its way to the store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from stalwart_tx.store_service import StoreService
from tests.jmap.standard.widgets import Api, make, method_error

LIMIT = 3


@pytest_twisted.async_yield_fixture
async def store(backend: str) -> AsyncIterator[StoreBundle]:
    """The store of every test here keeps at most LIMIT tombstones per type."""
    if backend == "memory":
        bundle = await open_memory_store(max_tombstones=LIMIT)
    else:
        bundle = await open_redis_store(backend, reactor, timeout=5.0, max_tombstones=LIMIT)
    yield bundle
    await bundle.close()


async def destroy_one_by_one(api: Api, ids: list[str]) -> list[str]:
    """Destroy each widget in its own call; the state after each."""
    states = []
    for widget_id in ids:
        response = await api("Widget/set", {"destroy": [widget_id]})
        assert response["destroyed"] == [widget_id]
        states.append(response["newState"])
    return states


@pytest_twisted.ensureDeferred
async def test_changes_from_a_trimmed_away_state_cannot_be_calculated(api: Api) -> None:
    ids = await make(api, *({"name": f"w{i}"} for i in range(6)))
    kept = ids[5]
    created_state = await api.state()
    after = await destroy_one_by_one(api, ids[:5])
    # five tombstones, three kept: the first two destroys are forgotten, and the floor is the
    # state the second one left
    floor = after[1]
    for old in (created_state, after[0]):
        error = await method_error(api, "Widget/changes", {"sinceState": old})
        assert error.type == "cannotCalculateChanges"
        error = await method_error(api, "Widget/queryChanges", {"sinceQueryState": old})
        assert error.type == "cannotCalculateChanges"
    response = await api("Widget/changes", {"sinceState": floor})
    assert (response["created"], response["updated"], response["destroyed"]) == (
        [], [], ids[2:5])
    assert response["newState"] == await api.state()
    # in pages, too
    page = await api("Widget/changes", {"sinceState": floor, "maxChanges": 2})
    assert (page["destroyed"], page["hasMoreChanges"]) == (ids[2:4], True)
    page = await api("Widget/changes", {"sinceState": page["newState"], "maxChanges": 2})
    assert (page["destroyed"], page["hasMoreChanges"]) == ([ids[4]], False)
    query = await api("Widget/queryChanges", {"sinceQueryState": floor})
    assert (query["removed"], query["added"]) == (ids[2:5], [])
    # the live widget is untouched and still reported when it changes
    await api("Widget/set", {"update": {kept: {"count": 1}}})
    response = await api("Widget/changes", {"sinceState": floor})
    assert (response["updated"], response["destroyed"]) == ([kept], ids[2:5])


@pytest_twisted.ensureDeferred
async def test_a_client_that_keeps_up_never_sees_the_limit(api: Api) -> None:
    state = await api.state()
    for round_number in range(4):
        ids = await make(api, *({"name": f"r{round_number}-{i}"} for i in range(LIMIT)))
        await destroy_one_by_one(api, ids)
        response = await api("Widget/changes", {"sinceState": state})
        # created and destroyed since the client's state: not reported at all
        assert (response["created"], response["destroyed"]) == ([], [])
        state = response["newState"]


def test_changelog_max_tombstones_setting() -> None:
    assert build_config({}).changelog_max_tombstones == 10_000
    assert build_config({"changelog-max-tombstones": "50"}).changelog_max_tombstones == 50
    assert build_config({"changelog-max-tombstones": 7}).changelog_max_tombstones == 7
    for bad in ("0", "-1", "1.5", "many", "", 2.0, True, 0):
        with pytest.raises(ConfigError, match="changelog-max-tombstones"):
            build_config({"changelog-max-tombstones": bad})


@pytest_twisted.ensureDeferred
async def test_the_service_opens_the_store_with_the_setting(redis_url: str) -> None:
    config = build_config({"redis": redis_url, "changelog-max-tombstones": 42})
    store_services = [s for s in makeService(config) if isinstance(s, StoreService)]
    assert [s.max_tombstones for s in store_services] == [42]
    service = StoreService(redis_url, reactor, 5.0, max_tombstones=42)
    await service.startService()
    try:
        assert service.store().accounts.max_tombstones == 42  # type: ignore[attr-defined]
    finally:
        await service.stopService()
