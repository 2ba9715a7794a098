"""The counts seam: what the Email code will do, done here through the real store, and what
Mailbox/get, /changes and /set make of it."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.mail.mailbox_counts import stage_counts
from stalwart_tx.jmap.standard.working_set import WorkingSet
from tests.jmap.mail.conftest import Mail

COUNTS = {"totalEmails": 3, "unreadEmails": 1, "totalThreads": 2, "unreadThreads": 1}


async def set_counts(mail: Mail, mailbox_id: str, counts: dict[str, int]) -> None:
    """As the Email code will: stage the counts in a working set and write it atomically."""
    objects = WorkingSet(mail.server.store, mail.account)
    await stage_counts(objects, mailbox_id, counts)
    await mail.server.store.accounts.write(mail.account, objects.batch())


@pytest_twisted.ensureDeferred
async def test_counts_show_in_get_and_the_mailbox_in_changes(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]
    before = (await mail.ok("Mailbox/get", ids=[]))["state"]
    await set_counts(mail, inbox["id"], COUNTS)
    got = (await mail.ok("Mailbox/get", ids=[inbox["id"]], properties=list(COUNTS)))["list"]
    assert got == [{"id": inbox["id"], **COUNTS}]
    changes = await mail.ok("Mailbox/changes", sinceState=before)
    assert (changes["created"], changes["updated"], changes["destroyed"]) == (
        [], [inbox["id"]], []
    )
    # the change log cannot tell that only counts changed: null, which is always correct
    assert changes["updatedProperties"] is None


@pytest_twisted.ensureDeferred
async def test_counts_survive_a_client_update(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    await set_counts(mail, inbox, COUNTS)
    await mail.set(update={inbox: {"name": "In", "sortOrder": 3}})
    got = (await mail.ok("Mailbox/get", ids=[inbox]))["list"][0]
    assert {name: got[name] for name in COUNTS} == COUNTS
    await set_counts(mail, inbox, {"unreadEmails": 0})  # names left out keep their value
    got = (await mail.ok("Mailbox/get", ids=[inbox]))["list"][0]
    assert {name: got[name] for name in COUNTS} == {**COUNTS, "unreadEmails": 0}


@pytest_twisted.ensureDeferred
async def test_a_mailbox_with_emails_needs_onDestroyRemoveEmails(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    await set_counts(mail, inbox, COUNTS)
    result = await mail.set(destroy=[inbox])
    assert result["notDestroyed"][inbox]["type"] == "mailboxHasEmail"
    for default in (False, None):
        result = await mail.set(destroy=[inbox], onDestroyRemoveEmails=default)
        assert result["notDestroyed"][inbox]["type"] == "mailboxHasEmail"
    result = await mail.set(destroy=[inbox], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [inbox]
    error = await mail.error("Mailbox/set", "invalidArguments", onDestroyRemoveEmails="yes")
    assert error["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_stage_counts_refuses_what_is_not_a_count(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    objects = WorkingSet(mail.server.store, mail.account)
    for bad in ({"totalEmails": -1}, {"size": 3}):
        with pytest.raises(ValueError):
            await stage_counts(objects, inbox, bad)
    with pytest.raises(ValueError):
        await stage_counts(objects, "nosuchmailbox", {"totalEmails": 1})


@pytest_twisted.ensureDeferred
async def test_the_stored_counts_object_is_hidden_from_clients(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    await set_counts(mail, inbox, COUNTS)
    got = (await mail.ok("Mailbox/get", ids=[inbox]))["list"][0]
    assert "counts" not in got
    await mail.error("Mailbox/get", "invalidArguments", ids=[inbox], properties=["counts"])
    result = await mail.set(update={inbox: {"counts": {"totalEmails": 0}}})
    assert result["notUpdated"][inbox]["type"] == "invalidProperties"
    error = await mail.not_created(name="Sneaky", counts={"totalEmails": 9})
    assert error["type"] == "invalidProperties"
    result = await mail.ok("Mailbox/query", filter={"name": "Inbox"})
    assert result["ids"] == [inbox]
