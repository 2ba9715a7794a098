"""Email writes computed side by side, as two service processes compute them: each in its own
working set, neither waiting for the other, the second written after the first without
computing again. Appends and removals of unrelated messages must both land (mailbox counts,
UIDNEXT and quota usage are counters, not conditions); a write that read what the other one
changed (a thread link, a quota with a limit) must be refused, so it is computed again."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.mail.email import email_work
from stalwart_tx.jmap.mail.email_model import EMAIL
from stalwart_tx.jmap.mail.email_write import NewEmail
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX
from stalwart_tx.jmap.mail.mailbox_imap import imap_state_of, uid_index
from stalwart_tx.jmap.mail.message_analyzer import analyzer_or_default
from stalwart_tx.jmap.mail.quota_usage import stage_limits
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.errors import StateMismatch
from tests.jmap.mail.conftest import Emails, message

RECEIVED = "2023-01-02T10:00:00Z"


async def computed_add(emails: Emails, raw: bytes, mailbox: str) -> tuple[WorkingSet, str]:
    """One Email/import's computation of one message, staged but not written."""
    blob_id = await emails.upload(raw)
    analyzed = await analyzer_or_default(None, reactor).analyze(raw)
    objects = WorkingSet(emails.server.store, emails.account)
    work = email_work(objects)
    await work.prepare([analyzed], [mailbox])
    added = await work.add(NewEmail(analyzed, blob_id, {mailbox: True}, {}, RECEIVED))
    assert isinstance(added, tuple), added
    await objects.finish()
    return objects, added[0]


async def computed_removal(emails: Emails, email_id: str) -> WorkingSet:
    """One destroy's computation, staged but not written."""
    objects = WorkingSet(emails.server.store, emails.account)
    work = email_work(objects)
    olds = await objects.get(EMAIL, [email_id])
    await work.prepare_removal(olds)
    await work.remove(email_id, olds[email_id])
    objects.destroy(EMAIL, email_id)
    await objects.finish()
    return objects


async def write(emails: Emails, objects: WorkingSet) -> None:
    await emails.server.store.accounts.write(emails.account, objects.batch())


async def uids(emails: Emails, mailbox: str, ids: list[str]) -> dict[str, float]:
    return await emails.server.store.indexes.index_scores(emails.account, uid_index(mailbox), ids)


async def uid_next(emails: Emails, mailbox: str) -> int:
    stored = await emails.server.store.accounts.get(emails.account, MAILBOX, [mailbox])
    state = imap_state_of(stored[mailbox])
    assert state is not None
    return state.uid_next


@pytest_twisted.ensureDeferred
async def test_appends_to_one_mailbox_side_by_side_both_land(emails: Emails) -> None:
    inbox = await emails.inbox()
    await emails.import_raw(message("Before", message_id="before@x"))
    first_uid = await uid_next(emails, inbox)
    before = await emails.counts(inbox)
    quotas = {q["id"]: q["used"] for q in (await emails.ok("Quota/get"))["list"]}
    one_raw = message("One", message_id="one@x")
    two_raw = message("Two", message_id="two@x", body="Another.\r\n")
    one, one_id = await computed_add(emails, one_raw, inbox)
    two, two_id = await computed_add(emails, two_raw, inbox)
    await write(emails, one)
    await write(emails, two)  # computed before the first landed: no conflict

    # each got its own UID, from UIDNEXT as the write found it, and UIDNEXT moved past both
    assert await uids(emails, inbox, [one_id, two_id]) == {
        one_id: float(first_uid), two_id: float(first_uid + 1)}
    assert await uid_next(emails, inbox) == first_uid + 2
    assert await emails.counts(inbox) == {
        "totalEmails": before["totalEmails"] + 2, "unreadEmails": before["unreadEmails"] + 2,
        "totalThreads": before["totalThreads"] + 2, "unreadThreads": before["unreadThreads"] + 2,
    }
    used = {q["id"]: q["used"] for q in (await emails.ok("Quota/get"))["list"]}
    assert used == {"storage": quotas["storage"] + len(one_raw) + len(two_raw),
                    "messages": quotas["messages"] + 2}
    # both in their own thread, as computed
    got = (await emails.ok("Email/get", ids=[one_id, two_id], properties=["threadId"]))["list"]
    assert len({e["threadId"] for e in got}) == 2


@pytest_twisted.ensureDeferred
async def test_removals_from_one_mailbox_side_by_side_both_land(emails: Emails) -> None:
    inbox = await emails.inbox()
    ids = [(await emails.import_raw(message(f"M{n}", message_id=f"m{n}@x")))["id"]
           for n in range(3)]
    before = await emails.counts(inbox)
    first = await computed_removal(emails, ids[0])
    second = await computed_removal(emails, ids[1])
    await write(emails, first)
    await write(emails, second)
    assert await emails.counts(inbox) == {
        "totalEmails": before["totalEmails"] - 2, "unreadEmails": before["unreadEmails"] - 2,
        "totalThreads": before["totalThreads"] - 2, "unreadThreads": before["unreadThreads"] - 2,
    }
    assert await uids(emails, inbox, ids) == {ids[2]: 3.0}
    stored = await emails.server.store.accounts.get(emails.account, MAILBOX, [inbox])
    state = imap_state_of(stored[inbox])
    assert state is not None and state.expunged == 2  # both expunge records counted
    used = {q["id"]: q["used"] for q in (await emails.ok("Quota/get"))["list"]}
    assert used["messages"] == 1


@pytest_twisted.ensureDeferred
async def test_the_same_email_removed_side_by_side_lands_once(emails: Emails) -> None:
    inbox = await emails.inbox()
    email_id = (await emails.import_raw(message("Once", message_id="once@x")))["id"]
    first = await computed_removal(emails, email_id)
    second = await computed_removal(emails, email_id)
    await write(emails, first)
    with pytest.raises(StateMismatch):
        await write(emails, second)
    assert (await emails.counts(inbox))["totalEmails"] == 0


@pytest_twisted.ensureDeferred
async def test_a_reply_computed_beside_its_parent_is_computed_again(emails: Emails) -> None:
    inbox = await emails.inbox()
    parent, parent_id = await computed_add(emails, message("Plan", message_id="plan@x"), inbox)
    reply_raw = message("Re: Plan", message_id="reply@x", in_reply_to="plan@x")
    reply, _ = await computed_add(emails, reply_raw, inbox)
    await write(emails, parent)
    # the reply read the link of plan@x as absent and started a thread of its own: refused
    with pytest.raises(StateMismatch):
        await write(emails, reply)
    again, reply_id = await computed_add(emails, reply_raw, inbox)
    await write(emails, again)
    got = (await emails.ok("Email/get", ids=[parent_id, reply_id], properties=["threadId"]))
    assert len({e["threadId"] for e in got["list"]}) == 1
    counts = await emails.counts(inbox)
    assert (counts["totalEmails"], counts["totalThreads"]) == (2, 1)


@pytest_twisted.ensureDeferred
async def test_growth_under_a_quota_limit_stays_a_condition(emails: Emails) -> None:
    inbox = await emails.inbox()
    limits = WorkingSet(emails.server.store, emails.account)
    await stage_limits(limits, {"messages": 10})
    await write(emails, limits)
    one, _ = await computed_add(emails, message("A", message_id="a@x"), inbox)
    two, _ = await computed_add(emails, message("B", message_id="b@x"), inbox)
    await write(emails, one)
    # both read the usage against the limit: the later one is computed again
    with pytest.raises(StateMismatch):
        await write(emails, two)
