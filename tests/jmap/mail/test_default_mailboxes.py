"""The default mailboxes of a new account: made once, on the first mail call, even when many
first calls arrive together."""

from __future__ import annotations

import pytest_twisted
from twisted.internet.defer import ensureDeferred, gatherResults

from tests.jmap.mail.conftest import Mail

DEFAULTS = {
    "Inbox": "inbox", "Drafts": "drafts", "Sent": "sent", "Trash": "trash", "Junk": "junk",
    "Archive": "archive",
}
RIGHTS = {
    "mayReadItems", "mayAddItems", "mayRemoveItems", "maySetSeen", "maySetKeywords",
    "mayCreateChild", "mayRename", "mayDelete", "maySubmit",
}


@pytest_twisted.ensureDeferred
async def test_first_get_shows_the_default_mailboxes(mail: Mail) -> None:
    found = (await mail.ok("Mailbox/get"))["list"]
    assert {m["name"]: m["role"] for m in found} == DEFAULTS
    assert len(found) == 6
    inbox = next(m for m in found if m["role"] == "inbox")
    assert set(inbox) == {
        "id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails",
        "totalThreads", "unreadThreads", "myRights", "isSubscribed",
    }
    assert inbox["parentId"] is None and inbox["isSubscribed"] is True
    assert (inbox["totalEmails"], inbox["unreadEmails"], inbox["totalThreads"],
            inbox["unreadThreads"]) == (0, 0, 0, 0)
    assert inbox["myRights"] == dict.fromkeys(RIGHTS, True)
    # sortOrder follows the listed order, so clients show them alike
    ordered = await mail.query(sort=[{"property": "sortOrder"}])
    by_id = {m["id"]: m["name"] for m in found}
    assert [by_id[i] for i in ordered] == [
        "Inbox", "Drafts", "Sent", "Trash", "Junk", "Archive"
    ]


@pytest_twisted.ensureDeferred
async def test_concurrent_first_requests_make_one_set(mail: Mail) -> None:
    calls = [
        ensureDeferred(
            mail.ok("Mailbox/get") if i % 3 == 0 else
            mail.ok("Mailbox/query") if i % 3 == 1 else
            mail.ok("Mailbox/set", create={"x": {"name": f"Mine {i}"}})
        )
        for i in range(12)
    ]
    await gatherResults(calls)
    found = (await mail.ok("Mailbox/get"))["list"]
    roles = sorted(m["role"] for m in found if m["role"] is not None)
    assert roles == sorted(DEFAULTS.values())
    assert len(found) == 6 + 4  # the defaults once, and the four created by the /set calls


@pytest_twisted.ensureDeferred
async def test_first_changes_call_lists_the_defaults_as_created(mail: Mail) -> None:
    before = await mail.server.store.changes.current_state(mail.account, "Mailbox")
    changes = await mail.ok("Mailbox/changes", sinceState=before)
    assert len(changes["created"]) == 6
    assert changes["updatedProperties"] is None


@pytest_twisted.ensureDeferred
async def test_a_destroyed_default_stays_destroyed(mail: Mail) -> None:
    trash = (await mail.mailboxes())["Trash"]["id"]
    assert (await mail.set(destroy=[trash]))["destroyed"] == [trash]
    assert set(await mail.mailboxes()) == set(DEFAULTS) - {"Trash"}


@pytest_twisted.ensureDeferred
async def test_an_account_emptied_of_mailboxes_gets_the_defaults_back(mail: Mail) -> None:
    ids = [m["id"] for m in (await mail.mailboxes()).values()]
    assert sorted((await mail.set(destroy=ids))["destroyed"]) == sorted(ids)
    again = await mail.mailboxes()
    assert set(again) == set(DEFAULTS)
    assert not set(m["id"] for m in again.values()) & set(ids)


@pytest_twisted.ensureDeferred
async def test_a_vacation_response_call_first_makes_the_defaults_too(mail: Mail) -> None:
    await mail.ok("VacationResponse/get")
    listed = await mail.server.store.accounts.list_ids(mail.account, "Mailbox")
    assert len(listed) == len(DEFAULTS)
