"""Foo/set, RFC 8620 §5.3: create, update (PatchObject), destroy, states, SetErrors, atomicity."""

from __future__ import annotations

import re
from typing import Any

import pytest_twisted
from twisted.internet import reactor, task

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.records import StateChange
from tests.jmap.standard.widgets import A, Api, fetch, method_error

UTC_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# -- create -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_create_answers_the_id_and_every_property_the_client_did_not_send(api: Api) -> None:
    old_state = await api.state()
    response = await api("Widget/set", {"create": {"k1": {"name": "gear", "count": 2}}})
    created = response["created"]["k1"]
    assert set(created) == {
        "id", "tags", "meta", "parentId", "related", "links", "serial", "kind", "score",
        "createdAt", "revision", "nameLength",
    }
    assert UTC_DATE.fullmatch(created["createdAt"])
    assert created["revision"] == 0 and created["nameLength"] == 4 and created["tags"] == {}
    assert response["oldState"] == old_state
    assert response["newState"] == await api.state() != old_state
    assert response["notCreated"] is None
    assert response["updated"] is None and response["destroyed"] is None
    assert api.ctx.created_ids == {"k1": created["id"]}
    widget = await fetch(api, created["id"])
    assert widget["name"] == "gear" and widget["count"] == 2


@pytest_twisted.ensureDeferred
async def test_create_refuses_unknown_and_server_set_properties(api: Api) -> None:
    response = await api("Widget/set", {"create": {
        "unknown": {"name": "a", "bogus": 1},
        "server": {"name": "a", "createdAt": "2020-01-01T00:00:00Z"},
        "id": {"name": "a", "id": "chosen"},
        "computed": {"name": "a", "nameLength": 1},
        "ok": {"name": "fine"},
    }})
    errors = response["notCreated"]
    assert errors["unknown"]["type"] == "invalidProperties"
    assert errors["unknown"]["properties"] == ["bogus"]
    assert errors["server"]["properties"] == ["createdAt"]
    assert errors["id"]["properties"] == ["id"]
    assert errors["computed"]["properties"] == ["nameLength"]
    assert list(response["created"]) == ["ok"]  # the others go on


@pytest_twisted.ensureDeferred
async def test_create_refuses_invalid_values_listing_every_bad_property(api: Api) -> None:
    response = await api("Widget/set", {"create": {
        "many": {"name": "", "count": -1, "tags": {"a": False}, "kind": "bolt",
                 "parentId": "not an id!", "score": 1.5, "related": "x"},
        "types": {"name": 7, "meta": [], "links": {"bad id!": True}},
        "missing": {"count": 1},
        "notAnObject": [1, 2],
        "bool": {"name": "b", "count": True},
    }})
    errors = response["notCreated"]
    assert sorted(errors["many"]["properties"]) == sorted(
        ["name", "count", "tags", "kind", "parentId", "score", "related"]
    )
    assert sorted(errors["types"]["properties"]) == ["links", "meta", "name"]
    assert errors["missing"]["properties"] == ["name"]
    assert errors["notAnObject"]["type"] == "invalidProperties"
    assert errors["bool"]["properties"] == ["count"]  # true is not the number 1
    assert all(error["type"] == "invalidProperties" for error in errors.values())
    assert response["created"] is None
    assert response["newState"] == response["oldState"]


@pytest_twisted.ensureDeferred
async def test_type_hooks_refuse_with_any_set_error(api: Api) -> None:
    existing = await api.create(name="unique-1")
    response = await api("Widget/set", {"create": {
        "f": {"name": "forbidden"},
        "t": {"name": "huge"},
        "d": {"name": "unique-1"},
        "p": {"name": "orphan", "parentId": "nosuchwidget"},
    }})
    errors = response["notCreated"]
    assert errors["f"]["type"] == "forbidden"
    assert errors["t"]["type"] == "tooLarge"
    assert errors["d"] == {
        "type": "alreadyExists", "existingId": existing,
        "description": "a widget of that name exists",
    }
    assert errors["p"]["type"] == "invalidProperties" and errors["p"]["properties"] == ["parentId"]


@pytest_twisted.ensureDeferred
async def test_creation_id_references_resolve_in_any_order_within_the_call(api: Api) -> None:
    response = await api("Widget/set", {"create": {
        "child": {"name": "child", "parentId": "#parent", "related": ["#parent", "#other"],
                  "links": {"#other": True}},
        "parent": {"name": "parent"},
        "other": {"name": "other", "parentId": "#parent"},
    }})
    assert response["notCreated"] is None
    ids = {cid: created["id"] for cid, created in response["created"].items()}
    child = await fetch(api, ids["child"])
    assert child["parentId"] == ids["parent"]
    assert child["related"] == [ids["parent"], ids["other"]]
    assert child["links"] == {ids["other"]: True}
    # the server changed what the client sent ("#parent"), so created shows the real value
    assert response["created"]["child"]["parentId"] == ids["parent"]


@pytest_twisted.ensureDeferred
async def test_creation_ids_of_earlier_calls_resolve_and_unknown_ones_are_invalid(
    api: Api,
) -> None:
    await api("Widget/set", {"create": {"p": {"name": "parent"}}})
    response = await api("Widget/set", {"create": {
        "c": {"name": "child", "parentId": "#p"},
        "bad": {"name": "x", "parentId": "#nothing"},
        "loop1": {"name": "x", "parentId": "#loop2"},
        "loop2": {"name": "y", "parentId": "#loop1"},
        "self": {"name": "z", "parentId": "#self"},
    }})
    child = await fetch(api, response["created"]["c"]["id"])
    assert child["parentId"] == api.ctx.created_ids["p"]
    for cid in ("bad", "loop1", "loop2", "self"):
        assert response["notCreated"][cid]["properties"] == ["parentId"], cid


@pytest_twisted.ensureDeferred
async def test_writes_a_refusing_hook_staged_are_dropped_with_it(api: Api) -> None:
    widget_id = await api.create(name="victim")
    response = await api("Widget/set", {"create": {
        "made": {"name": "made"}, "s": {"name": "sneaky"}, "after": {"name": "after"},
    }})
    assert response["notCreated"]["s"]["type"] == "forbidden"
    assert sorted(response["created"]) == ["after", "made"]
    assert (await fetch(api, widget_id))["name"] == "victim"
    assert (await fetch(api, response["created"]["made"]["id"]))["name"] == "made"


# -- update -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_update_answers_only_what_the_server_changed_beyond_the_patch(api: Api) -> None:
    widget_id = await api.create(name="w")
    response = await api("Widget/set", {"update": {widget_id: {"name": "renamed", "count": 9}}})
    assert response["updated"] == {widget_id: {"revision": 1}}  # the hook's doing
    widget = await fetch(api, widget_id)
    assert (widget["name"], widget["count"], widget["revision"]) == ("renamed", 9, 1)


@pytest_twisted.ensureDeferred
async def test_update_with_nothing_changed_by_the_server_answers_null(api: Api) -> None:
    response = await api("Settings/set", {"update": {"singleton": {"volume": 7}}})
    assert response["updated"] == {"singleton": None}


@pytest_twisted.ensureDeferred
async def test_patches_reach_into_nested_objects_with_escaped_keys(api: Api) -> None:
    widget_id = await api.create(name="w", meta={"size": {"w": 1, "h": 2}, "a/b": 0, "keep": 1},
                                 tags={"old": True})
    await api("Widget/set", {"update": {widget_id: {
        "meta/size/w": 10,
        "meta/a~1b": 5,
        "meta/c~0d": "tilde",
        "meta/size/h": None,
        "tags/new": True,
        "tags/old": None,
        "tags/absent": None,
    }}})
    widget = await fetch(api, widget_id)
    assert widget["meta"] == {"size": {"w": 10}, "a/b": 5, "c~d": "tilde", "keep": 1}
    assert widget["tags"] == {"new": True}


@pytest_twisted.ensureDeferred
async def test_invalid_patches_are_invalid_patch(api: Api) -> None:
    widget_id = await api.create(name="w", meta={"x": {}}, related=[])
    patches: dict[str, Any] = {
        "missing parent": {"meta/missing/deep": 1},
        "set and sub-path": {"meta": {}, "meta/x": 1},
        "inside an array": {"related/0": "abc"},
        "bad escape": {"meta/~2": 1},
        "not an object": ["name", "x"],
    }
    for label, patch in patches.items():
        response = await api("Widget/set", {"update": {widget_id: patch}})
        assert response["notUpdated"][widget_id]["type"] == "invalidPatch", label
        assert response["updated"] is None


@pytest_twisted.ensureDeferred
async def test_update_refuses_unknown_properties_and_changes_to_server_set_ones(
    api: Api,
) -> None:
    widget_id = await api.create(name="w", serial="S1")
    widget = await fetch(api, widget_id)
    cases = {
        "bogus": {"bogus": 1},
        "createdAt": {"createdAt": "2001-01-01T00:00:00Z"},
        "id": {"id": "other"},
        "serial": {"serial": "S2"},
        "nameLength": {"nameLength": 99},
        "revision": {"revision": None},
    }
    for name, patch in cases.items():
        response = await api("Widget/set", {"update": {widget_id: patch}})
        error = response["notUpdated"][widget_id]
        assert (error["type"], error["properties"]) == ("invalidProperties", [name]), name
    # §5.3: server-set (and immutable) properties may be sent with their current value
    response = await api("Widget/set", {"update": {widget_id: {
        "id": widget_id, "createdAt": widget["createdAt"], "serial": "S1",
        "nameLength": 1, "revision": widget["revision"], "name": "v",
    }}})
    assert response["notUpdated"] is None


@pytest_twisted.ensureDeferred
async def test_update_refuses_invalid_values_and_null_resets_to_the_default(api: Api) -> None:
    widget_id = await api.create(name="w", count=5, tags={"a": True})
    for patch, bad in (
        ({"count": -1}, ["count"]),
        ({"tags/x": False}, ["tags"]),
        ({"name": None}, ["name"]),  # required, no default
        ({"parentId": "#nothing"}, ["parentId"]),
        ({"kind": "bolt", "score": "high"}, ["kind", "score"]),
    ):
        response = await api("Widget/set", {"update": {widget_id: patch}})
        error = response["notUpdated"][widget_id]
        assert (error["type"], sorted(error["properties"])) == ("invalidProperties", bad), patch
    await api("Widget/set", {"update": {widget_id: {"count": None, "tags": None}}})
    widget = await fetch(api, widget_id)
    assert (widget["count"], widget["tags"]) == (0, {})


@pytest_twisted.ensureDeferred
async def test_update_of_a_missing_object_is_not_found(api: Api) -> None:
    response = await api("Widget/set", {"update": {"nope": {"name": "x"}, "#unknown": {}}})
    assert response["notUpdated"]["nope"]["type"] == "notFound"
    assert response["notUpdated"]["#unknown"]["type"] == "notFound"


@pytest_twisted.ensureDeferred
async def test_update_and_destroy_of_objects_created_in_the_same_call(
    api: Api, store: StoreBundle
) -> None:
    response = await api("Widget/set", {
        "create": {"n": {"name": "new"}, "gone": {"name": "brief"}},
        "update": {"#n": {"count": 3, "related": ["#gone"]}},
        "destroy": ["#gone"],
    })
    new_id = api.ctx.created_ids["n"]
    gone_id = api.ctx.created_ids["gone"]
    # updates precede destroys, so "#gone" still resolves; the real id is news to the client
    assert response["updated"] == {new_id: {"related": [gone_id], "revision": 1}}
    assert response["destroyed"] == [gone_id]
    # created, then destroyed: the store never saw it
    assert set(await store.accounts.list_ids(A, "Widget")) == {new_id}
    assert (await fetch(api, new_id))["count"] == 3


@pytest_twisted.ensureDeferred
async def test_update_of_an_object_also_being_destroyed_is_will_destroy(api: Api) -> None:
    widget_id = await api.create(name="w")
    response = await api("Widget/set", {
        "update": {widget_id: {"count": 1}}, "destroy": [widget_id],
    })
    assert response["notUpdated"][widget_id]["type"] == "willDestroy"
    assert response["destroyed"] == [widget_id]


@pytest_twisted.ensureDeferred
async def test_update_hook_errors_are_reported(api: Api) -> None:
    widget_id = await api.create(name="w")
    response = await api("Widget/set", {"update": {widget_id: {"name": "forbidden"}}})
    assert response["notUpdated"][widget_id]["type"] == "forbidden"
    response = await api("Widget/set", {"update": {widget_id: {"parentId": "nosuch"}}})
    assert response["notUpdated"][widget_id]["properties"] == ["parentId"]


# -- destroy ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_destroy_removes_and_reports_missing_ids_as_not_found(api: Api) -> None:
    first = await api.create(name="a")
    second = await api.create(name="b")
    response = await api("Widget/set", {"destroy": [first, "nope", first, "#unknown"]})
    assert response["destroyed"] == [first]
    assert response["notDestroyed"] == {
        "nope": {"type": "notFound"}, "#unknown": {"type": "notFound"},
    }
    listed = await api("Widget/get", {"ids": None})
    assert [w["id"] for w in listed["list"]] == [second]


@pytest_twisted.ensureDeferred
async def test_destroy_checks_of_the_type_and_staged_writes_of_the_hook(api: Api) -> None:
    parent = await api.create(name="p")
    child = await api.create(name="c", parentId=parent)
    response = await api("Widget/set", {"destroy": [parent]})
    assert response["notDestroyed"][parent]["type"] == "widgetHasChildren"
    response = await api("Widget/set", {"destroy": [parent], "onDestroyRemoveChildren": True})
    assert response["destroyed"] == [parent]
    assert (await api("Widget/get", {"ids": [parent, child]}))["notFound"] == [parent, child]


# -- the call as a whole ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_if_in_state_must_match_or_nothing_happens(api: Api) -> None:
    widget_id = await api.create(name="w")
    state = await api.state()
    error = await method_error(api, "Widget/set", {
        "ifInState": "12345" if state != "12345" else "1",
        "create": {"x": {"name": "x"}}, "update": {widget_id: {"count": 4}},
    })
    assert error.type == "stateMismatch"
    assert await api.state() == state
    assert "x" not in api.ctx.created_ids
    response = await api("Widget/set", {"ifInState": state, "update": {widget_id: {"count": 4}}})
    assert response["oldState"] == state
    assert response["updated"] is not None


@pytest_twisted.ensureDeferred
async def test_more_than_max_objects_in_set_is_request_too_large(store: StoreBundle) -> None:
    api = Api(store, reactor, CoreLimits(maxObjectsInSet=3))
    error = await method_error(api, "Widget/set", {
        "create": {"a": {"name": "a"}, "b": {"name": "b"}},
        "update": {"x": {}}, "destroy": ["y"],
    })
    assert error.type == "requestTooLarge"
    response = await api("Widget/set", {"create": {"a": {"name": "a"}}, "destroy": ["x", "y"]})
    assert list(response["created"]) == ["a"]


@pytest_twisted.ensureDeferred
async def test_arguments_of_the_wrong_type_are_invalid_arguments(api: Api) -> None:
    for arguments in (
        {"create": []},
        {"create": "x"},
        {"update": [1]},
        {"destroy": "x"},
        {"destroy": [1]},
        {"ifInState": 5},
        {"onDestroyRemoveChildren": "yes"},
        {"destroyy": []},
    ):
        error = await method_error(api, "Widget/set", arguments)
        assert error.type == "invalidArguments", arguments


@pytest_twisted.ensureDeferred
async def test_one_call_is_one_atomic_write(api: Api, store: StoreBundle) -> None:
    keep = await api.create(name="keep")
    drop = await api.create(name="drop")
    seen: list[StateChange] = []
    subscription = await store.notifier.subscribe(seen.append)
    modseq = await store.changes.account_modseq(A)
    response = await api("Widget/set", {
        "create": {"a": {"name": "a"}, "b": {"name": "b"}},
        "update": {keep: {"count": 1}},
        "destroy": [drop],
    })
    for _ in range(200):
        if seen:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    await task.deferLater(reactor, 0.05, lambda: None)
    await subscription.cancel()
    assert [change.changed for change in seen] == [{"Widget": response["newState"]}]
    assert await store.changes.account_modseq(A) == modseq + 4  # each change its own modseq


@pytest_twisted.ensureDeferred
async def test_a_call_where_everything_fails_leaves_the_state(api: Api) -> None:
    state = await api.state()
    response = await api("Widget/set", {
        "create": {"bad": {}}, "update": {"nope": {}}, "destroy": ["nope"],
    })
    assert response["oldState"] == response["newState"] == state
    assert response["created"] is None
    assert set(response["notCreated"]) == {"bad"}
