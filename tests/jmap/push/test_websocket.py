"""JMAP over WebSocket (RFC 8887), driven by the ``websockets`` library as an independent client."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import pytest_twisted
import treq
import websockets.exceptions
from twisted.application.strports import service as endpoint_service
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from websockets.frames import Frame, Opcode

from stalwart_tx.jmap.capabilities import CORE, WEBSOCKET
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.registry import JSONObject, MethodSpec
from stalwart_tx.service import DrainingListenerService
from stalwart_tx.store.backend import open_memory_store
from tests.jmap.push.conftest import StartServer
from tests.jmap.push.harness import (
    DATA_TYPES,
    PUBLIC,
    PushServer,
    WSClient,
    make_users,
    start_server,
)
from tests.service_process import free_port

ERROR = "urn:ietf:params:jmap:error:"


def echo(request_id: str | None = None, **arguments: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "@type": "Request", "using": [CORE], "methodCalls": [["Core/echo", arguments, "c0"]],
    }
    if request_id is not None:
        request["id"] = request_id
    return request


async def connect(server: PushServer, token: str | None = None) -> WSClient:
    return await WSClient.connect(server.ws_url, token or server.users.alice_token)


async def until(condition: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await deferLater(reactor, 0.01, lambda: None)


def pushed_types(server: PushServer) -> frozenset[str] | None:
    """The dataTypes of the one connection's live push, once the server has set it up."""
    (connection,) = server.sockets.connections
    push = connection._push
    return None if push is None else push[0].wanted.types


def assert_request_error(
    message: dict[str, Any], error_type: str, request_id: str | None = None, status: int = 400
) -> None:
    assert message["@type"] == "RequestError", message
    assert message["type"] == ERROR + error_type
    assert message["status"] == status
    assert isinstance(message["detail"], str) and message["detail"]
    if request_id is None:
        assert "requestId" not in message
    else:
        assert message["requestId"] == request_id


# -- §3 discovery, §4.1 authentication, §4.2 handshake ---------------------------------------


@pytest_twisted.ensureDeferred
async def test_session_advertises_the_websocket(server: PushServer) -> None:
    response = await treq.get(server.base + "/jmap/session", headers=server.auth())
    session = json.loads(await response.content())
    assert session["capabilities"][WEBSOCKET] == {
        "url": "wss://mail.example.org/jmap/ws/", "supportsPush": True,
    }


@pytest_twisted.ensureDeferred
async def test_jmap_subprotocol_is_negotiated(server: PushServer) -> None:
    for offered in (["jmap"], ["chat", "jmap"]):
        client = await WSClient.connect(
            server.ws_url, server.users.alice_token, subprotocols=offered
        )
        assert client.subprotocol == "jmap"
        await client.close()


async def refused(server: PushServer, **options: Any) -> Any:
    token = options.pop("token", server.users.alice_token)
    with pytest.raises(websockets.exceptions.InvalidStatus) as caught:
        await WSClient.connect(server.ws_url, token, **options)
    return caught.value.response


@pytest_twisted.ensureDeferred
async def test_handshake_without_the_jmap_subprotocol_is_refused(server: PushServer) -> None:
    for offered in ([], ["chat"]):
        response = await refused(server, subprotocols=offered)
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "jmap" in json.loads(response.body)["detail"]


@pytest_twisted.ensureDeferred
async def test_handshake_is_authenticated(server: PushServer) -> None:
    response = await refused(server, token=None)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert (await refused(server, token="wrong")).status_code == 401


@pytest_twisted.ensureDeferred
async def test_pages_of_other_origins_are_refused(server: PushServer) -> None:
    response = await refused(server, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    client = await WSClient.connect(
        server.ws_url, server.users.alice_token, headers={"Origin": PUBLIC}
    )
    await client.close()


@pytest_twisted.ensureDeferred
async def test_plain_get_is_a_400_problem(server: PushServer) -> None:
    response = await treq.get(server.ws_url.replace("ws://", "http://"), headers=server.auth())
    assert response.code == 400
    assert response.headers.getRawHeaders("Content-Type") == ["application/problem+json"]
    await response.content()


# -- §4.3.2, §4.3.3: requests and responses -----------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_request_gets_a_response_with_the_request_id(server: PushServer) -> None:
    client = await connect(server)
    response = await client.request(echo("r1", hello=[1, "two"]))
    assert response["@type"] == "Response"
    assert response["requestId"] == "r1"
    assert response["methodResponses"] == [["Core/echo", {"hello": [1, "two"]}, "c0"]]
    assert isinstance(response["sessionState"], str)
    anonymous = await client.request(echo(x=1))
    assert anonymous["@type"] == "Response" and "requestId" not in anonymous
    # many at once, each answered with its own id
    for n in range(10):
        await client.send(echo(f"q{n}", n=n))
    answers = [await client.recv() for _ in range(10)]
    assert sorted(a["requestId"] for a in answers) == sorted(f"q{n}" for n in range(10))
    for answer in answers:
        assert answer["methodResponses"][0][1]["n"] == int(answer["requestId"][1:])
    await client.close()


# -- §4.3.1, §4.3.4: request errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error_type", "request_id"),
    [
        ("{", "notJSON", None),
        ('{"@type": "Request", "id": "a", "id": "b"}', "notJSON", None),
        ('{"@type": "Request", "id": "s", "x": "\\ud800"}', "notJSON", None),
        ("[1, 2]", "notRequest", None),
        ('"Request"', "notRequest", None),
        ('{"using": [], "methodCalls": []}', "notRequest", None),
        ('{"@type": "Bogus", "id": "b1"}', "notRequest", "b1"),
        ('{"@type": null, "id": "b2"}', "notRequest", "b2"),
        ('{"@type": "Request", "id": 5, "using": [], "methodCalls": []}', "notRequest", None),
        ('{"@type": "Request", "id": "m1", "methodCalls": []}', "notRequest", "m1"),
        ('{"@type": "Request", "id": "m2", "using": ["urn:nope"], "methodCalls": []}',
         "unknownCapability", "m2"),
        ('{"@type": "WebSocketPushEnable", "id": "p1", "dataTypes": "Email"}', "notRequest",
         "p1"),
        ('{"@type": "WebSocketPushEnable", "dataTypes": [1]}', "notRequest", None),
        ('{"@type": "WebSocketPushEnable", "dataTypes": null, "pushState": 7}', "notRequest",
         None),
    ],
)
@pytest_twisted.ensureDeferred
async def test_request_errors(
    server: PushServer, message: str, error_type: str, request_id: str | None
) -> None:
    client = await connect(server)
    await client.send(message)
    assert_request_error(await client.recv(), error_type, request_id)
    # the connection goes on
    assert (await client.request(echo("after")))["requestId"] == "after"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_limits_max_calls_and_max_size(start_memory_server: StartServer) -> None:
    server = await start_memory_server(limits=CoreLimits(maxSizeRequest=2000, maxCallsInRequest=2))
    client = await connect(server)
    calls = [["Core/echo", {}, f"c{n}"] for n in range(3)]
    await client.send({"@type": "Request", "id": "many", "using": [CORE], "methodCalls": calls})
    error = await client.recv()
    assert_request_error(error, "limit", "many")
    assert error["limit"] == "maxCallsInRequest"
    await client.send(echo("big", pad="x" * 3000))
    error = await client.recv()
    assert_request_error(error, "limit")  # not parsed, so no requestId
    assert error["limit"] == "maxSizeRequest"
    # a message over the limit in fragments is refused without being gathered whole
    await client.send(iter(["x" * 900 for _ in range(50)]))  # type: ignore[arg-type]
    assert (await client.recv())["limit"] == "maxSizeRequest"
    # multi-byte characters count as bytes: 700 three-byte characters are 2100 bytes
    await client.send(echo("utf8", pad="\u20ac" * 700))
    assert (await client.recv())["limit"] == "maxSizeRequest"
    # just under the limit is fine, and so is a fragmented message
    ok = json.dumps(echo("ok", pad="x" * 1800))
    assert len(ok.encode()) <= 2000
    await client.send(iter([ok[:500], ok[500:]]))  # type: ignore[arg-type]
    assert (await client.recv())["requestId"] == "ok"
    await client.close()


def gated_registry(limits: CoreLimits, gate: list[Deferred[None]]) -> Any:
    async def wait(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
        waiter: Deferred[None] = Deferred()
        gate.append(waiter)
        await waiter
        return {}

    registry = default_registry(limits, public_url=PUBLIC)
    registry.add_method(MethodSpec("Test/wait", CORE, wait, takes_account=False))
    return registry


def wait_request(request_id: str) -> dict[str, Any]:
    return {"@type": "Request", "id": request_id, "using": [CORE],
            "methodCalls": [["Test/wait", {}, "w"]]}


@pytest_twisted.ensureDeferred
async def test_max_concurrent_requests(start_memory_server: StartServer) -> None:
    limits = CoreLimits(maxConcurrentRequests=2)
    gate: list[Deferred[None]] = []
    server = await start_memory_server(limits=limits, registry=gated_registry(limits, gate))
    client = await connect(server)
    await client.send(wait_request("w1"))
    await client.send(wait_request("w2"))
    await until(lambda: len(gate) == 2)
    error = await client.request(wait_request("w3"))
    assert_request_error(error, "limit", "w3", status=429)
    assert error["limit"] == "maxConcurrentRequests"
    for waiter in gate:
        waiter.callback(None)
    answers = {(await client.recv())["requestId"] for _ in range(2)}
    assert answers == {"w1", "w2"}
    await client.close()


@pytest_twisted.ensureDeferred
async def test_closing_cancels_running_requests_and_cleans_up(
    start_memory_server: StartServer,
) -> None:
    limits = CoreLimits(maxConcurrentRequests=1)
    gate: list[Deferred[None]] = []
    server = await start_memory_server(limits=limits, registry=gated_registry(limits, gate))
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await client.send(wait_request("w1"))
    await until(lambda: len(gate) == 1 and server.hub.client_count == 1)
    await client.close()
    await until(lambda: gate[0].called, 2)  # cancelled
    await until(lambda: server.hub.client_count == 0 and not server.sockets.connections)
    await until(lambda: not server.site.in_flight)
    # the slot is free again for the user's next connection
    again = await connect(server)
    await again.send(wait_request("w2"))
    await until(lambda: len(gate) == 2)
    gate[1].callback(None)
    assert (await again.recv())["requestId"] == "w2"
    await again.close()


@pytest_twisted.ensureDeferred
async def test_binary_message_closes_with_1003(server: PushServer) -> None:
    client = await connect(server)
    await client.send(b"\x00\x01binary")
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    await until(lambda: not server.sockets.connections and not server.site.in_flight)


# -- §4.3.5: push ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_push_enable_disable(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: server.hub.client_count == 1)
    await client.nothing_within(0.2)  # no pushState given: nothing at once
    states = await server.write("Mailbox")
    change = await client.recv()
    assert change["@type"] == "StateChange"
    assert change["changed"] == {alice: {"Mailbox": states["Mailbox"]}}
    assert isinstance(change["pushState"], str) and change["pushState"]
    await server.write("PushSubscription")
    await client.nothing_within(0.3)
    # enabling again replaces the filter
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Email"]})
    await until(lambda: pushed_types(server) == {"Email"})
    await deferLater(reactor, 0.15, lambda: None)  # let the coalescing window pass
    await server.write("Mailbox")
    await client.nothing_within(0.3)
    states = await server.write("Email", "Mailbox")
    change = await client.recv()
    assert change["changed"] == {alice: {"Email": states["Email"]}}
    # requests and pushes share the connection
    assert (await client.request(echo("mid")))["requestId"] == "mid"
    await client.send({"@type": "WebSocketPushDisable"})
    await until(lambda: server.hub.client_count == 0)
    await server.write("Email")
    await client.nothing_within(0.3)
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_state_catches_up_on_what_moved(server: PushServer) -> None:
    alice = server.users.alice_id
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: server.hub.client_count == 1)
    await server.write("Mailbox", "Email")
    seen = await client.recv()
    await client.close()
    await until(lambda: server.hub.client_count == 0)
    missed = await server.write("Email")  # while away
    client = await connect(server)
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None,
                       "pushState": seen["pushState"]})
    change = await client.recv(timeout=1)
    assert change["@type"] == "StateChange"
    assert change["changed"] == {alice: {"Email": missed["Email"]}}
    assert change["pushState"] != seen["pushState"]
    # the newest pushState: nothing moved since, nothing sent
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None,
                       "pushState": change["pushState"]})
    await client.nothing_within(0.3)
    # one this server never issued: every wanted type, at once
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": ["Email", "Thread"],
                       "pushState": "not-a-token"})
    change = await client.recv(timeout=1)
    assert set(change["changed"][alice]) == {"Email", "Thread"}
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None, "pushState": "x"})
    change = await client.recv(timeout=1)
    assert set(change["changed"][alice]) == DATA_TYPES
    await client.close()


@pytest_twisted.ensureDeferred
async def test_push_only_for_the_users_own_account(server: PushServer) -> None:
    alice = await connect(server)
    await alice.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: server.hub.client_count == 1)
    await server.write("Email", account_id=server.users.bob_id)
    await alice.nothing_within(0.3)
    await alice.close()


@pytest_twisted.ensureDeferred
async def test_push_enable_while_the_store_is_down(server: PushServer) -> None:
    client = await connect(server)
    server.down[0] = True
    await client.send({"@type": "WebSocketPushEnable", "id": "e", "dataTypes": None})
    error = await client.recv()
    assert error["@type"] == "RequestError" and error["status"] == 503
    assert error["requestId"] == "e"
    server.down[0] = False
    await client.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: server.hub.client_count == 1)
    await server.write("Email")
    assert (await client.recv())["@type"] == "StateChange"
    await client.close()


# -- shutdown ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_shutdown_closes_connections_with_going_away() -> None:
    store = await open_memory_store()
    server = start_server(store, await make_users(store))
    await server.stop()
    port = free_port()
    listener = endpoint_service(f"tcp:{port}:interface=127.0.0.1", server.site, reactor=reactor)
    service = DrainingListenerService(listener, server.site, reactor, grace=10)
    service.startService()
    await deferLater(reactor, 0.05, lambda: None)
    server.base = f"http://127.0.0.1:{port}"
    clients = [await connect(server) for _ in range(2)]
    await clients[0].send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: server.hub.client_count == 1)
    started = time.monotonic()
    await service.stopService()
    assert time.monotonic() - started < 1
    for client in clients:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.hub.client_count == 0 and not server.site.in_flight


@pytest_twisted.ensureDeferred
async def test_head_with_upgrade_headers_is_not_upgraded(server: PushServer) -> None:
    headers = {
        **server.auth(), "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "jmap",
    }
    response = await treq.head(server.ws_url.replace("ws://", "http://"), headers=headers)
    assert response.code == 400


@pytest_twisted.ensureDeferred
async def test_other_websocket_versions_get_426(server: PushServer) -> None:
    headers = {
        **server.auth(), "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "jmap",
    }
    response = await treq.get(server.ws_url.replace("ws://", "http://"), headers=headers)
    assert response.code == 426
    assert response.headers.getRawHeaders("Sec-WebSocket-Version") == ["13"]
    assert response.headers.getRawHeaders("Content-Type") == ["application/problem+json"]
    await response.content()


@pytest_twisted.ensureDeferred
async def test_text_that_is_not_utf8_closes_with_1007(server: PushServer) -> None:
    client = await connect(server)

    def send_invalid() -> None:
        with client.connection.send_context():
            client.connection.protocol.send_frame(Frame(Opcode.TEXT, b'{"@type": "\xff"}'))

    await deferToThread(send_invalid)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    await until(lambda: not server.sockets.connections and not server.site.in_flight)
