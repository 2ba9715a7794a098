"""RFC 8620 §3.6.2 method-level errors: each fails its own call, as ["error", {...}, callId],
and never the calls around it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.logger import LogEvent, globalLogPublisher

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.store.backend import open_memory_store, open_redis_store
from tests.jmap.api.conftest import ApiServer, StartServer, assert_problem, error_of
from tests.jmap.api.methods_for_tests import ReadOnlyContext


@pytest.fixture
def logged() -> Iterator[list[LogEvent]]:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


@pytest_twisted.ensureDeferred
async def test_unknown_method(server: ApiServer) -> None:
    response = await server.call(["Nope/get", {"accountId": server.user_id}, "c"])
    assert response["methodResponses"] == [
        ["error", {"type": "unknownMethod", "description": "Unknown method 'Nope/get'."}, "c"]
    ]


@pytest.mark.parametrize("arguments", [{}, {"accountId": 5}, {"accountId": None}])
@pytest_twisted.ensureDeferred
async def test_account_id_that_is_no_string_is_invalid_arguments(
    server: ApiServer, arguments: dict[str, Any]
) -> None:
    response = await server.call(["Test/echo", arguments, "c"])
    assert error_of(response)["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_account_not_found(server: ApiServer) -> None:
    response = await server.call(
        ["Test/echo", {"accountId": "no-such-account"}, "c0"],
        # another user's real account is not one this user may use
        ["Test/echo", {"accountId": server.other_user_id}, "c1"],
        ["Test/echo", {"accountId": server.user_id}, "c2"],
    )
    assert error_of(response, 0) == {"type": "accountNotFound"}
    assert error_of(response, 1) == {"type": "accountNotFound"}
    assert response["methodResponses"][2] == ["Test/echo", {"accountId": server.user_id}, "c2"]


@pytest_twisted.ensureDeferred
async def test_account_not_supported_by_method(server: ApiServer) -> None:
    response = await server.call(["Lacking/get", {"accountId": server.user_id}, "c"],
                                 using=[CORE, "urn:stalwart-tx:test:lacking"])
    assert error_of(response) == {"type": "accountNotSupportedByMethod"}


@pytest_twisted.ensureDeferred
async def test_account_read_only(start_server: StartServer) -> None:
    server = await start_server(context_factory=ReadOnlyContext)
    response = await server.call(
        ["Widget/set", {"accountId": server.user_id, "create": {"k1": {}}}, "c0"],
        ["Test/echo", {"accountId": server.user_id}, "c1"],
    )
    assert error_of(response, 0) == {"type": "accountReadOnly"}
    assert response["methodResponses"][1][0] == "Test/echo", "reading a read-only account is fine"


@pytest_twisted.ensureDeferred
async def test_server_fail_is_logged_and_hides_the_exception(
    server: ApiServer, logged: list[LogEvent]
) -> None:
    reply = await server.post({
        "using": [CORE, "urn:stalwart-tx:test"],
        "methodCalls": [["Test/fail", {}, "c0"], ["Core/echo", {"after": True}, "c1"]],
    })
    assert reply.code == 200
    response = reply.json()
    assert error_of(response, 0)["type"] == "serverFail"
    assert response["methodResponses"][1] == ["Core/echo", {"after": True}, "c1"]
    assert b"secret internal detail" not in reply.body
    assert b"RuntimeError" not in reply.body
    failures = [e for e in logged if e.get("log_failure") is not None]
    assert any("secret internal detail" in str(e["log_failure"].value) for e in failures)


@pytest.mark.parametrize("method", ["Test/unencodable", "Test/notAResponse"])
@pytest_twisted.ensureDeferred
async def test_a_handler_returning_garbage_costs_only_its_call(
    server: ApiServer, logged: list[LogEvent], method: str
) -> None:
    response = await server.call(
        ["Core/echo", {"before": 1}, "c0"], [method, {}, "c1"], ["Core/echo", {"after": 2}, "c2"]
    )
    assert response["methodResponses"][0] == ["Core/echo", {"before": 1}, "c0"]
    assert error_of(response, 1)["type"] == "serverFail"
    assert response["methodResponses"][1][2] == "c1"
    assert response["methodResponses"][2] == ["Core/echo", {"after": 2}, "c2"]


@pytest_twisted.ensureDeferred
async def test_server_unavailable_when_redis_cannot_be_reached(
    start_server: StartServer, tmp_path: Path
) -> None:
    # Users live in memory; the account data is on a Redis that is not there.
    dead = await open_redis_store(f"unix://{tmp_path}/no-redis.sock", reactor, timeout=0.5)
    try:
        memory = await open_memory_store()
        bundle = dataclasses.replace(memory, accounts=dead.accounts, changes=dead.changes)
        server = await start_server(store=bundle)
        response = await server.call(
            ["Test/storeState", {"accountId": server.user_id}, "c0"],
            ["Core/echo", {"still": "here"}, "c1"],
        )
        assert error_of(response, 0)["type"] == "serverUnavailable"
        assert response["methodResponses"][1] == ["Core/echo", {"still": "here"}, "c1"]
    finally:
        await dead.close()


@pytest_twisted.ensureDeferred
async def test_methods_reach_a_live_redis_store(start_server: StartServer, redis_url: str) -> None:
    bundle = await open_redis_store(redis_url, reactor)
    try:
        server = await start_server(store=bundle)
        response = await server.call(["Test/storeState", {"accountId": server.user_id}, "c0"])
        name, arguments, _ = response["methodResponses"][0]
        assert name == "Test/storeState"
        assert isinstance(arguments["state"], str) and arguments["state"]
    finally:
        await bundle.close()


@pytest_twisted.ensureDeferred
async def test_store_not_open_gives_503(server: ApiServer) -> None:
    server.store_down = True
    reply = await server.post({"using": [CORE], "methodCalls": [["Core/echo", {}, "c"]]})
    assert reply.code == 503
    assert int(reply.headers.getRawHeaders("Retry-After")[0]) > 0
    assert reply.content_type == "application/problem+json"
    server.store_down = False
    assert (await server.call(["Core/echo", {}, "c"]))["methodResponses"] == [
        ["Core/echo", {}, "c"]
    ]


@pytest_twisted.ensureDeferred
async def test_every_error_in_one_request_and_the_good_calls_between(server: ApiServer) -> None:
    me = server.user_id
    response = await server.call(
        ["Nope/nope", {}, "e0"],
        ["Core/echo", {"n": 0}, "ok0"],
        ["Test/echo", {"accountId": "x"}, "e1"],
        ["Test/fail", {}, "e2"],
        ["Core/echo", {"n": 1}, "ok1"],
        ["Test/echo", {"accountId": me, "#accountId": {}}, "e3"],
        ["Test/echo", {"#ids": {"resultOf": "zz", "name": "Core/echo", "path": "/"}}, "e4"],
        ["Core/echo", {"n": 2}, "ok2"],
    )
    summary = [
        (name, args.get("type") if name == "error" else args, call_id)
        for name, args, call_id in response["methodResponses"]
    ]
    assert summary == [
        ("error", "unknownMethod", "e0"),
        ("Core/echo", {"n": 0}, "ok0"),
        ("error", "accountNotFound", "e1"),
        ("error", "serverFail", "e2"),
        ("Core/echo", {"n": 1}, "ok1"),
        ("error", "invalidArguments", "e3"),
        ("error", "invalidResultReference", "e4"),
        ("Core/echo", {"n": 2}, "ok2"),
    ]


@pytest_twisted.ensureDeferred
async def test_unknown_method_is_checked_before_references(server: ApiServer) -> None:
    response = await server.call(["Nope/nope", {"#x": "not a reference"}, "c"])
    assert error_of(response)["type"] == "unknownMethod"


@pytest_twisted.ensureDeferred
async def test_request_errors_come_before_any_call_runs(server: ApiServer) -> None:
    reply = await server.post({
        "using": [CORE, "urn:unknown"],
        "methodCalls": [["Widget/set", {"accountId": server.user_id, "create": {"k": {}}}, "c"]],
    })
    assert_problem(reply, "unknownCapability")
