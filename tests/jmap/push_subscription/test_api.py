"""PushSubscription end to end: POST /jmap/api/ on a real port, Redis and push service."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.api.conftest import StartServer, cheap_hashes, start_server  # noqa: F401
from tests.jmap.push_subscription.conftest import StartDelivery, write_email
from tests.jmap.push_subscription.fake_push_service import FakePushService, UserAgentKeys


@pytest_twisted.ensureDeferred
async def test_subscribe_verify_and_receive(
    store: StoreBundle, start_server: StartServer, start_delivery: StartDelivery,  # noqa: F811
    push_service: FakePushService,
) -> None:
    limits = CoreLimits()
    server = await start_server(store=store, registry=default_registry(limits), limits=limits)
    await start_delivery(store)
    keys = UserAgentKeys()
    # core is all a client needs to name in "using"; no accountId anywhere
    response = await server.call(
        ["PushSubscription/set", {"create": {"c1": {
            "deviceClientId": "phone", "url": push_service.url("/phone"),
            "keys": keys.to_json(), "types": ["Email"]}}}, "0"],
        ["PushSubscription/get", {"ids": ["#c1"]}, "1"],
        using=[CORE],
    )
    (set_name, set_args, _), (get_name, get_args, _) = response["methodResponses"]
    assert (set_name, get_name) == ("PushSubscription/set", "PushSubscription/get")
    subscription_id = set_args["created"]["c1"]["id"]
    assert not {"accountId", "oldState", "newState"} & set(set_args)
    assert not {"accountId", "state"} & set(get_args)
    [listed] = get_args["list"]
    assert listed["id"] == subscription_id and "url" not in listed and "keys" not in listed

    [verification] = await push_service.pushes_to("/phone", 1)
    code = verification.json(keys)["verificationCode"]
    response = await server.call(
        ["PushSubscription/set", {"update": {subscription_id: {"verificationCode": "wrong"}}}, "a"],
        ["PushSubscription/set", {"update": {subscription_id: {"verificationCode": code}}}, "b"],
        ["PushSubscription/get", {"ids": None, "properties": ["url"]}, "c"],
        using=[CORE],
    )
    wrong, right, forbidden = (r[1] for r in response["methodResponses"])
    assert wrong["notUpdated"][subscription_id]["properties"] == ["verificationCode"]
    assert right["updated"] == {subscription_id: None}
    assert response["methodResponses"][2][0] == "error" and forbidden["type"] == "forbidden"

    state = await write_email(store, server.user_id, "e1")
    pushes = await push_service.pushes_to("/phone", 2)
    assert pushes[1].json(keys) == {"@type": "StateChange",
                                    "changed": {server.user_id: {"Email": state}}}

    response = await server.call(
        ["PushSubscription/set", {"destroy": [subscription_id]}, "d"], using=[CORE]
    )
    assert response["methodResponses"][0][1]["destroyed"] == [subscription_id]
    await write_email(store, server.user_id, "e2")
    assert len(push_service.received) == 2


@pytest_twisted.ensureDeferred
async def test_another_user_sees_nothing(
    store: StoreBundle, start_server: StartServer,  # noqa: F811
) -> None:
    limits = CoreLimits()
    server = await start_server(store=store, registry=default_registry(limits), limits=limits)
    response = await server.call(
        ["PushSubscription/set", {"create": {"c": {
            "deviceClientId": "d", "url": "https://push.example.net/x"}}}, "0"], using=[CORE])
    subscription_id = response["methodResponses"][0][1]["created"]["c"]["id"]
    reply = await server.post({"using": [CORE], "methodCalls": [
        ["PushSubscription/get", {"ids": None}, "0"],
        ["PushSubscription/set", {"destroy": [subscription_id]}, "1"],
    ]}, token=server.other_token)
    assert reply.code == 200
    (_, listed, _), (_, destroyed, _) = reply.json()["methodResponses"]
    assert listed == {"list": [], "notFound": []}
    assert destroyed["notDestroyed"] == {subscription_id: {"type": "notFound"}}
