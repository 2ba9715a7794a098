"""Foo/get, RFC 8620 §5.1."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.records import WriteBatch
from tests.jmap.standard.widgets import A, Api, method_error


@pytest_twisted.ensureDeferred
async def test_ids_null_returns_every_object_with_the_state(api: Api) -> None:
    ids = {await api.create(name=f"w{i}") for i in range(3)}
    response = await api("Widget/get", {"ids": None})
    assert {w["id"] for w in response["list"]} == ids
    assert response["notFound"] == []
    assert response["accountId"] == A
    assert response["state"] == await api.state()


@pytest_twisted.ensureDeferred
async def test_every_property_and_defaults_when_properties_is_null(api: Api) -> None:
    widget_id = await api.create(name="gear")
    [widget] = (await api("Widget/get", {"ids": [widget_id]}))["list"]
    assert widget["id"] == widget_id
    assert widget["name"] == "gear"
    assert widget["count"] == 0
    assert widget["tags"] == {}
    assert widget["parentId"] is None
    assert widget["revision"] == 0
    assert widget["nameLength"] == 4  # computed by the type
    assert set(widget) == {"id", *api.methods["Widget/get"].handler.args[0].properties}


@pytest_twisted.ensureDeferred
async def test_explicit_ids_in_order_missing_ones_not_found_duplicates_once(api: Api) -> None:
    first = await api.create(name="a")
    second = await api.create(name="b")
    response = await api("Widget/get", {"ids": [second, "nope", first, second, "nope"]})
    assert [w["id"] for w in response["list"]] == [second, first]
    assert response["notFound"] == ["nope"]


@pytest_twisted.ensureDeferred
async def test_properties_limit_the_answer_and_id_is_always_returned(api: Api) -> None:
    widget_id = await api.create(name="a", count=3)
    response = await api("Widget/get", {"ids": [widget_id], "properties": ["count"]})
    assert response["list"] == [{"id": widget_id, "count": 3}]
    response = await api("Widget/get", {"ids": [widget_id], "properties": []})
    assert response["list"] == [{"id": widget_id}]
    response = await api(
        "Widget/get", {"ids": [widget_id], "properties": ["id", "nameLength", "count", "count"]}
    )
    assert response["list"] == [{"id": widget_id, "nameLength": 1, "count": 3}]


@pytest_twisted.ensureDeferred
async def test_an_unknown_property_is_invalid_arguments(api: Api) -> None:
    error = await method_error(api, "Widget/get", {"ids": None, "properties": ["name", "bogus"]})
    assert error.type == "invalidArguments"
    assert "bogus" in error.description


@pytest_twisted.ensureDeferred
async def test_type_specific_arguments_reach_the_type(api: Api) -> None:
    widget_id = await api.create(name="abc")
    response = await api(
        "Widget/get",
        {"ids": [widget_id], "properties": ["nameLength"], "nameLengthOffset": 10},
    )
    assert response["list"] == [{"id": widget_id, "nameLength": 13}]
    error = await method_error(api, "Widget/get", {"ids": None, "nameLengthOffset": "ten"})
    assert error.type == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_arguments_of_the_wrong_type_are_invalid_arguments(api: Api) -> None:
    for arguments in (
        {"ids": "abc"},
        {"ids": [1]},
        {"ids": {}},
        {"properties": "name"},
        {"properties": [None]},
        {"accountId": 7},
        {"unknownArgument": 1},
    ):
        error = await method_error(api, "Widget/get", arguments)
        assert error.type == "invalidArguments", arguments


@pytest_twisted.ensureDeferred
async def test_an_account_that_is_not_the_users_is_account_not_found(api: Api) -> None:
    error = await method_error(api, "Widget/get", {"accountId": "someone-else"})
    assert error.type == "accountNotFound"


@pytest_twisted.ensureDeferred
async def test_more_ids_than_max_objects_in_get_is_request_too_large(store: StoreBundle) -> None:
    api = Api(store, reactor, CoreLimits(maxObjectsInGet=3))
    for i in range(4):
        await api.create(name=f"w{i}")
    error = await method_error(api, "Widget/get", {"ids": ["a", "b", "c", "d"]})
    assert error.type == "requestTooLarge"
    # ids null for more objects than the limit: the client must ask by id
    error = await method_error(api, "Widget/get", {"ids": None})
    assert error.type == "requestTooLarge"
    response = await api("Widget/get", {"ids": ["a", "b", "c"]})
    assert response["notFound"] == ["a", "b", "c"]


@pytest_twisted.ensureDeferred
async def test_creation_id_references_resolve_through_created_ids(api: Api) -> None:
    created = await api("Widget/set", {"create": {"new": {"name": "fresh"}}})
    new_id = created["created"]["new"]["id"]
    response = await api("Widget/get", {"ids": ["#new", "#unknown"], "properties": ["name"]})
    assert response["list"] == [{"id": new_id, "name": "fresh"}]
    assert response["notFound"] == ["#unknown"]
    api.new_request()  # creation ids live for one request only
    response = await api("Widget/get", {"ids": ["#new"]})
    assert response["notFound"] == ["#new"]


@pytest_twisted.ensureDeferred
async def test_stored_objects_missing_new_properties_get_their_defaults(api: Api) -> None:
    await api.store.accounts.write(A, WriteBatch().create("Widget", "old1", {"name": "legacy"}))
    [widget] = (await api("Widget/get", {"ids": ["old1"]}))["list"]
    assert widget["name"] == "legacy"
    assert widget["kind"] == "gear"
    assert widget["createdAt"] is None  # no default: null


@pytest_twisted.ensureDeferred
async def test_the_state_moves_with_every_change(api: Api) -> None:
    before = (await api("Widget/get", {"ids": []}))["state"]
    await api.create(name="x")
    after = (await api("Widget/get", {"ids": []}))["state"]
    assert before != after
    assert after == (await api("Widget/get", {"ids": []}))["state"]
