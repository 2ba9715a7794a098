"""Kinds of JMAP values (RFC 8620 §1.2-1.4): how a data type declares what a property may hold.

A kind answers two questions about a JSON value: what is wrong with it (``problem``, None when
it fits), and what it is once creation-id references (``#creationId``, §5.3) in its id
positions are replaced by real ids (``resolve``). Kinds are small frozen values, so a type's
schema is a plain declaration::

    Property(MapOf(Id("Mailbox"), Boolean(only=True)), default={})
"""

from __future__ import annotations

import datetime
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# JMAP Int and UnsignedInt: integers a JSON double represents exactly (§1.3)
MAX_SAFE_INT = 2**53 - 1

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
UTC_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z")
DATE_PATTERN = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
)

def _is_real_date_time(text: str) -> bool:
    """Whether the date and time of a text the patterns matched exist (RFC 3339 §5.7): the
    patterns admit a 13th month, a 30th of February or a 25th hour, and a value that names no
    instant must be refused where it arrives, not fail wherever it is used. A leap second (60)
    is allowed."""
    try:
        datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return int(text[11:13]) < 24 and int(text[14:16]) < 60 and int(text[17:19]) <= 60


Resolver = Callable[[str], str]
"""Turns ``#creationId`` into the created id; raises UnresolvedReference when it cannot."""


class UnresolvedReference(Exception):
    """A ``#creationId`` names no object created so far in the request."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"unknown creation id {reference!r}")
        self.reference = reference
        self.creation_id = reference[1:]


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==``, ``true`` is not ``1`` and ``1`` is not ``1.0``."""
    if a is b:  # a value shared by a patched copy and its original (apply_patch)
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_int(value: Any, minimum: int = -MAX_SAFE_INT, maximum: int = MAX_SAFE_INT) -> bool:
    # bool is an int subclass in Python, never in JSON
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


class Kind(ABC):
    """What a value may be. Subclasses define ``problem`` and, if they hold ids, ``resolve``."""

    def describe(self) -> str:
        """The kind as the RFC writes it (``String``, ``Id[Boolean]``, ...), for error messages."""
        return type(self).__name__

    @abstractmethod
    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not of this kind, or None if it is."""

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        """``value`` with every ``#creationId`` in an id position replaced (a new value)."""
        return value

    def expected(self, value: Any) -> str:
        return f"expected {self.describe()}, got {json_type_name(value)}"


@dataclass(frozen=True)
class JSON(Kind):
    """Any JSON value at all (the type itself validates it, if at all, in a hook)."""

    def describe(self) -> str:
        return "any JSON value"

    def problem(self, value: Any) -> str | None:
        return None


@dataclass(frozen=True)
class String(Kind):
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return self.expected(value)
        if len(value) < self.min_length:
            return f"must have at least {self.min_length} characters"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must have at most {self.max_length} characters"
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return f"must match {self.pattern}"
        return None


@dataclass(frozen=True)
class Boolean(Kind):
    """true or false; ``only=True`` admits only ``true`` (the value of JMAP set-like maps)."""

    only: bool | None = None


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, bool):
            return self.expected(value)
        if self.only is not None and value is not self.only:
            return f"must be {'true' if self.only else 'false'}"
        return None


@dataclass(frozen=True)
class Int(Kind):
    """A JMAP Int (§1.3), optionally narrowed to ``[minimum, maximum]``."""

    minimum: int = -MAX_SAFE_INT
    maximum: int = MAX_SAFE_INT


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return self.expected(value)
        if not self.minimum <= value <= self.maximum:
            return f"must be between {self.minimum} and {self.maximum}"
        return None


@dataclass(frozen=True)
class UnsignedInt(Int):
    minimum: int = 0



@dataclass(frozen=True)
class Number(Kind):

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return self.expected(value)
        return None


@dataclass(frozen=True)
class Id(Kind):
    """A JMAP Id (§1.2). With ``refers_to`` it names an object of that type, so a client may
    write ``#creationId`` for an object created earlier in the same request."""

    refers_to: str | None = None


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return self.expected(value)
        if not is_id(value):
            return "is not a valid Id (1-255 characters of A-Z a-z 0-9 - _)"
        return None

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        if self.refers_to is not None and isinstance(value, str) and value.startswith("#"):
            return resolver(value)
        return value


@dataclass(frozen=True)
class UTCDate(Kind):
    """A date-time in UTC, ``Z`` upper case, fractional seconds without trailing zeros (§1.4)."""


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return self.expected(value)
        if UTC_DATE_PATTERN.fullmatch(value) is None:
            return "is not a UTCDate (YYYY-MM-DDThh:mm:ss[.fff]Z)"
        if not _is_real_date_time(value):
            return "is not a real date and time"
        return None


@dataclass(frozen=True)
class Date(Kind):
    """An RFC 3339 date-time with any time offset (§1.4)."""


    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return self.expected(value)
        if DATE_PATTERN.fullmatch(value) is None:
            return "is not a Date (RFC 3339 date-time)"
        offset = value[-6:]
        if not _is_real_date_time(value) or (
            offset[0] in "+-" and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59)
        ):
            return "is not a real date and time"
        return None


@dataclass(frozen=True)
class OneOf(Kind):
    """One of a fixed set of strings (an enumeration)."""

    values: frozenset[str]

    def __init__(self, *values: str) -> None:
        object.__setattr__(self, "values", frozenset(values))

    def describe(self) -> str:
        return "one of " + ", ".join(sorted(self.values))

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or value not in self.values:
            return f"must be {self.describe()}"
        return None


@dataclass(frozen=True)
class Nullable(Kind):
    inner: Kind

    def describe(self) -> str:
        return f"{self.inner.describe()} or null"

    def problem(self, value: Any) -> str | None:
        return None if value is None else self.inner.problem(value)

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        return None if value is None else self.inner.resolve(value, resolver)


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind
    min_items: int = 0
    max_items: int | None = None

    def describe(self) -> str:
        return f"{self.item.describe()}[]"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, list):
            return self.expected(value)
        if len(value) < self.min_items:
            return f"must have at least {self.min_items} items"
        if self.max_items is not None and len(value) > self.max_items:
            return f"must have at most {self.max_items} items"
        for index, item in enumerate(value):
            problem = self.item.problem(item)
            if problem is not None:
                return f"item {index} {problem}"
        return None

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        if not isinstance(value, list):
            return value
        return [self.item.resolve(item, resolver) for item in value]


@dataclass(frozen=True)
class MapOf(Kind):
    """A JSON object used as a map, ``A[B]`` in the RFC (``Id[Boolean]``, ``String[Boolean]``)."""

    key: Kind
    value: Kind
    max_items: int | None = None

    def describe(self) -> str:
        return f"{self.key.describe()}[{self.value.describe()}]"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return self.expected(value)
        if self.max_items is not None and len(value) > self.max_items:
            return f"must have at most {self.max_items} entries"
        for key, item in value.items():
            problem = self.key.problem(key)
            if problem is not None:
                return f"key {key!r} {problem}"
            problem = self.value.problem(item)
            if problem is not None:
                return f"entry {key!r} {problem}"
        return None

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            self.key.resolve(key, resolver): self.value.resolve(item, resolver)
            for key, item in value.items()
        }


@dataclass(frozen=True)
class Record(Kind):
    """A JSON object with named fields (a nested JMAP object such as an EmailAddress)."""

    fields: Mapping[str, Kind]
    required: frozenset[str] = field(default_factory=frozenset)
    open: bool = False  # whether fields not listed are allowed (and left unchecked)

    def describe(self) -> str:
        return "object"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return self.expected(value)
        missing = sorted(self.required - value.keys())
        if missing:
            return f"lacks required field {missing[0]!r}"
        for name, item in value.items():
            kind = self.fields.get(name)
            if kind is None:
                if self.open:
                    continue
                return f"has unknown field {name!r}"
            problem = kind.problem(item)
            if problem is not None:
                return f"field {name!r} {problem}"
        return None

    def resolve(self, value: Any, resolver: Resolver) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            name: (self.fields[name].resolve(item, resolver) if name in self.fields else item)
            for name, item in value.items()
        }


__all__ = [
    "JSON",
    "MAX_SAFE_INT",
    "Boolean",
    "Date",
    "Id",
    "Int",
    "Kind",
    "ListOf",
    "MapOf",
    "Nullable",
    "Number",
    "OneOf",
    "Record",
    "Resolver",
    "String",
    "UTCDate",
    "UnresolvedReference",
    "UnsignedInt",
    "is_id",
    "is_int",
    "json_type_name",
    "same_json",
]
