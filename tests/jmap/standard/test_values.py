"""Value kinds (RFC 8620 §1.2-1.4): what each accepts, refuses, and how references resolve."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.jmap.standard.values import (
    JSON,
    MAX_SAFE_INT,
    Boolean,
    Date,
    Id,
    Int,
    Kind,
    ListOf,
    MapOf,
    Nullable,
    Number,
    OneOf,
    Record,
    String,
    UnresolvedReference,
    UnsignedInt,
    UTCDate,
    same_json,
)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (String(), ["", "x"], [None, 1, [], {}]),
        (String(min_length=1, max_length=2), ["a", "ab"], ["", "abc"]),
        (String(pattern="[a-z]+"), ["abc"], ["ABC", "a1"]),
        (Boolean(), [True, False], [0, 1, "true", None]),
        (Boolean(only=True), [True], [False]),
        (Int(), [0, -5, MAX_SAFE_INT, -MAX_SAFE_INT], [1.0, 1.5, True, "1", MAX_SAFE_INT + 1]),
        (UnsignedInt(), [0, 5], [-1, False]),
        (Number(), [1, 1.5, -2], [True, "1", None]),
        (Id(), ["a", "A-z_0", "x" * 255], ["", "a b", "#a", "x" * 256, "é", 5]),
        (UTCDate(), ["2014-10-30T06:12:00Z", "2014-10-30T06:12:00.5Z", "2024-02-29T23:59:59Z",
                     "2016-12-31T23:59:60Z"],
         ["2014-10-30T06:12:00z", "2014-10-30T06:12:00+00:00", "2014-10-30T06:12:00.50Z",
          "2014-10-30", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-04-31T00:00:00Z",
          "2023-01-00T00:00:00Z", "2023-01-01T24:00:00Z", "2023-01-01T00:60:00Z",
          "2023-01-01T00:00:61Z", "0000-01-01T00:00:00Z"]),
        (Date(), ["2014-10-30T14:12:00+08:00", "2014-10-30T06:12:00Z", "2014-10-30T06:12:00-23:59"],
         ["2014-10-30 14:12", "2014-02-30T14:12:00+08:00", "2014-10-30T25:12:00Z",
          "2014-10-30T14:12:00+24:00", "2014-10-30T14:12:00+08:60"]),
        (OneOf("a", "b"), ["a"], ["c", None, 1]),
        (Nullable(String()), [None, "x"], [1]),
        (ListOf(Int(), max_items=2), [[], [1, 2]], [[1, 2, 3], ["x"], {}]),
        (MapOf(Id(), Boolean(only=True)), [{}, {"a": True}], [{"a": False}, {"#a": True}, []]),
        (Record({"w": Int(), "h": Int()}, required=frozenset({"w"})),
         [{"w": 1}, {"w": 1, "h": 2}], [{"h": 1}, {"w": 1, "x": 0}, {"w": "1"}]),
        (Record({"w": Int()}, open=True), [{"w": 1, "anything": []}], [{"w": None}]),
        (JSON(), [None, 1, "x", [], {}], []),
    ],
)
def test_kinds_accept_and_refuse(kind: Kind, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert kind.problem(value) is None, value
    for value in bad:
        assert kind.problem(value) is not None, value


def test_problems_name_where_the_value_is_wrong() -> None:
    kind = MapOf(String(), ListOf(Record({"n": Int()})))
    assert kind.problem({"k": [{"n": 1}, {"n": "x"}]}) == (
        "entry 'k' item 1 field 'n' expected Int, got string"
    )
    assert Nullable(ListOf(Id())).describe() == "Id[] or null"


def test_references_resolve_only_where_an_id_of_a_type_is_expected() -> None:
    def resolve(reference: str) -> str:
        if reference == "#gone":
            raise UnresolvedReference(reference)
        return "real-" + reference[1:]

    kind = Record({
        "parent": Nullable(Id("Widget")),
        "links": MapOf(Id("Widget"), Boolean()),
        "list": ListOf(Id("Widget")),
        "plain": Id(),
        "text": String(),
    })
    value = {"parent": "#p", "links": {"#a": True, "b": True}, "list": ["#c", "d"],
             "plain": "#x", "text": "#t"}
    assert kind.resolve(value, resolve) == {
        "parent": "real-p", "links": {"real-a": True, "b": True}, "list": ["real-c", "d"],
        "plain": "#x", "text": "#t",
    }
    with pytest.raises(UnresolvedReference) as raised:
        kind.resolve({"parent": "#gone"}, resolve)
    assert raised.value.creation_id == "gone"


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
    max_leaves=10,
)


@given(json_values)
def test_same_json_is_equality_that_keeps_json_types_apart(value: Any) -> None:
    assert same_json(value, value)
    assert not same_json([True], [1])
    assert not same_json({"a": 1}, {"a": 1.0})
    assert not same_json(0, False)
