"""Stores, a request context, a local push service and a delivery service for these tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.defer import maybeDeferred
from twisted.web.server import Site

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.push_subscription import get, set_
from stalwart_tx.push.retry import RetryPolicy
from stalwart_tx.push.service import PushDeliveryService
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from stalwart_tx.store.records import WriteBatch
from tests.jmap.push_subscription.fake_push_service import FakePushService, UserAgentKeys

ALICE = MailUser("alice-id", "alice")
BOB = MailUser("bob-id", "bob")
WINDOW = 0.05
# fast enough for tests, slow enough to see the backoff
FAST_RETRIES = RetryPolicy(initial_delay=0.02, max_delay=0.1, give_up_after=0.6, jitter=0)


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def any_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreBundle]:
    """Each backend in turn: the handlers' rules hold on both."""
    if request.param == "memory":
        yield await open_memory_store()
        return
    bundle = await open_redis_store(request.getfixturevalue("redis_url"), reactor)
    yield bundle
    await bundle.close()


@pytest_twisted.async_yield_fixture
async def store(redis_url: str) -> AsyncIterator[StoreBundle]:
    bundle = await open_redis_store(redis_url, reactor)
    yield bundle
    await bundle.close()


def context(store: StoreBundle, user: MailUser = ALICE, clock: Any = reactor,
            limits: CoreLimits | None = None) -> RequestContext:
    return RequestContext(user=user, store=store, limits=limits or CoreLimits(),
                          using=frozenset({CORE}), reactor=clock)


async def call_set(ctx: RequestContext, **arguments: Any) -> dict[str, Any]:
    response = await set_(ctx, arguments)
    # §7.2.2: no accountId, no states
    assert not {"accountId", "oldState", "newState"} & set(response)
    return response


async def call_get(ctx: RequestContext, **arguments: Any) -> dict[str, Any]:
    response = await get(ctx, arguments)
    assert not {"accountId", "state"} & set(response)  # §7.2.1
    return response


async def create(ctx: RequestContext, url: str, **properties: Any) -> str:
    """Create one subscription; return its id."""
    properties.setdefault("deviceClientId", "device-1")
    response = await call_set(ctx, create={"c": {"url": url, **properties}})
    assert response["notCreated"] is None, response
    subscription_id: str = response["created"]["c"]["id"]
    return subscription_id


@pytest_twisted.async_yield_fixture
async def push_service() -> AsyncIterator[FakePushService]:
    service = FakePushService()
    port = reactor.listenTCP(0, Site(service), interface="127.0.0.1")
    service.base = f"http://127.0.0.1:{port.getHost().port}"
    yield service
    service.release_hanging()
    await maybeDeferred(port.stopListening)


StartDelivery = Callable[..., Awaitable[PushDeliveryService]]


@pytest_twisted.async_yield_fixture
async def start_delivery() -> AsyncIterator[StartDelivery]:
    """Start delivery services (one per simulated process); all are stopped afterwards."""
    started: list[PushDeliveryService] = []

    async def start(store: StoreBundle, **options: Any) -> PushDeliveryService:
        options.setdefault("batch_window", WINDOW)
        options.setdefault("policy", FAST_RETRIES)
        options.setdefault("exchange_timeout", 1.0)
        service = PushDeliveryService(lambda: store, reactor, **options)
        service.startService()
        started.append(service)
        await service.subscribed
        return service

    yield start
    for service in started:
        if service.running:
            await service.stopService()


@pytest_twisted.async_fixture
async def delivery(store: StoreBundle, start_delivery: StartDelivery) -> PushDeliveryService:
    return await start_delivery(store)


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


@dataclass
class Subscribed:
    id: str
    path: str
    code: str


async def subscribe_and_verify(
    ctx: RequestContext, push: FakePushService, path: str,
    keys: UserAgentKeys | None = None, **properties: Any,
) -> Subscribed:
    """The whole client side of §7.2.2: create, receive the PushVerification, send its code."""
    if keys is not None:
        properties["keys"] = keys.to_json()
    subscription_id = await create(ctx, push.url(path), **properties)
    verification = (await push.pushes_to(path, 1))[0].json(keys)
    assert verification["pushSubscriptionId"] == subscription_id
    response = await call_set(
        ctx, update={subscription_id: {"verificationCode": verification["verificationCode"]}}
    )
    assert response["updated"] == {subscription_id: None}, response
    return Subscribed(subscription_id, path, verification["verificationCode"])


async def write_email(store: StoreBundle, account: str, object_id: str) -> str:
    """Create an Email object; return the new Email state."""
    result = await store.accounts.write(account, WriteBatch().create("Email", object_id, {}))
    return result.new_states["Email"]


def state_changes(pushes: list[Any], keys: UserAgentKeys | None = None) -> list[dict[str, Any]]:
    bodies = [p.json(keys) for p in pushes]
    return [b["changed"] for b in bodies if b["@type"] == "StateChange"]


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)
