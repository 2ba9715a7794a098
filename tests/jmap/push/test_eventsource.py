"""The event source of RFC 8620 §7.3, read over real HTTP connections as a client would."""

from __future__ import annotations

import json
import time

import pytest
import pytest_twisted
import treq
from twisted.application.strports import service as endpoint_service
from twisted.internet import reactor
from twisted.internet.task import deferLater
from werkzeug.exceptions import BadRequest

from stalwart_tx.http.eventsource import parse_stream_options
from stalwart_tx.service import DrainingListenerService
from stalwart_tx.store.backend import open_memory_store
from tests.jmap.push.conftest import StartServer
from tests.jmap.push.harness import (
    DATA_TYPES,
    EventStreamClient,
    PushServer,
    make_users,
    start_server,
)
from tests.service_process import free_port


async def open_stream(
    server: PushServer, types: str = "*", closeafter: str = "no", ping: str = "0",
    headers: dict[str, str] | None = None,
) -> EventStreamClient:
    response, stream = await EventStreamClient.open(
        server.event_source_url(types, closeafter, ping), {**server.auth(), **(headers or {})}
    )
    assert response.code == 200, response.code
    assert stream is not None
    return stream


async def until(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await deferLater(reactor, 0.01, lambda: None)


# -- §7.3: the stream and its state events ---------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_write_is_pushed_as_a_state_event(server: PushServer) -> None:
    stream = await open_stream(server)
    assert stream.content_type == "text/event-stream"
    headers = stream.response.headers
    assert headers.getRawHeaders("Access-Control-Allow-Origin") == ["*"]
    assert "no-cache" in headers.getRawHeaders("Cache-Control")[0]
    states = await server.write("Mailbox")
    event = await stream.state()
    assert event.json() == {
        "@type": "StateChange", "changed": {server.users.alice_id: {"Mailbox": states["Mailbox"]}},
    }
    assert event.id
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_types_filter_and_push_subscription_never_pushed(server: PushServer) -> None:
    only_email = await open_stream(server, types="Email")
    every_type = await open_stream(server, types="*")
    asked_for_it = await open_stream(server, types="PushSubscription,Email")
    await server.write("PushSubscription")
    await server.write("Mailbox")
    await only_email.no_event(0.3)
    mailbox = await every_type.state()
    assert list(mailbox.json()["changed"][server.users.alice_id]) == ["Mailbox"]
    states = await server.write("Email", "Thread")
    for stream in (only_email, asked_for_it):
        event = await stream.state()
        assert event.json()["changed"] == {server.users.alice_id: {"Email": states["Email"]}}
    both = await every_type.state()
    assert both.json()["changed"][server.users.alice_id] == {
        "Email": states["Email"], "Thread": states["Thread"],
    }
    for stream in (only_email, every_type, asked_for_it):
        stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_changes_of_other_accounts_are_not_heard(server: PushServer) -> None:
    alice = await open_stream(server)
    bob = await open_stream(server, headers=server.auth(server.users.bob_token))
    states = await server.write("Email", account_id=server.users.bob_id)
    event = await bob.state()
    assert event.json()["changed"] == {server.users.bob_id: {"Email": states["Email"]}}
    await alice.no_event(0.3)
    alice.disconnect()
    bob.disconnect()


@pytest_twisted.ensureDeferred
async def test_closeafter_state_ends_after_the_first_state_event(server: PushServer) -> None:
    stream = await open_stream(server, closeafter="state", ping="1")
    await server.write("Mailbox")
    event = await stream.next()
    assert event is not None and event.event == "state"
    assert await stream.next() is None, "the response ended"
    await stream.ended
    await until(lambda: server.hub.client_count == 0 and not server.site.in_flight)


# -- §7.3 ping ----------------------------------------------------------------------------


def test_ping_is_clamped_as_the_rfc_allows() -> None:
    def ping(value: bytes) -> int:
        return parse_stream_options({b"ping": [value]}, 30, 300).ping

    assert ping(b"0") == 0
    assert ping(b"1") == 30
    assert ping(b"45") == 45
    assert ping(b"100000") == 300
    assert ping(b"99999999999") == 300  # any UnsignedInt: the server clamps, it does not refuse
    assert ping(b"9007199254740991") == 300


@pytest_twisted.ensureDeferred
async def test_ping_when_idle_and_not_before_the_interval(server: PushServer) -> None:
    stream = await open_stream(server, ping="1")  # the test server's minimum is 1 second
    opened = time.monotonic()
    event = await stream.next(timeout=3)
    assert event is not None
    assert (event.event, json.loads(event.data)) == ("ping", {"interval": 1})
    assert 0.8 <= event.received_at - opened < 2
    # a state event restarts the interval
    await server.write("Mailbox")
    state = await stream.next()
    assert state is not None and state.event == "state"
    ping = await stream.next(timeout=3)
    assert ping is not None and ping.event == "ping"
    assert ping.received_at - state.received_at >= 0.8
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_no_ping_when_zero(server: PushServer) -> None:
    stream = await open_stream(server, ping="0")
    await stream.no_event(1.3)
    stream.disconnect()


# -- coalescing, cleanup, shutdown -----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_write_storm_is_a_few_events_ending_at_the_last_state(server: PushServer) -> None:
    stream = await open_stream(server)
    last: dict[str, str] = {}
    started = time.monotonic()
    for _ in range(200):
        last = await server.write("Email")
    storm = time.monotonic() - started
    events = []
    while True:
        event = await stream.state(timeout=1)
        events.append(event)
        if event.json()["changed"][server.users.alice_id]["Email"] == last["Email"]:
            break
    # the first write goes out at once, then at most one event per 100 ms window
    assert len(events) <= 2 + storm / 0.1, (len(events), storm)
    assert len(events) < 20
    await stream.no_event(0.3)
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_client_disconnect_detaches_it(server: PushServer) -> None:
    streams = [await open_stream(server) for _ in range(3)]
    assert server.hub.client_count == 3
    assert len(server.streams.open_streams) == 3
    streams[0].disconnect()
    await until(lambda: server.hub.client_count == 2)
    await server.write("Mailbox")
    for stream in streams[1:]:
        await stream.state()
    for stream in streams[1:]:
        stream.disconnect()
    await until(lambda: server.hub.client_count == 0 and not server.streams.open_streams)
    await until(lambda: not server.site.in_flight)
    # the hub keeps its one subscription for the next client
    assert server.hub.subscribed


@pytest_twisted.ensureDeferred
async def test_shutdown_ends_streams_at_once_not_after_the_grace() -> None:
    store = await open_memory_store()
    server = start_server(store, await make_users(store))
    await server.stop()  # serve through a draining listener instead
    port = free_port()
    listener = endpoint_service(f"tcp:{port}:interface=127.0.0.1", server.site, reactor=reactor)
    service = DrainingListenerService(listener, server.site, reactor, grace=10)
    service.startService()
    await deferLater(reactor, 0.05, lambda: None)
    server.base = f"http://127.0.0.1:{port}"
    streams = [await open_stream(server, ping="1") for _ in range(2)]
    started = time.monotonic()
    await service.stopService()
    assert time.monotonic() - started < 1
    for stream in streams:
        assert await stream.next() is None
    assert server.hub.client_count == 0
    assert not server.site.in_flight


# -- reconnecting with Last-Event-ID --------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_reconnect_with_last_event_id_catches_up_on_what_moved(server: PushServer) -> None:
    stream = await open_stream(server)
    await server.write("Mailbox", "Email")
    seen = await stream.state()
    stream.disconnect()
    await until(lambda: server.hub.client_count == 0)
    missed = await server.write("Email")  # while the client is away
    back = await open_stream(server, headers={"Last-Event-ID": seen.id or ""})
    event = await back.state(timeout=1)
    assert event.json()["changed"] == {server.users.alice_id: {"Email": missed["Email"]}}
    assert event.id and event.id != seen.id
    # nothing moved since: a reconnect with the newest id gets no catch-up
    back.disconnect()
    again = await open_stream(server, headers={"Last-Event-ID": event.id})
    await again.no_event(0.3)
    again.disconnect()


@pytest_twisted.ensureDeferred
async def test_unreadable_last_event_id_sends_every_wanted_state(server: PushServer) -> None:
    states = await server.write("Mailbox", "Email")
    stream = await open_stream(server, headers={"Last-Event-ID": "garbage"})
    event = await stream.state(timeout=1)
    changed = event.json()["changed"][server.users.alice_id]
    assert set(changed) == DATA_TYPES
    assert changed["Mailbox"] == states["Mailbox"] and changed["Email"] == states["Email"]
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_catch_up_respects_closeafter_and_types(server: PushServer) -> None:
    stream = await open_stream(server, types="Email", closeafter="state",
                               headers={"Last-Event-ID": "1e30"})
    event = await stream.state(timeout=1)
    assert list(event.json()["changed"][server.users.alice_id]) == ["Email"]
    assert await stream.next() is None


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "types=Mail%20box", "types=", "types=Email,,Mailbox", "closeafter=maybe", "ping=-1",
        "ping=abc", "ping=1e3", "types=*&types=Email", "ping=9007199254740992",
    ],
)
def test_bad_parameters_are_refused(query: str) -> None:
    from urllib.parse import parse_qs

    args = {
        k.encode(): [v.encode() for v in values]
        for k, values in parse_qs(query, keep_blank_values=True).items()
    }
    with pytest.raises(BadRequest):
        parse_stream_options(args, 30, 300)


@pytest_twisted.ensureDeferred
async def test_bad_parameters_get_a_400_problem(server: PushServer) -> None:
    response, stream = await EventStreamClient.open(
        server.event_source_url(closeafter="maybe"), server.auth()
    )
    assert stream is None and response.code == 400
    assert response.headers.getRawHeaders("Content-Type") == ["application/problem+json"]
    assert server.hub.client_count == 0


@pytest_twisted.ensureDeferred
async def test_unauthenticated_gets_401(server: PushServer) -> None:
    response, stream = await EventStreamClient.open(server.event_source_url(), {})
    assert stream is None and response.code == 401
    response, stream = await EventStreamClient.open(
        server.event_source_url(), {"Authorization": "Bearer nope"}
    )
    assert stream is None and response.code == 401


@pytest_twisted.ensureDeferred
async def test_store_unavailable_gets_503(start_memory_server: StartServer) -> None:
    server = await start_memory_server()
    server.down[0] = True
    response, stream = await EventStreamClient.open(server.event_source_url(), server.auth())
    assert stream is None and response.code == 503
    assert response.headers.getRawHeaders("Retry-After")
    server.down[0] = False
    stream = await open_stream(server)
    await server.write("Mailbox")
    await stream.state()
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_head_gets_the_headers_without_holding_a_stream(server: PushServer) -> None:
    response = await treq.head(server.event_source_url(), headers=server.auth())
    assert response.code == 200
    assert response.headers.getRawHeaders("Content-Type") == ["text/event-stream"]
    assert server.hub.client_count == 0
