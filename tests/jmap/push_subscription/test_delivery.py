"""Delivery through a real HTTP push service on loopback, with the store on a real Redis.

RFC 8620 §7.2 (verification, types, expiry, headers), RFC 8030 (TTL, 404/410, 429), RFC 8291
(encryption), and the delivery service's own promises (batching, retries, one push per change
whatever the number of processes).
"""

from __future__ import annotations

import itertools
import json
import socket
import time

import pytest_twisted
from twisted.internet import reactor
from twisted.logger import LogEvent, globalLogPublisher

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.push.retry import RetryPolicy
from stalwart_tx.push.service import PushDeliveryService
from stalwart_tx.push.subscription import TYPE_NAME, PushSubscription, format_utc_date
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.records import WriteBatch
from tests.jmap.push_subscription.conftest import (
    ALICE,
    BOB,
    WINDOW,
    StartDelivery,
    call_set,
    context,
    create,
    sleep,
    state_changes,
    subscribe_and_verify,
    write_email,
)
from tests.jmap.push_subscription.fake_push_service import HANG, FakePushService, UserAgentKeys

A = ALICE.account_id


async def quiet(push: FakePushService, seconds: float = WINDOW * 4) -> int:
    """Let any push that is due arrive; return how many requests there are by then."""
    await sleep(seconds)
    return len(push.received)


@pytest_twisted.ensureDeferred
async def test_verification_push(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    path = "/push/a?token=a%2Fb&x=1"  # the exact URL, query and escapes included
    started = time.monotonic()
    subscription_id = await create(context(store), push_service.url(path))
    [pushed] = await push_service.pushes_to(path, 1)
    latency = time.monotonic() - started
    code = PushSubscription.from_json(
        (await store.accounts.get(A, TYPE_NAME, [subscription_id]))[subscription_id]
    ).server_verification_code
    # §7.2.2: exactly this object, as JSON (§7.2: content type application/json)
    assert pushed.json() == {"@type": "PushVerification", "pushSubscriptionId": subscription_id,
                             "verificationCode": code}
    assert pushed.header("Content-Type") == "application/json"
    assert pushed.header("Content-Encoding") is None
    assert int(pushed.header("TTL") or "-1") > 0  # §7.2: the request MUST have a TTL header
    # "immediately": not held back by the batching window
    assert latency < 1.0
    await quiet(push_service)
    assert len(push_service.received) == 1  # sent once


@pytest_twisted.ensureDeferred
async def test_no_state_change_before_verification(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    ctx = context(store)
    subscription_id = await create(ctx, push_service.url("/p"))
    [verification] = await push_service.pushes_to("/p", 1)
    await write_email(store, A, "e1")
    assert await quiet(push_service) == 1  # §7.2.2: nothing until the code is set
    # a wrong code verifies nothing
    await call_set(ctx, update={subscription_id: {"verificationCode": "wrong"}})
    await write_email(store, A, "e2")
    assert await quiet(push_service) == 1
    await call_set(ctx, update={
        subscription_id: {"verificationCode": verification.json()["verificationCode"]}
    })
    state = await write_email(store, A, "e3")
    pushes = await push_service.pushes_to("/p", 2)
    assert pushes[1].json() == {"@type": "StateChange", "changed": {A: {"Email": state}}}
    assert pushes[1].header("Content-Type") == "application/json"
    assert int(pushes[1].header("TTL") or "-1") > 0


@pytest_twisted.ensureDeferred
async def test_types_filter_and_push_subscription_changes_are_never_pushed(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    ctx = context(store)
    await subscribe_and_verify(ctx, push_service, "/mailbox", types=["Mailbox"])
    await subscribe_and_verify(ctx, push_service, "/all")
    await write_email(store, A, "e1")
    [email_push] = state_changes((await push_service.pushes_to("/all", 2))[1:])
    assert list(email_push[A]) == ["Email"]
    result = await store.accounts.write(
        A, WriteBatch().create("Mailbox", "m1", {}).create("Email", "e2", {})
    )
    mailbox_pushes = await push_service.pushes_to("/mailbox", 2)
    # §7.2: only the types asked for; the others are left out of the TypeState
    assert state_changes(mailbox_pushes) == [{A: {"Mailbox": result.new_states["Mailbox"]}}]
    all_pushes = await push_service.pushes_to("/all", 3)
    assert state_changes(all_pushes)[-1] == {A: dict(result.new_states)}
    # another subscription (a PushSubscription change) is pushed to nobody but itself
    before = len(push_service.received)
    await create(ctx, push_service.url("/third"))
    await push_service.pushes_to("/third", 1)
    assert await quiet(push_service) == before + 1


@pytest_twisted.ensureDeferred
async def test_other_users_changes_are_not_pushed(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    await subscribe_and_verify(context(store), push_service, "/alice")
    await write_email(store, BOB.account_id, "e1")
    assert await quiet(push_service) == 1


@pytest_twisted.ensureDeferred
async def test_a_burst_becomes_one_push(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    await subscribe_and_verify(context(store), push_service, "/p")
    started = time.monotonic()
    for n in range(20):
        state = await write_email(store, A, f"e{n}")
    await push_service.pushes_to("/p", 2)
    latency = time.monotonic() - started
    await quiet(push_service)
    assert state_changes(push_service.to("/p")) == [{A: {"Email": state}}]
    assert latency < WINDOW + 1.0


@pytest_twisted.ensureDeferred
async def test_encrypted_payloads(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    keys = UserAgentKeys()
    subscribed = await subscribe_and_verify(context(store), push_service, "/e", keys=keys)
    state = await write_email(store, A, "e1")
    verification, change = await push_service.pushes_to("/e", 2)
    for pushed in (verification, change):
        # RFC 8291 §4 with RFC 8188 aes128gcm: one record, keyid = the sender's public key
        assert pushed.header("Content-Encoding") == "aes128gcm"
        assert pushed.header("Content-Type") == "application/json"
        assert len(pushed.body) <= 4096
        assert pushed.body[20] == 65 and pushed.body[21] == 4
        assert b"StateChange" not in pushed.body and b"Verification" not in pushed.body
    assert verification.json(keys)["verificationCode"] == subscribed.code
    assert json.loads(keys.decrypt(change.body)) == {
        "@type": "StateChange", "changed": {A: {"Email": state}}}
    # a fresh sender key and salt per message
    assert verification.body[:16] != change.body[:16]
    assert verification.body[21:86] != change.body[21:86]
    # keys other than the subscription's cannot read it
    try:
        UserAgentKeys().decrypt(change.body)
    except Exception:
        pass
    else:
        raise AssertionError("decrypted with the wrong keys")


@pytest_twisted.ensureDeferred
async def test_retries_on_server_errors_and_429(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    await subscribe_and_verify(context(store), push_service, "/r")
    push_service.answer("/r", 500, 503, (429, {"Retry-After": "0"}))
    state = await write_email(store, A, "e1")
    pushes = await push_service.pushes_to("/r", 5)
    assert [p.json() for p in pushes[1:]] == [
        {"@type": "StateChange", "changed": {A: {"Email": state}}}] * 4
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(pushes[1:])]
    # exponential backoff: 0.02, 0.04, 0.08 s (no jitter in these tests)
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08
    assert await quiet(push_service) == 5


@pytest_twisted.ensureDeferred
async def test_timeouts_and_refused_connections_are_retried_then_given_up(
    store: StoreBundle, push_service: FakePushService, start_delivery: StartDelivery
) -> None:
    await start_delivery(store, exchange_timeout=0.1)
    ctx = context(store)
    await subscribe_and_verify(ctx, push_service, "/slow")
    push_service.answer("/slow", HANG)
    # a URL where nobody listens: every attempt fails to connect
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{unused.getsockname()[1]}/gone"
    dead = await create(ctx, dead_url)
    healthy = await subscribe_and_verify(ctx, push_service, "/healthy")
    await store.accounts.write(A, WriteBatch().update(TYPE_NAME, dead, {
        **(await store.accounts.get(A, TYPE_NAME, [dead]))[dead], "verificationCode": "x",
        "serverVerificationCode": "x"}))
    state = await write_email(store, A, "e1")
    # the hanging push service is given up on after 0.1 s and asked again
    slow = await push_service.pushes_to("/slow", 3)
    assert state_changes(slow[1:]) == [{A: {"Email": state}}] * 2
    # one subscription failing harms no other
    assert state_changes(push_service.to(healthy.path)) == [{A: {"Email": state}}]
    # the unreachable one is retried until FAST_RETRIES gives up (0.6 s), and kept
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        await sleep(0.8)
    finally:
        globalLogPublisher.removeObserver(events.append)
    # (the hanging one may give up in this window too, under load: look at the dead one's)
    [gave_up] = [
        e for e in events if "giving up" in e.get("log_format", "") and e.get("id") == dead
    ]
    assert gave_up["n"] >= 4
    # refused, or cut by the 0.1 s exchange timeout while Twisted waits out a refused connect
    assert gave_up["detail"].startswith(("ConnectionRefused", "ConnectingCancelled"))
    assert dead in await store.accounts.list_ids(A, TYPE_NAME)


@pytest_twisted.ensureDeferred
async def test_gone_destroys_the_subscription(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    ctx = context(store)
    first = await subscribe_and_verify(ctx, push_service, "/410")
    second = await subscribe_and_verify(ctx, push_service, "/404")
    kept = await subscribe_and_verify(ctx, push_service, "/400")
    push_service.answer("/410", 410)
    push_service.answer("/404", 404)
    push_service.answer("/400", 400)
    await write_email(store, A, "e1")
    await push_service.wait_for(lambda: all(
        len(push_service.to(p)) == 2 for p in ("/410", "/404", "/400")))

    async def remaining() -> list[str]:
        return sorted(await store.accounts.list_ids(A, TYPE_NAME))

    await push_service.wait_for(lambda: True)
    for _ in range(100):
        if await remaining() == [kept.id]:
            break
        await sleep(0.01)
    assert await remaining() == [kept.id]
    assert first.id != second.id
    # 400 is neither retried nor fatal: the next change is pushed
    state = await write_email(store, A, "e2")
    assert state_changes((await push_service.pushes_to("/400", 3))[2:]) == [{A: {"Email": state}}]
    assert len(push_service.to("/410")) == len(push_service.to("/404")) == 2


@pytest_twisted.ensureDeferred
async def test_expired_subscriptions_are_not_pushed_to_and_removed(
    store: StoreBundle, push_service: FakePushService, delivery: PushDeliveryService
) -> None:
    ctx = context(store)
    subscribed = await subscribe_and_verify(ctx, push_service, "/old")
    value = (await store.accounts.get(A, TYPE_NAME, [subscribed.id]))[subscribed.id]
    # it expired while nothing happened
    value["expires"] = format_utc_date(reactor.seconds() - 1)
    await store.accounts.write(A, WriteBatch().update(TYPE_NAME, subscribed.id, value))
    await write_email(store, A, "e1")
    assert await quiet(push_service) == 1
    assert await store.accounts.list_ids(A, TYPE_NAME) == []


@pytest_twisted.ensureDeferred
async def test_sweep_removes_expired_subscriptions_of_idle_accounts(
    store: StoreBundle, start_delivery: StartDelivery
) -> None:
    principal = await store.directory.create_principal("carol", None)
    expired = PushSubscription(
        id="Pold", device_client_id="d", url="https://push.example.net/", keys=None,
        expires=reactor.seconds() - 5, types=None, server_verification_code="c",
    )
    await store.accounts.write(
        principal.id, WriteBatch().create(TYPE_NAME, expired.id, expired.to_json())
    )
    await start_delivery(store, sweep_interval=0.05)
    for _ in range(200):
        if not await store.accounts.list_ids(principal.id, TYPE_NAME):
            break
        await sleep(0.01)
    assert await store.accounts.list_ids(principal.id, TYPE_NAME) == []


@pytest_twisted.ensureDeferred
async def test_sweep_sends_a_verification_whose_notification_was_lost(
    store: StoreBundle, push_service: FakePushService, start_delivery: StartDelivery
) -> None:
    principal = await store.directory.create_principal("dave", None)
    ctx = context(store, MailUser(principal.id, "dave"))
    subscription_id = await create(ctx, push_service.url("/late"))  # no delivery service yet
    await start_delivery(store, sweep_interval=0.05)
    [verification] = await push_service.pushes_to("/late", 1)
    assert verification.json()["pushSubscriptionId"] == subscription_id
    assert await quiet(push_service, 0.2) == 1  # and only once


@pytest_twisted.ensureDeferred
async def test_two_processes_push_each_change_once(
    redis_url: str, store: StoreBundle, push_service: FakePushService,
    start_delivery: StartDelivery,
) -> None:
    other = await open_redis_store(redis_url, reactor)
    try:
        await start_delivery(store)
        await start_delivery(other)
        ctx = context(store)
        await subscribe_and_verify(ctx, push_service, "/one")
        await subscribe_and_verify(ctx, push_service, "/two", types=["Email"])
        assert len(push_service.to("/one")) == len(push_service.to("/two")) == 1
        states = []
        for n in range(30):
            writer = store if n % 2 else other
            states.append(await write_email(writer, A, f"e{n}"))
            if n % 3 == 0:
                await sleep(WINDOW * 1.5)  # several batches, not one
        await push_service.wait_for(lambda: all(
            any(c[A]["Email"] == states[-1] for c in state_changes(push_service.to(p)))
            for p in ("/one", "/two")))
        await quiet(push_service)
        for path in ("/one", "/two"):
            pushed = [c[A]["Email"] for c in state_changes(push_service.to(path))]
            assert len(pushed) == len(set(pushed)), pushed  # no state pushed twice
            assert 1 < len(pushed) < 30  # batched, yet several batches
            assert set(pushed) <= set(states)
    finally:
        await other.close()


@pytest_twisted.ensureDeferred
async def test_starts_before_the_store_is_open_and_stops_cleanly(
    store: StoreBundle, push_service: FakePushService
) -> None:
    opened = False

    def current() -> StoreBundle:
        if not opened:
            raise StoreUnavailable("not yet")
        return store

    service = PushDeliveryService(
        current, reactor, batch_window=WINDOW,
        policy=RetryPolicy(initial_delay=5.0, give_up_after=60.0, jitter=0),
    )
    service.startService()
    await sleep(0.1)
    assert not service.subscribed.called
    opened = True
    await service.subscribed
    ctx = context(store)
    await subscribe_and_verify(ctx, push_service, "/p")
    push_service.answer("/p", 503)
    await write_email(store, A, "e1")
    await push_service.pushes_to("/p", 2)
    # now waiting 5 s to retry: stopping cancels that at once
    started = time.monotonic()
    await service.stopService()
    assert time.monotonic() - started < 0.5
    await write_email(store, A, "e2")
    await sleep(0.2)
    assert len(push_service.to("/p")) == 2
