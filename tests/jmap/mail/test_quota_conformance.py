"""Quota (RFC 9425) checked as an independent suite checks it, through the mail methods.

Usage moves with Email/import, Email/set create and destroy, and a Mailbox destroyed with its
Emails; the Quota objects have every property of RFC 9425 §4 with values of its types;
Quota/get ids null and properties, Quota/changes after a write, Quota/query filters and sorts.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted

from stalwart_tx.jmap.mail.quota_usage import stage_limits
from stalwart_tx.jmap.standard.working_set import WorkingSet
from tests.jmap.mail.conftest import Emails, message

PROPERTIES = {
    "id", "resourceType", "used", "hardLimit", "warnLimit", "softLimit", "scope", "name",
    "types", "description",
}


async def usage(emails: Emails) -> dict[str, int]:
    """``used`` by resourceType."""
    found = (await emails.ok("Quota/get", ids=None))["list"]
    return {quota["resourceType"]: quota["used"] for quota in found}


async def set_limits(emails: Emails, **limits: int | None) -> None:
    objects = WorkingSet(emails.server.store, emails.account)
    await stage_limits(objects, limits)
    await emails.server.store.accounts.write(emails.account, objects.batch())


def is_unsigned(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


@pytest_twisted.ensureDeferred
async def test_used_follows_imports_and_destroys_in_octets_and_count(emails: Emails) -> None:
    raws = [message(f"m{n}", message_id=f"u{n}@x", body="x" * (10 * n + 1)) for n in range(3)]
    created = [await emails.import_raw(raw) for raw in raws]
    assert [c["size"] for c in created] == [len(raw) for raw in raws]
    assert await usage(emails) == {"octets": sum(map(len, raws)), "count": 3}
    result = await emails.ok("Email/set", destroy=[created[0]["id"], created[2]["id"]])
    assert sorted(result["destroyed"]) == sorted([created[0]["id"], created[2]["id"]])
    assert await usage(emails) == {"octets": len(raws[1]), "count": 1}
    # destroying an id already gone changes nothing
    result = await emails.ok("Email/set", destroy=[created[0]["id"]])
    assert result["notDestroyed"][created[0]["id"]]["type"] == "notFound"
    assert await usage(emails) == {"octets": len(raws[1]), "count": 1}


@pytest_twisted.ensureDeferred
async def test_an_email_in_two_mailboxes_counts_once(emails: Emails) -> None:
    inbox = await emails.inbox()
    folder = await emails.create(name="Folder")
    raw = message("twice", message_id="t@x")
    created = await emails.import_raw(raw, [inbox, folder])
    assert await usage(emails) == {"octets": len(raw), "count": 1}
    await emails.ok("Email/set", update={created["id"]: {f"mailboxIds/{folder}": None}})
    assert await usage(emails) == {"octets": len(raw), "count": 1}


@pytest_twisted.ensureDeferred
async def test_a_mailbox_destroyed_with_its_emails_frees_their_usage(emails: Emails) -> None:
    inbox = await emails.inbox()
    folder = await emails.create(name="Folder")
    gone = message("gone", message_id="g1@x")
    kept = message("kept", message_id="g2@x")
    await emails.import_raw(gone, [folder])
    await emails.import_raw(kept, [folder, inbox])
    result = await emails.set(destroy=[folder], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [folder]
    assert await usage(emails) == {"octets": len(kept), "count": 1}


@pytest_twisted.ensureDeferred
async def test_email_set_create_adds_the_size_it_reports(emails: Emails) -> None:
    drafts = (await emails.mailboxes())["Drafts"]["id"]
    result = await emails.ok("Email/set", create={"d": {
        "mailboxIds": {drafts: True},
        "subject": "draft",
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyValues": {"t": {"value": "Hello\n"}},
    }})
    size = result["created"]["d"]["size"]
    assert is_unsigned(size) and size > 0
    assert await usage(emails) == {"octets": size, "count": 1}


@pytest_twisted.ensureDeferred
async def test_every_quota_has_the_rfc_properties_with_their_types(emails: Emails) -> None:
    await emails.import_raw(message("p", message_id="p@x"))
    await set_limits(emails, storage=10_000_000, messages=None)
    got = await emails.ok("Quota/get", ids=None)
    assert isinstance(got["state"], str) and got["notFound"] == []
    assert len(got["list"]) >= 1
    for quota in got["list"]:
        assert set(quota) == PROPERTIES, quota
        assert isinstance(quota["id"], str) and quota["id"]
        assert quota["resourceType"] in ("count", "octets")
        assert quota["scope"] in ("account", "domain", "global")
        assert isinstance(quota["name"], str)
        assert isinstance(quota["types"], list) and "Email" in quota["types"]
        assert all(isinstance(t, str) for t in quota["types"])
        assert is_unsigned(quota["used"]) and is_unsigned(quota["hardLimit"])
        for optional in ("warnLimit", "softLimit"):
            assert quota[optional] is None or is_unsigned(quota[optional])
        assert quota["description"] is None or isinstance(quota["description"], str)
    by_type = {q["resourceType"]: q for q in got["list"]}
    assert by_type["octets"]["hardLimit"] == 10_000_000
    # a warning comes before the hard limit
    warn = by_type["octets"]["warnLimit"]
    assert warn is None or warn < 10_000_000


@pytest_twisted.ensureDeferred
async def test_get_by_ids_with_properties(emails: Emails) -> None:
    await emails.import_raw(message("p", message_id="p@x"))
    ids = [q["id"] for q in (await emails.ok("Quota/get", ids=None))["list"]]
    got = await emails.ok("Quota/get", ids=[*ids, "nope"], properties=[])
    assert sorted(got["list"], key=lambda q: q["id"]) == [{"id": i} for i in sorted(ids)]
    assert got["notFound"] == ["nope"]
    got = await emails.ok("Quota/get", ids=ids[:1], properties=["used"])
    assert set(got["list"][0]) == {"id", "used"}
    await emails.error("Quota/get", "invalidArguments", ids=None, properties=["quota"])


@pytest_twisted.ensureDeferred
async def test_changes_after_an_import_lists_the_quotas_it_moved(emails: Emails) -> None:
    await emails.import_raw(message("first", message_id="c1@x"))
    before = (await emails.ok("Quota/get", ids=[]))["state"]
    await emails.import_raw(message("second", message_id="c2@x"))
    changes = await emails.ok("Quota/changes", sinceState=before)
    assert changes["oldState"] == before
    assert changes["created"] == [] and changes["destroyed"] == []
    ids = {q["resourceType"]: q["id"] for q in (await emails.ok("Quota/get"))["list"]}
    assert sorted(changes["updated"]) == sorted([ids["octets"], ids["count"]])
    # null, or a list naming used (only used moved)
    assert changes["updatedProperties"] in (None, ["used"])
    assert changes["newState"] == (await emails.ok("Quota/get", ids=[]))["state"]
    assert changes["newState"] != before


@pytest_twisted.ensureDeferred
async def test_query_filters_and_sorts_on_live_usage(emails: Emails) -> None:
    raw = message("q", message_id="q@x")
    await emails.import_raw(raw)
    quotas = {q["resourceType"]: q for q in (await emails.ok("Quota/get"))["list"]}
    octets, count = quotas["octets"]["id"], quotas["count"]["id"]

    async def query(**arguments: Any) -> list[str]:
        ids: list[str] = (await emails.ok("Quota/query", **arguments))["ids"]
        return ids

    assert sorted(await query()) == sorted([octets, count])
    assert await query(filter={"resourceType": "octets"}) == [octets]
    assert await query(filter={"resourceType": "count"}) == [count]
    assert await query(filter={"resourceType": "bytes"}) == []
    assert sorted(await query(filter={"scope": "account"})) == sorted([octets, count])
    assert await query(filter={"scope": "global"}) == []
    assert sorted(await query(filter={"type": "Email"})) == sorted([octets, count])
    assert await query(filter={"type": "Mailbox"}) == []
    # the name contains the string: a part of one name finds that quota
    name = quotas["octets"]["name"]
    assert octets in await query(filter={"name": name})
    assert octets in await query(filter={"name": name[1:-1]})
    assert await query(filter={"name": name + "\u2603"}) == []
    both = {"operator": "AND", "conditions": [{"type": "Email"}, {"resourceType": "count"}]}
    assert await query(filter=both) == [count]
    # used: 1 message against len(raw) octets
    assert await query(sort=[{"property": "used"}]) == [count, octets]
    assert await query(sort=[{"property": "used", "isAscending": False}]) == [octets, count]
    names = sorted([(quotas["octets"]["name"], octets), (quotas["count"]["name"], count)])
    assert await query(sort=[{"property": "name"}]) == [i for _, i in names]
    await emails.error("Quota/query", "unsupportedSort", sort=[{"property": "resourceType"}])
    await emails.error("Quota/query", "unsupportedFilter", filter={"hardLimit": 1})


@pytest_twisted.ensureDeferred
async def test_query_changes_after_usage_moves_the_used_order(emails: Emails) -> None:
    await emails.import_raw(message("a", message_id="qc1@x"))
    sort = [{"property": "used"}]
    before = await emails.ok("Quota/query", sort=sort)
    await emails.import_raw(message("b", message_id="qc2@x"))
    after = await emails.ok("Quota/query", sort=sort)
    changes = await emails.ok("Quota/queryChanges", sort=sort,
                              sinceQueryState=before["queryState"])
    assert changes["oldQueryState"] == before["queryState"]
    assert changes["newQueryState"] == after["queryState"]
    # applying the changes to the old ids gives the new ones (RFC 8620 §5.6)
    ids = [i for i in before["ids"] if i not in changes["removed"]]
    for added in sorted(changes["added"], key=lambda a: a["index"]):
        ids.insert(added["index"], added["id"])
    assert ids == after["ids"]


@pytest_twisted.ensureDeferred
async def test_over_quota_import_changes_no_usage(emails: Emails) -> None:
    first = message("fits", message_id="o1@x")
    await emails.import_raw(first)
    await set_limits(emails, storage=len(first) + 10)
    blob = await emails.upload(message("too big", message_id="o2@x", body="y" * 100))
    result = await emails.ok("Email/import", emails={
        "e": {"blobId": blob, "mailboxIds": {await emails.inbox(): True}},
    })
    assert result["created"] is None
    assert result["notCreated"]["e"]["type"] == "overQuota"
    assert await usage(emails) == {"octets": len(first), "count": 1}
