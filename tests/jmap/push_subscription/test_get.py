"""PushSubscription/get (RFC 8620 §7.2.1), calling the handler directly on both stores."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.push.subscription import TYPE_NAME
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.push_subscription.conftest import (
    ALICE,
    BOB,
    call_get,
    call_set,
    context,
    create,
)
from tests.jmap.push_subscription.fake_push_service import UserAgentKeys

URL = "https://push.example.net/sub/1?token=x"


@pytest_twisted.ensureDeferred
async def test_nothing_yet(any_store: StoreBundle) -> None:
    assert await call_get(context(any_store), ids=None) == {"list": [], "notFound": []}
    assert await call_get(context(any_store)) == {"list": [], "notFound": []}


@pytest_twisted.ensureDeferred
async def test_all_properties_but_url_and_keys(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    first = await create(ctx, URL, keys=UserAgentKeys().to_json(), types=["Email"],
                         expires="2100-01-01T00:00:00Z")
    second = await create(ctx, URL, deviceClientId="device-2")
    response = await call_get(ctx, ids=None)
    assert response["notFound"] == []
    by_id = {s["id"]: s for s in response["list"]}
    assert set(by_id) == {first, second}
    for item in response["list"]:
        # §7.2.1: url and keys MUST NOT be returned; nor anything the server keeps for itself
        assert set(item) == {"id", "deviceClientId", "verificationCode", "expires", "types"}
    assert by_id[first]["types"] == ["Email"]
    assert by_id[first]["verificationCode"] is None  # the client has not set it yet
    assert by_id[second]["deviceClientId"] == "device-2"
    assert by_id[second]["types"] is None


@pytest_twisted.ensureDeferred
async def test_asking_for_url_or_keys_is_forbidden(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    await create(ctx, URL)
    for properties in (["url"], ["keys"], ["id", "keys"], ["url", "keys"]):
        with pytest.raises(MethodError) as caught:
            await call_get(ctx, ids=None, properties=properties)
        assert caught.value.type == "forbidden"


@pytest_twisted.ensureDeferred
async def test_chosen_properties(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    subscription_id = await create(ctx, URL)
    response = await call_get(ctx, ids=[subscription_id], properties=["deviceClientId"])
    assert response["list"] == [{"id": subscription_id, "deviceClientId": "device-1"}]
    response = await call_get(ctx, ids=[subscription_id], properties=[])
    assert response["list"] == [{"id": subscription_id}]


@pytest_twisted.ensureDeferred
async def test_not_found_and_creation_id_references(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    response = await call_set(ctx, create={"new": {"deviceClientId": "d", "url": URL}})
    subscription_id = response["created"]["new"]["id"]
    response = await call_get(ctx, ids=["#new", "nope", subscription_id, "#unknown"])
    assert [s["id"] for s in response["list"]] == [subscription_id]
    assert response["notFound"] == ["nope", "#unknown"]


@pytest_twisted.ensureDeferred
async def test_only_the_users_own_subscriptions(any_store: StoreBundle) -> None:
    """§7.2.1: only those created with the same credentials (here: by the same user)."""
    alice, bob = context(any_store, ALICE), context(any_store, BOB)
    subscription_id = await create(alice, URL)
    assert await call_get(bob, ids=None) == {"list": [], "notFound": []}
    assert await call_get(bob, ids=[subscription_id]) == {"list": [], "notFound": [subscription_id]}
    response = await call_set(bob, update={subscription_id: {"types": None}},
                              destroy=[subscription_id])
    assert response["notUpdated"][subscription_id]["type"] == "notFound"
    assert response["notDestroyed"][subscription_id]["type"] == "notFound"
    assert len((await call_get(alice, ids=None))["list"]) == 1


@pytest_twisted.ensureDeferred
async def test_account_id_is_no_argument(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    await create(ctx, URL)
    # not taken: a stray accountId (even of another account) changes nothing
    response = await call_get(ctx, accountId=BOB.account_id, ids=None)
    assert len(response["list"]) == 1


@pytest_twisted.ensureDeferred
async def test_bad_arguments(any_store: StoreBundle) -> None:
    ctx = context(any_store, limits=CoreLimits(maxObjectsInGet=2))
    for arguments, error in [
        ({"ids": "x"}, "invalidArguments"),
        ({"ids": [1]}, "invalidArguments"),
        ({"properties": "id"}, "invalidArguments"),
        ({"properties": ["nonsense"]}, "invalidArguments"),
        ({"properties": ["serverVerificationCode"]}, "invalidArguments"),
        ({"ids": ["a", "b", "c"]}, "requestTooLarge"),
    ]:
        with pytest.raises(MethodError) as caught:
            await call_get(ctx, **arguments)
        assert caught.value.type == error, arguments


@pytest_twisted.ensureDeferred
async def test_malformed_stored_objects_are_never_shown(any_store: StoreBundle) -> None:
    from stalwart_tx.store.records import WriteBatch

    ctx = context(any_store)
    await any_store.accounts.write(
        ALICE.account_id, WriteBatch().create(TYPE_NAME, "junk", {"id": "junk"})
    )
    good = await create(ctx, URL)
    response = await call_get(ctx, ids=None)
    assert [s["id"] for s in response["list"]] == [good]


@pytest_twisted.ensureDeferred
async def test_expired_subscriptions_are_removed_not_shown(any_store: StoreBundle) -> None:
    from twisted.internet.task import Clock

    from stalwart_tx.push.subscription import format_utc_date

    clock = Clock()
    clock.advance(1_800_000_000)
    ctx = context(any_store, clock=clock)
    short = await create(ctx, URL, expires=format_utc_date(clock.seconds() + 60))
    long = await create(ctx, URL)
    clock.advance(60)  # §7.2: at "expires" it is over
    response = await call_get(ctx, ids=[short, long])
    assert [s["id"] for s in response["list"]] == [long]
    assert response["notFound"] == [short]
    assert await any_store.accounts.list_ids(ALICE.account_id, TYPE_NAME) == [long]
