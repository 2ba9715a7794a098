"""A destroyed email's search postings stay until many can be removed together; no text search
sees them meanwhile (email_write.SWEEP_AT, email_query._text_candidates)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

import stalwart_tx.jmap.mail.email_write as email_write
from stalwart_tx.jmap.mail.email_model import STALE_POSTINGS_INDEX, TERMS_MAP
from stalwart_tx.store.records import Index
from tests.jmap.mail.conftest import Emails, message

BODY_TERM = "Email:term:body:zucchini"


async def postings_of(emails: Emails, index: str) -> list[str]:
    page = await emails.server.store.indexes.index_query(emails.account, Index(index))
    return sorted(page.ids)


async def stale(emails: Emails) -> list[str]:
    return await postings_of(emails, STALE_POSTINGS_INDEX)


async def import_all(emails: Emails, *raws: bytes) -> list[str]:
    """Import them, and have their postings written (any text query writes those that wait:
    email_write.FLUSH_AT)."""
    ids = [str((await emails.import_raw(raw))["id"]) for raw in raws]
    await emails.ok("Email/query", filter={"text": "anything"})
    return ids


async def destroy(emails: Emails, *ids: str) -> None:
    result = await emails.ok("Email/set", destroy=list(ids))
    assert sorted(result["destroyed"]) == sorted(ids), result


async def query(emails: Emails, filter_: dict[str, Any]) -> list[str]:
    ids: list[str] = (await emails.ok("Email/query", filter=filter_))["ids"]
    return sorted(ids)


@pytest_twisted.ensureDeferred
async def test_a_destroyed_emails_postings_stay_and_no_text_search_finds_it(
    emails: Emails,
) -> None:
    garden, soup = await import_all(
        emails,
        message("Garden party", body="The zucchini harvest is in.\r\n"),
        message("Dinner", body="Zucchini soup tonight.\r\n"),
    )
    await destroy(emails, garden)

    # left for later: the email listed, its posting still there
    assert await stale(emails) == [garden]
    assert await postings_of(emails, BODY_TERM) == sorted([garden, soup])
    found = await emails.server.store.indexes.map_get(emails.account, TERMS_MAP, [garden])
    assert garden in found

    # every way a text condition can stand keeps to the emails that exist
    inbox = await emails.inbox()
    assert await query(emails, {"text": "zucchini"}) == [soup]
    assert await query(emails, {"body": "zucchini"}) == [soup]
    assert await query(emails, {"body": "harvest"}) == []
    assert await query(emails, {"subject": "garden"}) == []
    assert await query(emails, {"inMailbox": inbox, "body": "harvest"}) == []
    assert await query(emails, {"operator": "OR", "conditions": [
        {"subject": "garden"}, {"body": "harvest"}]}) == []
    assert await query(emails, {"operator": "OR", "conditions": [
        {"subject": "garden"}, {"subject": "dinner"}]}) == [soup]
    assert await query(emails, {"operator": "NOT", "conditions": [{"body": "soup"}]}) == []
    assert await query(emails, {"body": "zucchini -soup"}) == []
    snippets = await emails.ok("SearchSnippet/get", emailIds=[garden, soup],
                               filter={"body": "zucchini"})
    assert snippets["notFound"] == [garden]


@pytest_twisted.ensureDeferred
async def test_stale_postings_go_together_once_enough_emails_are_listed(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_write, "SWEEP_AT", 3)
    first, second, third, kept = await import_all(
        emails,
        message("Alpha", body="Zucchini one aardvark.\r\n"),
        message("Beta", body="Zucchini two badger.\r\n"),
        message("Gamma", body="Zucchini three cheetah.\r\n"),
        message("Delta", body="Zucchini four dingo.\r\n"),
    )
    await destroy(emails, first)
    await destroy(emails, second)
    assert await stale(emails) == sorted([first, second])
    assert await postings_of(emails, "Email:term:body:aardvark") == [first]

    # the third makes three listed: the two listed before go, in the same write
    await destroy(emails, third)
    assert await stale(emails) == [third]
    assert await postings_of(emails, BODY_TERM) == sorted([third, kept])
    assert await postings_of(emails, "Email:term:body:aardvark") == []
    assert await postings_of(emails, "Email:term:body:badger") == []
    assert await postings_of(emails, "Email:term:body:cheetah") == [third]
    terms = await emails.server.store.indexes.map_get(
        emails.account, TERMS_MAP, [first, second, third, kept])
    assert sorted(terms) == sorted([third, kept])
    assert await query(emails, {"body": "zucchini"}) == [kept]


@pytest_twisted.ensureDeferred
async def test_a_backlog_goes_a_bounded_batch_per_destroy(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_write, "SWEEP_AT", 2)
    monkeypatch.setattr(email_write, "SWEEP_MOST", 3)
    ids = await import_all(emails, *(
        message(f"Note {n}", body=f"Zucchini note number{n}.\r\n") for n in range(10)
    ))
    await destroy(emails, ids[0])
    await destroy(emails, *ids[1:7])  # one listed before: it goes; six listed now
    assert await stale(emails) == sorted(ids[1:7])
    # a backlog (at least twice SWEEP_AT): each destroy takes SWEEP_MOST of it
    await destroy(emails, ids[7])
    left = await stale(emails)
    assert len(left) == 4 and ids[7] in left
    await destroy(emails, ids[8])
    left = await stale(emails)
    assert len(left) == 2 and ids[8] in left
    assert set(left) <= set(ids[1:9])
    assert await postings_of(emails, BODY_TERM) == sorted([*left, ids[9]])
    assert await query(emails, {"body": "zucchini"}) == [ids[9]]


async def posting_members(emails: Emails) -> set[str]:
    """Every email any body posting of the test's words names."""
    names = ["Email:term:body:zucchini", *(f"Email:term:body:word{n}" for n in range(8))]
    members: set[str] = set()
    for name in names:
        members |= set(await postings_of(emails, name))
    return members


@pytest_twisted.ensureDeferred
async def test_two_writers_that_both_cross_remove_the_same_postings_once_in_effect(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.jmap.mail.test_email_write_concurrency import computed_removal, write

    monkeypatch.setattr(email_write, "SWEEP_AT", 3)
    ids = await import_all(emails, *(
        message(f"Note {n}", body=f"Zucchini word{n}.\r\n") for n in range(6)
    ))
    await destroy(emails, ids[0])
    await destroy(emails, ids[1])
    # as two service processes: both computed before either is written, both see two listed
    # and take the count to three, so both remove the postings of the first two
    first = await computed_removal(emails, ids[2])
    second = await computed_removal(emails, ids[3])
    await write(emails, first)
    await write(emails, second)
    assert await stale(emails) == sorted(ids[2:4])
    # what any posting names is an email that exists or one listed for removal
    live = set(ids[4:])
    assert await posting_members(emails) == live | set(ids[2:4])
    terms = await emails.server.store.indexes.map_get(emails.account, TERMS_MAP, ids)
    assert set(terms) == live | set(ids[2:4])
    assert await query(emails, {"body": "zucchini"}) == sorted(live)


@pytest_twisted.ensureDeferred
async def test_a_sweep_takes_what_its_postings_allow_and_twice_what_it_lists(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_write, "SWEEP_AT", 1000)
    ids = await import_all(emails, *(
        message(f"Note {n}", body=f"Zucchini note number{n}.\r\n") for n in range(6)
    ))
    for email_id in ids[:4]:
        await destroy(emails, email_id)
    assert await stale(emails) == sorted(ids[:4])
    monkeypatch.setattr(email_write, "SWEEP_AT", 2)  # four listed: a backlog
    # below one email's postings: the sweep takes twice what the destroy lists, two of four
    monkeypatch.setattr(email_write, "SWEEP_POSTINGS", 1)
    await destroy(emails, ids[4])
    left = await stale(emails)
    assert len(left) == 3 and ids[4] in left
    # room for all: the next takes the rest that were listed before it
    monkeypatch.setattr(email_write, "SWEEP_POSTINGS", 10**6)
    await destroy(emails, ids[5])
    assert await stale(emails) == [ids[5]]
    assert await posting_members(emails) == {ids[5]}
