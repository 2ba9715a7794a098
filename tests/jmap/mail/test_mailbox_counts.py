"""The counts seam: what the Email code will do, done here through the real store, and what
Mailbox/get, /changes and /set make of it."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX, adjust_counts, counts_of
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.errors import ObjectNotFound
from tests.jmap.mail.conftest import Mail

COUNTS = {"totalEmails": 3, "unreadEmails": 1, "totalThreads": 2, "unreadThreads": 1}


async def set_counts(mail: Mail, mailbox_id: str, counts: dict[str, int]) -> None:
    """As the Email code does: stage count changes in a working set and write it atomically
    (here the changes that take the stored counts to ``counts``)."""
    objects = WorkingSet(mail.server.store, mail.account)
    stored = (await objects.peek(MAILBOX, [mailbox_id]))[mailbox_id]
    now = counts_of(stored)
    adjust_counts(objects, mailbox_id, {k: v - now[k] for k, v in counts.items()})
    await mail.server.store.accounts.write(mail.account, objects.batch())


@pytest_twisted.ensureDeferred
async def test_count_changes_of_two_writers_at_once_both_land(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    first = WorkingSet(mail.server.store, mail.account)
    second = WorkingSet(mail.server.store, mail.account)
    for objects in (first, second):
        assert inbox in await objects.peek(MAILBOX, [inbox])
    adjust_counts(first, inbox, {"totalEmails": 2, "unreadEmails": 1})
    adjust_counts(second, inbox, {"totalEmails": 1, "totalThreads": 1})
    for objects in (first, second):  # computed side by side, neither conditional on the other
        await mail.server.store.accounts.write(mail.account, objects.batch())
    got = (await mail.ok("Mailbox/get", ids=[inbox], properties=list(COUNTS)))["list"][0]
    assert {name: got[name] for name in COUNTS} == {
        "totalEmails": 3, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 0}


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
async def test_adjust_counts_refuses_what_is_not_a_count(mail: Mail) -> None:
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    objects = WorkingSet(mail.server.store, mail.account)
    for bad in ({"totalEmails": 1.5}, {"size": 3}):
        with pytest.raises(ValueError):
            adjust_counts(objects, inbox, bad)  # type: ignore[arg-type]
    # a mailbox gone by the time of the write: refused as a whole, for the caller to recompute
    adjust_counts(objects, "nosuchmailbox", {"totalEmails": 1})
    with pytest.raises(ObjectNotFound):
        await mail.server.store.accounts.write(mail.account, objects.batch())


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
