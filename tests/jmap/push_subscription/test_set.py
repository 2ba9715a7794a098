"""PushSubscription/set (RFC 8620 §7.2.2, §5.3), calling the handler directly on both stores."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.push_subscription import MAX_SUBSCRIPTIONS_PER_USER
from stalwart_tx.push.subscription import TYPE_NAME, PushSubscription, format_utc_date
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.push_subscription.conftest import ALICE, call_get, call_set, context, create
from tests.jmap.push_subscription.fake_push_service import UserAgentKeys, b64url

URL = "https://push.example.net/p/1"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
WEEK = 7 * 24 * 3600


def clock_at(seconds: float) -> Clock:
    clock = Clock()
    clock.advance(seconds)
    return clock


async def stored(store: StoreBundle, subscription_id: str) -> PushSubscription:
    value = (await store.accounts.get(ALICE.account_id, TYPE_NAME, [subscription_id]))
    return PushSubscription.from_json(value[subscription_id])


async def not_created(store: StoreBundle, value: dict[str, Any]) -> dict[str, Any]:
    """The SetError of creating ``value``, after checking that nothing was stored."""
    response = await call_set(context(store), create={"c": value})
    assert response["created"] is None, response
    assert await store.accounts.list_ids(ALICE.account_id, TYPE_NAME) == []
    error: dict[str, Any] = response["notCreated"]["c"]
    return error


@pytest_twisted.ensureDeferred
async def test_create_reports_id_expiry_and_defaults(any_store: StoreBundle) -> None:
    ctx = context(any_store, clock=clock_at(NOW))
    response = await call_set(ctx, create={"k1": {"deviceClientId": "d", "url": URL}})
    created = response["created"]["k1"]
    # §5.3: the id, what the server chose (expiry: at most a week) and the omitted defaults
    assert created == {"id": created["id"], "expires": format_utc_date(NOW + WEEK),
                       "keys": None, "types": None, "verificationCode": None}
    assert response["notCreated"] is None
    assert response["updated"] is response["destroyed"] is None
    assert ctx.created_ids == {"k1": created["id"]}
    subscription = await stored(any_store, created["id"])
    assert subscription.url == URL and subscription.keys is None
    assert not subscription.is_verified
    # §7.2.2: enough entropy that the code cannot be guessed
    assert len(subscription.server_verification_code) >= 32


@pytest_twisted.ensureDeferred
async def test_expires_is_clamped_and_reported(any_store: StoreBundle) -> None:
    ctx = context(any_store, clock=clock_at(NOW))
    asks = {
        "far": "2100-01-01T00:00:00Z",
        "near": format_utc_date(NOW + 3600),
        "fraction": format_utc_date(NOW + 60)[:-1] + ".75Z",
    }
    response = await call_set(ctx, create={
        key: {"deviceClientId": key, "url": URL, "expires": value} for key, value in asks.items()
    })
    assert response["created"]["far"]["expires"] == format_utc_date(NOW + WEEK)
    assert response["created"]["near"]["expires"] == asks["near"]
    assert response["created"]["fraction"]["expires"] == format_utc_date(NOW + 60)
    listed = {s["deviceClientId"]: s["expires"] for s in (await call_get(ctx))["list"]}
    assert listed == {k: v["expires"] for k, v in response["created"].items()}


@pytest.mark.parametrize("expires", [
    format_utc_date(NOW), format_utc_date(NOW - 1), "2027-01-15T09:00:00", "2027-01-15t09:00:00z",
    "2027-01-15T09:00:00+00:00", "2027-02-30T00:00:00Z", "tomorrow", 1800003600,
])
@pytest_twisted.ensureDeferred
async def test_bad_expiry(any_store: StoreBundle, expires: object) -> None:
    ctx = context(any_store, clock=clock_at(NOW))
    response = await call_set(ctx, create={"c": {"deviceClientId": "d", "url": URL,
                                                 "expires": expires}})
    assert response["notCreated"]["c"]["type"] == "invalidProperties"
    assert response["notCreated"]["c"]["properties"] == ["expires"]


@pytest.mark.parametrize("url", [
    "http://push.example.net/p",  # §7.2: MUST begin with https://
    "http://10.0.0.1/p", "ftp://push.example.net/p", "https://", "https:///p", "push.example.net/p",
    "https://user:pw@push.example.net/p", "https://push.example.net/p#frag",
    "https://push.example.net/ü", "https://push.example.net/a b", "https://push.example.net:99999/",
    "https://push.example.net/" + "x" * 2100, "", None, 7,
])
@pytest_twisted.ensureDeferred
async def test_bad_url(any_store: StoreBundle, url: object) -> None:
    error = await not_created(any_store, {"deviceClientId": "d", "url": url})
    assert error["type"] == "invalidProperties"
    assert error["properties"] == ["url"]


@pytest.mark.parametrize("url", [
    "https://push.example.net/p?a=1&b=%2F", "https://[2001:db8::1]:8443/p",
    "http://127.0.0.1:8080/p", "http://127.9.9.9/p", "http://[::1]:1/p", "http://localhost/p",
])
@pytest_twisted.ensureDeferred
async def test_good_url(any_store: StoreBundle, url: str) -> None:
    subscription_id = await create(context(any_store), url)
    assert (await stored(any_store, subscription_id)).url == url


def _keys(**changes: object) -> dict[str, object]:
    keys: dict[str, object] = dict(UserAgentKeys().to_json())
    keys.update(changes)
    return {k: v for k, v in keys.items() if v is not None}


@pytest.mark.parametrize(("keys", "bad"), [
    ("k", "keys"),
    ([], "keys"),
    (_keys(auth=None), "keys/auth"),
    (_keys(p256dh=None), "keys/p256dh"),
    (_keys(auth=b64url(b"x" * 15)), "keys/auth"),
    (_keys(auth="not base64!"), "keys/auth"),
    (_keys(p256dh=b64url(b"\x04" + b"\x01" * 64)), "keys/p256dh"),  # not on the curve
    (_keys(p256dh=b64url(b"\x02" + b"\x01" * 32)), "keys/p256dh"),  # compressed
    (_keys(p256dh=12), "keys/p256dh"),
    (_keys(extra="x"), "keys/extra"),
])
@pytest_twisted.ensureDeferred
async def test_bad_keys(any_store: StoreBundle, keys: object, bad: str) -> None:
    error = await not_created(any_store, {"deviceClientId": "d", "url": URL, "keys": keys})
    assert error == {"type": "invalidProperties", "properties": [bad],
                     "description": error["description"]}


@pytest_twisted.ensureDeferred
async def test_padded_base64_keys_are_accepted(any_store: StoreBundle) -> None:
    keys = UserAgentKeys().to_json()
    padded = {"p256dh": keys["p256dh"] + "=", "auth": keys["auth"] + "=="}
    await create(context(any_store), URL, keys=padded)


@pytest_twisted.ensureDeferred
async def test_every_invalid_property_is_named(any_store: StoreBundle) -> None:
    error = await not_created(any_store, {
        "id": "mine", "url": "http://example.net/", "verificationCode": "guess", "types": "Email",
        "expires": "soon", "keys": {}, "colour": "blue",
    })
    assert error["type"] == "invalidProperties"
    assert sorted(error["properties"]) == sorted([
        "id", "url", "verificationCode", "types", "expires", "keys/p256dh", "colour",
        "deviceClientId",
    ])


@pytest.mark.parametrize("value", [None, "x", 3, []])
@pytest_twisted.ensureDeferred
async def test_create_value_must_be_an_object(any_store: StoreBundle, value: object) -> None:
    error = await not_created(any_store, value)  # type: ignore[arg-type]
    assert error["type"] == "invalidProperties"


@pytest_twisted.ensureDeferred
async def test_types(any_store: StoreBundle) -> None:
    subscription_id = await create(context(any_store), URL, types=["Email", "Mailbox", "Email"])
    assert (await stored(any_store, subscription_id)).types == ("Email", "Mailbox")
    for bad in ("Email", [1], [""], ["a b"], ["x"] * 200, {"Email": True}):
        error = await not_created_again(any_store, {"deviceClientId": "d", "url": URL,
                                                     "types": bad})
        assert error["properties"] == ["types"], bad


async def not_created_again(store: StoreBundle, value: dict[str, Any]) -> dict[str, Any]:
    response = await call_set(context(store), create={"c": value})
    error: dict[str, Any] = response["notCreated"]["c"]
    return error


@pytest_twisted.ensureDeferred
async def test_verification_code(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    subscription_id = await create(ctx, URL)
    code = (await stored(any_store, subscription_id)).server_verification_code
    for wrong in ("guess", code[:-1], code + "x", "", None, 5):
        response = await call_set(ctx, update={subscription_id: {"verificationCode": wrong}})
        error = response["notUpdated"][subscription_id]
        # §7.2.2: a code other than the one sent is refused
        assert error["type"] == "invalidProperties"
        assert error["properties"] == ["verificationCode"]
        assert not (await stored(any_store, subscription_id)).is_verified
    response = await call_set(ctx, update={subscription_id: {"verificationCode": code}})
    assert response["updated"] == {subscription_id: None}
    assert (await stored(any_store, subscription_id)).is_verified
    listed = (await call_get(ctx, ids=[subscription_id]))["list"][0]
    assert listed["verificationCode"] == code
    # setting it again is harmless
    response = await call_set(ctx, update={subscription_id: {"verificationCode": code}})
    assert response["updated"] == {subscription_id: None}


@pytest_twisted.ensureDeferred
async def test_update_expiry_and_types(any_store: StoreBundle) -> None:
    clock = clock_at(NOW)
    ctx = context(any_store, clock=clock)
    subscription_id = await create(ctx, URL, expires=format_utc_date(NOW + 3600))
    clock.advance(3000)
    # extending: clamped to a week from now, and reported since the client did not ask for that
    response = await call_set(ctx, update={subscription_id: {"expires": "2100-01-01T00:00:00Z"}})
    assert response["updated"] == {subscription_id: {"expires": format_utc_date(NOW + 3000 + WEEK)}}
    wanted = format_utc_date(NOW + 7200)
    response = await call_set(ctx, update={subscription_id: {"expires": wanted,
                                                             "types": ["Mailbox"]}})
    assert response["updated"] == {subscription_id: None}
    listed = (await call_get(ctx, ids=[subscription_id]))["list"][0]
    assert (listed["expires"], listed["types"]) == (wanted, ["Mailbox"])
    response = await call_set(ctx, update={subscription_id: {"types": None}})
    assert (await stored(any_store, subscription_id)).types is None


@pytest_twisted.ensureDeferred
async def test_immutable_properties(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    keys = UserAgentKeys().to_json()
    subscription_id = await create(ctx, URL, keys=keys)
    for patch, bad in [
        ({"url": "https://other.example.net/"}, ["url"]),
        ({"keys": UserAgentKeys().to_json()}, ["keys"]),
        ({"keys": None}, ["keys"]),
        ({"deviceClientId": "other"}, ["deviceClientId"]),
        ({"id": "other"}, ["id"]),
        ({"serverVerificationCode": "mine"}, ["serverVerificationCode"]),
        ({"colour": "blue", "url": None}, ["colour", "url"]),
    ]:
        response = await call_set(ctx, update={subscription_id: patch})
        error = response["notUpdated"][subscription_id]
        assert (error["type"], sorted(error["properties"])) == ("invalidProperties", bad), patch
    # the same values are no change at all
    same = {"url": URL, "keys": keys, "deviceClientId": "device-1", "id": subscription_id}
    response = await call_set(ctx, update={subscription_id: same})
    assert response["updated"] == {subscription_id: None}


@pytest_twisted.ensureDeferred
async def test_bad_patches_and_unknown_ids(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    subscription_id = await create(ctx, URL)
    response = await call_set(ctx, update={
        subscription_id: {"types/0": "Email"}, "missing": {"types": None}, "#nope": {},
    })
    assert response["notUpdated"][subscription_id]["type"] == "invalidPatch"
    assert response["notUpdated"]["missing"]["type"] == "notFound"
    assert response["notUpdated"]["#nope"]["type"] == "notFound"
    response = await call_set(ctx, update={subscription_id: ["types"]})
    assert response["notUpdated"][subscription_id]["type"] == "invalidPatch"


@pytest_twisted.ensureDeferred
async def test_destroy(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    kept = await create(ctx, URL)
    gone = await create(ctx, URL)
    response = await call_set(ctx, destroy=[gone, "missing"])
    assert response["destroyed"] == [gone]
    assert response["notDestroyed"] == {"missing": {"type": "notFound"}}
    assert [s["id"] for s in (await call_get(ctx))["list"]] == [kept]
    response = await call_set(ctx, destroy=[gone])
    assert response["notDestroyed"][gone]["type"] == "notFound"


@pytest_twisted.ensureDeferred
async def test_create_update_destroy_by_creation_id(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    response = await call_set(ctx, create={"n": {"deviceClientId": "d", "url": URL}},
                              update={"#n": {"types": ["Email"]}}, destroy=["#n"])
    real = response["created"]["n"]["id"]
    assert response["updated"] == {"#n": None}
    assert response["destroyed"] == ["#n"]
    assert await any_store.accounts.list_ids(ALICE.account_id, TYPE_NAME) == []
    assert real


@pytest_twisted.ensureDeferred
async def test_bad_arguments(any_store: StoreBundle) -> None:
    ctx = context(any_store, limits=CoreLimits(maxObjectsInSet=2))
    for arguments, error in [
        ({"ifInState": "1"}, "invalidArguments"),
        ({"create": []}, "invalidArguments"),
        ({"update": "x"}, "invalidArguments"),
        ({"destroy": "x"}, "invalidArguments"),
        ({"destroy": [1]}, "invalidArguments"),
        ({"destroy": ["a", "b"], "update": {"c": {}}}, "requestTooLarge"),
    ]:
        with pytest.raises(MethodError) as caught:
            await call_set(ctx, **arguments)
        assert caught.value.type == error, arguments
    # "ifInState": null is the same as leaving it out; accountId is no argument
    response = await call_set(ctx, ifInState=None, accountId="whatever")
    assert response["created"] is None


@pytest_twisted.ensureDeferred
async def test_limit_per_user(any_store: StoreBundle) -> None:
    ctx = context(any_store, limits=CoreLimits(maxObjectsInSet=1000))
    response = await call_set(ctx, create={
        str(n): {"deviceClientId": f"d{n}", "url": URL}
        for n in range(MAX_SUBSCRIPTIONS_PER_USER + 2)
    })
    assert len(response["created"]) == MAX_SUBSCRIPTIONS_PER_USER
    assert {e["type"] for e in response["notCreated"].values()} == {"overQuota"}


@pytest_twisted.ensureDeferred
async def test_concurrent_updates_both_apply(any_store: StoreBundle) -> None:
    ctx = context(any_store)
    subscription_id = await create(ctx, URL)
    code = (await stored(any_store, subscription_id)).server_verification_code
    patches = [
        {"verificationCode": code}, {"types": ["Email"]}, {"expires": "2100-01-01T00:00:00Z"},
    ]
    responses = await gatherResults([
        Deferred.fromCoroutine(call_set(context(any_store), update={subscription_id: patch}))
        for patch in patches
    ])
    assert all(subscription_id in r["updated"] for r in responses)
    final = await stored(any_store, subscription_id)
    assert final.is_verified and final.types == ("Email",)
