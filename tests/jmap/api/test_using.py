"""RFC 8620 §3.3 "using" and §3.6.1 unknownCapability: a request names the capabilities it uses;
methods of capabilities it did not name are unknown to it."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE
from tests.jmap.api.conftest import ApiServer, assert_problem, error_of
from tests.jmap.api.methods_for_tests import TEST


@pytest_twisted.ensureDeferred
async def test_unknown_capability_rejects_the_whole_request(server: ApiServer) -> None:
    reply = await server.post(
        {"using": [CORE, "urn:example:unknown"], "methodCalls": [["Core/echo", {}, "c"]]}
    )
    assert_problem(reply, "unknownCapability")
    assert "urn:example:unknown" in reply.json()["detail"]


@pytest_twisted.ensureDeferred
async def test_capabilities_of_the_server_may_be_named_without_being_used(
    server: ApiServer,
) -> None:
    response = await server.call(["Core/echo", {"x": 1}, "c"], using=[CORE, TEST, CORE])
    assert response["methodResponses"] == [["Core/echo", {"x": 1}, "c"]]


@pytest_twisted.ensureDeferred
async def test_method_of_a_capability_not_in_using_is_unknown(server: ApiServer) -> None:
    response = await server.call(
        ["Core/echo", {}, "c0"],
        ["Test/echo", {"accountId": server.user_id}, "c1"],
        using=[CORE],
    )
    assert response["methodResponses"][0] == ["Core/echo", {}, "c0"]
    assert error_of(response, 1)["type"] == "unknownMethod"
    assert response["methodResponses"][1][2] == "c1"


@pytest_twisted.ensureDeferred
async def test_core_methods_need_core_in_using(server: ApiServer) -> None:
    response = await server.call(["Core/echo", {}, "c"], using=[])
    assert error_of(response)["type"] == "unknownMethod"
