"""IMAP state kept by the mail writes: UIDs, UIDVALIDITY, MODSEQ, expunges, \\Recent.

Driven through the JMAP API on a real Redis, as the IMAP bridge drives it (in process).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
import pytest_twisted

from stalwart_tx.jmap.mail.imap_view import IMAP_VIEW
from tests.jmap.mail.conftest import Emails, message


class View(Emails):
    USING: ClassVar[list[str]] = [*Emails.USING, IMAP_VIEW]

    async def view(self, mailbox_id: str) -> dict[str, Any]:
        result = await self.ok("ImapMailbox/get", ids=[mailbox_id], uids=True)
        [entry] = result["list"]
        entry["state"] = result["state"]
        return entry  # type: ignore[no-any-return]

    async def uid_map(self, mailbox_id: str) -> dict[str, int]:
        return {email_id: uid for uid, email_id in (await self.view(mailbox_id))["uids"]}

    async def move(self, email_id: str, patch: dict[str, Any]) -> None:
        result = await self.ok("Email/set", update={email_id: patch})
        assert result["notUpdated"] is None, result["notUpdated"]


async def _view(emails: Emails) -> View:
    view = View(emails.server)
    return view


@pytest_twisted.ensureDeferred
async def test_uids_ascend_in_arrival_order_and_are_never_reused(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    first = await v.view(inbox)
    assert first["uids"] == [] and first["uidNext"] == 1 and first["uidValidity"] > 0
    ids = [(await v.import_raw(message(f"m{n}")))["id"] for n in range(3)]
    view = await v.view(inbox)
    assert view["uids"] == [[1, ids[0]], [2, ids[1]], [3, ids[2]]]
    assert view["uidNext"] == 4
    assert view["uidValidity"] == first["uidValidity"]
    # destroying the newest does not give its UID back
    result = await v.ok("Email/set", destroy=[ids[2]])
    assert result["destroyed"] == [ids[2]]
    again = (await v.import_raw(message("m3")))["id"]
    assert (await v.view(inbox))["uids"] == [[1, ids[0]], [2, ids[1]], [4, again]]


@pytest_twisted.ensureDeferred
async def test_an_email_gets_a_uid_in_each_mailbox_it_enters(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Other")
    a = (await v.import_raw(message("a")))["id"]
    b = (await v.import_raw(message("b"), [inbox, other]))["id"]
    assert await v.uid_map(other) == {b: 1}
    await v.move(a, {f"mailboxIds/{other}": True})
    assert await v.uid_map(other) == {b: 1, a: 2}
    assert await v.uid_map(inbox) == {a: 1, b: 2}
    # leaving and entering again is a new UID; the old one is recorded as expunged
    before = (await v.view(other))["state"]
    await v.move(a, {f"mailboxIds/{other}": None})
    assert await v.uid_map(other) == {b: 1}
    await v.move(a, {f"mailboxIds/{other}": True})
    assert await v.uid_map(other) == {b: 1, a: 3}
    vanished = await v.ok("ImapMailbox/vanished", mailboxId=other, sinceModseq=int(before))
    assert vanished["uids"] == [2]


@pytest_twisted.ensureDeferred
async def test_vanished_since_a_modseq_is_exactly_the_later_expunges(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    ids = [(await v.import_raw(message(f"m{n}")))["id"] for n in range(4)]
    s0 = int((await v.view(inbox))["state"])
    await v.ok("Email/set", destroy=[ids[0]])
    s1 = int((await v.view(inbox))["state"])
    await v.move(ids[2], {"mailboxIds": {await v.create(name="Elsewhere"): True}})
    s2 = int((await v.view(inbox))["state"])
    assert s0 < s1 < s2

    async def vanished(since: int) -> list[int]:
        found: list[int] = (await v.ok(
            "ImapMailbox/vanished", mailboxId=inbox, sinceModseq=since
        ))["uids"]
        return found

    assert await vanished(0) == [1, 3]
    assert await vanished(s0) == [1, 3]
    assert await vanished(s1) == [3]
    assert await vanished(s2) == []


@pytest_twisted.ensureDeferred
async def test_modseq_follows_every_change_of_the_email(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    a = (await v.import_raw(message("a")))["id"]
    b = (await v.import_raw(message("b")))["id"]

    async def modseqs() -> dict[str, Any]:
        result = await v.ok("ImapEmail/get", ids=[a, b, "nope"], mailboxId=inbox)
        assert result["notFound"] == ["nope"]
        return {e["id"]: (e["modseq"], e["uid"]) for e in result["list"]}

    first = await modseqs()
    assert first[a][1] == 1 and first[b][1] == 2
    # with a mailbox, its UIDVALIDITY too (as ImapMailbox/get gives it)
    with_mailbox = await v.ok("ImapEmail/get", ids=[a], mailboxId=inbox, uidValidity=True)
    assert with_mailbox["uidValidity"] == (await v.view(inbox))["uidValidity"]
    assert "uidValidity" not in await v.ok("ImapEmail/get", ids=[a], mailboxId=inbox)
    # two lists in one call, each id answered once
    both = await v.ok("ImapEmail/get", ids=[a, "nope"], alsoIds=[b, a], mailboxId=inbox)
    assert [e["id"] for e in both["list"]] == [a, b] and both["notFound"] == ["nope"]
    assert first[a][0] < first[b][0] <= int(
        (await v.ok("ImapEmail/get", ids=[a]))["state"]
    )
    # no ids: nothing read, not even the state
    assert (await v.ok("ImapEmail/get", ids=[])) == {
        "accountId": v.account, "state": None, "list": [], "notFound": []}
    await v.move(a, {"keywords/$seen": True})
    second = await modseqs()
    assert second[a][0] > first[b][0]
    assert second[b] == first[b]
    assert str(second[a][0]) == (await v.ok("ImapEmail/get", ids=[b]))["state"]


@pytest_twisted.ensureDeferred
async def test_uid_validity_differs_for_a_mailbox_created_again(emails: Emails) -> None:
    v = await _view(emails)
    first = await v.create(name="Again")
    validity = (await v.view(first))["uidValidity"]
    result = await v.set(destroy=[first])
    assert result["destroyed"] == [first]
    second = await v.create(name="Again")
    assert (await v.view(second))["uidValidity"] > validity
    defaults = (await v.ok("ImapMailbox/get", ids=[
        m["id"] for m in (await v.mailboxes()).values()
    ]))["list"]
    validities = [m["uidValidity"] for m in defaults]
    assert len(set(validities)) == len(validities)


@pytest_twisted.ensureDeferred
async def test_recent_goes_to_exactly_one_claimant(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    answers = [
        (await v.ok("ImapMailbox/claimRecent", mailboxId=inbox, uid=5))["previous"]
        for _ in range(3)
    ]
    assert answers == [0, 5, 5]
    assert (await v.ok("ImapMailbox/claimRecent", mailboxId=inbox, uid=9))["previous"] == 5


@pytest_twisted.ensureDeferred
async def test_mailbox_get_reads_or_claims_recent_with_the_uids(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()

    async def entry(recent: str, **extra: Any) -> dict[str, Any]:
        [found] = (await v.ok("ImapMailbox/get", ids=[inbox], recent=recent, **extra))["list"]
        return found  # type: ignore[no-any-return]

    empty = await entry("claim")
    assert (empty["recentMark"], empty["recentTop"], empty["recentCount"]) == (0, 0, 0)
    for n in range(3):
        await v.import_raw(message(f"m{n}"))
    assert (await v.ok("ImapMailbox/claimRecent", mailboxId=inbox, uid=1))["previous"] == 0
    # a read looks: above the mark are 2 and 3, and it takes nothing
    for _ in range(2):
        looked = await entry("read", uids=True, uidsAbove=2)
        assert (looked["recentMark"], looked["recentTop"], looked["recentCount"]) == (1, 3, 2)
        assert [uid for uid, _ in looked["uids"]] == [3]
    # a claim takes up to the highest UID: the next claimant finds the mark there
    claimed = await entry("claim")
    assert (claimed["recentMark"], claimed["recentTop"], claimed["recentCount"]) == (1, 3, 2)
    assert (await entry("claim"))["recentMark"] == 3
    assert (await v.ok("ImapMailbox/claimRecent", mailboxId=inbox, uid=3))["previous"] == 3
    # without the argument nothing of the mark is in the entry
    [plain] = (await v.ok("ImapMailbox/get", ids=[inbox]))["list"]
    assert "recentMark" not in plain
    two = [inbox, "xmissing"]
    for bad in ({"recent": "take"}, {"recent": True}, {"recent": "read", "ids": two}):
        await v.error("ImapMailbox/get", "invalidArguments", **{"ids": [inbox], **bad})


@pytest_twisted.ensureDeferred
async def test_destroying_a_mailbox_with_its_emails_leaves_no_imap_records(
    emails: Emails,
) -> None:
    v = await _view(emails)
    box = await v.create(name="Gone")
    inbox = await v.inbox()
    a = (await v.import_raw(message("a"), [box]))["id"]
    b = (await v.import_raw(message("b"), [box, inbox]))["id"]
    await v.ok("ImapMailbox/claimRecent", mailboxId=box, uid=2)
    await v.move(a, {f"mailboxIds/{inbox}": True})
    await v.move(a, {f"mailboxIds/{box}": None})
    result = await v.set(destroy=[box], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [box]
    store, account = v.server.store, v.account
    for name in (f"Email:uid:{box}", f"Email:expunged:{box}"):
        assert await store.indexes.index_size(account, name) == 0
    assert await store.indexes.map_get(account, "Mailbox:recent", [box]) == {}
    assert set(await v.uid_map(inbox)) == {a, b}


@pytest_twisted.ensureDeferred
async def test_a_mailbox_without_imap_state_gets_it_with_uids_in_arrival_order(
    emails: Emails,
) -> None:
    """Mailboxes written before the IMAP state existed are numbered on first sight."""
    v = await _view(emails)
    inbox = await v.inbox()
    ids = [(await v.import_raw(message(f"m{n}"), receivedAt=f"2023-01-0{n + 1}T00:00:00Z"))["id"]
           for n in range(3)]
    store, account = v.server.store, v.account
    from stalwart_tx.store.records import WriteBatch

    [stored] = (await store.accounts.get(account, "Mailbox", [inbox])).values()
    stored.pop("imap")
    batch = WriteBatch().update("Mailbox", inbox, stored)
    for email_id in ids:
        batch.index_remove(f"Email:uid:{inbox}", email_id)
    await store.accounts.write(account, batch)
    view = await v.view(inbox)
    assert view["uids"] == [[1, ids[0]], [2, ids[1]], [3, ids[2]]]
    assert view["uidNext"] == 4
    nxt = (await v.import_raw(message("m4")))["id"]
    assert (await v.uid_map(inbox))[nxt] == 4


@pytest_twisted.ensureDeferred
async def test_hidden_state_is_not_a_mailbox_property_and_not_advertised(
    emails: Emails,
) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    [found] = (await v.ok("Mailbox/get", ids=[inbox]))["list"]
    assert "imap" not in found
    # a client's update keeps it
    await v.set(update={inbox: {"sortOrder": 99}})
    assert (await v.view(inbox))["uidNext"] == 1
    session = await v.server.session()
    assert IMAP_VIEW not in session["capabilities"]
    assert all(IMAP_VIEW not in caps for caps in (
        account["accountCapabilities"] for account in session["accounts"].values()
    ))
    assert IMAP_VIEW not in session["primaryAccounts"]


@pytest_twisted.ensureDeferred
async def test_first_unseen_is_the_lowest_uid_without_seen(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()

    async def first_unseen() -> Any:
        [entry] = (await v.ok("ImapMailbox/get", ids=[inbox], firstUnseen=True))["list"]
        return entry["firstUnseen"]

    assert await first_unseen() is None
    ids = [(await v.import_raw(message(f"m{n}"), keywords={"$seen": True}))["id"]
           for n in range(3)]
    assert await first_unseen() is None
    await v.move(ids[2], {"keywords/$seen": None})
    assert await first_unseen() == 3
    await v.move(ids[1], {"keywords/$seen": None})
    assert await first_unseen() == 2


@pytest_twisted.ensureDeferred
async def test_unseen_count_counts_drafts_unlike_unread_emails(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()

    async def counted(**extra: Any) -> dict[str, Any]:
        answer = await v.ok("ImapMailbox/get", ids=[inbox], unseenCount=True, **extra)
        assert answer["state"] == answer["stateAfter"]
        [entry] = answer["list"]
        return entry  # type: ignore[no-any-return]

    assert (await counted())["unseenCount"] == 0
    ids = [(await v.import_raw(message(f"m{n}"), keywords=keywords))["id"]
           for n, keywords in enumerate([{"$seen": True}, {}, {"$draft": True}, {}])]
    assert (await counted())["unseenCount"] == 3
    [mailbox] = (await v.ok("Mailbox/get", ids=[inbox]))["list"]
    assert mailbox["unreadEmails"] == 2  # JMAP leaves the draft out
    await v.move(ids[1], {"keywords/$seen": True})
    # with the other views of the same read: UIDs above a mark, the first unseen
    entry = await counted(uids=True, uidsAbove=3, firstUnseen=True)
    assert entry["unseenCount"] == 2 and entry["firstUnseen"] == 3
    assert [uid for uid, _ in entry["uids"]] == [4]
    await v.error("ImapMailbox/get", "invalidArguments", ids=[inbox], unseenCount=1)


@pytest_twisted.ensureDeferred
async def test_unseen_count_is_every_message_without_seen_through_any_change(
    emails: Emails,
) -> None:
    """The count (the mailbox's unreadEmails plus its drafts without $seen) against the
    messages themselves, after keyword changes, moves, copies and destroys at random."""
    import random

    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Other")
    chooser = random.Random(8)
    ids: list[str] = []
    for n in range(12):
        keywords = {k: True for k in ("$seen", "$draft") if chooser.random() < 0.5}
        target = [inbox] if n % 3 else [inbox, other]
        ids.append((await v.import_raw(message(f"u{n}"), target, keywords=keywords))["id"])

    async def check() -> None:
        found = (await v.ok("Email/get", ids=ids, properties=["mailboxIds", "keywords"]))["list"]
        for mailbox_id in (inbox, other):
            expected = sum(1 for e in found if mailbox_id in e["mailboxIds"]
                           and "$seen" not in e["keywords"])
            answer = await v.ok("ImapMailbox/get", ids=[mailbox_id], unseenCount=True)
            assert answer["list"][0]["unseenCount"] == expected

    await check()
    for _ in range(30):
        email_id = chooser.choice(ids)
        action = chooser.randrange(6) if len(ids) > 4 else chooser.randrange(3)
        if action == 0:
            keyword = chooser.choice(["$seen", "$draft"])
            await v.move(email_id, {f"keywords/{keyword}": chooser.choice([True, None])})
        elif action == 1:
            await v.move(email_id, {"mailboxIds": {chooser.choice([inbox, other]): True}})
        elif action == 2:
            await v.move(email_id, {"mailboxIds": {inbox: True, other: True}})
        elif action == 3:
            await v.move(email_id, {"keywords": {"$draft": True}})
        else:
            await v.ok("Email/set", destroy=[email_id])
            ids.remove(email_id)
        await check()


@pytest_twisted.ensureDeferred
async def test_expunge_takes_out_what_is_still_deleted_and_here_when_it_writes(
    emails: Emails,
) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Elsewhere")
    only_here, also_there, undeleted, not_here, kept = [
        (await v.import_raw(message(f"x{n}", message_id=f"x{n}@x")))["id"] for n in range(5)
    ]
    for email_id in (only_here, also_there, undeleted, not_here):
        await v.move(email_id, {"keywords/$deleted": True})
    await v.move(also_there, {f"mailboxIds/{other}": True})
    # what a query for $deleted in the Inbox found; since then one was undeleted, one moved
    candidates = [only_here, also_there, undeleted, not_here, kept, "gone1"]
    await v.move(undeleted, {"keywords/$deleted": None})
    await v.move(not_here, {f"mailboxIds/{inbox}": None, f"mailboxIds/{other}": True})
    before = await v.view(inbox)
    answer = await v.ok("ImapEmail/expunge", mailboxId=inbox, ids=candidates)
    assert sorted(answer["expunged"]) == sorted([only_here, also_there])
    assert answer["oldState"] == before["state"] != answer["newState"]
    got = {e["id"]: e for e in (await v.ok(
        "Email/get", ids=[only_here, also_there, undeleted, not_here, kept],
        properties=["mailboxIds", "keywords"]))["list"]}
    assert only_here not in got, "in no other mailbox: destroyed"
    # elsewhere it stays, without the \Deleted meant for the Inbox's copy
    assert got[also_there]["mailboxIds"] == {other: True}
    assert got[also_there]["keywords"] == {}
    assert got[undeleted]["mailboxIds"] == {inbox: True}
    assert got[not_here]["mailboxIds"] == {other: True}
    assert got[not_here]["keywords"] == {"$deleted": True}
    assert got[kept]["mailboxIds"] == {inbox: True}
    uids = {email_id: uid for uid, email_id in before["uids"]}
    assert await v.uid_map(inbox) == {e: uids[e] for e in (undeleted, kept)}
    vanished = await v.ok("ImapMailbox/vanished", mailboxId=inbox,
                          sinceModseq=int(before["state"]))
    assert sorted(vanished["uids"]) == sorted([uids[only_here], uids[also_there]])
    # nothing left to do: no write, the state stays
    again = await v.ok("ImapEmail/expunge", mailboxId=inbox, ids=candidates)
    assert again["expunged"] == [] and again["oldState"] == again["newState"]


@pytest_twisted.ensureDeferred
async def test_expunge_without_ids_finds_the_deleted_itself_a_page_at_a_time(
    emails: Emails, monkeypatch: pytest.MonkeyPatch,
) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Elsewhere")
    ids = [(await v.import_raw(message(f"d{n}", message_id=f"d{n}@x")))["id"] for n in range(6)]
    deleted_here, also_there, not_deleted, deleted_elsewhere = ids[:3], ids[3], ids[4], ids[5]
    for email_id in [*deleted_here, also_there]:
        await v.move(email_id, {"keywords/$deleted": True})
    await v.move(also_there, {f"mailboxIds/{other}": True})
    await v.move(deleted_elsewhere, {f"mailboxIds/{inbox}": None, f"mailboxIds/{other}": True,
                                     "keywords/$deleted": True})
    # two a call: the four deleted here take two calls, the second with nothing more
    api = emails.server.app.api
    monkeypatch.setattr(api, "limits", dataclasses.replace(api.limits, maxObjectsInSet=2))
    first = await v.ok("ImapEmail/expunge", mailboxId=inbox)
    second = await v.ok("ImapEmail/expunge", mailboxId=inbox)
    assert first["hasMore"] is True and len(first["expunged"]) == 2
    assert second["hasMore"] is False and len(second["expunged"]) == 2
    assert sorted(first["expunged"] + second["expunged"]) == sorted([*deleted_here, also_there])
    assert await v.uid_map(inbox) == {not_deleted: 5}
    got = {e["id"]: e for e in (await v.ok(
        "Email/get", ids=ids, properties=["mailboxIds", "keywords"]))["list"]}
    assert sorted(got) == sorted([also_there, not_deleted, deleted_elsewhere])
    assert got[also_there] == {"id": also_there, "mailboxIds": {other: True}, "keywords": {}}
    assert got[deleted_elsewhere]["keywords"] == {"$deleted": True}
    third = await v.ok("ImapEmail/expunge", mailboxId=inbox)
    assert third["expunged"] == [] and third["hasMore"] is False
    assert third["oldState"] == third["newState"]


@pytest_twisted.ensureDeferred
async def test_expunge_refuses_bad_arguments(emails: Emails) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    await v.error("ImapEmail/expunge", "invalidArguments", mailboxId=inbox, ids="x")
    await v.error("ImapEmail/expunge", "invalidArguments", mailboxId=7, ids=[])
    await v.error("ImapEmail/expunge", "invalidArguments", mailboxId=inbox, ids=[], extra=1)


@pytest_twisted.ensureDeferred
async def test_mailbox_get_with_email_changes_answers_as_the_separate_calls(
    emails: Emails,
) -> None:
    # a session catching up reads the changes, the new UIDs and the UIDs and modseqs of what
    # changed in one call (one store read); it must answer what the separate calls would
    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Other")
    kept, moved, gone = [(await v.import_raw(message(f"m{n}")))["id"] for n in range(3)]
    since = (await v.view(inbox))["state"]
    await v.move(kept, {"keywords/$flagged": True})
    await v.move(moved, {f"mailboxIds/{inbox}": None, f"mailboxIds/{other}": True})
    assert (await v.ok("Email/set", destroy=[gone]))["destroyed"] == [gone]
    new = (await v.import_raw(message("new")))["id"]
    together = await v.ok("ImapMailbox/get", ids=[inbox], uids=True, uidsAbove=3,
                          emailChangesSince=since, maxChanges=100, alsoIds=[kept, "nothing"])
    changes = await v.ok("Email/changes", sinceState=since, maxChanges=100)
    assert together["emailChanges"] == {key: changes[key] for key in (
        "oldState", "newState", "hasMoreChanges", "created", "updated", "destroyed")}
    assert together["state"] == changes["newState"]
    assert together["list"][0]["uids"] == [[4, new]]
    apart = await v.ok("ImapEmail/get", ids=changes["updated"], alsoIds=changes["created"],
                       mailboxId=inbox)
    entries = {e["id"]: e for e in together["emails"]}
    assert entries == {e["id"]: e for e in apart["list"]}
    assert entries[moved]["uid"] is None and entries[kept]["uid"] == 1
    assert entries[new]["uid"] == 4 and gone not in entries
    assert together["emailsNotFound"] == ["nothing"]
    # without the changes asked for, nothing of them is answered
    assert "emailChanges" not in await v.ok("ImapMailbox/get", ids=[inbox])


@pytest_twisted.ensureDeferred
async def test_mailbox_get_with_email_changes_refuses_what_it_cannot_answer(
    emails: Emails,
) -> None:
    v = await _view(emails)
    inbox = await v.inbox()
    other = await v.create(name="Other")
    await v.error("ImapMailbox/get", "cannotCalculateChanges", ids=[inbox],
                  emailChangesSince="999999")
    for bad in ({"ids": [inbox, other], "emailChangesSince": "0"},
                {"ids": [inbox], "emailChangesSince": 0},
                {"ids": [inbox], "emailChangesSince": "0", "maxChanges": 0},
                {"ids": [inbox], "maxChanges": 5},
                {"ids": [inbox], "alsoIds": []},
                {"ids": [inbox], "emailChangesSince": "0", "alsoIds": "x"}):
        await v.error("ImapMailbox/get", "invalidArguments", **bad)
