"""A JMAP data type described once, so the standard methods of RFC 8620 §5 run on it.

A module defining a type (Mailbox, Email, Identity, ...) writes one ``DataType`` and asks
``stalwart_tx.jmap.standard.standard_methods(its_type)`` for the MethodSpecs to register::

    WIDGET = DataType(
        name="Widget",
        capability="urn:example:widgets",
        properties={
            "name": Property(String(min_length=1), required=True),
            "parentId": Property(Nullable(Id("Widget")), default=None),
            "createdAt": Property(UTCDate(), server_set=True),
        },
        on_create=stamp_created_at,
        filters={"parentId": FilterSpec(Nullable(Id()), lambda v: lambda w: w["parentId"] == v)},
        sorts={"name": by_property("name")},
    )
    METHODS = standard_methods(WIDGET)

Everything type-specific is a declaration or a small async callable; the methods hold the RFC.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.standard.values import Kind, same_json
from stalwart_tx.store.records import JSONObject, json_copy

if TYPE_CHECKING:
    from stalwart_tx.jmap.standard.calls import MethodCall, QueryCall, SetCall

GET = "get"
CHANGES = "changes"
SET = "set"
COPY = "copy"
QUERY = "query"
QUERY_CHANGES = "queryChanges"
ALL_METHODS: Final = frozenset({GET, CHANGES, SET, COPY, QUERY, QUERY_CHANGES})
DEFAULT_METHODS: Final = frozenset({GET, CHANGES, SET, QUERY, QUERY_CHANGES})

SINGLETON_ID: Final = "singleton"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()


@dataclass(frozen=True)
class Property:
    """One property of a type.

    ``default`` fills the property when a create omits it and when a patch sets it to null.
    ``required`` properties must be given on create (and have no default). ``server_set``
    ones are never sent by the client on create, and in a patch only with their current value;
    the type's hooks set them. ``immutable`` ones are given on create and never change after.
    ``computed`` ones are not stored: the type's ``compute`` hook produces them for /get (they
    are always server-set).
    """

    kind: Kind
    default: Any = NO_DEFAULT
    required: bool = False
    server_set: bool = False
    immutable: bool = False
    computed: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def client_settable(self) -> bool:
        return not (self.server_set or self.computed)


Predicate = Callable[[JSONObject], bool]
SortKey = Callable[[JSONObject], Any]


@dataclass(frozen=True)
class FilterSpec:
    """One property of a FilterCondition (§5.5): the kind of its value, and how it matches.

    ``predicate(value)`` returns the test for one object (given with its ``id`` and every
    stored property, defaults filled in). ``immutable`` says the test only reads properties
    that never change, which lets /queryChanges honour ``upToId``.
    """

    kind: Kind
    predicate: Callable[[Any], Predicate]
    immutable: bool = False


@dataclass(frozen=True)
class SortSpec:
    """A property a Comparator (§5.5) may sort by.

    ``key(arguments)`` returns the sort key of one object; ``arguments`` are the comparator's
    type-specific properties declared in ``arguments`` (such as Email's ``keyword``). String keys
    are compared by the comparator's collation; None sorts before everything else.
    """

    key: Callable[[Mapping[str, Any]], SortKey]
    arguments: Mapping[str, Kind] = field(default_factory=dict)
    immutable: bool = False


def by_property(name: str, *, immutable: bool = False) -> SortSpec:
    """Sort by a property's value."""
    return SortSpec(key=lambda _arguments: lambda obj: obj.get(name), immutable=immutable)


def property_equals(name: str, kind: Kind, *, immutable: bool = False) -> FilterSpec:
    """A filter property matching objects whose ``name`` equals the given value."""
    return FilterSpec(
        kind=kind,
        predicate=lambda value: lambda obj: same_json(obj.get(name), value),
        immutable=immutable,
    )


def random_id() -> str:
    """A fresh object id: a letter, then 16 hex digits (so never all digits, never "NIL")."""
    return "x" + secrets.token_hex(8)


CreateHook = Callable[["SetCall", str, JSONObject], Awaitable[SetError | None]]
"""Checks a new object (id, value with defaults filled); may set server-set properties in it."""
UpdateHook = Callable[["SetCall", str, JSONObject, JSONObject], Awaitable[SetError | None]]
"""Checks an update (id, old value, patched new value); may change server-set ones in the new."""
DestroyHook = Callable[["SetCall", str, JSONObject], Awaitable[SetError | None]]
"""Checks a destroy (id, value), e.g. mailboxHasEmail; may stage writes to other objects."""
ComputeHook = Callable[
    ["MethodCall", Mapping[str, JSONObject], frozenset[str]],
    Awaitable[Mapping[str, JSONObject]],
]
"""Values of computed (and dynamic) properties: ids → stored values, wanted names → ids → values."""
QueryEngine = Callable[["QueryCall"], Awaitable[list[str]]]
"""Every id matching the call's filter, in the order of its sort (ties broken by id)."""
QueryWindow = Callable[
    ["QueryCall", int, "int | None", bool],
    Awaitable["tuple[list[str], int | None, str] | None"],
]
"""A faster /query for calls without anchor and with a position >= 0: (call, position, limit,
calculateTotal) -> the ids of that window, the total (when asked) and the queryState (the
type's state, read with the window or before it), or None when it cannot answer this call
(the query engine's full list is used instead)."""
ResponseHook = Callable[["MethodCall", JSONObject], Awaitable[JSONObject]]
"""Extra properties to add to a method's response (given the response built so far)."""

MovedAlongHook = Callable[["QueryCall", Sequence[str]], Awaitable[set[str]]]
"""For /queryChanges: ids whose place in the results may have moved because the given (updated)
objects changed, though they did not change themselves (Mailbox trees: their descendants)."""


@dataclass(frozen=True, eq=False)  # a type is itself: compared and hashed by identity
class DataType:
    """Everything the standard methods need to know about one JMAP data type.

    ``methods`` names the standard methods the type has (Thread: get and changes).
    ``singleton`` types have exactly one object, id "singleton", which always exists
    (stored or not); create and destroy fail with the singleton SetError.
    ``extra_arguments`` declares type-specific method arguments by method ("get": {...}), each
    with its kind; they reach hooks and the query engine as ``call.extras``.
    ``is_dynamic_property`` admits property names outside the schema (Email's
    ``header:...``); ``compute`` answers them on /get.
    ``query_engine`` replaces the default /query evaluation (load every object, filter and sort
    in Python) with one that answers from an index; ``query_window`` lets /query read just the
    window asked for, so a page costs the same however many objects match. ``moved_along``
    tells /queryChanges which unchanged objects a change can move too, when results depend on
    other objects.
    """

    name: str
    capability: str
    properties: Mapping[str, Property]
    methods: frozenset[str] = DEFAULT_METHODS
    singleton: bool = False
    new_id: Callable[[], str] = random_id
    default_get_properties: tuple[str, ...] | None = None
    is_dynamic_property: Callable[[str], bool] | None = None
    compute: ComputeHook | None = None
    on_create: CreateHook | None = None
    on_update: UpdateHook | None = None
    on_destroy: DestroyHook | None = None
    filters: Mapping[str, FilterSpec] = field(default_factory=dict)
    sorts: Mapping[str, SortSpec] = field(default_factory=dict)
    query_engine: QueryEngine | None = None
    query_window: QueryWindow | None = None
    max_query_limit: int | None = 1000
    max_changes: int = 5000
    extra_arguments: Mapping[str, Mapping[str, Kind]] = field(default_factory=dict)
    response_hooks: Mapping[str, ResponseHook] = field(default_factory=dict)
    moved_along: MovedAlongHook | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.name or "/" in self.name:
            problems.append("a type name is non-empty and has no '/'")
        if not self.methods <= ALL_METHODS:
            problems.append(f"unknown methods {sorted(self.methods - ALL_METHODS)}")
        if "id" in self.properties:
            problems.append("'id' is implicit, do not declare it")
        for name, prop in self.properties.items():
            if prop.required and prop.has_default:
                problems.append(f"{name}: a required property has no default")
            if prop.computed and not prop.server_set:
                problems.append(f"{name}: a computed property must be server_set")
        if self.singleton and self.methods & {COPY, QUERY, QUERY_CHANGES}:
            problems.append("a singleton type has no /copy, /query or /queryChanges")
        for name in self.default_get_properties or ():
            if not self.is_property(name):
                problems.append(f"default get property {name!r} is not a property")
        unknown_hooks = set(self.response_hooks) | set(self.extra_arguments)
        if not unknown_hooks <= ALL_METHODS:
            problems.append(f"hooks for unknown methods {sorted(unknown_hooks - ALL_METHODS)}")
        if self.max_changes < 1 or (self.max_query_limit is not None and self.max_query_limit < 1):
            problems.append("max_changes and max_query_limit are positive")
        if problems:
            raise ValueError(f"DataType {self.name!r}: " + "; ".join(problems))

    def method_name(self, method: str) -> str:
        return f"{self.name}/{method}"

    def is_property(self, name: str) -> bool:
        return (
            name == "id"
            or name in self.properties
            or (self.is_dynamic_property is not None and self.is_dynamic_property(name))
        )

    @functools.cached_property
    def stored_properties(self) -> Mapping[str, Property]:
        # worked out once: a type's properties never change, and every update asks
        return MappingProxyType({n: p for n, p in self.properties.items() if not p.computed})

    def with_defaults(self, stored: JSONObject) -> JSONObject:
        """A stored value with every missing stored property at its default (a new dict)."""
        value = dict(stored)
        for name, prop in self.properties.items():
            if not prop.computed and name not in value and prop.has_default:
                value[name] = json_copy(prop.default)
        return value

    def default_object(self) -> JSONObject:
        """A new object made only of defaults (what a singleton is before it is ever set)."""
        return self.with_defaults({})
