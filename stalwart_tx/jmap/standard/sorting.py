"""The ``sort`` argument of /query (RFC 8620 §5.5): Comparators, collations, a stable order.

Strings compare by the comparator's collation, one of those the session advertises in
``collationAlgorithms`` (RFC 4790 registry): ``i;ascii-numeric``, ``i;ascii-casemap`` and the
default ``i;unicode-casemap`` (RFC 5051). Whatever the comparators, the order is total and the
same on every call: objects equal under all of them are ordered by id.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard.values import json_type_name
from stalwart_tx.store.records import JSONObject

if TYPE_CHECKING:
    from stalwart_tx.jmap.datatype import DataType, SortKey

COMPARATOR_FIELDS = ("property", "isAscending", "collation")


def ascii_casemap(text: str) -> str:
    """i;ascii-casemap (RFC 4790 §9.2): a-z compare as A-Z; everything else by octet."""
    return text.translate(_ASCII_UPPER)


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def ascii_numeric(text: str) -> tuple[int, int]:
    """i;ascii-numeric (RFC 4790 §9.1): the number the leading ASCII digits spell; a string
    that does not start with a digit is greater than every number, and equal to the others."""
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return (0, int(text[:end])) if end else (1, 0)


@lru_cache(maxsize=4096)
def _unicode_casemap_char(char: str) -> str:
    # RFC 5051 §2: the titlecase mapping, then the decomposition mapping, until neither applies
    title = char.title()
    if len(title) == 1:  # only the simple (one-to-one) titlecase mappings of UnicodeData
        char = title
    decomposition = unicodedata.decomposition(char)
    if not decomposition:
        return char
    parts = [part for part in decomposition.split() if not part.startswith("<")]
    return "".join(_unicode_casemap_char(chr(int(part, 16))) for part in parts)


def unicode_casemap(text: str) -> str:
    """i;unicode-casemap (RFC 5051): titlecased, decomposed text, compared by octet (= by code
    point, which orders UTF-8 the same way)."""
    return "".join(_unicode_casemap_char(char) for char in text)


COLLATIONS: Mapping[str, Callable[[str], Any]] = {
    "i;ascii-numeric": ascii_numeric,
    "i;ascii-casemap": ascii_casemap,
    "i;unicode-casemap": unicode_casemap,
}
DEFAULT_COLLATION = "i;unicode-casemap"


@dataclass(frozen=True)
class Comparator:
    """One parsed Comparator: the property, direction, collation and type-specific arguments."""

    property: str
    is_ascending: bool
    collation: str
    arguments: Mapping[str, Any]
    key: SortKey
    immutable: bool

    def sort_value(self, obj: JSONObject) -> tuple[int, Any]:
        """A totally ordered value: null first, then booleans, numbers, strings (collated)."""
        value = self.key(obj)
        if value is None:
            return (0, 0)
        if isinstance(value, bool):
            return (1, value)
        if isinstance(value, int | float):
            return (2, value)
        if isinstance(value, str):
            return (3, COLLATIONS[self.collation](value))
        return (4, repr(value))


def parse_sort(data_type: DataType, value: Any) -> list[Comparator]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MethodError.invalid_arguments(f"'sort' must be an array, not {json_type_name(value)}")
    return [
        _parse_comparator(data_type, item, f"sort[{index}]") for index, item in enumerate(value)
    ]


def _parse_comparator(data_type: DataType, value: Any, path: str) -> Comparator:
    if not isinstance(value, dict):
        raise MethodError.invalid_arguments(
            f"{path} must be a Comparator object, not {json_type_name(value)}"
        )
    name = value.get("property")
    if not isinstance(name, str):
        raise MethodError.invalid_arguments(f"{path}.property must be a String")
    spec = data_type.sorts.get(name)
    if spec is None:
        raise MethodError.unsupported_sort(f"{data_type.name} cannot be sorted by {name!r}")
    # Fields of no meaning to this sort are ignored, not refused: clients in use send query
    # arguments inside each Comparator (jmapc adds position, anchorOffset, calculateTotal).
    is_ascending = value.get("isAscending", True)
    if not isinstance(is_ascending, bool):
        raise MethodError.invalid_arguments(f"{path}.isAscending must be a Boolean")
    collation = value.get("collation", DEFAULT_COLLATION)
    if not isinstance(collation, str):
        raise MethodError.invalid_arguments(f"{path}.collation must be a String")
    if collation not in COLLATIONS:
        raise MethodError.unsupported_sort(f"the collation {collation!r} is not supported")
    arguments = {}
    for argument, kind in spec.arguments.items():
        if argument in value:
            problem = kind.problem(value[argument])
            if problem is not None:
                raise MethodError.invalid_arguments(f"{path}.{argument} {problem}")
            arguments[argument] = value[argument]
    return Comparator(
        property=name,
        is_ascending=is_ascending,
        collation=collation,
        arguments=arguments,
        key=spec.key(arguments),
        immutable=spec.immutable,
    )


def sort_ids(objects: Mapping[str, JSONObject], comparators: list[Comparator]) -> list[str]:
    """The ids of ``objects`` in comparator order, ties broken by id."""
    ids = sorted(objects)
    # stable sorts from the last comparator to the first give the lexicographic order, each
    # with its own direction (reverse=True keeps equal items in their order)
    for comparator in reversed(comparators):
        values = {object_id: comparator.sort_value(objects[object_id]) for object_id in ids}
        ids.sort(key=values.__getitem__, reverse=not comparator.is_ascending)
    return ids
