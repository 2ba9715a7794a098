"""RFC 8620 §3.4 the Response object: methodResponses in call order with their call ids, several
responses to one call, and sessionState equal to the session's state."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.registry import CapabilitySpec
from tests.jmap.api.conftest import ApiServer, StartServer
from tests.jmap.api.methods_for_tests import Gate, registry_for_tests


@pytest_twisted.ensureDeferred
async def test_responses_follow_call_order_with_their_call_ids(server: ApiServer) -> None:
    calls = [["Core/echo", {"n": n}, f"call-{n}"] for n in range(20)]
    calls.append(["Core/echo", {"n": "same id"}, "call-3"])
    calls.append(["Core/echo", {"n": "empty id"}, ""])
    response = await server.call(*calls, using=[CORE])
    assert response["methodResponses"] == calls
    assert set(response) == {"methodResponses", "sessionState"}


@pytest_twisted.ensureDeferred
async def test_one_call_may_answer_with_several_responses(server: ApiServer) -> None:
    response = await server.call(["Widget/copy", {}, "cp"], ["Core/echo", {}, "next"])
    assert response["methodResponses"] == [
        ["Widget/copy", {"copied": True}, "cp"],
        ["Widget/set", {"destroyed": ["w1"]}, "cp"],
        ["Core/echo", {}, "next"],
    ]


@pytest_twisted.ensureDeferred
async def test_session_state_is_the_sessions_state(server: ApiServer) -> None:
    session = await server.session()
    response = await server.call(["Core/echo", {}, "c"])
    assert response["sessionState"] == session["state"]
    assert isinstance(session["state"], str) and session["state"]
    # also when every call fails
    response = await server.call(["Nope/nope", {}, "c"])
    assert response["sessionState"] == session["state"]


@pytest_twisted.ensureDeferred
async def test_session_state_follows_what_the_session_shows(start_server: StartServer) -> None:
    plain = await start_server()
    other_registry = registry_for_tests(plain.app.limits, Gate())
    other_registry.add_capability(CapabilitySpec("urn:stalwart-tx:extra", lambda: {"x": 1}))
    extended = await start_server(registry=other_registry)
    first = (await plain.call())["sessionState"]
    second = (await extended.call())["sessionState"]
    assert first != second
    assert second == (await extended.session())["state"]
    assert "urn:stalwart-tx:extra" in (await extended.session())["capabilities"]


@pytest_twisted.ensureDeferred
async def test_response_is_utf8_json_without_ascii_escapes(server: ApiServer) -> None:
    reply = await server.post(
        {"using": [CORE], "methodCalls": [["Core/echo", {"text": "Grüße 😀"}, "c"]]}
    )
    assert reply.code == 200
    assert reply.content_type == "application/json; charset=utf-8"
    assert "Grüße 😀".encode() in reply.body
    assert reply.headers.getRawHeaders("Cache-Control") == ["no-store"]


@pytest_twisted.ensureDeferred
async def test_responses_tell_the_time_the_server_spent(server: ApiServer) -> None:
    reply = await server.post({"using": [CORE], "methodCalls": [["Core/echo", {}, "c"]]})
    assert reply.code == 200
    [timing] = reply.headers.getRawHeaders("Server-Timing")
    name, _, duration = timing.partition(";dur=")
    assert name == "api" and 0 <= float(duration) < 10_000
