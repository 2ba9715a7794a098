"""The usage seam as the Email code will use it, through the Parcel test type over HTTP:
usage moves atomically with the objects, over-quota creates are refused with nothing
written, and Quota/changes reports the change."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred, maybeDeferred

from stalwart_tx.jmap.mail.quota_usage import (
    check_quota,
    stage_limits,
    stage_usage,
    usage_and_limits,
)
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import StateChange
from tests.jmap.quota.conftest import Client


async def parcels_set(client: Client, **arguments: Any) -> dict[str, Any]:
    return await client.ok("Parcel/set", **arguments)


async def used(client: Client) -> tuple[int, int]:
    quotas = await client.quotas()
    return quotas["storage"]["used"], quotas["messages"]["used"]


@pytest_twisted.ensureDeferred
async def test_usage_moves_with_the_objects(client: Client) -> None:
    result = await parcels_set(client, create={"a": {"size": 100}, "b": {"size": 50}})
    assert result["notCreated"] is None
    ids = {key: value["id"] for key, value in result["created"].items()}
    assert await used(client) == (150, 2)
    result = await parcels_set(client, destroy=[ids["a"]])
    assert result["destroyed"] == [ids["a"]]
    assert await used(client) == (50, 1)


@pytest_twisted.ensureDeferred
async def test_over_quota_creates_are_refused_and_nothing_is_written(client: Client) -> None:
    await client.set_limits(storage=100, messages=3)
    parcel_state = (await client.ok("Parcel/get", ids=[]))["state"]
    quota_state = (await client.ok("Quota/get", ids=[]))["state"]

    result = await parcels_set(client, create={"big": {"size": 101}})
    assert result["created"] is None
    assert result["notCreated"]["big"]["type"] == "overQuota"
    assert (await client.ok("Parcel/get"))["list"] == []
    assert (await client.ok("Parcel/get", ids=[]))["state"] == parcel_state
    assert (await client.ok("Quota/get", ids=[]))["state"] == quota_state
    assert await used(client) == (0, 0)

    # within one call, each create counts the ones before it: the third passes the limit
    result = await parcels_set(client, create={"p1": {"size": 40}, "p2": {"size": 40},
                                               "p3": {"size": 40}})
    assert sorted(result["created"]) == ["p1", "p2"]
    assert result["notCreated"]["p3"]["type"] == "overQuota"
    assert await used(client) == (80, 2)
    assert len((await client.ok("Parcel/get"))["list"]) == 2

    # the message count is a limit of its own
    result = await parcels_set(client, create={"s1": {"size": 1}, "s2": {"size": 1}})
    assert list(result["created"]) == ["s1"]
    assert result["notCreated"]["s2"]["type"] == "overQuota"
    assert await used(client) == (81, 3)


@pytest_twisted.ensureDeferred
async def test_freeing_space_is_always_allowed(client: Client) -> None:
    created = await parcels_set(client, create={"a": {"size": 500}})
    parcel = created["created"]["a"]["id"]
    await client.set_limits(storage=100)  # lowered below what is used
    refused = await parcels_set(client, create={"b": {"size": 1}})
    assert refused["notCreated"]["b"]["type"] == "overQuota"
    result = await parcels_set(client, destroy=[parcel])
    assert result["destroyed"] == [parcel]
    assert await used(client) == (0, 0)
    await client.set_limits(storage=None)
    result = await parcels_set(client, create={"c": {"size": 10**9}})
    assert result["notCreated"] is None


@pytest_twisted.ensureDeferred
async def test_quota_changes_reports_the_write(client: Client) -> None:
    await client.set_limits(storage=1000)
    since = (await client.ok("Quota/get", ids=[]))["state"]
    await parcels_set(client, create={"a": {"size": 10}})
    changes = await client.ok("Quota/changes", sinceState=since)
    assert (changes["created"], sorted(changes["updated"]), changes["destroyed"]) == (
        [], ["messages", "storage"], []
    )
    since = changes["newState"]
    refused = await parcels_set(client, create={"b": {"size": 5000}})
    assert refused["notCreated"]["b"]["type"] == "overQuota"
    changes = await client.ok("Quota/changes", sinceState=since)
    assert (changes["created"], changes["updated"], changes["newState"]) == ([], [], since)


@pytest_twisted.ensureDeferred
async def test_concurrent_writers_never_pass_the_limit(client: Client) -> None:
    await client.set_limits(storage=100)
    calls = [
        ensureDeferred(parcels_set(client, create={"p": {"size": 30}})) for _ in range(8)
    ]
    results = [value for _ok, value in await DeferredList(calls, consumeErrors=False)]
    made = sum(1 for r in results if r["created"])
    assert made == 3
    assert all(r["notCreated"]["p"]["type"] == "overQuota" for r in results if not r["created"])
    assert await used(client) == (90, 3)
    assert len((await client.ok("Parcel/get"))["list"]) == 3


@pytest_twisted.ensureDeferred
async def test_the_seam_refuses_bad_limits_and_reads_back(client: Client) -> None:
    objects = WorkingSet(client.server.store, client.account)
    assert await usage_and_limits(objects) == {"storage": (0, None), "messages": (0, None)}
    assert await check_quota(objects, 10**12, 10**6) is None  # nothing set: no limit
    for bad in ({"storage": -1}, {"octets": 3}, {"messages": 2**53}):
        with pytest.raises(ValueError):
            await stage_limits(objects, bad)
    await stage_limits(objects, {"messages": 7})
    await stage_usage(objects, 0, 2)
    assert await usage_and_limits(objects) == {"storage": (0, None), "messages": (2, 7)}
    await client.server.store.accounts.write(client.account, objects.batch())
    fresh = WorkingSet(client.server.store, client.account)
    assert await usage_and_limits(fresh) == {"storage": (0, None), "messages": (2, 7)}
    error = await check_quota(fresh, 0, 6)
    assert error is not None and error.type == "overQuota"
    assert await check_quota(fresh, 0, 5) is None


@pytest_twisted.ensureDeferred
async def test_usage_changes_are_published_for_push(client: Client) -> None:
    heard: list[StateChange] = []
    quota_moved: Deferred[None] = Deferred()

    def listener(change: StateChange) -> None:
        heard.append(change)
        if "Quota" in change.changed and not quota_moved.called:
            quota_moved.callback(None)

    subscription = await client.server.store.notifier.subscribe(listener)
    try:
        await parcels_set(client, create={"a": {"size": 10}})
        await quota_moved.addTimeout(5, reactor)
    finally:
        await maybeDeferred(subscription.cancel)
    change = next(c for c in heard if "Quota" in c.changed)
    assert change.account_id == client.account
    # one write, one notification: the Parcel and Quota states moved together
    assert change.changed["Quota"] == (await client.ok("Quota/get", ids=[]))["state"]
    assert change.changed["Parcel"] == (await client.ok("Parcel/get", ids=[]))["state"]
