"""Two "service processes" (each its own store bundle, hub and HTTP server) on one real Redis:
a write through one reaches the event-stream and WebSocket clients of the other, within a second.
"""

from __future__ import annotations

import json
import time

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from stalwart_tx.store.redis.notifier import RedisNotifier
from tests.jmap.push.harness import EventStreamClient, PushServer, WSClient

WRITES = 5


async def until(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await deferLater(reactor, 0.01, lambda: None)


@pytest_twisted.ensureDeferred
async def test_a_write_reaches_clients_of_the_other_process(
    redis_pair: tuple[PushServer, PushServer],
) -> None:
    writer, reader = redis_pair
    alice = reader.users.alice_id
    response, stream = await EventStreamClient.open(reader.event_source_url(), reader.auth())
    assert response.code == 200 and stream is not None
    socket = await WSClient.connect(reader.ws_url, reader.users.alice_token)
    await socket.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    await until(lambda: reader.hub.client_count == 2)
    assert reader.hub.subscribed and not writer.hub.subscribed

    latencies: list[tuple[float, float]] = []
    for _ in range(WRITES):
        started = time.monotonic()
        states = await writer.write("Email")
        event = await stream.state(timeout=1)
        message, socket_at = await socket.recv_raw(timeout=1)
        assert event.json()["changed"] == {alice: {"Email": states["Email"]}}
        pushed = json.loads(message)
        assert pushed["changed"] == {alice: {"Email": states["Email"]}}
        latencies.append((event.received_at - started, socket_at - started))
        # past the coalescing window, so each write is a lone one
        await deferLater(reactor, 0.15, lambda: None)
    worst = max(max(pair) for pair in latencies)
    print(
        "\ncross-process latency, write start to client (ms): event stream "
        + ", ".join(f"{s * 1000:.1f}" for s, _ in latencies)
        + "; WebSocket " + ", ".join(f"{w * 1000:.1f}" for _, w in latencies)
    )
    assert worst < 1.0
    stream.disconnect()
    await socket.close()
    await until(lambda: reader.hub.client_count == 0)


@pytest_twisted.ensureDeferred
async def test_each_process_subscribes_once_however_many_clients(
    redis_pair: tuple[PushServer, PushServer],
) -> None:
    writer, reader = redis_pair
    streams = []
    for _ in range(5):
        _, stream = await EventStreamClient.open(reader.event_source_url(), reader.auth())
        assert stream is not None
        streams.append(stream)
    states = await writer.write("Mailbox")
    for stream in streams:
        event = await stream.state(timeout=1)
        assert event.json()["changed"][reader.users.alice_id] == {"Mailbox": states["Mailbox"]}
        stream.disconnect()
    # one pub/sub subscriber connection serves the process: the notifier's local listeners
    notifier = reader.store.notifier
    assert isinstance(notifier, RedisNotifier)
    assert notifier._local.listener_count == 1
