"""A new email's search postings are written later, many emails at a time; a text or header
query first writes all that wait, so it finds every email that exists (email_write.FLUSH_AT,
email_query.plan_of)."""

from __future__ import annotations

import pytest
import pytest_twisted

import stalwart_tx.jmap.mail.email_write as email_write
from stalwart_tx.jmap.mail.email_model import PENDING_POSTINGS_INDEX, TERMS_MAP
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.errors import StateMismatch
from tests.jmap.mail.conftest import Emails, message
from tests.jmap.mail.test_stale_postings import destroy, postings_of, query, stale

BODY_TERM = "Email:term:body:zucchini"


async def import_each(emails: Emails, *subjects: str) -> list[str]:
    return [str((await emails.import_raw(message(
        subject, body=f"Zucchini for {subject}.\r\n", extra_headers="X-Garden: yes\r\n",
    )))["id"]) for subject in subjects]


async def pending(emails: Emails) -> list[str]:
    return await postings_of(emails, PENDING_POSTINGS_INDEX)


@pytest_twisted.ensureDeferred
async def test_new_emails_wait_for_their_postings_and_a_text_query_writes_them_first(
    emails: Emails,
) -> None:
    first, second = await import_each(emails, "Alpha", "Beta")
    assert await pending(emails) == sorted([first, second])
    assert await postings_of(emails, BODY_TERM) == []

    assert await query(emails, {"body": "zucchini"}) == sorted([first, second])
    assert await pending(emails) == []
    assert await postings_of(emails, BODY_TERM) == sorted([first, second])
    assert await postings_of(emails, "Email:term:subject:alpha") == [first]

    # a header condition reads postings too: it writes those that wait as well
    third, = await import_each(emails, "Gamma")
    assert await pending(emails) == [third]
    assert await query(emails, {"header": ["X-Garden"]}) == sorted([first, second, third])
    assert await pending(emails) == []


@pytest_twisted.ensureDeferred
async def test_the_import_that_crosses_the_mark_writes_the_waiting_postings(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(email_write, "FLUSH_AT", 3)
    first, second = await import_each(emails, "Alpha", "Beta")
    assert await postings_of(emails, BODY_TERM) == []
    third, = await import_each(emails, "Gamma")  # the count goes 2 -> 3
    # those that waited got theirs in the third's write; the third waits
    assert await postings_of(emails, BODY_TERM) == sorted([first, second])
    assert await pending(emails) == [third]


@pytest_twisted.ensureDeferred
async def test_an_email_destroyed_while_waiting_never_gets_postings(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(email_write, "SWEEP_AT", 2)
    gone, kept = await import_each(emails, "Alpha", "Beta")
    await destroy(emails, gone)
    assert await pending(emails) == [kept]
    assert await stale(emails) == [gone]
    assert await query(emails, {"text": "zucchini"}) == [kept]
    assert await postings_of(emails, BODY_TERM) == [kept]
    await destroy(emails, kept)  # two listed: the one listed before is swept
    assert await stale(emails) == [kept]
    terms = await emails.server.store.indexes.map_get(emails.account, TERMS_MAP, [gone, kept])
    assert list(terms) == [kept]
    assert await query(emails, {"text": "zucchini"}) == []


@pytest_twisted.ensureDeferred
async def test_postings_computed_before_their_sweep_are_never_written_after_it(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(email_write, "SWEEP_AT", 1)
    email_id, other = await import_each(emails, "Alpha", "Beta")
    # as another process: their postings computed, not yet written
    objects = WorkingSet(emails.server.store, emails.account)
    assert await email_write.stage_pending_postings(objects) == 2
    await destroy(emails, email_id)  # listed stale
    await destroy(emails, other)  # listed too, and the one listed before is swept
    assert await stale(emails) == [other]
    terms = await emails.server.store.indexes.map_get(emails.account, TERMS_MAP, [email_id])
    assert terms == {}
    # written now, its postings would name a destroyed email that no sweep lists any more
    with pytest.raises(StateMismatch):
        await emails.server.store.accounts.write(emails.account, objects.batch())
    assert await postings_of(emails, "Email:term:subject:alpha") == []
    assert await pending(emails) == []


@pytest_twisted.ensureDeferred
async def test_one_write_takes_the_postings_its_budget_allows_and_a_query_writes_all(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await import_each(emails, "Alpha", "Beta", "Gamma", "Delta", "Epsilon")
    objects = WorkingSet(emails.server.store, emails.account)
    # each of these has a dozen postings or so: a budget of one email's takes one, however low
    assert await email_write.stage_pending_postings(objects, postings=1) == 1
    objects = WorkingSet(emails.server.store, emails.account)
    assert await email_write.stage_pending_postings(objects, most=3) == 3
    await emails.server.store.accounts.write(emails.account, objects.batch())
    assert len(await pending(emails)) == 2
    # the query writes the rest, a write of at most two emails at a time
    monkeypatch.setattr(email_write, "FLUSH_MOST", 2)
    assert await query(emails, {"body": "zucchini"}) == sorted(ids)
    assert await pending(emails) == []
    assert await postings_of(emails, BODY_TERM) == sorted(ids)


@pytest_twisted.ensureDeferred
async def test_an_import_into_a_backlog_writes_postings_for_twice_what_it_adds(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(email_write, "FLUSH_AT", 1000)
    older = await import_each(emails, "Alpha", "Beta", "Gamma", "Delta")
    assert len(await pending(emails)) == 4
    monkeypatch.setattr(email_write, "FLUSH_AT", 2)  # four waiting: a backlog
    monkeypatch.setattr(email_write, "FLUSH_MOST", 1)
    monkeypatch.setattr(email_write, "FLUSH_POSTINGS", 10**6)
    inbox = await emails.inbox()
    blobs = [await emails.upload(message(s, body="Zucchini again.\r\n")) for s in ("Eta", "Iota")]
    result = await emails.ok("Email/import", emails={
        f"e{n}": {"blobId": blob, "mailboxIds": {inbox: True}} for n, blob in enumerate(blobs)
    })
    newer = sorted(str(c["id"]) for c in result["created"].values())
    # two added, so four written (not FLUSH_MOST's one): the backlog shrinks as imports go on
    assert await pending(emails) == newer
    assert await postings_of(emails, BODY_TERM) == sorted(older)
