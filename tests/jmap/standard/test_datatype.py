"""DataType declarations: what they check, and the MethodSpecs standard_methods makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from stalwart_tx.jmap.datatype import (
    ALL_METHODS,
    GET,
    QUERY,
    DataType,
    Property,
    random_id,
)
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.values import String, is_id
from tests.jmap.standard.widgets import CAPABILITY, GIZMO, SETTINGS, WIDGET


def declare(**overrides: Any) -> DataType:
    arguments: dict[str, Any] = {
        "name": "Thing", "capability": CAPABILITY,
        "properties": {"name": Property(String(), default="")},
    }
    arguments.update(overrides)
    return DataType(**arguments)


def test_standard_methods_are_method_specs_in_rfc_order() -> None:
    specs = standard_methods(WIDGET)
    assert [s.name for s in specs] == [
        "Widget/get", "Widget/changes", "Widget/set", "Widget/copy", "Widget/query",
        "Widget/queryChanges",
    ]
    assert {s.capability for s in specs} == {CAPABILITY}
    assert all(s.takes_account for s in specs)
    assert [s.name for s in specs if s.writes] == ["Widget/set", "Widget/copy"]
    registry = MethodRegistry()
    for data_type in (WIDGET, SETTINGS, GIZMO):
        registry.add_methods(standard_methods(data_type))
    assert registry.method("Gizmo/set") is None
    assert registry.method("Settings/query") is None


def test_the_default_methods_leave_out_copy() -> None:
    assert [s.name for s in standard_methods(declare())] == [
        "Thing/get", "Thing/changes", "Thing/set", "Thing/query", "Thing/queryChanges",
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ""},
        {"name": "A/B"},
        {"methods": frozenset({GET, "delete"})},
        {"properties": {"id": Property(String())}},
        {"properties": {"n": Property(String(), required=True, default="")}},
        {"properties": {"n": Property(String(), computed=True)}},
        {"singleton": True, "methods": frozenset({GET, QUERY})},
        {"default_get_properties": ("nope",)},
        {"response_hooks": {"delete": None}},
        {"extra_arguments": {"frobnicate": {}}},
        {"max_changes": 0},
        {"max_query_limit": 0},
    ],
)
def test_inconsistent_declarations_are_refused_at_import_time(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="DataType"):
        declare(**overrides)


def test_properties_and_defaults() -> None:
    thing = declare(
        properties={
            "a": Property(String(), default="x"),
            "b": Property(String(), required=True),
            "c": Property(String(), server_set=True, computed=True),
            "d": Property(String()),
        },
        is_dynamic_property=lambda name: name.startswith("header:"),
    )
    assert thing.is_property("id") and thing.is_property("a") and thing.is_property("header:X")
    assert not thing.is_property("e")
    assert set(thing.stored_properties) == {"a", "b", "d"}
    assert thing.default_object() == {"a": "x"}
    assert thing.with_defaults({"b": "y"}) == {"a": "x", "b": "y"}
    assert not thing.properties["c"].client_settable


def test_random_ids_are_valid_jmap_ids_that_are_not_all_digits() -> None:
    ids = {random_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_id(i) and not i.isdigit() and not i.startswith("-") for i in ids)


def test_all_methods_are_known() -> None:
    assert frozenset({"get", "changes", "set", "copy", "query", "queryChanges"}) == ALL_METHODS
