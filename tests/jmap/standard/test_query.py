"""Foo/query, RFC 8620 §5.5: filters, sorts and collations, position/anchor/limit windows."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.standard.query import window as query_window
from stalwart_tx.jmap.standard.sorting import COLLATIONS
from tests.jmap.standard.widgets import A, Api, ids_of, make, method_error

T = TypeVar("T")


# -- filter -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_filter_conditions_match_on_all_their_properties(api: Api) -> None:
    red, blue, big_red = await make(
        api,
        {"name": "Red one", "tags": {"red": True}, "count": 1},
        {"name": "Blue one", "tags": {"blue": True}, "count": 5},
        {"name": "big RED", "tags": {"red": True}, "count": 9},
    )
    sort = [{"property": "name"}]
    assert await ids_of(api, filter={"hasTag": "red"}, sort=sort) == [big_red, red]
    assert await ids_of(api, filter={"nameContains": "red", "minCount": 5}) == [big_red]
    assert await ids_of(api, filter={"parentId": None}, sort=sort) == [big_red, blue, red]
    assert await ids_of(api, filter=None, sort=sort) == [big_red, blue, red]


@pytest_twisted.ensureDeferred
async def test_filter_operators_nest(api: Api) -> None:
    a, b, c, d = await make(
        api,
        {"name": "a", "count": 1, "kind": "gear"},
        {"name": "b", "count": 2, "kind": "sprocket"},
        {"name": "c", "count": 3, "kind": "gear"},
        {"name": "d", "count": 4, "kind": "sprocket"},
    )
    sort = [{"property": "name"}]

    async def matching(filter: dict[str, Any]) -> list[str]:
        return await ids_of(api, filter=filter, sort=sort)

    assert await matching({"operator": "AND", "conditions": [
        {"kind": "gear"}, {"minCount": 2},
    ]}) == [c]
    assert await matching({"operator": "OR", "conditions": [
        {"nameContains": "a"}, {"minCount": 4},
    ]}) == [a, d]
    # NOT: none of the conditions match
    assert await matching({"operator": "NOT", "conditions": [
        {"nameContains": "a"}, {"nameContains": "d"},
    ]}) == [b, c]
    assert await matching({"operator": "AND", "conditions": [
        {"operator": "NOT", "conditions": [{"kind": "gear"}]},
        {"operator": "OR", "conditions": [{"minCount": 4}, {"nameContains": "b"}]},
    ]}) == [b, d]
    assert await matching({"operator": "AND", "conditions": []}) == [a, b, c, d]
    assert await matching({"operator": "OR", "conditions": []}) == []
    assert await matching({"operator": "NOT", "conditions": []}) == [a, b, c, d]


@pytest.mark.parametrize(
    "bad_filter",
    [
        "red",
        [{"hasTag": "red"}],
        {"operator": "XOR", "conditions": []},
        {"operator": "AND"},
        {"operator": "AND", "conditions": {}},
        {"operator": "AND", "conditions": [5]},
        {"operator": "AND", "conditions": [], "hasTag": "x"},
        {"operator": None, "conditions": []},
        {"hasTag": 5},
        {"minCount": -1},
        {"kind": "bolt"},
        {"operator": "NOT", "conditions": [{"operator": "AND", "conditions": [{"minCount": "x"}]}]},
    ],
)
@pytest_twisted.ensureDeferred
async def test_malformed_filters_are_invalid_arguments(api: Api, bad_filter: Any) -> None:
    error = await method_error(api, "Widget/query", {"filter": bad_filter})
    assert error.type == "invalidArguments", bad_filter


@pytest_twisted.ensureDeferred
async def test_deep_nesting_is_refused_not_recursed_into(api: Api) -> None:
    nested: dict[str, Any] = {"hasTag": "x"}
    for _ in range(500):
        nested = {"operator": "NOT", "conditions": [nested]}
    error = await method_error(api, "Widget/query", {"filter": nested})
    assert error.type == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_conditions_the_type_cannot_filter_by_are_unsupported_filter(api: Api) -> None:
    for bad_filter in ({"colour": "red"}, {"operator": "OR", "conditions": [{"name": "x"}]}):
        error = await method_error(api, "Widget/query", {"filter": bad_filter})
        assert error.type == "unsupportedFilter"


# -- sort ---------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_comparators_apply_in_order_each_with_its_direction(api: Api) -> None:
    w1, w2, w3, w4 = await make(
        api,
        {"name": "b", "count": 1},
        {"name": "a", "count": 2},
        {"name": "c", "count": 2},
        {"name": "a", "count": 1},
    )
    assert await ids_of(api, sort=[{"property": "name"}, {"property": "count"}]) == [
        w4, w2, w1, w3,
    ]
    assert await ids_of(api, sort=[
        {"property": "count", "isAscending": False}, {"property": "name", "isAscending": True},
    ]) == [w2, w3, w4, w1]
    # equal under every comparator (or no sort at all): still one stable order
    assert await ids_of(api, sort=[]) == await ids_of(api) == sorted([w1, w2, w3, w4])


@pytest_twisted.ensureDeferred
async def test_comparators_with_type_specific_arguments(api: Api) -> None:
    plain, tagged = await make(api, {"name": "a"}, {"name": "b", "tags": {"hot": True}})
    assert await ids_of(api, sort=[
        {"property": "tagged", "tag": "hot", "isAscending": False}, {"property": "name"},
    ]) == [tagged, plain]
    error = await method_error(api, "Widget/query", {"sort": [{"property": "tagged", "tag": 1}]})
    assert error.type == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_collations(api: Api) -> None:
    names = ["b", "B", "a", "Á", "10", "9", "Zed", "zebra", "x2", "x10"]
    ids = await make(api, *({"name": n} for n in names))
    by_id = dict(zip(ids, names, strict=True))

    async def order(collation: str | None) -> list[str]:
        comparator: dict[str, Any] = {"property": "name"}
        if collation is not None:
            comparator["collation"] = collation
        return [by_id[i] for i in await ids_of(api, sort=[comparator])]

    ascii_casemap = await order("i;ascii-casemap")
    assert ascii_casemap.index("a") < ascii_casemap.index("b")
    assert abs(ascii_casemap.index("b") - ascii_casemap.index("B")) == 1  # equal, tie by id
    assert ascii_casemap[-1] == "Á"  # non-ASCII is compared by octet: after every letter
    unicode_casemap = await order("i;unicode-casemap")
    assert unicode_casemap == await order(None)  # the default
    assert unicode_casemap.index("a") < unicode_casemap.index("Á") < unicode_casemap.index("b")
    assert unicode_casemap.index("zebra") < unicode_casemap.index("Zed")
    numeric = await order("i;ascii-numeric")
    assert numeric[:2] == ["9", "10"]  # numbers first, by value; the rest are "infinity"
    assert set(numeric[2:]) == set(names) - {"9", "10"}


@pytest.mark.parametrize(
    ("sort", "error_type"),
    [
        ([{"property": "colour"}], "unsupportedSort"),
        ([{"property": "name", "collation": "i;octet"}], "unsupportedSort"),
        ([{"property": "name", "collation": "en-US"}], "unsupportedSort"),
        ([{"property": "name", "isAscending": "yes"}], "invalidArguments"),
        ([{"property": "name", "collation": 1}], "invalidArguments"),
        ([{"isAscending": True}], "invalidArguments"),
        (["name"], "invalidArguments"),
        ({"property": "name"}, "invalidArguments"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_sorts(api: Api, sort: Any, error_type: str) -> None:
    error = await method_error(api, "Widget/query", {"sort": sort})
    assert error.type == error_type


@pytest_twisted.ensureDeferred
async def test_comparator_fields_of_no_meaning_are_ignored(api: Api) -> None:
    # jmapc sends query arguments in every Comparator; a field the sort does not take is ignored
    for name in ("b", "a", "c"):
        await api.create(name=name)
    plain = await api("Widget/query", {"sort": [{"property": "name"}]})
    noisy = await api("Widget/query", {"sort": [{
        "property": "name", "keyword": "x", "position": 0, "anchorOffset": 0,
        "calculateTotal": False,
    }]})
    assert len(plain["ids"]) == 3 and noisy["ids"] == plain["ids"]


def test_the_collations_are_those_the_session_advertises() -> None:
    advertised = CoreLimits().capability()["collationAlgorithms"]
    assert isinstance(advertised, list)
    assert sorted(COLLATIONS) == sorted(advertised)


# -- window -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_position_anchor_and_limit(api: Api) -> None:
    ids = await make(api, *({"name": f"w{i:02}"} for i in range(10)))
    sort = [{"property": "name"}]

    async def window(**arguments: Any) -> tuple[int, list[str]]:
        response = await api("Widget/query", {"sort": sort, **arguments})
        return response["position"], response["ids"]

    assert await window() == (0, ids)
    assert await window(position=3, limit=2) == (3, ids[3:5])
    assert await window(position=-3) == (7, ids[7:])
    assert await window(position=-30, limit=1) == (0, ids[:1])  # clamped to 0
    assert await window(position=10) == (10, [])  # past the end: empty, not an error
    assert await window(position=99, limit=5) == (99, [])
    assert await window(anchor=ids[4]) == (4, ids[4:])
    assert await window(anchor=ids[4], anchorOffset=-1, limit=3) == (3, ids[3:6])
    assert await window(anchor=ids[4], anchorOffset=2, position=0) == (6, ids[6:])  # anchor wins
    assert await window(anchor=ids[1], anchorOffset=-5) == (0, ids)  # clamped to 0
    assert await window(anchorOffset=5) == (0, ids)  # ignored without an anchor
    assert await window(limit=0) == (0, [])


@pytest_twisted.ensureDeferred
async def test_an_anchor_not_in_the_results_is_anchor_not_found(api: Api) -> None:
    [widget] = await make(api, {"name": "a", "count": 1})
    for anchor in ("nosuch", "#nosuch"):
        error = await method_error(api, "Widget/query", {"anchor": anchor})
        assert error.type == "anchorNotFound"
    error = await method_error(api, "Widget/query", {"anchor": widget, "filter": {"minCount": 2}})
    assert error.type == "anchorNotFound"


@pytest_twisted.ensureDeferred
async def test_the_server_caps_the_limit_and_says_so(api: Api) -> None:
    await make(api, *({"name": f"w{i}"} for i in range(60)))
    response = await api("Widget/query", {})
    assert (len(response["ids"]), response["limit"]) == (50, 50)
    response = await api("Widget/query", {"limit": 80})
    assert (len(response["ids"]), response["limit"]) == (50, 50)
    response = await api("Widget/query", {"limit": 20})
    assert len(response["ids"]) == 20 and "limit" not in response


@pytest.mark.parametrize(
    "arguments",
    [
        {"limit": -1}, {"limit": "5"}, {"limit": 1.5}, {"position": "1"}, {"position": True},
        {"anchor": 5}, {"anchorOffset": None, "anchor": 1}, {"calculateTotal": "yes"},
        {"position": 2**53}, {"unknown": 1},
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_window_arguments_are_invalid_arguments(
    api: Api, arguments: dict[str, Any]
) -> None:
    error = await method_error(api, "Widget/query", arguments)
    assert error.type == "invalidArguments", arguments


@pytest_twisted.ensureDeferred
async def test_total_query_state_and_can_calculate_changes(api: Api) -> None:
    await make(api, {"name": "a"}, {"name": "b"})
    response = await api("Widget/query", {"limit": 1})
    assert "total" not in response
    assert response["accountId"] == A
    assert response["canCalculateChanges"] is True
    assert response["queryState"] == await api.state()
    response = await api("Widget/query", {"limit": 1, "calculateTotal": True})
    assert response["total"] == 2 and len(response["ids"]) == 1
    before = response["queryState"]
    await make(api, {"name": "c"})
    assert (await api("Widget/query", {}))["queryState"] != before
    assert "Gizmo/query" not in api.methods


# -- property: every window is a slice of the full result ------------------------------------

windows = st.tuples(
    st.integers(-40, 40),  # position
    st.one_of(st.none(), st.integers(0, 29)),  # index of the anchor in the full result
    st.integers(-40, 40),  # anchorOffset
    st.one_of(st.none(), st.integers(0, 40)),  # limit
)


def expected_window(
    full: list[str], position: int, anchor: int | None, offset: int, limit: int | None
) -> tuple[int, list[str]]:
    """§5.5 restated independently: where the window starts, and what it holds."""
    if anchor is not None:
        start = max(anchor + offset, 0)
    else:
        start = position if position >= 0 else max(len(full) + position, 0)
    return start, full[start:] if limit is None else full[start:start + limit]


def examples(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """Inputs drawn by hypothesis (edge cases included), for a test that must await its calls:
    a test taking async fixtures runs inside the reactor, where hypothesis cannot wait."""
    drawn: list[T] = []

    @settings(max_examples=count, database=None, deadline=None)
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    collect()
    return drawn


@given(st.lists(st.integers(), max_size=40), windows)
def test_window_arithmetic_matches_the_rfc(
    values: list[int], window: tuple[int, int | None, int, int | None]
) -> None:
    position, anchor, offset, limit = window
    full = [str(v) for v in values]
    anchor = None if anchor is None or not full else anchor % len(full)
    chosen = query_window(len(full), position, anchor, offset, limit)
    assert (chosen.position, chosen.of(full)) == expected_window(
        full, position, anchor, offset, limit
    )


@pytest_twisted.ensureDeferred
async def test_every_window_is_the_matching_slice_of_the_full_result(api: Api) -> None:
    widgets = [{"name": f"n{(i * 7) % 5}", "count": (i * 3) % 4} for i in range(30)]
    await make(api, *widgets)
    sort = [{"property": "count", "isAscending": False}, {"property": "name"}]
    full = await ids_of(api, sort=sort)
    assert len(full) == 30
    for position, anchor, offset, limit in examples(windows, 80):
        arguments: dict[str, Any] = {
            "sort": sort, "position": position, "anchorOffset": offset, "limit": limit,
        }
        if anchor is not None:
            arguments["anchor"] = full[anchor]
        response = await api("Widget/query", arguments)
        assert (response["position"], response["ids"]) == expected_window(
            full, position, anchor, offset, limit
        ), arguments
