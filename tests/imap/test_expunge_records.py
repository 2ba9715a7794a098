"""Expunge records (QRESYNC's VANISHED) are bounded per mailbox; a client resynchronising from
before the oldest kept record is told every UID it may know of that is gone."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.imap.commands_select import absent_ranges
from stalwart_tx.jmap.mail import mailbox_imap
from stalwart_tx.store.records import Index
from tests.imap.conftest import ImapServer, RawConnection, logged_in
from tests.imap.test_qresync import append, code, connect


def test_absent_ranges_name_the_gaps_without_listing_every_number() -> None:
    assert absent_ranges([(1, 10)], [2, 3, 7]) == b"1,4:6,8:10"
    assert absent_ranges([(1, 3)], [1, 2, 3]) == b""
    assert absent_ranges([(1, 4), (8, 9)], [4, 5, 8]) == b"1:3,9"
    assert absent_ranges([(5, 2_000_000_000)], []) == b"5:2000000000"
    assert absent_ranges([], [1]) == b""


async def expunge_first(raw: RawConnection) -> None:
    await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert (await raw.command(b"EXPUNGE", b"x"))[-1].startswith(b"x OK")


async def inbox_records(server: ImapServer) -> tuple[list[str], dict[str, int]]:
    found = await server.jmap("Mailbox/get")
    inbox = next(m["id"] for m in found["list"] if m["role"] == "inbox")
    page = await server.store.indexes.index_query(
        server.account, Index(mailbox_imap.expunged_index(inbox))
    )
    [stored] = (await server.store.accounts.get(server.account, "Mailbox", [inbox])).values()
    return list(page.ids), stored["imap"]


@pytest_twisted.ensureDeferred
async def test_old_records_are_dropped_and_a_late_resync_still_learns_every_expunge(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailbox_imap, "MAX_EXPUNGED", 3)
    monkeypatch.setattr(mailbox_imap, "EXPUNGED_SLACK", 2)
    first = await connect(imap_server)
    await append(first, 12)
    selected = await first.command(b"SELECT INBOX")
    validity, highest = code(selected, b"UIDVALIDITY"), code(selected, b"HIGHESTMODSEQ")
    first.close()

    other = await connect(imap_server)
    await other.command(b"SELECT INBOX")
    for _ in range(8):  # UIDs 1 to 8 leave, one write each
        await expunge_first(other)
        records, imap = await inbox_records(imap_server)
        assert len(records) <= 5 and imap["expunged"] == len(records)
    records, imap = await inbox_records(imap_server)
    assert imap["vanishedFloor"] > highest  # records newer than the client's state went too
    assert sorted(int(uid) for uid in records) == list(range(9 - len(records), 9))

    late = await connect(imap_server)
    await late.command(b"ENABLE QRESYNC")
    lines = await late.command(b"SELECT INBOX (QRESYNC (%d %d))" % (validity, highest))
    assert b"* VANISHED (EARLIER) 1:8" in lines, lines
    assert lines[-1].startswith(b"t OK [READ-WRITE]")
    # the client's known UIDs narrow it
    narrow = await late.command(b"SELECT INBOX (QRESYNC (%d %d 2,4,9:12))" % (validity, highest))
    assert b"* VANISHED (EARLIER) 2,4" in narrow, narrow
    # a client whose state is newer than the floor gets the exact records after it
    floor = imap["vanishedFloor"]
    found = await imap_server.jmap("Mailbox/get")
    inbox = next(m["id"] for m in found["list"] if m["role"] == "inbox")
    page = await imap_server.store.indexes.index_query(
        imap_server.account, Index(mailbox_imap.expunged_index(inbox))
    )
    after_floor = sorted(int(uid) for uid, score in page.members if score > floor)
    assert after_floor
    recent = await late.command(b"SELECT INBOX (QRESYNC (%d %d))" % (validity, floor))
    text = b",".join(b"%d" % uid for uid in after_floor)
    assert any(line == b"* VANISHED (EARLIER) " + text
               or line.startswith(b"* VANISHED (EARLIER) %d:" % after_floor[0])
               for line in recent), (recent, after_floor)
    for connection in (other, late):
        connection.close()


@pytest_twisted.ensureDeferred
async def test_a_vanished_read_says_whether_it_is_complete(
    imap_server: ImapServer, raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailbox_imap, "MAX_EXPUNGED", 1)
    monkeypatch.setattr(mailbox_imap, "EXPUNGED_SLACK", 0)
    await logged_in(raw)
    await append(raw, 3)
    await raw.command(b"SELECT INBOX")
    await expunge_first(raw)
    found = await imap_server.jmap("Mailbox/get")
    inbox = next(m["id"] for m in found["list"] if m["role"] == "inbox")
    whole = await imap_server.jmap("ImapMailbox/vanished", mailboxId=inbox, sinceModseq=0)
    assert whole["complete"] and whole["uids"] == [1]
    await expunge_first(raw)
    _, imap = await inbox_records(imap_server)
    partial = await imap_server.jmap("ImapMailbox/vanished", mailboxId=inbox, sinceModseq=0)
    assert not partial["complete"] and partial["uids"] == [2]
    since_floor = await imap_server.jmap(
        "ImapMailbox/vanished", mailboxId=inbox, sinceModseq=imap["vanishedFloor"]
    )
    assert since_floor["complete"] and since_floor["uids"] == [2]
