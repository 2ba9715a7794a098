"""RFC 8620 §7 as an independent suite checks it: StateChange (§7.1), PushSubscription (§7.2) and
the event source (§7.3), on what the other push tests leave out."""

from __future__ import annotations

import time

import pytest
import pytest_twisted
import treq
from twisted.internet.task import Clock

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.push.service import PushDeliveryService
from stalwart_tx.push.subscription import (
    TYPE_NAME,
    PushSubscription,
    format_utc_date,
    parse_utc_date,
)
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.push.conftest import StartServer
from tests.jmap.push.harness import PUBLIC, EventStreamClient, PushServer
from tests.jmap.push_subscription.conftest import (  # noqa: F401 -- fixtures
    ALICE,
    BOB,
    StartDelivery,
    call_get,
    call_set,
    context,
    create,
    delivery,
    push_service,
    sleep,
    start_delivery,
    state_changes,
    store,
    subscribe_and_verify,
    write_email,
)
from tests.jmap.push_subscription.fake_push_service import FakePushService

A = ALICE.account_id


async def open_stream(
    server: PushServer, types: str = "*", closeafter: str = "no", ping: str = "0"
) -> EventStreamClient:
    response, stream = await EventStreamClient.open(
        server.event_source_url(types, closeafter, ping), server.auth()
    )
    assert response.code == 200, response.code
    assert stream is not None
    return stream


async def quiet(push: FakePushService, seconds: float = 0.3) -> int:
    await sleep(seconds)
    return len(push.received)


# -- §7.3 the event source ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_session_event_source_url_is_the_rfc_template(server: PushServer) -> None:
    response = await treq.get(f"{server.base}/jmap/session", headers=server.auth())
    assert response.code == 200
    template = (await response.json())["eventSourceUrl"]
    # §2: a URI Template (level 1) with exactly the variables types, closeafter and ping
    assert template.startswith(PUBLIC)
    for variable in ("{types}", "{closeafter}", "{ping}"):
        assert template.count(variable) == 1, template
    url = (
        template.replace(PUBLIC, server.base)
        .replace("{types}", "Mailbox").replace("{closeafter}", "state").replace("{ping}", "0")
    )
    answer, stream = await EventStreamClient.open(url, server.auth())
    assert answer.code == 200 and stream is not None
    assert stream.content_type.split(";")[0].strip() == "text/event-stream"
    states = await server.write("Mailbox")
    event = await stream.state()
    assert event.json() == {"@type": "StateChange",
                            "changed": {server.users.alice_id: {"Mailbox": states["Mailbox"]}}}
    assert await stream.next() is None  # closeafter=state


@pytest_twisted.ensureDeferred
async def test_each_state_event_names_only_the_types_changed_since_the_previous(
    server: PushServer,
) -> None:
    stream = await open_stream(server)
    first = await server.write("Mailbox")
    assert (await stream.state()).json() == {
        "@type": "StateChange", "changed": {server.users.alice_id: {"Mailbox": first["Mailbox"]}},
    }
    second = await server.write("Email")
    assert (await stream.state()).json() == {
        "@type": "StateChange", "changed": {server.users.alice_id: {"Email": second["Email"]}},
    }
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_a_comma_list_of_types_hears_only_those(server: PushServer) -> None:
    stream = await open_stream(server, types="Email,Mailbox")
    await server.write("Thread")
    await stream.no_event(0.4)
    states = await server.write("Thread", "Email")
    assert (await stream.state()).json() == {
        "@type": "StateChange", "changed": {server.users.alice_id: {"Email": states["Email"]}},
    }
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_closeafter_no_keeps_the_stream_open_after_state_events(server: PushServer) -> None:
    stream = await open_stream(server, closeafter="no")
    for _ in range(3):
        states = await server.write("Mailbox")
        event = await stream.state()
        assert event.json()["changed"] == {server.users.alice_id: {"Mailbox": states["Mailbox"]}}
    assert not stream.ended.called
    stream.disconnect()


@pytest_twisted.ensureDeferred
async def test_a_raised_ping_is_reported_and_pings_set_no_event_id(
    start_memory_server: StartServer,
) -> None:
    server = await start_memory_server(min_ping=2)
    stream = await open_stream(server, ping="1")
    opened = time.monotonic()
    ping = await stream.next(timeout=4)
    assert ping is not None
    # §7.3: the interval the server uses, here raised to its minimum
    assert (ping.event, ping.json(), ping.id) == ("ping", {"interval": 2}, None)
    assert ping.received_at - opened >= 1.8
    await server.write("Mailbox")
    state = await stream.state()
    assert state.id  # the server names state events; a ping MUST NOT set a new event id
    ping = await stream.next(timeout=4)
    assert ping is not None
    assert (ping.event, ping.json(), ping.id) == ("ping", {"interval": 2}, None)
    stream.disconnect()


# -- §7.2 PushSubscription --------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_get_returns_exactly_the_readable_properties(store: StoreBundle) -> None:  # noqa: F811
    ctx = context(store)
    subscription_id = await create(
        ctx, "https://push.example.net/x", types=["Email"], deviceClientId="phone"
    )
    created = await store.accounts.get(A, TYPE_NAME, [subscription_id])
    expires = PushSubscription.from_json(created[subscription_id]).to_json()["expires"]
    response = await call_get(ctx, ids=None)
    assert response == {"list": [{
        "id": subscription_id, "deviceClientId": "phone", "verificationCode": None,
        "expires": expires, "types": ["Email"],
    }], "notFound": []}
    # "id" is always returned
    response = await call_get(ctx, ids=[subscription_id, "nope"], properties=[])
    assert response == {"list": [{"id": subscription_id}], "notFound": ["nope"]}
    # §7.2.1: explicitly asking for url or keys MUST be rejected with "forbidden"
    for properties in (["id", "url"], ["keys"]):
        with pytest.raises(MethodError) as caught:
            await call_get(ctx, ids=None, properties=properties)
        assert caught.value.type == "forbidden"


@pytest_twisted.ensureDeferred
async def test_set_ignores_an_account_id(store: StoreBundle) -> None:  # noqa: F811
    # §7.2.2: no accountId taken; a subscription always belongs to the authenticated user
    ctx = context(store)
    response = await call_set(ctx, accountId=BOB.account_id, create={
        "c": {"deviceClientId": "d", "url": "https://push.example.net/y"}
    })
    subscription_id = response["created"]["c"]["id"]
    assert [s["id"] for s in (await call_get(ctx, ids=None))["list"]] == [subscription_id]
    assert (await call_get(context(store, BOB), ids=None))["list"] == []


@pytest_twisted.ensureDeferred
async def test_an_update_with_an_immutable_change_applies_nothing(
    store: StoreBundle, push_service: FakePushService,  # noqa: F811
    delivery: PushDeliveryService,  # noqa: F811
) -> None:
    ctx = context(store)
    subscription_id = await create(ctx, push_service.url("/p"))
    [verification] = await push_service.pushes_to("/p", 1)
    code = verification.json()["verificationCode"]
    response = await call_set(ctx, update={subscription_id: {
        "verificationCode": code, "url": push_service.url("/elsewhere"),
    }})
    assert response["updated"] is None
    error = response["notUpdated"][subscription_id]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["url"])
    listed = (await call_get(ctx, ids=[subscription_id]))["list"][0]
    assert listed["verificationCode"] is None
    await write_email(store, A, "e1")
    assert await quiet(push_service) == 1  # still unverified: nothing but the verification


@pytest_twisted.ensureDeferred
async def test_a_wrong_code_after_verification_is_refused_and_changes_nothing(
    store: StoreBundle, push_service: FakePushService,  # noqa: F811
    delivery: PushDeliveryService,  # noqa: F811
) -> None:
    ctx = context(store)
    subscribed = await subscribe_and_verify(ctx, push_service, "/v")
    response = await call_set(ctx, update={subscribed.id: {"verificationCode": "guess"}})
    error = response["notUpdated"][subscribed.id]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["verificationCode"])
    listed = (await call_get(ctx, ids=[subscribed.id]))["list"][0]
    assert listed["verificationCode"] == subscribed.code
    state = await write_email(store, A, "e1")
    pushes = await push_service.pushes_to("/v", 2)
    assert state_changes(pushes[1:]) == [{A: {"Email": state}}]


@pytest_twisted.ensureDeferred
async def test_updating_types_changes_what_is_pushed(
    store: StoreBundle, push_service: FakePushService,  # noqa: F811
    delivery: PushDeliveryService,  # noqa: F811
) -> None:
    ctx = context(store)
    subscribed = await subscribe_and_verify(ctx, push_service, "/t", types=["Mailbox"])
    await write_email(store, A, "e1")
    assert await quiet(push_service) == 1
    response = await call_set(ctx, update={subscribed.id: {"types": None}})
    assert response["updated"] == {subscribed.id: None}
    state = await write_email(store, A, "e2")
    pushes = await push_service.pushes_to("/t", 2)
    assert [p.json() for p in pushes[1:]] == [
        {"@type": "StateChange", "changed": {A: {"Email": state}}}
    ]
    response = await call_set(ctx, update={subscribed.id: {"types": ["Mailbox"]}})
    assert response["updated"] == {subscribed.id: None}
    await write_email(store, A, "e3")
    assert await quiet(push_service) == 2


@pytest_twisted.ensureDeferred
async def test_each_created_subscription_gets_its_own_verification(
    store: StoreBundle, push_service: FakePushService,  # noqa: F811
    delivery: PushDeliveryService,  # noqa: F811
) -> None:
    ctx = context(store)
    response = await call_set(ctx, create={
        "a": {"deviceClientId": "a", "url": push_service.url("/a")},
        "b": {"deviceClientId": "b", "url": push_service.url("/b")},
    })
    ids = {key: value["id"] for key, value in response["created"].items()}
    assert ids["a"] != ids["b"]
    codes = {}
    for key in ("a", "b"):
        [pushed] = await push_service.pushes_to(f"/{key}", 1)
        body = pushed.json()
        assert set(body) == {"@type", "pushSubscriptionId", "verificationCode"}
        assert (body["@type"], body["pushSubscriptionId"]) == ("PushVerification", ids[key])
        assert isinstance(body["verificationCode"], str) and body["verificationCode"]
        codes[key] = body["verificationCode"]
    assert codes["a"] != codes["b"]
    # one subscription's code does not verify another
    response = await call_set(ctx, update={ids["a"]: {"verificationCode": codes["b"]}})
    assert response["notUpdated"][ids["a"]]["properties"] == ["verificationCode"]


@pytest_twisted.ensureDeferred
async def test_a_subscription_reported_created_exists_with_a_future_expiry(
    store: StoreBundle,  # noqa: F811
) -> None:
    now = 1_800_000_000.25
    clock = Clock()
    clock.advance(now)
    ctx = context(store, clock=clock)
    # in the future, by less than a second
    asked = format_utc_date(now)[:-1] + ".75Z"
    response = await call_set(ctx, create={"c": {
        "deviceClientId": "d", "url": "https://push.example.net/z", "expires": asked,
    }})
    if response["created"] is None:
        error = response["notCreated"]["c"]
        assert (error["type"], error["properties"]) == ("invalidProperties", ["expires"])
        return
    created = response["created"]["c"]
    # the server may shorten the expiry (§7.2), but what it reports created must exist
    assert parse_utc_date(created["expires"]) > now
    listed = (await call_get(ctx, ids=[created["id"]]))["list"]
    assert [s["id"] for s in listed] == [created["id"]]
