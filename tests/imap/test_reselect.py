"""SELECT of the mailbox already selected catches the session's view up instead of reading every
UID again; what it answers is what a first SELECT of the mailbox answers at that moment."""

from __future__ import annotations

import re
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.imap.selected import SelectedMailbox, refresh
from tests.imap.conftest import ImapServer, RawConnection, logged_in
from tests.imap.test_concurrent_sessions import append, session, untagged
from tests.imap.test_selected_refresh import Scripted, caught_up, changes

# the untagged answers of SELECT that describe the mailbox (RECENT is per session)
DESCRIBING = re.compile(rb"^\* (\d+ EXISTS|OK \[(UNSEEN|UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ) )")


class UidReads:
    """The ImapMailbox/get calls that read a mailbox's every UID (no ``uidsAbove``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from stalwart_tx.jmap.api import JMAPApi

        self.count = 0
        original = JMAPApi._call

        async def counted(api: Any, ctx: Any, name: str, arguments: Any, *rest: Any) -> Any:
            if (name == "ImapMailbox/get" and arguments.get("uids")
                    and not arguments.get("uidsAbove")):
                self.count += 1
            return await original(api, ctx, name, arguments, *rest)

        monkeypatch.setattr(JMAPApi, "_call", counted)


async def unselected(server: ImapServer) -> RawConnection:
    """A session with no mailbox selected: it takes no \\Recent of what it appends."""
    connection = RawConnection(server)
    await connection.line()
    return await logged_in(connection)


def describing(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if DESCRIBING.match(line)]


async def uids(connection: RawConnection) -> list[bytes]:
    return untagged(await connection.command(b"UID SEARCH ALL", b"u"))


@pytest_twisted.ensureDeferred
async def test_selecting_again_answers_as_a_first_select_would(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    writer = await session(imap_server)
    await append(writer, 4)
    await a.command(b"NOOP")
    # changes a has not been told of: one message expunged, one flag, two new messages
    await writer.command(b"STORE 1:2 +FLAGS (\\Seen)")
    await writer.command(b"STORE 3 +FLAGS (\\Deleted)")
    await writer.command(b"EXPUNGE")
    await append(writer, 2)
    reads = UidReads(monkeypatch)

    again = await a.command(b"SELECT INBOX")
    assert again[-1].startswith(b"t OK [READ-WRITE]"), again
    assert reads.count == 0  # caught up, not read whole
    assert not any(b"EXPUNGE" in line for line in again)
    fresh = await unselected(imap_server)
    first = await fresh.command(b"SELECT INBOX")
    assert reads.count == 1  # a first SELECT reads them whole
    assert describing(again) == describing(first)
    assert b"* 5 EXISTS" in again and b"* OK [UNSEEN 3] first unseen message" in again
    assert await uids(a) == await uids(fresh) == [b"* SEARCH 1 2 4 5 6"]
    for c in (a, writer, fresh):
        c.close()


@pytest_twisted.ensureDeferred
async def test_selecting_again_takes_recent_as_a_first_select_would(
    imap_server: ImapServer,
) -> None:
    a = await session(imap_server)
    writer = await unselected(imap_server)
    await append(writer, 2)
    # nothing was announced to a: selecting again takes both as its \Recent
    assert b"* 2 RECENT" in await a.command(b"SELECT INBOX")
    assert untagged(await a.command(b"SEARCH RECENT", b"r")) == [b"* SEARCH 1 2"]
    # selected once more with nothing new: none is recent any more, as for a first SELECT
    # after a session that took them
    assert b"* 0 RECENT" in await a.command(b"SELECT INBOX")
    await append(writer, 1)
    assert b"* 1 RECENT" in await a.command(b"SELECT INBOX")
    assert untagged(await a.command(b"SEARCH RECENT", b"r")) == [b"* SEARCH 3"]
    other = await session(imap_server)
    assert untagged(await other.command(b"SEARCH RECENT", b"r")) == [b"* SEARCH"]
    for c in (a, writer, other):
        c.close()


@pytest_twisted.ensureDeferred
async def test_examine_after_select_reads_the_mark_without_taking_it(
    imap_server: ImapServer,
) -> None:
    a = await session(imap_server)
    writer = await unselected(imap_server)
    await append(writer, 1)
    examined = await a.command(b"EXAMINE INBOX")
    assert b"* 1 RECENT" in examined and examined[-1].startswith(b"t OK [READ-ONLY]")
    # EXAMINE took nothing: the next SELECT still finds the message recent
    assert b"* 1 RECENT" in await a.command(b"SELECT INBOX")
    for c in (a, writer):
        c.close()


@pytest_twisted.ensureDeferred
async def test_a_mailbox_renamed_away_and_another_given_its_name_is_read_whole(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = await session(imap_server)
    assert (await setup.command(b"CREATE Box"))[-1].startswith(b"t OK")
    a = await session(imap_server, b"Box")
    assert (await setup.command(b"RENAME Box Old"))[-1].startswith(b"t OK")
    assert (await setup.command(b"CREATE Box"))[-1].startswith(b"t OK")
    reads = UidReads(monkeypatch)
    again = await a.command(b"SELECT Box")
    assert again[-1].startswith(b"t OK"), again
    assert reads.count == 1  # another mailbox: a new view
    for c in (setup, a):
        c.close()


@pytest_twisted.ensureDeferred
async def test_a_catch_up_from_far_behind_gives_no_mailbox_entry_to_select_with() -> None:
    # the entry belongs to the first page's state; the view ends later, so SELECT reads whole
    view = SelectedMailbox(mailbox_id="M", name="INBOX", uid_validity=1, readonly=False,
                           state="4")
    paged = {**changes("5"), "hasMoreChanges": True}
    entry = caught_up(paged, "5", [])
    entry["list"][0].update(uidValidity=1, uidNext=1, firstUnseen=None)
    client = Scripted([[entry], [changes("9")]])
    delta = await refresh(client, view, first_unseen=True)  # type: ignore[arg-type]
    assert client.asked[0][0][1]["firstUnseen"] is True
    assert delta.mailbox is None and view.state == "9"
