"""JMAP over WebSocket (RFC 8887) checked message by message, as an independent suite would.

Complements test_websocket.py: the exact shape of every message kind, the edge cases of
§4.3.1 (what is not a JMAP object), request ids, requests answered out of order, and the push
life cycle (§4.3.5) with its ``pushState`` tokens.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
import websockets.exceptions
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.limits import CoreLimits
from tests.jmap.push.conftest import StartServer
from tests.jmap.push.harness import DATA_TYPES, PushServer, WSClient
from tests.jmap.push.test_websocket import (
    connect,
    echo,
    gated_registry,
    pushed_types,
    until,
    wait_request,
)

ERROR = "urn:ietf:params:jmap:error:"
PROBLEM_KEYS = {"@type", "type", "status", "detail"}


def check_request_error(
    message: dict[str, Any],
    error_type: str,
    *,
    request_id: str | None = None,
    may_echo: str | None = None,
    status: int = 400,
) -> None:
    """A RequestError (§4.3.4): problem details (RFC 7807) plus "@type", and "requestId" only
    for the request id given (``request_id``: must be there; ``may_echo``: may be there)."""
    assert message["@type"] == "RequestError", message
    assert PROBLEM_KEYS <= set(message), message
    assert message["type"] == ERROR + error_type, message
    assert message["status"] == status, message
    assert isinstance(message["detail"], str) and message["detail"]
    assert set(message) <= PROBLEM_KEYS | {"title", "limit", "requestId"}, message
    if "title" in message:
        assert isinstance(message["title"], str)
    if request_id is not None:
        assert message["requestId"] == request_id
    elif may_echo is not None:
        assert message.get("requestId", may_echo) == may_echo
    else:
        assert "requestId" not in message, message


async def still_answers(client: WSClient) -> None:
    assert (await client.request(echo("alive")))["requestId"] == "alive"


async def enabled(server: PushServer, client: WSClient, message: dict[str, Any]) -> None:
    """Send a WebSocketPushEnable and wait until the server follows the changes."""
    before = server.hub.client_count
    await client.send(message)
    await until(lambda: server.hub.client_count >= max(before, 1) and pushed_set(server))


def pushed_set(server: PushServer) -> bool:
    (connection,) = server.sockets.connections
    return connection._push is not None


async def settle() -> None:
    """Let the hub's coalescing window (0.1 s in the harness) pass."""
    await deferLater(reactor, 0.15, lambda: None)


# -- §4.2: the handshake ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_handshake_answers_with_exactly_the_jmap_subprotocol(server: PushServer) -> None:
    client = await WSClient.connect(
        server.ws_url, server.users.alice_token, subprotocols=["chat", "jmap", "other"]
    )
    headers = client.connection.response.headers  # type: ignore[union-attr]
    assert headers.get_all("Sec-WebSocket-Protocol") == ["jmap"]
    await still_answers(client)
    await client.close()


# -- §4.3.1: text frames with one JMAP object --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{} x", '{"@type": "Request",}', "{'@type': 'Request'}",
     '{"@type": "Request", "id": "n", "x": NaN}', '{"@type": "Request", "x": Infinity}',
     '{"@type": "Request", "x": 1e400}'],
)
@pytest_twisted.ensureDeferred
async def test_invalid_json_is_not_json(server: PushServer, text: str) -> None:
    client = await connect(server)
    await client.send(text)
    check_request_error(await client.recv(), "notJSON")
    await still_answers(client)
    await client.close()


@pytest.mark.parametrize(
    "text", ["null", "true", "42", "3.5", '"x"', "[]", '[{"@type": "Request"}]']
)
@pytest_twisted.ensureDeferred
async def test_json_that_is_not_an_object_is_not_a_request(
    server: PushServer, text: str
) -> None:
    client = await connect(server)
    await client.send(text)
    check_request_error(await client.recv(), "notRequest")
    await still_answers(client)
    await client.close()


@pytest.mark.parametrize(
    "message",
    [
        {"id": "t1", "using": [CORE], "methodCalls": [["Core/echo", {}, "c0"]]},
        {"@type": "request", "id": "t1", "using": [CORE], "methodCalls": []},
        {"@type": "Response", "id": "t1", "methodResponses": [], "sessionState": "s"},
        {"@type": "StateChange", "id": "t1", "changed": {}},
        {"@type": "RequestError", "id": "t1"},
        {"@type": ["Request"], "id": "t1", "using": [CORE], "methodCalls": []},
        {"@type": 1, "id": "t1"},
        {"@type": "", "id": "t1"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_missing_or_wrong_type_is_not_a_request(
    server: PushServer, message: dict[str, Any]
) -> None:
    client = await connect(server)
    await client.send(message)
    # the id may be echoed (it was given) but nothing else may stand in for it
    check_request_error(await client.recv(), "notRequest", may_echo="t1")
    await client.nothing_within(0.2)  # one answer, and the message was not run
    await still_answers(client)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_binary_frame_is_ignored_or_closes_with_1003(server: PushServer) -> None:
    """§4.3.1: a binary frame is either ignored or closes the connection with 1003."""
    client = await connect(server)
    await client.send(b'{"@type": "Request", "using": [], "methodCalls": []}')
    try:
        message, _ = await client.recv_raw(1.0)
    except websockets.exceptions.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1003
        return
    except TimeoutError:
        await still_answers(client)  # ignored
        await client.close()
        return
    raise AssertionError(f"a binary frame was answered: {message!r}")


@pytest_twisted.ensureDeferred
async def test_max_size_request_counts_octets_exactly(start_memory_server: StartServer) -> None:
    server = await start_memory_server(limits=CoreLimits(maxSizeRequest=1000))
    client = await connect(server)
    base = json.dumps(echo("edge", pad=""))
    at_limit = json.dumps(echo("edge", pad="x" * (1000 - len(base))))
    assert len(at_limit.encode()) == 1000
    await client.send(at_limit)
    response = await client.recv()
    assert response["@type"] == "Response" and response["requestId"] == "edge"
    over = json.dumps(echo("edge", pad="x" * (1001 - len(base))))
    assert len(over.encode()) == 1001
    await client.send(over)
    error = await client.recv()
    check_request_error(error, "limit", may_echo="edge")
    assert error["limit"] == "maxSizeRequest"
    # a push message over the limit is refused the same way, and nothing is enabled
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["x" * 1000]})
    error = await client.recv()
    check_request_error(error, "limit")
    assert error["limit"] == "maxSizeRequest"
    assert pushed_types(server) is None
    await still_answers(client)
    await client.close()


# -- §4.3.2, §4.3.3: requests and responses ---------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["", " spaced id ", "ünïcødé \u2028 \U0001f600", 'quo"te\\back\nslash', "0", "x" * 500],
)
@pytest_twisted.ensureDeferred
async def test_request_id_is_echoed_exactly(server: PushServer, request_id: str) -> None:
    client = await connect(server)
    response = await client.request(echo(request_id, n=1))
    assert response == {
        "@type": "Response",
        "requestId": request_id,
        "methodResponses": [["Core/echo", {"n": 1}, "c0"]],
        "sessionState": response["sessionState"],
    }
    assert isinstance(response["sessionState"], str)
    # and on a request-level error of a Request
    error = await client.request(
        {"@type": "Request", "id": request_id, "using": ["urn:nope"], "methodCalls": []}
    )
    check_request_error(error, "unknownCapability", request_id=request_id)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_without_id_no_request_id(server: PushServer) -> None:
    client = await connect(server)
    response = await client.request(echo(n=2))
    assert set(response) == {"@type", "methodResponses", "sessionState"}
    assert response["@type"] == "Response"
    # "id": null is no id either
    response = await client.request({**echo(n=3), "id": None})
    assert set(response) == {"@type", "methodResponses", "sessionState"}
    error = await client.request({"@type": "Request", "using": ["urn:nope"], "methodCalls": []})
    check_request_error(error, "unknownCapability")
    error = await client.request({"@type": "Request", "using": [CORE]})
    check_request_error(error, "notRequest")
    await client.close()


@pytest_twisted.ensureDeferred
async def test_created_ids_go_through(server: PushServer) -> None:
    client = await connect(server)
    request = {**echo("ids", n=1), "createdIds": {"k1": "Mabc"}}
    response = await client.request(request)
    assert response["@type"] == "Response" and response["requestId"] == "ids"
    assert response["createdIds"] == {"k1": "Mabc"}
    await client.close()


@pytest_twisted.ensureDeferred
async def test_requests_in_flight_are_answered_out_of_order(
    start_memory_server: StartServer,
) -> None:
    limits = CoreLimits(maxConcurrentRequests=4)
    gate: list[Deferred[None]] = []
    server = await start_memory_server(limits=limits, registry=gated_registry(limits, gate))
    client = await connect(server)
    await client.send(wait_request("slow"))
    await until(lambda: len(gate) == 1)
    # the second request, sent later, is answered while the first still runs
    fast = await client.request(echo("fast", n=7))
    assert fast["requestId"] == "fast"
    assert fast["methodResponses"] == [["Core/echo", {"n": 7}, "c0"]]
    gate[0].callback(None)
    slow = await client.recv()
    assert slow["@type"] == "Response" and slow["requestId"] == "slow"
    assert slow["methodResponses"] == [["Test/wait", {}, "w"]]
    await client.close()


@pytest_twisted.ensureDeferred
async def test_each_connection_runs_as_its_own_user(server: PushServer) -> None:
    alice = await connect(server)
    bob = await connect(server, server.users.bob_token)
    for client, account in ((alice, server.users.alice_id), (bob, server.users.bob_id)):
        response = await client.request({
            "@type": "Request", "id": "m", "using": [CORE, "urn:ietf:params:jmap:mail"],
            "methodCalls": [["Mailbox/get", {"accountId": account, "ids": []}, "g"]],
        })
        assert response["methodResponses"][0][0] == "Mailbox/get", response
    response = await alice.request({
        "@type": "Request", "id": "x", "using": [CORE, "urn:ietf:params:jmap:mail"],
        "methodCalls": [["Mailbox/get", {"accountId": server.users.bob_id, "ids": []}, "g"]],
    })
    assert response["methodResponses"][0][0] == "error"
    assert response["methodResponses"][0][1]["type"] in {"accountNotFound", "forbidden"}
    await alice.close()
    await bob.close()


# -- §4.3.5: push ------------------------------------------------------------------------


def check_state_change(message: dict[str, Any], changed: dict[str, dict[str, str]]) -> str:
    """A StateChange with exactly ``changed``; its pushState."""
    assert set(message) == {"@type", "changed", "pushState"}, message
    assert message["@type"] == "StateChange"
    assert message["changed"] == changed
    push_state = message["pushState"]
    assert isinstance(push_state, str) and push_state
    return str(push_state)


@pytest_twisted.ensureDeferred
async def test_push_enable_with_null_is_every_type(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    await client.nothing_within(0.2)  # enabling alone is not answered
    for type_name in sorted(DATA_TYPES):
        states = await server.write(type_name)
        check_state_change(await client.recv(), {alice: {type_name: states[type_name]}})
        await settle()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_enable_without_data_types_property(server: PushServer) -> None:
    """dataTypes is String[]|null; left out, a server either takes it as null or refuses it."""
    alice = server.users.alice_id
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable"})
    try:
        message = await client.recv(0.5)
    except TimeoutError:
        await until(lambda: pushed_set(server))
        states = await server.write("Email")
        check_state_change(await client.recv(), {alice: {"Email": states["Email"]}})
    else:
        check_request_error(message, "notRequest")
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_enable_with_a_list_only_those_types(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable",
                                   "dataTypes": ["Email", "Thread"]})
    states = await server.write("Mailbox", "Email", "Thread")
    check_state_change(
        await client.recv(), {alice: {"Email": states["Email"], "Thread": states["Thread"]}}
    )
    await settle()
    await server.write("Mailbox")
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_enable_with_an_empty_list_pushes_nothing(server: PushServer) -> None:
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": []})
    await deferLater(reactor, 0.2, lambda: None)
    await server.write("Mailbox", "Email", "Thread")
    await client.nothing_within(0.4)
    await still_answers(client)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_enabling_twice_pushes_once(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await still_answers(client)  # messages are taken in order: both enables were seen
    await until(lambda: pushed_set(server))
    assert server.hub.client_count == 1
    states = await server.write("Email")
    check_state_change(await client.recv(), {alice: {"Email": states["Email"]}})
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_disable_stops_pushes(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    # disabling what was never enabled is harmless and not answered
    await client.send({"@type": "WebSocketPushDisable"})
    await client.nothing_within(0.2)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    states = await server.write("Email")
    check_state_change(await client.recv(), {alice: {"Email": states["Email"]}})
    await client.send({"@type": "WebSocketPushDisable"})
    await until(lambda: server.hub.client_count == 0)
    await client.nothing_within(0.2)  # not answered
    await server.write("Email", "Mailbox")
    await client.nothing_within(0.4)
    await still_answers(client)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_state_from_before_a_change_brings_it_at_once(server: PushServer) -> None:
    """§4.3.5: given a pushState, the server SHOULD send all changes since at once; the
    StateChange's own pushState then stands for the newest states."""
    alice = server.users.alice_id
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    first = await server.write("Mailbox")
    token = check_state_change(await client.recv(), {alice: {"Mailbox": first["Mailbox"]}})
    await client.send({"@type": "WebSocketPushDisable"})
    await until(lambda: server.hub.client_count == 0)
    missed = await server.write("Email", "Thread")  # while disabled: not pushed
    await client.nothing_within(0.2)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None, "pushState": token})
    later = check_state_change(
        await client.recv(1.0),
        {alice: {"Email": missed["Email"], "Thread": missed["Thread"]}},
    )
    assert later != token
    await client.nothing_within(0.2)
    # the newer token, on a fresh connection: nothing to catch up on
    await client.close()
    again = await connect(server)
    await again.send({"@type": "WebSocketPushEnable", "dataTypes": None, "pushState": later})
    await again.nothing_within(0.3)
    # and live pushes go on from there
    await until(lambda: pushed_set(server))
    states = await server.write("Mailbox")
    check_state_change(await again.recv(), {alice: {"Mailbox": states["Mailbox"]}})
    await again.close()


@pytest_twisted.ensureDeferred
async def test_push_state_catch_up_follows_the_data_types(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    await server.write("Email")
    token = (await client.recv())["pushState"]
    await client.send({"@type": "WebSocketPushDisable"})
    await until(lambda: server.hub.client_count == 0)
    missed = await server.write("Mailbox", "Email")
    # only Email wanted: the catch-up leaves Mailbox out
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Email"],
                       "pushState": token})
    check_state_change(await client.recv(1.0), {alice: {"Email": missed["Email"]}})
    await client.send({"@type": "WebSocketPushDisable"})
    await until(lambda: server.hub.client_count == 0)
    await server.write("Mailbox")
    # only Thread wanted, and Thread did not move: nothing at all
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Thread"],
                       "pushState": token})
    await client.nothing_within(0.4)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_and_responses_interleave_on_one_connection(
    start_memory_server: StartServer,
) -> None:
    limits = CoreLimits(maxConcurrentRequests=4)
    gate: list[Deferred[None]] = []
    server = await start_memory_server(limits=limits, registry=gated_registry(limits, gate))
    alice = server.users.alice_id
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": ["Email"]})
    await client.send(wait_request("held"))
    await until(lambda: len(gate) == 1)
    states = await server.write("Email")
    check_state_change(await client.recv(), {alice: {"Email": states["Email"]}})
    gate[0].callback(None)
    assert (await client.recv())["requestId"] == "held"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_ping_is_answered(server: PushServer) -> None:
    client = await connect(server)

    def ping() -> bool:
        return bool(client.connection.ping(b"hi").wait(2))

    assert await deferToThread(ping)
    await still_answers(client)
    await client.close()


# -- framing and the connection -------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_every_message_is_a_text_frame(server: PushServer) -> None:
    """§4.3: responses, errors and pushes all go in text frames, never binary ones."""
    client = await connect(server)
    await client.send(echo("t"))
    response, _ = await client.recv_raw()
    assert isinstance(response, str) and json.loads(response)["@type"] == "Response"
    await client.send("{")
    error, _ = await client.recv_raw()
    assert isinstance(error, str) and json.loads(error)["@type"] == "RequestError"
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    await server.write("Email")
    change, _ = await client.recv_raw()
    assert isinstance(change, str) and json.loads(change)["@type"] == "StateChange"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_client_close_is_answered_and_cleans_up(server: PushServer) -> None:
    client = await connect(server)
    await enabled(server, client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    await client.close()
    protocol = client.connection.protocol
    assert protocol.close_rcvd is not None and protocol.close_rcvd.code == 1000
    await until(lambda: server.hub.client_count == 0 and not server.sockets.connections)
    await until(lambda: not server.site.in_flight)


@pytest_twisted.ensureDeferred
async def test_the_websocket_capability_may_be_in_using(server: PushServer) -> None:
    client = await connect(server)
    response = await client.request({
        "@type": "Request", "id": "u", "using": [CORE, "urn:ietf:params:jmap:websocket"],
        "methodCalls": [["Core/echo", {"a": 1}, "c"]],
    })
    assert response["@type"] == "Response" and response["requestId"] == "u"
    assert response["methodResponses"] == [["Core/echo", {"a": 1}, "c"]]
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_change_made_over_the_connection_is_pushed_on_it(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    # no waiting between enabling and the change: the enable is taken first
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Mailbox"]})
    await client.send({
        "@type": "Request", "id": "set", "using": [CORE, "urn:ietf:params:jmap:mail"],
        "methodCalls": [["Mailbox/set", {"accountId": alice, "create": {"k": {"name": "A"}}},
                         "s"]],
    })
    # the account's first use may make its default mailboxes, an earlier state pushed first
    response: dict[str, Any] | None = None
    pushed: list[str] = []
    while response is None or response["methodResponses"][0][1]["newState"] not in pushed:
        message = await client.recv()
        if message["@type"] == "Response":
            assert response is None, message
            response = message
            assert response["requestId"] == "set"
        else:
            check_state_change(message, {alice: {"Mailbox": message["changed"][alice]["Mailbox"]}})
            pushed.append(message["changed"][alice]["Mailbox"])
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_push_state_of_another_user_tells_nothing_of_theirs(server: PushServer) -> None:
    alice_client = await connect(server)
    await enabled(server, alice_client, {"@type": "WebSocketPushEnable", "dataTypes": None})
    await server.write("Email")
    token = (await alice_client.recv())["pushState"]
    await alice_client.close()
    await until(lambda: not server.sockets.connections)
    bob = await connect(server, server.users.bob_token)
    await bob.send({"@type": "WebSocketPushEnable", "dataTypes": None, "pushState": token})
    try:
        message = await bob.recv(0.5)
    except TimeoutError:
        pass
    else:
        assert message["@type"] == "StateChange"
        assert set(message["changed"]) == {server.users.bob_id}, message
    await bob.close()


@pytest_twisted.ensureDeferred
async def test_nothing_is_sent_unasked(server: PushServer) -> None:
    client = await connect(server)
    await server.write("Email")  # push not enabled: no StateChange
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_back_to_back_enables_the_last_one_wins(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Email"]})
    await until(lambda: pushed_types(server) == frozenset({"Email"}))
    await deferLater(reactor, 0.1, lambda: None)
    assert pushed_types(server) == frozenset({"Email"}) and server.hub.client_count == 1
    states = await server.write("Mailbox", "Email")
    check_state_change(await client.recv(), {alice: {"Email": states["Email"]}})
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_enable_then_disable_at_once_pushes_nothing(server: PushServer) -> None:
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None, "pushState": "old"})
    await client.send({"@type": "WebSocketPushDisable"})
    await deferLater(reactor, 0.2, lambda: None)
    states = await server.write("Email")
    # a catch-up already on its way may have come; nothing of the write after the disable may
    try:
        message = await client.recv(0.4)
    except TimeoutError:
        pass
    else:
        assert message["@type"] == "StateChange"
        assert message["changed"][server.users.alice_id].get("Email") != states["Email"]
        await client.nothing_within(0.2)
    assert server.hub.client_count == 0
    await client.close()
