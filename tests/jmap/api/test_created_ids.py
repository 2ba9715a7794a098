"""RFC 8620 §3.3/§3.4 createdIds and §5.3 creation id references: ids created earlier in the
request (or passed in by the client) resolve through "#creationId"; createdIds comes back only
when the request had it."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.api.conftest import ApiServer, error_of


def widget_set(account: str, **arguments: object) -> dict[str, object]:
    return {"accountId": account, **arguments}


@pytest_twisted.ensureDeferred
async def test_no_created_ids_in_the_response_unless_the_request_had_them(
    server: ApiServer,
) -> None:
    response = await server.call(
        ["Widget/set", widget_set(server.user_id, create={"k1": {}}), "c0"],
    )
    assert response["methodResponses"][0][1]["created"] == {"k1": {"id": "w1-k1"}}
    assert "createdIds" not in response


@pytest_twisted.ensureDeferred
async def test_created_ids_round_trip(server: ApiServer) -> None:
    response = await server.call(
        ["Widget/set", widget_set(server.user_id, create={"k2": {}}), "c0"],
        ["Widget/set", widget_set(server.user_id, update={"#k2": {}, "#old": {}}), "c1"],
        ["Test/resolveId", {"id": "#old"}, "c2"],
        ["Test/resolveId", {"id": "plain-id"}, "c3"],
        createdIds={"old": "existing-object"},
    )
    responses = response["methodResponses"]
    created = responses[0][1]["created"]["k2"]["id"]
    assert responses[1][1]["updated"] == {created: None, "existing-object": None}
    assert responses[2] == ["Test/resolveId", {"id": "existing-object"}, "c2"]
    assert responses[3] == ["Test/resolveId", {"id": "plain-id"}, "c3"]
    assert response["createdIds"] == {"old": "existing-object", "k2": created}


@pytest_twisted.ensureDeferred
async def test_empty_created_ids_come_back_with_what_was_created(server: ApiServer) -> None:
    response = await server.call(createdIds={})
    assert response["createdIds"] == {}
    response = await server.call(
        ["Widget/set", widget_set(server.user_id, create={"a": {}, "b": {}}), "c0"],
        createdIds={},
    )
    assert response["createdIds"] == {"a": "w1-a", "b": "w2-b"}


@pytest_twisted.ensureDeferred
async def test_unknown_creation_id(server: ApiServer) -> None:
    response = await server.call(
        ["Widget/set", widget_set(server.user_id, update={"#nothing": {}}), "c0"],
        ["Test/resolveId", {"id": "#nothing"}, "c1"],
        createdIds={},
    )
    assert response["methodResponses"][0][1]["notUpdated"] == {"#nothing": {"type": "notFound"}}
    error = error_of(response, 1)
    assert error["type"] == "invalidArguments"
    assert "nothing" in error["description"]
    assert response["createdIds"] == {}


@pytest_twisted.ensureDeferred
async def test_ids_created_before_a_failing_call_are_still_reported(server: ApiServer) -> None:
    response = await server.call(
        ["Widget/set", widget_set(server.user_id, create={"k": {}}), "c0"],
        ["Test/fail", {}, "c1"],
        createdIds={},
    )
    assert error_of(response, 1)["type"] == "serverFail"
    assert response["createdIds"] == {"k": "w1-k"}


@pytest_twisted.ensureDeferred
async def test_created_ids_do_not_leak_between_requests(server: ApiServer) -> None:
    await server.call(["Widget/set", widget_set(server.user_id, create={"k": {}}), "c0"])
    response = await server.call(["Test/resolveId", {"id": "#k"}, "c0"])
    assert error_of(response)["type"] == "invalidArguments"
