"""RFC 8620 §5 (standard methods) over the real endpoint: POST /jmap/api/ with real JSON.

A test data type, Foo (every §5 method), and a singleton, FooSettings, are registered under
their own capability on the in-process HTTP server, on a real Redis store, for a user who may
use two accounts (their own and SHARED, for Foo/copy). Every response is checked against the
shape the RFC gives it: each property present, with its type, null where the RFC says null.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater

from stalwart_tx.jmap import core_methods
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import (
    ALL_METHODS,
    GET,
    SET,
    DataType,
    FilterSpec,
    Property,
    by_property,
    property_equals,
)
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.registry import CapabilitySpec, MethodRegistry
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.values import (
    Boolean,
    Id,
    MapOf,
    Nullable,
    OneOf,
    String,
    UnsignedInt,
)
from stalwart_tx.store.backend import open_redis_store
from stalwart_tx.store.records import JSONObject, StateChange
from tests.jmap.api.conftest import MethodCaller, StartServer

CAPABILITY = "urn:stalwart-tx:test:foo"
SHARED = "sharedfoo"  # the second account the test user may use
LIMITS = CoreLimits(maxObjectsInGet=6, maxObjectsInSet=6)
MAX_QUERY_LIMIT = 20
COLOURS = OneOf("red", "green", "blue")


async def foo_created(call: SetCall, foo_id: str, value: JSONObject) -> SetError | None:
    value["revision"] = 0
    return None


async def foo_updated(
    call: SetCall, foo_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    new["revision"] = old["revision"] + 1
    return None


FOO = DataType(
    name="Foo",
    capability=CAPABILITY,
    properties={
        "name": Property(String(min_length=1, max_length=100), required=True),
        "size": Property(UnsignedInt(), default=0),
        "colour": Property(COLOURS, default="red"),
        "tags": Property(MapOf(String(min_length=1), Boolean(only=True)), default={}),
        "parentId": Property(Nullable(Id("Foo")), default=None),
        "revision": Property(UnsignedInt(), server_set=True),
    },
    methods=ALL_METHODS,
    on_create=foo_created,
    on_update=foo_updated,
    filters={
        "nameContains": FilterSpec(String(), lambda text: lambda f: text in f["name"]),
        "minSize": FilterSpec(UnsignedInt(), lambda least: lambda f: f["size"] >= least),
        "colour": property_equals("colour", COLOURS),
        "hasTag": FilterSpec(String(), lambda tag: lambda f: tag in f["tags"]),
    },
    sorts={"name": by_property("name"), "size": by_property("size")},
    max_query_limit=MAX_QUERY_LIMIT,
)
FOO_PROPERTIES = {"id", "name", "size", "colour", "tags", "parentId", "revision"}

FOO_SETTINGS = DataType(
    name="FooSettings",
    capability=CAPABILITY,
    properties={"theme": Property(OneOf("light", "dark"), default="light")},
    methods=frozenset({GET, SET}),
    singleton=True,
)


def foo_registry(limits: CoreLimits) -> MethodRegistry:
    registry = default_registry(limits, modules=[core_methods])
    registry.add_capability(CapabilitySpec(CAPABILITY, dict, lambda account_id: {}))
    for data_type in (FOO, FOO_SETTINGS):
        registry.add_methods(standard_methods(data_type))
    return registry


class TwoAccountContext(RequestContext):
    def account_ids(self) -> list[str]:
        return [self.user.account_id, SHARED]


def ref(result_of: str, name: str, path: str) -> dict[str, str]:
    return {"resultOf": result_of, "name": name, "path": path}


@dataclass
class Foos(MethodCaller):
    """Requests to the server's API URL, using core and the Foo capability."""

    USING: ClassVar[list[str]] = [CORE, CAPABILITY]

    async def response(self, *calls: list[Any], **extra: Any) -> dict[str, Any]:
        response = await super().response(*calls, **extra)
        assert set(response) == {"methodResponses", "sessionState"} | (
            {"createdIds"} if "createdIds" in extra else set()
        )
        return response

    request = response

    def defaults_account(self, method: str) -> bool:
        return not method.endswith("/copy")  # /copy names its accounts itself

    async def error(self, method: str, error_type: str, **arguments: Any) -> dict[str, Any]:
        name, result = await self.invoke(method, **arguments)
        assert name == "error", result
        assert_method_error(result, error_type)
        return result

    async def create(self, *foos: dict[str, Any], account: str | None = None) -> list[str]:
        result = await self.ok("Foo/set", accountId=account or self.account, create={
            f"k{index}": foo for index, foo in enumerate(foos)
        })
        assert result["notCreated"] is None, result["notCreated"]
        return [result["created"][f"k{index}"]["id"] for index in range(len(foos))]

    async def state(self, account: str | None = None) -> str:
        result = await self.ok("Foo/get", accountId=account or self.account, ids=[])
        state: str = result["state"]
        return state

    async def query(self, **arguments: Any) -> dict[str, Any]:
        """A Foo/query, its response checked against §5.5's shape."""
        result = await self.ok("Foo/query", **arguments)
        assert_query_shape(result, self.account, arguments)
        return result

    async def query_ids(self, **arguments: Any) -> list[str]:
        ids: list[str] = (await self.query(**arguments))["ids"]
        return ids


@pytest_twisted.async_yield_fixture
async def foos(start_server: StartServer, redis_url: str) -> AsyncIterator[Foos]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    server = await start_server(
        limits=LIMITS, registry=foo_registry(LIMITS), context_factory=TwoAccountContext,
        store=bundle,
    )
    yield Foos(server)
    await bundle.close()


# -- the JSON shapes of §5 ---------------------------------------------------------------------

def is_state(value: object) -> bool:
    return isinstance(value, str) and value != ""


def is_ids(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(i, str) and i for i in value)


def is_map_or_null(value: object, item: Callable[[Any], bool]) -> bool:
    return value is None or (
        isinstance(value, dict) and bool(value) and all(
            isinstance(k, str) and item(v) for k, v in value.items()
        )
    )


def is_set_error(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return False
    if "description" in value and not isinstance(value["description"], str):
        return False
    return "properties" not in value or is_ids(value["properties"])


def assert_method_error(error: dict[str, Any], error_type: str) -> None:
    assert error["type"] == error_type, error
    assert set(error) <= {"type", "description"}, error
    assert isinstance(error.get("description", ""), str)


def assert_get_shape(result: dict[str, Any], account: str) -> None:
    assert set(result) == {"accountId", "state", "list", "notFound"}, result
    assert result["accountId"] == account
    assert is_state(result["state"])
    assert isinstance(result["list"], list)
    assert all(isinstance(o, dict) and isinstance(o["id"], str) for o in result["list"])
    assert is_ids(result["notFound"])


def assert_changes_shape(result: dict[str, Any], account: str) -> None:
    assert set(result) == {
        "accountId", "oldState", "newState", "hasMoreChanges", "created", "updated", "destroyed",
    }, result
    assert result["accountId"] == account
    assert is_state(result["oldState"]) and is_state(result["newState"])
    assert isinstance(result["hasMoreChanges"], bool)
    assert is_ids(result["created"]) and is_ids(result["updated"])
    assert is_ids(result["destroyed"])


def assert_set_shape(result: dict[str, Any], account: str) -> None:
    assert set(result) == {
        "accountId", "oldState", "newState", "created", "updated", "destroyed", "notCreated",
        "notUpdated", "notDestroyed",
    }, result
    assert result["accountId"] == account
    assert is_state(result["oldState"]) and is_state(result["newState"])
    assert is_map_or_null(result["created"], lambda o: isinstance(o, dict) and "id" in o)
    assert is_map_or_null(result["updated"], lambda o: o is None or isinstance(o, dict))
    assert result["destroyed"] is None or (is_ids(result["destroyed"]) and result["destroyed"])
    for name in ("notCreated", "notUpdated", "notDestroyed"):
        assert is_map_or_null(result[name], is_set_error), result[name]


def assert_copy_shape(result: dict[str, Any], from_account: str, account: str) -> None:
    assert set(result) == {
        "fromAccountId", "accountId", "oldState", "newState", "created", "notCreated",
    }, result
    assert (result["fromAccountId"], result["accountId"]) == (from_account, account)
    assert is_state(result["oldState"]) and is_state(result["newState"])
    assert is_map_or_null(result["created"], lambda o: isinstance(o, dict) and "id" in o)
    assert is_map_or_null(result["notCreated"], is_set_error)


def assert_query_shape(result: dict[str, Any], account: str, arguments: dict[str, Any]) -> None:
    """The /query response to ``arguments``: total only if asked for; limit only when the server
    chose it (none asked for, or more than it allows)."""
    expected = {"accountId", "queryState", "canCalculateChanges", "position", "ids"}
    if arguments.get("calculateTotal"):
        expected.add("total")
    requested_limit = arguments.get("limit")
    if requested_limit is None or requested_limit > MAX_QUERY_LIMIT:
        expected.add("limit")
        assert result["limit"] == MAX_QUERY_LIMIT
    assert set(result) == expected, result
    assert result["accountId"] == account
    assert is_state(result["queryState"])
    assert result["canCalculateChanges"] is True
    assert isinstance(result["position"], int) and result["position"] >= 0
    assert is_ids(result["ids"])
    if "total" in result:
        assert isinstance(result["total"], int) and not isinstance(result["total"], bool)
        assert result["total"] >= len(result["ids"])


def assert_query_changes_shape(
    result: dict[str, Any], account: str, *, total: bool = False
) -> None:
    expected = {"accountId", "oldQueryState", "newQueryState", "removed", "added"}
    assert set(result) == expected | ({"total"} if total else set()), result
    assert result["accountId"] == account
    assert is_state(result["oldQueryState"]) and is_state(result["newQueryState"])
    assert is_ids(result["removed"])
    assert isinstance(result["added"], list)
    for item in result["added"]:
        assert set(item) == {"id", "index"} and isinstance(item["id"], str)
        assert isinstance(item["index"], int) and item["index"] >= 0


def apply_query_changes(cached: list[str], result: dict[str, Any]) -> list[str]:
    """What a client does with a /queryChanges response (§5.6): removed out, added in by index."""
    removed = set(result["removed"])
    ids = [i for i in cached if i not in removed]
    for item in sorted(result["added"], key=lambda added: added["index"]):
        ids.insert(item["index"], item["id"])
    return ids


# -- Foo/get -----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_get_all_by_id_not_found_and_chosen_properties(foos: Foos) -> None:
    account = foos.account
    empty = await foos.ok("Foo/get", ids=None)
    assert_get_shape(empty, account)
    assert empty["list"] == [] and empty["notFound"] == []

    a, b, c = await foos.create(
        {"name": "alpha"}, {"name": "beta", "size": 3, "tags": {"x": True}}, {"name": "gamma"}
    )
    every = await foos.ok("Foo/get", ids=None)
    assert_get_shape(every, account)
    assert every["state"] != empty["state"]
    assert every["notFound"] == []
    assert {o["id"] for o in every["list"]} == {a, b, c}
    assert all(set(o) == FOO_PROPERTIES for o in every["list"])
    assert next(o for o in every["list"] if o["id"] == b) == {
        "id": b, "name": "beta", "size": 3, "colour": "red", "tags": {"x": True},
        "parentId": None, "revision": 0,
    }

    # explicit ids: in the order asked, a repeated id answered once, unknown ones in notFound
    chosen = await foos.ok("Foo/get", ids=[c, "nosuchfoo", a, c], properties=["name"])
    assert_get_shape(chosen, account)
    assert chosen["list"] == [{"id": c, "name": "gamma"}, {"id": a, "name": "alpha"}]
    assert chosen["notFound"] == ["nosuchfoo"]
    assert chosen["state"] == every["state"]

    # "id" is always returned, asked for or not
    only_id = await foos.ok("Foo/get", ids=[b], properties=["id"])
    assert only_id["list"] == [{"id": b}]
    sizes = await foos.ok("Foo/get", ids=[b], properties=["size", "tags"])
    assert sizes["list"] == [{"id": b, "size": 3, "tags": {"x": True}}]
    none = await foos.ok("Foo/get", ids=[])
    assert none["list"] == [] and none["notFound"] == []

    await foos.error("Foo/get", "invalidArguments", ids=[a], properties=["name", "colour2"])
    await foos.error("Foo/get", "invalidArguments", ids="notalist")
    await foos.error("Foo/get", "accountNotFound", accountId="nobodys", ids=[a])


@pytest_twisted.ensureDeferred
async def test_get_request_too_large(foos: Foos) -> None:
    limit = LIMITS.maxObjectsInGet
    ids = await foos.create(*({"name": f"n{i}"} for i in range(limit)))
    at_limit = await foos.ok("Foo/get", ids=ids, properties=["id"])
    assert len(at_limit["list"]) == limit
    await foos.error("Foo/get", "requestTooLarge", ids=[*ids, "onemore"])
    assert len((await foos.ok("Foo/get", ids=None))["list"]) == limit
    # more objects than one /get returns: ids null is refused, by id they still come
    [extra] = await foos.create({"name": "one too many"})
    await foos.error("Foo/get", "requestTooLarge", ids=None)
    assert (await foos.ok("Foo/get", ids=[extra], properties=["name"]))["list"] == [
        {"id": extra, "name": "one too many"}
    ]


# -- Foo/changes -------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_changes_paged_to_the_end(foos: Foos) -> None:
    account = foos.account
    kept, doomed = await foos.create({"name": "kept"}, {"name": "doomed"})
    since = await foos.state()
    created = await foos.create({"name": "c1"}, {"name": "c2"}, {"name": "c3"})
    created += await foos.create({"name": "c4"})
    await foos.ok("Foo/set", update={kept: {"size": 1}}, destroy=[doomed])
    now = await foos.state()
    assert now != since

    whole = await foos.ok("Foo/changes", sinceState=since)
    assert_changes_shape(whole, account)
    assert (whole["oldState"], whole["newState"], whole["hasMoreChanges"]) == (since, now, False)
    assert sorted(whole["created"]) == sorted(created)
    assert (whole["updated"], whole["destroyed"]) == ([kept], [doomed])

    state, pages = since, []
    while True:
        page = await foos.ok("Foo/changes", sinceState=state, maxChanges=2)
        assert_changes_shape(page, account)
        assert page["oldState"] == state
        assert len(page["created"]) + len(page["updated"]) + len(page["destroyed"]) <= 2
        pages.append(page)
        state = page["newState"]
        if not page["hasMoreChanges"]:
            break
    assert len(pages) >= 3
    assert all(p["hasMoreChanges"] for p in pages[:-1])
    assert state == now
    for name in ("created", "updated", "destroyed"):
        paged = [i for page in pages for i in page[name]]
        assert sorted(paged) == sorted(whole[name])  # none skipped, none repeated

    quiet = await foos.ok("Foo/changes", sinceState=now, maxChanges=10)
    assert_changes_shape(quiet, account)
    assert (quiet["newState"], quiet["hasMoreChanges"]) == (now, False)
    assert quiet["created"] == quiet["updated"] == quiet["destroyed"] == []


@pytest_twisted.ensureDeferred
async def test_changes_errors(foos: Foos) -> None:
    await foos.create({"name": "x"})
    await foos.error("Foo/changes", "cannotCalculateChanges", sinceState="bogus-state")
    await foos.error("Foo/changes", "invalidArguments", sinceState=await foos.state(),
                     maxChanges=0)
    await foos.error("Foo/changes", "invalidArguments", sinceState=await foos.state(),
                     maxChanges=-1)
    await foos.error("Foo/changes", "invalidArguments")  # sinceState is required


# -- Foo/set -----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_creation_ids_result_references_and_created_ids(foos: Foos) -> None:
    account = foos.account
    [earlier] = await foos.create({"name": "from an earlier request"})
    response = await foos.request(
        ["Foo/set", {"accountId": account, "create": {
            "parent": {"name": "parent", "size": 2},
            # a reference to a creation of the same call, made first whatever the order
            "child": {"name": "child", "parentId": "#parent"},
        }, "update": {"#old": {"name": "renamed"}}}, "s0"],
        ["Foo/get", {"accountId": account, "ids": ["#child", "#parent", "#old"],
                     "properties": ["name", "parentId"]}, "g0"],
        # a result reference to one created id, used where an Id is wanted
        ["Foo/query", {"accountId": account, "sort": [{"property": "name"}],
                       "#anchor": ref("s0", "Foo/set", "/created/child/id")}, "q0"],
        # and to the whole set's old state: what changed since is what s0 did
        ["Foo/changes", {"accountId": account,
                         "#sinceState": ref("s0", "Foo/set", "/oldState")}, "ch0"],
        ["Foo/get", {"accountId": account, "#ids": ref("ch0", "Foo/changes", "/created"),
                     "properties": ["name"]}, "g1"],
        ["Foo/set", {"accountId": account, "destroy": ["#nothing"]}, "s1"],
        createdIds={"old": earlier},
    )
    names = [(name, call_id) for name, _, call_id in response["methodResponses"]]
    assert names == [("Foo/set", "s0"), ("Foo/get", "g0"), ("Foo/query", "q0"),
                     ("Foo/changes", "ch0"), ("Foo/get", "g1"), ("Foo/set", "s1")]
    [set0, get0, query0, changes0, get1, set1] = [r[1] for r in response["methodResponses"]]
    assert_set_shape(set0, account)
    parent, child = set0["created"]["parent"]["id"], set0["created"]["child"]["id"]
    # created holds the id and what the server set: defaults the client left out, server-set
    assert set0["created"]["parent"] == {
        "id": parent, "colour": "red", "tags": {}, "parentId": None, "revision": 0,
    }
    assert set0["created"]["child"] == {
        "id": child, "size": 0, "colour": "red", "tags": {}, "parentId": parent, "revision": 0,
    }
    assert set0["updated"] == {earlier: {"revision": 1}}
    assert response["createdIds"] == {"old": earlier, "parent": parent, "child": child}

    assert get0["list"] == [
        {"id": child, "name": "child", "parentId": parent},
        {"id": parent, "name": "parent", "parentId": None},
        {"id": earlier, "name": "renamed", "parentId": None},
    ]
    assert_query_shape(query0, account, {"sort": [{"property": "name"}]})
    assert query0["ids"] == [child, parent, earlier] and query0["position"] == 0
    assert sorted(changes0["created"]) == sorted([parent, child])
    assert changes0["updated"] == [earlier]
    assert changes0["newState"] == set0["newState"]
    assert sorted(o["name"] for o in get1["list"]) == ["child", "parent"]
    assert_set_shape(set1, account)
    assert set1["notDestroyed"] == {"#nothing": {"type": "notFound"}}
    assert set1["newState"] == set1["oldState"] == set0["newState"]


@pytest_twisted.ensureDeferred
async def test_created_ids_can_always_be_sent_back(foos: Foos) -> None:
    # create is Id[Foo] (§5.3, §5.4): a creation id that is no Id would come back in createdIds,
    # which the next Request could then not carry, so the call is refused with nothing created
    account = foos.account
    state = await foos.state()
    for creation_id in ("a b", "", "#k", "x" * 256, "ü"):
        await foos.error("Foo/set", "invalidArguments", create={
            "fine": {"name": "fine"}, creation_id: {"name": "odd"},
        })
        await foos.error("Foo/copy", "invalidArguments", fromAccountId=account,
                         accountId=SHARED, create={creation_id: {"id": "whatever"}})
    assert await foos.state() == state

    first = await foos.request(
        ["Foo/set", {"accountId": account, "create": {"Ok_-9": {"name": "ok"}}}, "s"],
        createdIds={},
    )
    created = first["methodResponses"][0][1]["created"]["Ok_-9"]["id"]
    assert first["createdIds"] == {"Ok_-9": created}
    second = await foos.request(
        ["Foo/get", {"accountId": account, "ids": ["#Ok_-9"], "properties": ["name"]}, "g"],
        createdIds=first["createdIds"],
    )
    assert second["methodResponses"][0][1]["list"] == [{"id": created, "name": "ok"}]
    assert second["createdIds"] == first["createdIds"]


@pytest_twisted.ensureDeferred
async def test_update_with_a_patch_object(foos: Foos) -> None:
    account = foos.account
    [foo] = await foos.create(
        {"name": "patched", "size": 4, "colour": "blue", "tags": {"a": True, "b": True}}
    )
    before = await foos.state()
    result = await foos.ok("Foo/set", update={foo: {
        "tags/c": True,  # a path into a map adds a key
        "tags/a": None,  # and null there removes one
        "colour": None,  # null at the top resets to the default
        "size": 9,
    }})
    assert_set_shape(result, account)
    assert result["oldState"] == before and result["newState"] != before
    assert result["updated"] == {foo: {"revision": 1}}  # only what the server changed besides
    assert result["created"] is result["destroyed"] is None
    assert result["notCreated"] is result["notUpdated"] is result["notDestroyed"] is None
    [value] = (await foos.ok("Foo/get", ids=[foo]))["list"]
    assert value == {
        "id": foo, "name": "patched", "size": 9, "colour": "red", "tags": {"b": True, "c": True},
        "parentId": None, "revision": 1,
    }
    again = await foos.ok("Foo/set", update={foo: {"tags": {}, "name": "whole"}})
    assert again["oldState"] == result["newState"]
    [value] = (await foos.ok("Foo/get", ids=[foo], properties=["name", "tags"]))["list"]
    assert value == {"id": foo, "name": "whole", "tags": {}}


@pytest_twisted.ensureDeferred
async def test_destroy(foos: Foos) -> None:
    account = foos.account
    a, b = await foos.create({"name": "a"}, {"name": "b"})
    result = await foos.ok("Foo/set", destroy=[a, a])
    assert_set_shape(result, account)
    assert result["destroyed"] == [a]
    assert result["created"] is result["updated"] is result["notDestroyed"] is None
    gone = await foos.ok("Foo/get", ids=[a, b], properties=["name"])
    assert gone["list"] == [{"id": b, "name": "b"}] and gone["notFound"] == [a]
    again = await foos.ok("Foo/set", destroy=[a])
    assert_set_shape(again, account)
    assert again["destroyed"] is None
    assert again["notDestroyed"] == {a: {"type": "notFound"}}
    assert again["newState"] == again["oldState"] == result["newState"]


@pytest_twisted.ensureDeferred
async def test_set_errors_each_for_its_own_object(foos: Foos) -> None:
    account = foos.account
    target, doomed, other = await foos.create({"name": "t"}, {"name": "d"}, {"name": "o"})
    state = await foos.state()

    def set_errors(result: dict[str, Any]) -> dict[str, tuple[str, list[str] | None]]:
        return {
            f"{operation} {key}": (error["type"], error.get("properties"))
            for operation, name in (("create", "notCreated"), ("update", "notUpdated"),
                                    ("destroy", "notDestroyed"))
            for key, error in (result[name] or {}).items()
        }

    result = await foos.ok("Foo/set", create={
        "unnamed": {"size": 1},
        "odd": {"name": "odd", "colour": "purple", "bogus": 1},
        "sneaky": {"name": "sneaky", "revision": 7},
        "good": {"name": "good"},
    }, update={
        target: {"size": "big"},
        other: {"tags/a/b": True},  # tags/a is not there
    })
    assert_set_shape(result, account)
    assert set_errors(result) == {
        "create unnamed": ("invalidProperties", ["name"]),
        "create odd": ("invalidProperties", ["bogus"]),
        "create sneaky": ("invalidProperties", ["revision"]),
        f"update {target}": ("invalidProperties", ["size"]),
        f"update {other}": ("invalidPatch", None),
    }
    # the one thing that could be done was done
    assert list(result["created"]) == ["good"]
    assert result["updated"] is None and result["destroyed"] is None
    assert result["oldState"] == state and result["newState"] != state

    result = await foos.ok("Foo/set", update={"nosuchfoo": {"size": 1}, doomed: {"size": 1}},
                           destroy=[doomed, "nosuchfoo"])
    assert_set_shape(result, account)
    assert set_errors(result) == {
        "update nosuchfoo": ("notFound", None),
        f"update {doomed}": ("willDestroy", None),
        "destroy nosuchfoo": ("notFound", None),
    }
    assert result["destroyed"] == [doomed]
    assert result["created"] is None and result["updated"] is None

    # a patch setting a path and a path inside it, and a wrong enumeration value
    result = await foos.ok("Foo/set", create={"odd": {"name": "odd", "colour": "purple"}},
                           update={target: {"tags": {}, "tags/x": True}})
    assert set_errors(result) == {
        "create odd": ("invalidProperties", ["colour"]),
        f"update {target}": ("invalidPatch", None),
    }
    assert result["newState"] == result["oldState"]
    [value] = (await foos.ok("Foo/get", ids=[target, other]))["list"][:1]
    assert value == {"id": target, "name": "t", "size": 0, "colour": "red", "tags": {},
                     "parentId": None, "revision": 0}


@pytest_twisted.ensureDeferred
async def test_if_in_state(foos: Foos) -> None:
    [foo] = await foos.create({"name": "x"})
    state = await foos.state()
    await foos.error("Foo/set", "stateMismatch", ifInState="bogus", update={foo: {"size": 1}})
    assert await foos.state() == state
    [value] = (await foos.ok("Foo/get", ids=[foo], properties=["size"]))["list"]
    assert value["size"] == 0
    result = await foos.ok("Foo/set", ifInState=state, update={foo: {"size": 2}})
    assert result["oldState"] == state and result["updated"] == {foo: {"revision": 1}}
    # the state the client had is now stale
    await foos.error("Foo/set", "stateMismatch", ifInState=state, destroy=[foo])


@pytest_twisted.ensureDeferred
async def test_set_request_too_large(foos: Foos) -> None:
    limit = LIMITS.maxObjectsInSet
    state = await foos.state()
    await foos.error("Foo/set", "requestTooLarge", create={
        f"k{i}": {"name": f"n{i}"} for i in range(limit + 1)
    })
    # creates, updates and destroys count together
    await foos.error("Foo/set", "requestTooLarge",
                     create={f"k{i}": {"name": f"n{i}"} for i in range(limit)},
                     destroy=["anything"])
    assert await foos.state() == state
    assert len(await foos.create(*({"name": f"n{i}"} for i in range(limit)))) == limit


@pytest_twisted.ensureDeferred
async def test_singleton(foos: Foos) -> None:
    account = foos.account
    foo_state = await foos.state()
    fresh = await foos.ok("FooSettings/get", ids=None)
    assert_get_shape(fresh, account)
    assert fresh["list"] == [{"id": "singleton", "theme": "light"}]
    result = await foos.ok("FooSettings/set", create={"another": {"theme": "dark"}},
                           destroy=["singleton"], update={"singleton": {"theme": "dark"}})
    assert_set_shape(result, account)
    assert result["notCreated"]["another"]["type"] == "singleton"
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"
    assert result["updated"] == {"singleton": None}  # nothing the server changed besides
    assert result["newState"] != result["oldState"]
    after = await foos.ok("FooSettings/get", ids=["singleton", "other"])
    assert after["list"] == [{"id": "singleton", "theme": "dark"}]
    assert after["notFound"] == ["other"]
    assert after["state"] == result["newState"]
    assert await foos.state() == foo_state  # each type has its own state


# -- Foo/copy ----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_copy_between_two_accounts(foos: Foos) -> None:
    account = foos.account
    original, kept = await foos.create(
        {"name": "original", "size": 5, "tags": {"t": True}}, {"name": "kept"}
    )
    from_state, to_state = await foos.state(), await foos.state(SHARED)
    response = await foos.request(
        ["Foo/copy", {
            "fromAccountId": account, "accountId": SHARED, "ifFromInState": from_state,
            "ifInState": to_state, "onSuccessDestroyOriginal": True, "create": {
                "moved": {"id": original, "size": 6},
                "missing": {"id": "nosuchfoo"},
            },
        }, "cp"],
        ["Foo/get", {"accountId": SHARED, "ids": ["#moved"]}, "g"],
    )
    names = [(name, call_id) for name, _, call_id in response["methodResponses"]]
    # the implicit Foo/set that destroys the original answers under the same call id
    assert names == [("Foo/copy", "cp"), ("Foo/set", "cp"), ("Foo/get", "g")]
    [copied, destroyed, got] = [r[1] for r in response["methodResponses"]]
    assert_copy_shape(copied, account, SHARED)
    assert copied["oldState"] == to_state and copied["newState"] != to_state
    copy_id = copied["created"]["moved"]["id"]
    assert copied["created"]["moved"] == {"id": copy_id, "revision": 0}
    assert copied["notCreated"]["missing"]["type"] == "notFound"
    assert_set_shape(destroyed, account)
    assert destroyed["destroyed"] == [original] and destroyed["oldState"] == from_state
    assert got["list"] == [{
        "id": copy_id, "name": "original", "size": 6, "colour": "red", "tags": {"t": True},
        "parentId": None, "revision": 0,
    }]
    assert (await foos.ok("Foo/get", ids=[original, kept], properties=["id"]))["list"] == [
        {"id": kept}
    ]

    # without onSuccessDestroyOriginal: one response, the original stays
    [back] = (await foos.request(["Foo/copy", {
        "fromAccountId": SHARED, "accountId": account, "create": {"b": {"id": copy_id}},
    }, "cp2"]))["methodResponses"]
    assert back[0] == "Foo/copy" and back[2] == "cp2"
    assert_copy_shape(back[1], SHARED, account)
    assert back[1]["notCreated"] is None
    assert (await foos.ok("Foo/get", accountId=SHARED, ids=[copy_id], properties=["id"]))[
        "list"
    ] == [{"id": copy_id}]


@pytest_twisted.ensureDeferred
async def test_copy_errors(foos: Foos) -> None:
    account = foos.account
    [foo] = await foos.create({"name": "x"})
    create = {"k": {"id": foo}}
    await foos.error("Foo/copy", "fromAccountNotFound", fromAccountId="nobodys",
                     accountId=SHARED, create=create)
    await foos.error("Foo/copy", "accountNotFound", fromAccountId=account,
                     accountId="nobodys", create=create)
    await foos.error("Foo/copy", "invalidArguments", fromAccountId=account, accountId=account,
                     create=create)
    await foos.error("Foo/copy", "stateMismatch", fromAccountId=account, accountId=SHARED,
                     ifFromInState="bogus", create=create)
    await foos.error("Foo/copy", "stateMismatch", fromAccountId=account, accountId=SHARED,
                     ifInState="bogus", create=create)
    await foos.error("Foo/copy", "requestTooLarge", fromAccountId=account, accountId=SHARED,
                     create={f"k{i}": {"id": foo} for i in range(LIMITS.maxObjectsInSet + 1)})
    assert (await foos.ok("Foo/get", accountId=SHARED, ids=None))["list"] == []


# -- Foo/query ---------------------------------------------------------------------------------

QUERY_DATA = [
    {"name": "ant", "size": 1, "colour": "red", "tags": {"small": True}},
    {"name": "bee", "size": 2, "colour": "green", "tags": {"small": True, "flies": True}},
    {"name": "cat", "size": 5, "colour": "red"},
    {"name": "dog", "size": 5, "colour": "blue"},
    {"name": "eel", "size": 3, "colour": "green"},
    {"name": "fox", "size": 4, "colour": "red", "tags": {"sly": True}},
]


@pytest_twisted.ensureDeferred
async def test_query_filters_sorts_and_windows(foos: Foos) -> None:
    created = await foos.create(*QUERY_DATA)
    by_name = {foo["name"]: foo_id for foo, foo_id in zip(QUERY_DATA, created, strict=True)}

    def named(*names: str) -> list[str]:
        return [by_name[n] for n in names]

    name_sort = [{"property": "name"}]
    everything = await foos.query(sort=name_sort, calculateTotal=True)
    assert everything["ids"] == named("ant", "bee", "cat", "dog", "eel", "fox")
    assert everything["total"] == 6 and everything["position"] == 0
    assert everything["queryState"] == await foos.state()

    filters: list[tuple[dict[str, Any], list[str]]] = [
        ({"colour": "red"}, named("ant", "cat", "fox")),
        ({"colour": "red", "minSize": 2}, named("cat", "fox")),  # a condition's parts all hold
        ({"operator": "AND", "conditions": [{"minSize": 2}, {"nameContains": "e"}]},
         named("bee", "eel")),
        ({"operator": "OR", "conditions": [{"colour": "blue"}, {"hasTag": "small"}]},
         named("ant", "bee", "dog")),
        ({"operator": "NOT", "conditions": [{"colour": "red"}, {"minSize": 5}]},
         named("bee", "eel")),
        ({"operator": "AND", "conditions": [
            {"operator": "OR", "conditions": [{"colour": "green"}, {"hasTag": "sly"}]},
            {"operator": "NOT", "conditions": [{"hasTag": "flies"}]},
        ]}, named("eel", "fox")),
        ({"operator": "OR", "conditions": []}, []),
        ({"operator": "AND", "conditions": []}, named("ant", "bee", "cat", "dog", "eel", "fox")),
    ]
    for query_filter, expected in filters:
        assert await foos.query_ids(filter=query_filter, sort=name_sort) == expected, query_filter

    # sort by several comparators, each with its direction; no sort is still a stable order
    size_then_name = [{"property": "size", "isAscending": False}, {"property": "name"}]
    ordered = named("cat", "dog", "fox", "eel", "bee", "ant")
    assert await foos.query_ids(sort=size_then_name) == ordered
    assert await foos.query_ids(sort=[
        {"property": "size", "isAscending": False}, {"property": "name", "isAscending": False},
    ]) == named("dog", "cat", "fox", "eel", "bee", "ant")
    assert await foos.query_ids() == await foos.query_ids()

    async def window(**arguments: Any) -> tuple[int, list[str]]:
        result = await foos.query(sort=size_then_name, **arguments)
        return result["position"], result["ids"]

    assert await window(position=2, limit=2) == (2, ordered[2:4])
    assert await window(position=2, limit=2, calculateTotal=True) == (2, ordered[2:4])
    assert await window(position=-2) == (4, ordered[4:])
    assert await window(position=-100, limit=1) == (0, ordered[:1])  # clamped to 0
    assert await window(position=6) == (6, [])  # past the end: empty, not an error
    assert await window(limit=0) == (0, [])
    # an anchor replaces position: its index plus anchorOffset, clamped at 0
    eel = by_name["eel"]
    assert await window(anchor=eel, limit=2) == (3, ordered[3:5])
    assert await window(anchor=eel, anchorOffset=-1, limit=2) == (2, ordered[2:4])
    assert await window(anchor=eel, anchorOffset=-10, position=5, limit=2) == (0, ordered[:2])
    assert await window(anchor=eel, anchorOffset=1) == (4, ordered[4:])
    # a limit above the server's is clamped, and the response says so
    assert await window(limit=MAX_QUERY_LIMIT + 1) == (0, ordered)
    assert (await foos.query(limit=MAX_QUERY_LIMIT + 1))["limit"] == MAX_QUERY_LIMIT

    await foos.error("Foo/query", "anchorNotFound", anchor="nosuchfoo")
    filtered_out = by_name["dog"]
    await foos.error("Foo/query", "anchorNotFound", anchor=filtered_out,
                     filter={"colour": "red"})
    await foos.error("Foo/query", "unsupportedFilter", filter={"weight": 3})
    await foos.error("Foo/query", "unsupportedFilter",
                     filter={"operator": "NOT", "conditions": [{"weight": 3}]})
    await foos.error("Foo/query", "unsupportedSort", sort=[{"property": "colour"}])
    await foos.error("Foo/query", "unsupportedSort",
                     sort=[{"property": "name", "collation": "i;klingon"}])
    await foos.error("Foo/query", "invalidArguments", filter={"operator": "XOR",
                                                              "conditions": []})
    await foos.error("Foo/query", "invalidArguments", limit=-1)


@pytest_twisted.ensureDeferred
async def test_query_then_get_by_result_reference(foos: Foos) -> None:
    account = foos.account
    await foos.create(*QUERY_DATA)
    response = await foos.request(
        ["Foo/query", {"accountId": account, "filter": {"colour": "red"},
                       "sort": [{"property": "size", "isAscending": False}], "limit": 2}, "q"],
        ["Foo/get", {"accountId": account, "#ids": ref("q", "Foo/query", "/ids"),
                     "properties": ["name", "size"]}, "g"],
        ["Foo/get", {"accountId": account, "#ids": ref("q", "Foo/get", "/ids")}, "bad"],
    )
    [[_, query, _], [get_name, got, get_id], [error_name, error, _]] = (
        response["methodResponses"]
    )
    assert (get_name, get_id) == ("Foo/get", "g")
    assert_get_shape(got, account)
    assert [o["id"] for o in got["list"]] == query["ids"]
    assert [(o["name"], o["size"]) for o in got["list"]] == [("cat", 5), ("fox", 4)]
    assert got["state"] == query["queryState"]
    assert error_name == "error"
    assert_method_error(error, "invalidResultReference")


# -- Foo/queryChanges --------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_query_changes_bring_a_cached_result_up_to_date(foos: Foos) -> None:
    account = foos.account
    created = await foos.create(*QUERY_DATA)
    by_name = {foo["name"]: foo_id for foo, foo_id in zip(QUERY_DATA, created, strict=True)}
    query: dict[str, Any] = {
        "filter": {"operator": "NOT", "conditions": [{"colour": "blue"}]},
        "sort": [{"property": "size"}, {"property": "name"}],
    }
    cached = await foos.query(**query)

    # every kind of change: new matching and not, moved, dropped out, destroyed, untouched
    await foos.ok("Foo/set", create={
        "in": {"name": "gnu", "size": 3}, "out": {"name": "hen", "colour": "blue"},
    }, update={
        by_name["ant"]: {"size": 9},  # moves to the end
        by_name["eel"]: {"colour": "blue"},  # leaves the results
        by_name["dog"]: {"colour": "red"},  # joins them
    }, destroy=[by_name["bee"]])
    now = await foos.query(**query, calculateTotal=True)
    assert now["queryState"] != cached["queryState"]

    changes = await foos.ok("Foo/queryChanges", **query, sinceQueryState=cached["queryState"],
                            calculateTotal=True)
    assert_query_changes_shape(changes, account, total=True)
    assert changes["oldQueryState"] == cached["queryState"]
    assert changes["newQueryState"] == now["queryState"]
    assert changes["total"] == now["total"] == len(now["ids"])
    assert apply_query_changes(cached["ids"], changes) == now["ids"]
    assert by_name["bee"] in changes["removed"] and by_name["eel"] in changes["removed"]

    # nothing since: nothing to do
    same = await foos.ok("Foo/queryChanges", **query, sinceQueryState=now["queryState"])
    assert_query_changes_shape(same, account)
    assert (same["removed"], same["added"]) == ([], [])
    assert same["newQueryState"] == now["queryState"]

    # more changes than the client will take
    await foos.error("Foo/queryChanges", "tooManyChanges", **query,
                     sinceQueryState=cached["queryState"], maxChanges=1)
    await foos.error("Foo/queryChanges", "cannotCalculateChanges", **query,
                     sinceQueryState="bogus-state")
    await foos.error("Foo/queryChanges", "invalidArguments", **query)  # no sinceQueryState
    await foos.error("Foo/queryChanges", "unsupportedFilter", filter={"weight": 1},
                     sinceQueryState=now["queryState"])


@pytest_twisted.ensureDeferred
async def test_query_changes_across_many_small_writes(foos: Foos) -> None:
    await foos.create(*QUERY_DATA)
    query: dict[str, Any] = {
        "filter": {"minSize": 2}, "sort": [{"property": "name", "isAscending": False}],
    }
    cached = await foos.ok("Foo/query", **query)
    ids = await foos.query_ids()
    for step, foo_id in enumerate(ids):
        if step % 3 == 0:
            await foos.ok("Foo/set", update={foo_id: {"size": step % 4}})
        elif step % 3 == 1:
            await foos.ok("Foo/set", create={"n": {"name": f"new{step}", "size": step}})
        else:
            await foos.ok("Foo/set", destroy=[foo_id])
    now = await foos.ok("Foo/query", **query)
    changes = await foos.ok("Foo/queryChanges", **query, sinceQueryState=cached["queryState"])
    assert apply_query_changes(cached["ids"], changes) == now["ids"]
    assert changes["newQueryState"] == now["queryState"]


# -- states and the store's notifier -----------------------------------------------------------

async def sleep(seconds: float) -> None:
    await deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_a_write_moves_the_state_and_publishes_one_state_change(foos: Foos) -> None:
    account = foos.account
    a, b = await foos.create({"name": "a"}, {"name": "b"})
    heard: list[StateChange] = []
    subscription = await foos.server.store.notifier.subscribe(heard.append)
    try:
        before = await foos.state()
        # reads, a refused write and a write with nothing to do publish nothing
        await foos.ok("Foo/query")
        await foos.ok("Foo/changes", sinceState=before)
        await foos.error("Foo/set", "stateMismatch", ifInState="bogus", destroy=[a])
        nothing = await foos.ok("Foo/set", destroy=["nosuchfoo"])
        assert nothing["newState"] == before

        # one /set creating, updating and destroying is one write, and one StateChange
        result = await foos.ok("Foo/set", create={"c": {"name": "c"}}, update={a: {"size": 1}},
                               destroy=[b])
        assert result["oldState"] == before and result["newState"] != before
        for _ in range(500):
            if heard:
                break
            await sleep(0.01)
        await sleep(0.1)  # anything more would have arrived by now
        assert heard == [StateChange(account, {"Foo": result["newState"]})]
        # and every method now answers from the new state
        assert await foos.state() == result["newState"]
        assert (await foos.ok("Foo/query"))["queryState"] == result["newState"]
        changes = await foos.ok("Foo/changes", sinceState=before)
        assert changes["newState"] == result["newState"]
        assert (changes["created"], changes["updated"], changes["destroyed"]) == (
            [result["created"]["c"]["id"]], [a], [b],
        )
    finally:
        await subscription.cancel()


@pytest_twisted.ensureDeferred
async def test_concurrent_writes_each_publish_one_state_change(foos: Foos) -> None:
    account = foos.account
    [shared] = await foos.create({"name": "contended"})
    before = await foos.state()
    heard: list[StateChange] = []
    subscription = await foos.server.store.notifier.subscribe(heard.append)
    try:
        writes = LIMITS.maxConcurrentRequests
        results = await gatherResults([
            Deferred.fromCoroutine(foos.ok("Foo/set", create={"c": {"name": f"c{i}"}},
                                           update={shared: {"size": i}}))
            for i in range(writes)
        ])
        for _ in range(500):
            if len(heard) >= writes:
                break
            await sleep(0.01)
        await sleep(0.1)
        # every write applied, one after another: the states chain from before to now
        chain = {result["oldState"]: result["newState"] for result in results}
        assert len(chain) == writes and all(r["notUpdated"] is None for r in results)
        state, order = before, []
        while state in chain:
            state = chain[state]
            order.append(state)
        assert len(order) == writes and state == await foos.state()
        assert sorted(heard, key=lambda change: order.index(change.changed["Foo"])) == [
            StateChange(account, {"Foo": new_state}) for new_state in order
        ]
        [value] = (await foos.ok("Foo/get", ids=[shared], properties=["revision"]))["list"]
        assert value["revision"] == writes
    finally:
        await subscription.cancel()
