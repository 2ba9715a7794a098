"""Foo/changes, RFC 8620 §5.2: created/updated/destroyed since a state, paged without loss."""

from __future__ import annotations

import random

import pytest
import pytest_twisted

from stalwart_tx.store.records import WriteBatch
from tests.jmap.standard.widgets import A, Api, method_error


@pytest_twisted.ensureDeferred
async def test_changes_since_a_state(api: Api) -> None:
    kept = await api.create(name="kept")
    doomed = await api.create(name="doomed")
    since = await api.state()
    created = await api.create(name="new")
    await api("Widget/set", {"update": {kept: {"count": 1}}, "destroy": [doomed]})
    brief = await api.create(name="brief")
    await api("Widget/set", {"destroy": [brief]})  # created and destroyed since: not reported
    response = await api("Widget/changes", {"sinceState": since})
    assert response["accountId"] == A
    assert response["oldState"] == since
    assert response["newState"] == await api.state()
    assert response["hasMoreChanges"] is False
    assert (response["created"], response["updated"], response["destroyed"]) == (
        [created], [kept], [doomed],
    )
    assert response["updatedProperties"] is None  # the type's response hook


@pytest_twisted.ensureDeferred
async def test_no_changes_since_the_current_state(api: Api) -> None:
    await api.create(name="x")
    state = await api.state()
    response = await api("Widget/changes", {"sinceState": state, "maxChanges": 5})
    assert response["newState"] == state
    assert (response["created"], response["updated"], response["destroyed"]) == ([], [], [])


@pytest_twisted.ensureDeferred
async def test_a_type_never_written_has_a_valid_initial_state(api: Api) -> None:
    state = (await api("Gizmo/get", {"ids": []}))["state"]
    response = await api("Gizmo/changes", {"sinceState": state})
    assert response["created"] == [] and response["hasMoreChanges"] is False


@pytest.mark.parametrize("max_changes", [0, -1, 1.5, "3", True])
@pytest_twisted.ensureDeferred
async def test_max_changes_must_be_a_positive_integer(api: Api, max_changes: object) -> None:
    error = await method_error(
        api, "Widget/changes", {"sinceState": "0", "maxChanges": max_changes}
    )
    assert error.type == "invalidArguments"


@pytest.mark.parametrize("arguments", [{}, {"sinceState": None}, {"sinceState": 5},
                                       {"sinceState": "0", "extra": 1}])
@pytest_twisted.ensureDeferred
async def test_since_state_is_a_required_string(api: Api, arguments: dict[str, object]) -> None:
    error = await method_error(api, "Widget/changes", arguments)
    assert error.type == "invalidArguments"


@pytest.mark.parametrize("state", ["bogus", "-1", "999999", "1:2", "01"])
@pytest_twisted.ensureDeferred
async def test_a_state_the_server_never_issued_cannot_be_calculated(
    api: Api, state: str
) -> None:
    await api.create(name="x")
    error = await method_error(api, "Widget/changes", {"sinceState": state})
    assert error.type == "cannotCalculateChanges"


@pytest_twisted.ensureDeferred
async def test_a_state_older_than_the_log_cannot_be_calculated(api: Api) -> None:
    old = await api.state()
    widget_id = await api.create(name="x")
    await api("Widget/set", {"destroy": [widget_id]})
    await api.store.changes.compact(A, "Widget", await api.state())
    error = await method_error(api, "Widget/changes", {"sinceState": old})
    assert error.type == "cannotCalculateChanges"


@pytest_twisted.ensureDeferred
async def test_paging_a_long_mixed_history_adds_up_to_the_one_shot_answer(api: Api) -> None:
    rng = random.Random(8620)
    live: list[str] = [await api.create(name=f"base{i}") for i in range(10)]
    since = await api.state()
    for step in range(120):
        action = rng.random()
        if action < 0.4 or not live:
            response = await api("Widget/set", {"create": {
                f"c{n}": {"name": f"s{step}-{n}"} for n in range(rng.randint(1, 3))
            }})
            live.extend(created["id"] for created in response["created"].values())
        elif action < 0.75:
            targets = rng.sample(live, min(len(live), rng.randint(1, 3)))
            await api("Widget/set", {"update": {t: {"count": step} for t in targets}})
        else:
            doomed = rng.choice(live)
            live.remove(doomed)
            await api("Widget/set", {"destroy": [doomed]})
    whole = await api("Widget/changes", {"sinceState": since})
    assert whole["hasMoreChanges"] is False

    for page_size in (1, 3, 7):
        state, pages = since, 0
        created: list[str] = []
        updated: list[str] = []
        destroyed: list[str] = []
        while True:
            page = await api("Widget/changes", {"sinceState": state, "maxChanges": page_size})
            assert len(page["created"]) + len(page["updated"]) + len(page["destroyed"]) <= page_size
            created += page["created"]
            updated += page["updated"]
            destroyed += page["destroyed"]
            state = page["newState"]
            pages += 1
            if not page["hasMoreChanges"]:
                break
        assert pages > 1
        assert state == whole["newState"]
        # no id repeated, none skipped
        for got in (created, updated, destroyed):
            assert len(got) == len(set(got))
        assert set(created) == set(whole["created"])
        assert set(updated) == set(whole["updated"])
        assert set(destroyed) == set(whole["destroyed"])
    # and the answer is right: what exists now that did not then, and so on
    assert set(whole["created"]) | set(whole["updated"]) <= set(live)


@pytest_twisted.ensureDeferred
async def test_pages_stay_correct_when_writes_land_between_them(api: Api) -> None:
    since = await api.state()
    first = [await api.create(name=f"a{i}") for i in range(4)]
    page = await api("Widget/changes", {"sinceState": since, "maxChanges": 2})
    assert page["hasMoreChanges"] is True
    # another client writes while this one pages
    await api.store.accounts.write(A, WriteBatch().update("Widget", first[0], {"name": "x"}))
    later = await api.create(name="later")
    seen = list(page["created"])
    state = page["newState"]
    while True:
        page = await api("Widget/changes", {"sinceState": state, "maxChanges": 2})
        seen += page["created"] + page["updated"]
        state = page["newState"]
        if not page["hasMoreChanges"]:
            break
    assert set(first) | {later} <= set(seen)
    assert state == await api.state()
