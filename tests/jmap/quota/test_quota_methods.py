"""Quota/get, /changes, /query, /queryChanges (RFC 9425) over POST /jmap/api/."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE, QUOTA
from stalwart_tx.jmap.mail.quota_usage import UNLIMITED, stage_usage
from stalwart_tx.jmap.standard.working_set import WorkingSet
from tests.jmap.quota.conftest import Client

STORAGE = {
    "id": "storage",
    "resourceType": "octets",
    "used": 0,
    "hardLimit": 1000,
    "warnLimit": 900,
    "softLimit": None,
    "scope": "account",
    "name": "Mail storage",
    "types": ["Email"],
    "description": "Octets of all the messages of the account",
}
MESSAGES = {
    "id": "messages",
    "resourceType": "count",
    "used": 0,
    "hardLimit": UNLIMITED,
    "warnLimit": None,
    "softLimit": None,
    "scope": "account",
    "name": "Mail messages",
    "types": ["Email"],
    "description": "Number of messages in the account",
}


async def use(client: Client, octets: int, messages: int) -> None:
    """As the Email code will: stage usage in a working set and write it atomically."""
    objects = WorkingSet(client.server.store, client.account)
    await stage_usage(objects, octets, messages)
    await client.server.store.accounts.write(client.account, objects.batch())


@pytest_twisted.ensureDeferred
async def test_the_capability_is_in_the_session(client: Client) -> None:
    session = await client.server.session()
    assert session["capabilities"][QUOTA] == {}
    account = session["accounts"][client.account]
    assert account["accountCapabilities"][QUOTA] == {}
    assert session["primaryAccounts"][QUOTA] == client.account


@pytest_twisted.ensureDeferred
async def test_get_shows_both_quotas_once_set(client: Client) -> None:
    got = await client.ok("Quota/get")
    assert got["list"] == [] and got["notFound"] == []
    await client.set_limits(storage=1000)
    got = await client.ok("Quota/get", ids=["storage", "messages", "nope"])
    assert got["list"] == [STORAGE, MESSAGES]
    assert got["notFound"] == ["nope"]
    got = await client.ok("Quota/get", ids=["storage"], properties=["used", "hardLimit"])
    assert got["list"] == [{"id": "storage", "used": 0, "hardLimit": 1000}]


@pytest_twisted.ensureDeferred
async def test_usage_shows_in_used(client: Client) -> None:
    await use(client, 500, 2)
    await use(client, -100, -1)
    quotas = await client.quotas()
    assert (quotas["storage"]["used"], quotas["messages"]["used"]) == (400, 1)
    await use(client, -1000, -5)  # never below zero
    quotas = await client.quotas()
    assert (quotas["storage"]["used"], quotas["messages"]["used"]) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_quotas_are_read_only(client: Client) -> None:
    await client.error("Quota/set", "unknownMethod", update={"storage": {"hardLimit": 1}})
    reply = await client.server.call(["Quota/get", {"accountId": client.account}, "c"],
                                     using=[CORE])
    assert reply["methodResponses"][0][1]["type"] == "unknownMethod"


@pytest_twisted.ensureDeferred
async def test_changes_lists_quotas_as_usage_moves(client: Client) -> None:
    first = (await client.ok("Quota/get"))["state"]
    await client.set_limits(storage=1000, messages=10)
    changes = await client.ok("Quota/changes", sinceState=first)
    assert sorted(changes["created"]) == ["messages", "storage"]
    assert (changes["updated"], changes["destroyed"]) == ([], [])
    second = changes["newState"]
    await use(client, 10, 0)
    changes = await client.ok("Quota/changes", sinceState=second)
    assert (changes["created"], changes["updated"], changes["destroyed"]) == (
        [], ["storage"], []
    )
    assert changes["updatedProperties"] is None
    assert changes["newState"] == (await client.ok("Quota/get", ids=[]))["state"]
    await client.error("Quota/changes", "cannotCalculateChanges", sinceState="bogus")


@pytest_twisted.ensureDeferred
async def test_query_filters(client: Client) -> None:
    assert await client.query() == []
    await client.set_limits(storage=1000)
    assert await client.query() == ["messages", "storage"]  # by id when unsorted
    assert await client.query(filter={"name": "STORAGE"}) == ["storage"]
    assert await client.query(filter={"name": "mail"}) == ["messages", "storage"]
    assert await client.query(filter={"name": "calendar"}) == []
    assert await client.query(filter={"scope": "account"}) == ["messages", "storage"]
    assert await client.query(filter={"scope": "domain"}) == []
    assert await client.query(filter={"resourceType": "octets"}) == ["storage"]
    assert await client.query(filter={"resourceType": "count"}) == ["messages"]
    assert await client.query(filter={"type": "Email"}) == ["messages", "storage"]
    assert await client.query(filter={"type": "Calendar"}) == []
    combined = {"operator": "NOT", "conditions": [{"resourceType": "count"}]}
    assert await client.query(filter=combined) == ["storage"]
    await client.error("Quota/query", "unsupportedFilter", filter={"used": 3})


@pytest_twisted.ensureDeferred
async def test_query_sorts(client: Client) -> None:
    await use(client, 3, 5)
    by_name = [{"property": "name"}]
    assert await client.query(sort=by_name) == ["messages", "storage"]
    assert await client.query(sort=[{"property": "name", "isAscending": False}]) == [
        "storage", "messages"
    ]
    assert await client.query(sort=[{"property": "used"}]) == ["storage", "messages"]
    await use(client, 10, 0)
    assert await client.query(sort=[{"property": "used"}]) == ["messages", "storage"]
    assert await client.query(sort=[{"property": "used", "isAscending": False}]) == [
        "storage", "messages"
    ]
    result = await client.ok("Quota/query", sort=by_name, position=1, calculateTotal=True)
    assert (result["ids"], result["total"], result["position"]) == (["storage"], 2, 1)
    await client.error("Quota/query", "unsupportedSort", sort=[{"property": "hardLimit"}])


@pytest_twisted.ensureDeferred
async def test_query_changes(client: Client) -> None:
    await use(client, 3, 5)
    sort = [{"property": "used"}]
    before = await client.ok("Quota/query", sort=sort)
    assert before["ids"] == ["storage", "messages"]
    await use(client, 10, 0)
    changes = await client.ok(
        "Quota/queryChanges", sort=sort, sinceQueryState=before["queryState"],
        calculateTotal=True,
    )
    assert changes["oldQueryState"] == before["queryState"]
    assert changes["removed"] == ["storage"]
    assert changes["added"] == [{"id": "storage", "index": 1}]
    assert changes["total"] == 2
    unchanged = await client.ok(
        "Quota/queryChanges", sort=sort, sinceQueryState=changes["newQueryState"]
    )
    assert (unchanged["removed"], unchanged["added"]) == ([], [])
    filtered = await client.ok(
        "Quota/queryChanges", filter={"resourceType": "count"},
        sinceQueryState=before["queryState"],
    )
    # every changed id is reported removed, matching or not (RFC 8620 §5.6 allows it)
    assert (filtered["removed"], filtered["added"]) == (["storage"], [])
