"""Test data types: Widget (every kind of property, hooks, filters, sorts), Settings (a
singleton) and Gizmo (only /get and /changes), and a small client that calls their methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import (
    ALL_METHODS,
    CHANGES,
    GET,
    SET,
    DataType,
    FilterSpec,
    Property,
    SortSpec,
    by_property,
    property_equals,
)
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.standard import set_errors, standard_methods
from stalwart_tx.jmap.standard.calls import MethodCall, SetCall
from stalwart_tx.jmap.standard.changes import updated_properties_unknown
from stalwart_tx.jmap.standard.values import (
    JSON,
    Boolean,
    Id,
    Int,
    ListOf,
    MapOf,
    Nullable,
    OneOf,
    String,
    UnsignedInt,
    UTCDate,
)
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.records import JSONObject

CAPABILITY = "urn:example:widgets"
A = "acct1"
B = "acct2"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def widget_created(call: SetCall, widget_id: str, value: JSONObject) -> SetError | None:
    if value["name"] == "forbidden":
        return set_errors.forbidden("no widget may be called that")
    if value["name"] == "huge":
        return set_errors.too_large("too large")
    others = await call.objects.get_all("Widget")
    if value["name"] == "sneaky":  # stages a write, then refuses: the write must not stand
        for other_id, other in others.items():
            call.objects.update("Widget", other_id, {**other, "name": "vandalised"})
        return set_errors.forbidden("changed its mind")
    for other_id, other in others.items():
        if other["name"] == value["name"] and value["name"].startswith("unique"):
            return set_errors.already_exists(other_id, "a widget of that name exists")
    if value["parentId"] is not None and value["parentId"] not in others:
        return set_errors.invalid_properties(["parentId"], "no such parent")
    value["createdAt"] = now()
    value["revision"] = 0
    return None


async def widget_updated(
    call: SetCall, widget_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    if new["name"] == "forbidden":
        return set_errors.forbidden("no widget may be called that")
    if new["parentId"] is not None and not await call.objects.exists("Widget", new["parentId"]):
        return set_errors.invalid_properties(["parentId"], "no such parent")
    new["revision"] = old["revision"] + 1
    return None


async def widget_destroyed(call: SetCall, widget_id: str, value: JSONObject) -> SetError | None:
    children = [
        child_id for child_id, child in (await call.objects.get_all("Widget")).items()
        if child["parentId"] == widget_id
    ]
    if children and not call.extras.get("onDestroyRemoveChildren"):
        return SetError("widgetHasChildren", "it has children")
    for child_id in children:
        call.objects.destroy("Widget", child_id)
    return None


async def widget_computed(
    call: MethodCall, widgets: Mapping[str, JSONObject], names: frozenset[str]
) -> Mapping[str, JSONObject]:
    offset = call.extras.get("nameLengthOffset", 0)
    return {
        widget_id: {"nameLength": len(widget["name"]) + offset} if "nameLength" in names else {}
        for widget_id, widget in widgets.items()
    }


WIDGET = DataType(
    name="Widget",
    capability=CAPABILITY,
    properties={
        "name": Property(String(min_length=1, max_length=100), required=True),
        "count": Property(UnsignedInt(), default=0),
        "tags": Property(MapOf(String(min_length=1), Boolean(only=True)), default={}),
        "meta": Property(MapOf(String(), JSON()), default={}),
        "parentId": Property(Nullable(Id("Widget")), default=None),
        "related": Property(ListOf(Id("Widget")), default=[]),
        "links": Property(MapOf(Id("Widget"), Boolean(only=True)), default={}),
        "serial": Property(String(), default="", immutable=True),
        "kind": Property(OneOf("gear", "sprocket"), default="gear"),
        "score": Property(Int(), default=0),
        "createdAt": Property(UTCDate(), server_set=True),
        "revision": Property(UnsignedInt(), server_set=True),
        "nameLength": Property(UnsignedInt(), server_set=True, computed=True),
    },
    methods=ALL_METHODS,
    on_create=widget_created,
    on_update=widget_updated,
    on_destroy=widget_destroyed,
    compute=widget_computed,
    filters={
        "nameContains": FilterSpec(
            String(), lambda text: lambda w: text.lower() in w["name"].lower()
        ),
        "parentId": property_equals("parentId", Nullable(Id())),
        "hasTag": FilterSpec(String(), lambda tag: lambda w: tag in w["tags"]),
        "minCount": FilterSpec(UnsignedInt(), lambda least: lambda w: w["count"] >= least),
        "kind": property_equals("kind", OneOf("gear", "sprocket")),
        "serialPrefix": FilterSpec(
            String(), lambda prefix: lambda w: w["serial"].startswith(prefix), immutable=True
        ),
    },
    sorts={
        "name": by_property("name"),
        "count": by_property("count"),
        "score": by_property("score"),
        "serial": by_property("serial", immutable=True),
        "createdAt": by_property("createdAt"),
        "tagged": SortSpec(
            key=lambda arguments: lambda w: arguments.get("tag", "") in w["tags"],
            arguments={"tag": String()},
        ),
    },
    max_query_limit=50,
    extra_arguments={
        "set": {"onDestroyRemoveChildren": Boolean()},
        "get": {"nameLengthOffset": Int()},
    },
    response_hooks={"changes": updated_properties_unknown},
)

SETTINGS = DataType(
    name="Settings",
    capability=CAPABILITY,
    properties={
        "theme": Property(OneOf("light", "dark"), default="light"),
        "volume": Property(UnsignedInt(), default=5),
        "motto": Property(Nullable(String()), default=None),
    },
    methods=frozenset({GET, SET}),
    singleton=True,
)

GIZMO = DataType(
    name="Gizmo",
    capability=CAPABILITY,
    properties={"label": Property(String(), default="")},
    methods=frozenset({GET, CHANGES}),
)

TYPES = (WIDGET, SETTINGS, GIZMO)


@dataclass
class TwoAccountContext(RequestContext):
    """A user who may use a second account too (for /copy)."""

    def account_ids(self) -> list[str]:
        return [self.user.account_id, B]


class Api:
    """Calls method handlers the way the dispatcher will: by name, with arguments."""

    def __init__(self, store: StoreBundle, reactor: Any, limits: CoreLimits | None = None) -> None:
        self.store = store
        self.reactor = reactor
        self.limits = limits or CoreLimits()
        self.methods = {spec.name: spec for t in TYPES for spec in standard_methods(t)}
        self.new_request()

    def new_request(self) -> RequestContext:
        """Start a new API request: creation ids of earlier requests are forgotten."""
        self.ctx: RequestContext = TwoAccountContext(
            user=MailUser(principal_id=A, name="alice"),
            store=self.store,
            limits=self.limits,
            using=frozenset({CAPABILITY}),
            reactor=self.reactor,
        )
        return self.ctx

    async def __call__(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        arguments = dict(arguments or {})
        if not name.endswith("/copy"):
            arguments.setdefault("accountId", A)
        return await self.methods[name].handler(self.ctx, arguments)

    async def create(self, type_name: str = "Widget", **values: Any) -> str:
        """Create one object and return its id."""
        response = await self(f"{type_name}/set", {"create": {"c": values}})
        assert response["notCreated"] is None, response["notCreated"]
        object_id: str = response["created"]["c"]["id"]
        return object_id

    async def state(self, type_name: str = "Widget", account: str = A) -> str:
        return await self.store.changes.current_state(account, type_name)


async def method_error(api: Api, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """The MethodError the call raises (failing the test if it raises none)."""
    from stalwart_tx.jmap.errors import MethodError

    try:
        response = await api(name, arguments)
    except MethodError as error:
        return error
    raise AssertionError(f"{name} answered {response!r} instead of failing")


async def fetch(api: Api, object_id: str, type_name: str = "Widget") -> Any:
    """The object as /get returns it, or None."""
    response = await api(f"{type_name}/get", {"ids": [object_id]})
    return response["list"][0] if response["list"] else None


async def make(api: Api, *specs: dict[str, Any], account: str = A) -> list[str]:
    """Create widgets in one call; their ids, in order."""
    response = await api("Widget/set", {
        "accountId": account, "create": {str(i): s for i, s in enumerate(specs)},
    })
    assert response["notCreated"] is None, response["notCreated"]
    return [response["created"][str(i)]["id"] for i in range(len(specs))]


async def ids_of(api: Api, **arguments: Any) -> list[str]:
    response = await api("Widget/query", arguments)
    ids: list[str] = response["ids"]
    return ids
