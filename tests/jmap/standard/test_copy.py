"""Foo/copy, RFC 8620 §5.4: copies between accounts, states, and the implicit Foo/set."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import Responses
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.standard.widgets import A, Api, B, fetch, make, method_error


def copy_arguments(**arguments: Any) -> dict[str, Any]:
    return {"fromAccountId": B, "accountId": A, **arguments}


@pytest_twisted.ensureDeferred
async def test_copies_take_the_originals_values_overridden_by_the_clients(api: Api) -> None:
    [original] = await make(
        api, {"name": "orig", "count": 4, "tags": {"t": True}, "serial": "S9"}, account=B
    )
    source = (await api("Widget/get", {"accountId": B, "ids": [original]}))["list"][0]
    old_state = await api.state(account=A)
    from_state = await api.state(account=B)
    response = await api("Widget/copy", copy_arguments(create={
        "c1": {"id": original},
        "c2": {"id": original, "count": 7, "name": "second"},
    }))
    assert response["fromAccountId"] == B and response["accountId"] == A
    assert response["oldState"] == old_state
    assert response["newState"] == await api.state(account=A) != old_state
    assert response["notCreated"] is None
    first, second = response["created"]["c1"], response["created"]["c2"]
    # what the server set: a new id and the server-set properties, not the copied values
    assert set(first) == {"id", "createdAt", "revision", "nameLength"}
    assert first["id"] != original and first["id"] != second["id"]
    assert second["nameLength"] == 6
    copied = await fetch(api, first["id"])
    assert (copied["name"], copied["count"], copied["tags"], copied["serial"]) == (
        "orig", 4, {"t": True}, "S9",
    )
    overridden = await fetch(api, second["id"])
    assert (overridden["count"], overridden["name"]) == (7, "second")
    assert api.ctx.created_ids["c1"] == first["id"]
    assert api.ctx.created_ids["c2"] == second["id"]
    # the original is untouched, and its account's state too
    assert (await api("Widget/get", {"accountId": B, "ids": [original]}))["list"] == [source]
    assert await api.state(account=B) == from_state


@pytest_twisted.ensureDeferred
async def test_entries_that_cannot_be_copied(api: Api) -> None:
    [original] = await make(api, {"name": "unique-x"}, account=B)
    await make(api, {"name": "unique-x"})  # the type forbids duplicates of such names
    response = await api("Widget/copy", copy_arguments(create={
        "noId": {"name": "x"},
        "badId": {"id": 5},
        "missing": {"id": "nosuch"},
        "unknownRef": {"id": "#nosuch"},
        "bogus": {"id": original, "bogus": 1, "name": "other"},
        "serverSet": {"id": original, "revision": 3, "name": "other"},
        "invalid": {"id": original, "count": -1, "name": "other"},
        "notObject": "x",
        "duplicate": {"id": original},
    }))
    errors = response["notCreated"]
    assert errors["noId"]["properties"] == ["id"]
    assert errors["badId"]["properties"] == ["id"]
    assert errors["missing"]["type"] == "notFound"
    assert errors["unknownRef"]["type"] == "notFound"
    assert errors["bogus"]["properties"] == ["bogus"]
    assert errors["serverSet"]["properties"] == ["revision"]
    assert errors["invalid"]["properties"] == ["count"]
    assert errors["notObject"]["type"] == "invalidProperties"
    assert errors["duplicate"]["type"] == "alreadyExists"
    assert "existingId" in errors["duplicate"]
    assert response["created"] is None
    assert response["newState"] == response["oldState"]


@pytest_twisted.ensureDeferred
async def test_a_source_id_may_be_a_creation_id_of_the_request(api: Api) -> None:
    await api("Widget/set", {"accountId": B, "create": {"src": {"name": "fresh"}}})
    response = await api("Widget/copy", copy_arguments(create={"c": {"id": "#src"}}))
    assert (await fetch(api, response["created"]["c"]["id"]))["name"] == "fresh"


@pytest_twisted.ensureDeferred
async def test_states_are_checked_on_both_sides(api: Api) -> None:
    [original] = await make(api, {"name": "o"}, account=B)
    for arguments in ({"ifFromInState": "bogus"}, {"ifInState": "bogus"}):
        error = await method_error(
            api, "Widget/copy", copy_arguments(create={"c": {"id": original}}, **arguments)
        )
        assert error.type == "stateMismatch", arguments
    response = await api("Widget/copy", copy_arguments(
        create={"c": {"id": original}},
        ifFromInState=await api.state(account=B), ifInState=await api.state(account=A),
    ))
    assert list(response["created"]) == ["c"]


@pytest_twisted.ensureDeferred
async def test_on_success_destroy_original_adds_an_implicit_set_response(api: Api) -> None:
    kept, moved = await make(api, {"name": "unique-kept"}, {"name": "moved"}, account=B)
    await make(api, {"name": "unique-kept"})  # so copying `kept` fails
    from_state = await api.state(account=B)
    result = await api("Widget/copy", copy_arguments(
        create={"k": {"id": kept}, "m": {"id": moved}}, onSuccessDestroyOriginal=True,
    ))
    assert isinstance(result, Responses)
    [(copy_name, copy_response), (set_name, set_response)] = result.items
    assert copy_name == "Widget/copy" and list(copy_response["created"]) == ["m"]
    assert set_name == "Widget/set"
    assert set_response["accountId"] == B
    assert set_response["oldState"] == from_state
    assert set_response["destroyed"] == [moved]  # only the original that was copied
    remaining = await api("Widget/get", {"accountId": B, "ids": None})
    assert [w["id"] for w in remaining["list"]] == [kept]


@pytest_twisted.ensureDeferred
async def test_destroy_from_if_in_state_guards_the_implicit_set(api: Api) -> None:
    [original] = await make(api, {"name": "o"}, account=B)
    result = await api("Widget/copy", copy_arguments(
        create={"c": {"id": original}}, onSuccessDestroyOriginal=True,
        destroyFromIfInState="bogus",
    ))
    [(_, copy_response), (name, error)] = result.items
    assert list(copy_response["created"]) == ["c"]  # the copy stands
    assert name == "error" and error["type"] == "stateMismatch"
    assert (await api("Widget/get", {"accountId": B, "ids": [original]}))["notFound"] == []
    # with the right state, the original goes
    result = await api("Widget/copy", copy_arguments(
        create={"c2": {"id": original}}, onSuccessDestroyOriginal=True,
        destroyFromIfInState=await api.state(account=B),
    ))
    assert result.items[1][1]["destroyed"] == [original]


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        ({"fromAccountId": "stranger"}, "fromAccountNotFound"),
        ({"fromAccountId": A}, "invalidArguments"),  # the same account
        ({"accountId": "stranger"}, "accountNotFound"),
        ({"fromAccountId": 5}, "invalidArguments"),
        ({"create": None}, "invalidArguments"),
        ({"create": []}, "invalidArguments"),
        ({"onSuccessDestroyOriginal": "yes"}, "invalidArguments"),
        ({"destroyFromIfInState": 1}, "invalidArguments"),
        ({"ifFromInState": 1}, "invalidArguments"),
        ({"update": {}}, "invalidArguments"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_arguments(api: Api, arguments: dict[str, Any], error_type: str) -> None:
    error = await method_error(api, "Widget/copy", {**copy_arguments(create={}), **arguments})
    assert error.type == error_type


@pytest_twisted.ensureDeferred
async def test_more_copies_than_max_objects_in_set_is_request_too_large(
    store: StoreBundle,
) -> None:
    api = Api(store, reactor, CoreLimits(maxObjectsInSet=2))
    error = await method_error(api, "Widget/copy", copy_arguments(
        create={"a": {"id": "x"}, "b": {"id": "y"}, "c": {"id": "z"}},
    ))
    assert error.type == "requestTooLarge"
