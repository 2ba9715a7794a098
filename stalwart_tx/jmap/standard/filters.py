"""The ``filter`` argument of /query and /queryChanges (RFC 8620 §5.5), parsed into a tree.

A FilterOperator combines conditions with AND, OR or NOT (none of them); a FilterCondition is an
object of the type's filter properties, all of which must match. A malformed filter is
invalidArguments; a well-formed condition on a property the type cannot filter by is
unsupportedFilter. Index-backed query engines read the parsed values; the default engine calls
``matches``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard.values import json_type_name
from stalwart_tx.store.records import JSONObject

if TYPE_CHECKING:
    from stalwart_tx.jmap.datatype import DataType, Predicate

OPERATORS = ("AND", "OR", "NOT")
MAX_DEPTH = 32  # deeper nesting is no real search, and recursion must stay bounded


@dataclass(frozen=True)
class FilterCondition:
    """Conditions on properties (name → checked value), all of which must hold."""

    values: Mapping[str, Any]
    tests: tuple[Predicate, ...]
    immutable: bool

    def matches(self, obj: JSONObject) -> bool:
        return all(test(obj) for test in self.tests)


@dataclass(frozen=True)
class FilterOperator:
    operator: str
    conditions: tuple[FilterNode, ...]

    @property
    def immutable(self) -> bool:
        return all(condition.immutable for condition in self.conditions)

    def matches(self, obj: JSONObject) -> bool:
        if self.operator == "AND":
            return all(condition.matches(obj) for condition in self.conditions)
        if self.operator == "OR":
            return any(condition.matches(obj) for condition in self.conditions)
        return not any(condition.matches(obj) for condition in self.conditions)


FilterNode = FilterCondition | FilterOperator


def parse_filter(data_type: DataType, value: Any, path: str = "filter", depth: int = 0) -> (
    FilterNode | None
):
    """The parsed filter, or None for no filter (every object matches)."""
    if value is None and depth == 0:
        return None
    if not isinstance(value, dict):
        raise MethodError.invalid_arguments(
            f"{path!r} must be a FilterOperator or FilterCondition object,"
            f" not {json_type_name(value)}"
        )
    if depth >= MAX_DEPTH:
        raise MethodError.invalid_arguments(f"the filter nests deeper than {MAX_DEPTH} levels")
    if "operator" in value:  # a FilterCondition never has one (§5.5)
        return _parse_operator(data_type, value, path, depth)
    return _parse_condition(data_type, value, path)


def _parse_operator(
    data_type: DataType, value: dict[str, Any], path: str, depth: int
) -> FilterOperator:
    operator = value["operator"]
    if operator not in OPERATORS:
        raise MethodError.invalid_arguments(
            f"{path}.operator must be one of AND, OR, NOT, not {operator!r}"
        )
    extra = sorted(set(value) - {"operator", "conditions"})
    if extra:
        raise MethodError.invalid_arguments(
            f"{path}: a FilterOperator has only operator and conditions, not {', '.join(extra)}"
        )
    conditions = value.get("conditions")
    if not isinstance(conditions, list):
        raise MethodError.invalid_arguments(
            f"{path}.conditions must be an array, not {json_type_name(conditions)}"
        )
    return FilterOperator(
        operator,
        tuple(
            node for index, item in enumerate(conditions)
            if (node := parse_filter(data_type, item, f"{path}.conditions[{index}]", depth + 1))
            is not None
        ),
    )


def _parse_condition(data_type: DataType, value: dict[str, Any], path: str) -> FilterCondition:
    unsupported = sorted(set(value) - set(data_type.filters))
    if unsupported:
        raise MethodError.unsupported_filter(
            f"{data_type.name} cannot be filtered by {', '.join(unsupported)}"
        )
    tests = []
    immutable = True
    for name, argument in value.items():
        spec = data_type.filters[name]
        problem = spec.kind.problem(argument)
        if problem is not None:
            raise MethodError.invalid_arguments(f"{path}.{name} {problem}")
        tests.append(spec.predicate(argument))
        immutable = immutable and spec.immutable
    return FilterCondition(dict(value), tuple(tests), immutable)
