"""The core limits of RFC 8620 §2 that the API layer enforces, each as a request-level ``limit``
error (§3.6.1) naming the limit: maxCallsInRequest, maxSizeRequest, maxConcurrentRequests."""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import deferLater
from twisted.web.client import Agent
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.limits import CoreLimits
from tests.jmap.api.conftest import ApiServer, Reply, StartServer, assert_problem, error_of
from tests.jmap.api.methods_for_tests import TEST, Gate, registry_for_tests


def echo_calls(count: int) -> list[list[Any]]:
    return [["Core/echo", {}, str(n)] for n in range(count)]


@pytest_twisted.ensureDeferred
async def test_max_calls_in_request(start_server: StartServer) -> None:
    server = await start_server(limits=CoreLimits(maxCallsInRequest=3))
    response = await server.call(*echo_calls(3))
    assert len(response["methodResponses"]) == 3
    reply = await server.post({"using": [CORE], "methodCalls": echo_calls(4)})
    assert_problem(reply, "limit", limit="maxCallsInRequest")


def body_of_size(size: int) -> bytes:
    """An echo request of exactly ``size`` bytes."""
    head = b'{"using": ["' + CORE.encode() + b'"], "methodCalls": [["Core/echo", {"pad": "'
    tail = b'"}, "c"]]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest_twisted.ensureDeferred
async def test_max_size_request(start_server: StartServer) -> None:
    server = await start_server(limits=CoreLimits(maxSizeRequest=2000))
    assert (await server.post(body_of_size(2000))).code == 200
    reply = await server.post(body_of_size(2001))
    assert_problem(reply, "limit", limit="maxSizeRequest")
    # the size limit is checked before the body is looked at: an oversized non-JSON body too
    assert_problem(await server.post(b"\xff" * 5000), "limit", limit="maxSizeRequest")


class UnknownLengthBody:
    """A request body sent chunked, without Content-Length."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = UNKNOWN_LENGTH

    def startProducing(self, consumer: Any) -> Deferred[None]:
        for start in range(0, len(self.data), 1000):
            consumer.write(self.data[start:start + 1000])
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


async def post_chunked(server: ApiServer, data: bytes) -> Reply:
    headers = Headers({"Authorization": [f"Bearer {server.token}"],
                       "Content-Type": ["application/json"]})
    response = await Agent(reactor).request(
        b"POST", server.api_url.encode(), headers, UnknownLengthBody(data)
    )
    return Reply(response.code, response.headers, await treq.content(response))


@pytest_twisted.ensureDeferred
async def test_max_size_request_of_a_chunked_body(start_server: StartServer) -> None:
    server = await start_server(limits=CoreLimits(maxSizeRequest=2000))
    reply = await post_chunked(server, body_of_size(2000))
    assert reply.code == 200
    assert json.loads(reply.body)["methodResponses"][0][2] == "c"
    assert_problem(await post_chunked(server, body_of_size(2001)), "limit",
                   status=400, limit="maxSizeRequest")


async def until(condition: Any, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_request() -> dict[str, Any]:
    return {"using": [CORE, TEST], "methodCalls": [["Test/wait", {}, "w"]]}


@pytest_twisted.ensureDeferred
async def test_max_concurrent_requests(start_server: StartServer) -> None:
    gate = Gate()
    limits = CoreLimits(maxConcurrentRequests=2)
    server = await start_server(limits=limits, registry=registry_for_tests(limits, gate))
    held = [Deferred.fromCoroutine(server.post(waiting_request())) for _ in range(2)]
    await until(lambda: len(gate.waiting) == 2, "two requests to be running")

    reply = await server.post({"using": [CORE], "methodCalls": [["Core/echo", {}, "c"]]})
    assert_problem(reply, "limit", status=429, limit="maxConcurrentRequests")
    # the limit is per user: another user is not held up
    other = await server.post({"using": [CORE], "methodCalls": [["Core/echo", {}, "c"]]},
                              token=server.other_token)
    assert other.code == 200

    gate.open()
    for pending in held:
        reply = await pending
        assert reply.code == 200
        assert reply.json()["methodResponses"] == [["Test/wait", {}, "w"]]
    assert server.app.api.concurrency.running(server.user_id) == 0
    assert (await server.call(["Core/echo", {}, "c"]))["methodResponses"] == [
        ["Core/echo", {}, "c"]
    ]


@pytest_twisted.ensureDeferred
async def test_slots_are_released_on_every_path(start_server: StartServer) -> None:
    gate = Gate()
    limits = CoreLimits(maxConcurrentRequests=1)
    server = await start_server(limits=limits, registry=registry_for_tests(limits, gate))
    # Failing calls, request-level errors and an unavailable store each end their request ...
    for _ in range(3):
        response = await server.call(["Test/fail", {}, "f"], ["Test/notAResponse", {}, "g"])
        assert error_of(response)["type"] == "serverFail"
        assert_problem(await server.post(b"{"), "notJSON")
        assert_problem(await server.post({"using": ["urn:x"], "methodCalls": []}),
                       "unknownCapability")
        server.store_down = True
        assert (await server.post(waiting_request())).code == 503
        server.store_down = False
    assert server.app.api.concurrency.running(server.user_id) == 0

    # ... and so does a client that goes away while its request runs.
    pending = treq.post(server.api_url, data=json.dumps(waiting_request()).encode(),
                        headers=server.auth())
    await until(lambda: len(gate.waiting) == 1, "the request to be running")
    assert server.app.api.concurrency.running(server.user_id) == 1
    pending.cancel()
    await until(lambda: server.app.api.concurrency.running(server.user_id) == 0,
                "the slot to be released after the client left")
    assert (await server.call(["Core/echo", {}, "c"]))["methodResponses"] == [
        ["Core/echo", {}, "c"]
    ]
    gate.open()  # the abandoned waiter was cancelled; opening the gate must not disturb anything
