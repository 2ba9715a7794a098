"""Foo/queryChanges, RFC 8620 §5.6: removed and added since a query state, maxChanges, upToId."""

from __future__ import annotations

import random
from typing import Any

import pytest
import pytest_twisted

from tests.jmap.standard.widgets import A, Api, make, method_error

SORT = [{"property": "count", "isAscending": False}, {"property": "name"}]


def apply_changes(cached: list[str], changes: dict[str, Any]) -> list[str]:
    """What a client does with a queryChanges response (§5.6): drop removed, insert added."""
    removed = set(changes["removed"])
    result = [object_id for object_id in cached if object_id not in removed]
    for item in changes["added"]:  # in index order, lowest first
        result.insert(item["index"], item["id"])
    return result


@pytest_twisted.ensureDeferred
async def test_no_changes_since_the_current_query_state(api: Api) -> None:
    await make(api, {"name": "a"})
    query = await api("Widget/query", {"sort": SORT})
    response = await api("Widget/queryChanges", {
        "sort": SORT, "sinceQueryState": query["queryState"], "calculateTotal": True,
    })
    assert response == {
        "accountId": A, "oldQueryState": query["queryState"],
        "newQueryState": query["queryState"], "removed": [], "added": [], "total": 1,
    }


@pytest_twisted.ensureDeferred
async def test_created_updated_and_destroyed_objects(api: Api) -> None:
    a, b, c = await make(api, {"name": "a", "count": 3}, {"name": "b", "count": 2},
                         {"name": "c", "count": 1})
    arguments: dict[str, Any] = {"filter": {"minCount": 2}, "sort": SORT}
    old = await api("Widget/query", arguments)
    assert old["ids"] == [a, b]
    [d, _low] = await make(api, {"name": "d", "count": 9}, {"name": "e", "count": 0})
    await api("Widget/set", {"update": {b: {"count": 0}, c: {"count": 5}}, "destroy": [a]})
    response = await api("Widget/queryChanges", {**arguments, "sinceQueryState": old["queryState"]})
    assert sorted(response["removed"]) == sorted([a, b, c])
    assert response["added"] == [{"id": d, "index": 0}, {"id": c, "index": 1}]
    assert "total" not in response
    new = await api("Widget/query", arguments)
    assert new["ids"] == [d, c] == apply_changes(old["ids"], response)
    assert response["newQueryState"] == new["queryState"]
    assert response["oldQueryState"] == old["queryState"]


@pytest_twisted.ensureDeferred
async def test_applying_the_changes_to_a_cached_result_always_gives_the_new_result(
    api: Api,
) -> None:
    rng = random.Random(56)
    live = await make(api, *({"name": f"w{i}", "count": rng.randint(0, 4)} for i in range(12)))
    queries: list[dict[str, Any]] = [
        {"sort": SORT},
        {"filter": {"minCount": 2}, "sort": SORT},
        {"filter": {"operator": "NOT", "conditions": [{"hasTag": "x"}]},
         "sort": [{"property": "name", "isAscending": False}]},
    ]
    for _ in range(8):
        cached = [await api("Widget/query", q) for q in queries]
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.3:
                live += await make(api, {"name": f"n{rng.randint(0, 99)}",
                                         "count": rng.randint(0, 4)})
            elif roll < 0.8 and live:
                target = rng.choice(live)
                await api("Widget/set", {"update": {target: {
                    "count": rng.randint(0, 4), "name": f"u{rng.randint(0, 99)}",
                    "tags/x": rng.choice([True, None]),
                }}})
            elif live:
                doomed = rng.choice(live)
                live.remove(doomed)
                await api("Widget/set", {"destroy": [doomed]})
        for query, old in zip(queries, cached, strict=True):
            changes = await api("Widget/queryChanges", {
                **query, "sinceQueryState": old["queryState"],
            })
            new = await api("Widget/query", query)
            assert apply_changes(old["ids"], changes) == new["ids"]
            assert changes["newQueryState"] == new["queryState"]


@pytest_twisted.ensureDeferred
async def test_more_changes_than_max_changes_is_too_many_changes(api: Api) -> None:
    old = await api("Widget/query", {})
    await make(api, {"name": "a"}, {"name": "b"})
    since = old["queryState"]
    error = await method_error(api, "Widget/queryChanges", {
        "sinceQueryState": since, "maxChanges": 1,
    })
    assert error.type == "tooManyChanges"
    response = await api("Widget/queryChanges", {"sinceQueryState": since, "maxChanges": 2})
    assert len(response["added"]) == 2


@pytest_twisted.ensureDeferred
async def test_up_to_id_trims_added_items_when_filter_and_sort_are_immutable(api: Api) -> None:
    s1, s3 = await make(api, {"name": "a", "serial": "S1"}, {"name": "b", "serial": "S3"})
    immutable = {"filter": {"serialPrefix": "S"}, "sort": [{"property": "serial"}]}
    old = await api("Widget/query", immutable)
    s0, s2, s4 = await make(api, {"name": "c", "serial": "S0"}, {"name": "d", "serial": "S2"},
                            {"name": "e", "serial": "S4"})
    response = await api("Widget/queryChanges", {
        **immutable, "sinceQueryState": old["queryState"], "upToId": s1,
    })
    assert response["added"] == [{"id": s0, "index": 0}]  # nothing past upToId
    response = await api("Widget/queryChanges", {
        **immutable, "sinceQueryState": old["queryState"], "upToId": s3,
    })
    assert [a["id"] for a in response["added"]] == [s0, s2]
    # a mutable sort: upToId is ignored
    response = await api("Widget/queryChanges", {
        "sort": [{"property": "name"}], "sinceQueryState": old["queryState"], "upToId": s1,
    })
    assert sorted(a["id"] for a in response["added"]) == sorted([s0, s2, s4])


@pytest_twisted.ensureDeferred
async def test_states_the_log_cannot_answer_for_are_cannot_calculate_changes(api: Api) -> None:
    old = (await api("Widget/query", {}))["queryState"]
    [widget] = await make(api, {"name": "a"})
    await api("Widget/set", {"destroy": [widget]})
    await api.store.changes.compact(A, "Widget", await api.state())
    for since in (old, "nonsense", "99999"):
        error = await method_error(api, "Widget/queryChanges", {"sinceQueryState": since})
        assert error.type == "cannotCalculateChanges"


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        ({}, "invalidArguments"),
        ({"sinceQueryState": 1}, "invalidArguments"),
        ({"sinceQueryState": "0", "maxChanges": -1}, "invalidArguments"),
        ({"sinceQueryState": "0", "upToId": 3}, "invalidArguments"),
        ({"sinceQueryState": "0", "calculateTotal": 1}, "invalidArguments"),
        ({"sinceQueryState": "0", "position": 1}, "invalidArguments"),
        ({"sinceQueryState": "0", "filter": {"nope": 1}}, "unsupportedFilter"),
        ({"sinceQueryState": "0", "sort": [{"property": "nope"}]}, "unsupportedSort"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_arguments(api: Api, arguments: dict[str, Any], error_type: str) -> None:
    error = await method_error(api, "Widget/queryChanges", arguments)
    assert error.type == error_type
