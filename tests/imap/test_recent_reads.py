"""rev1's \\Recent is read, and taken, in the same store read as the UIDs it is about: a SELECT,
a catch-up that finds new messages and a STATUS RECENT make no ImapMailbox/claimRecent call of
their own, and each message is still \\Recent in exactly one session."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.imap.conftest import ImapServer, RawConnection, logged_in
from tests.imap.test_concurrent_sessions import append, session, untagged
from tests.imap.test_own_writes import JmapCalls, settle_notifications

CLAIM = "ImapMailbox/claimRecent"


async def writer(server: ImapServer) -> RawConnection:
    connection = RawConnection(server)
    await connection.line()
    await logged_in(connection)
    return connection


@pytest_twisted.ensureDeferred
async def test_a_catch_up_takes_what_it_finds_in_its_own_read(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await session(imap_server)
    b = await session(imap_server)
    w = await writer(imap_server)
    await append(w, 2)
    await settle_notifications()
    calls = JmapCalls(monkeypatch)
    seen = calls.on()
    noticed_a = untagged(await a.command(b"NOOP"))
    noticed_b = untagged(await b.command(b"NOOP"))
    calls.off()
    assert noticed_a == [b"* 2 EXISTS", b"* 2 RECENT"]
    assert noticed_b == [b"* 2 EXISTS", b"* 0 RECENT"]
    assert CLAIM not in seen and seen.count("ImapMailbox/get") == 2, seen
    assert (await a.command(b"SEARCH RECENT"))[0] == b"* SEARCH 1 2"
    assert (await b.command(b"SEARCH RECENT"))[0] == b"* SEARCH"
    # one more: the session that catches up first takes it, the other keeps none
    await append(w, 1)
    await settle_notifications()
    assert untagged(await b.command(b"NOOP")) == [b"* 3 EXISTS", b"* 1 RECENT"]
    assert untagged(await a.command(b"NOOP")) == [b"* 3 EXISTS", b"* 2 RECENT"]
    assert (await a.command(b"SEARCH RECENT"))[0] == b"* SEARCH 1 2"
    assert (await b.command(b"SEARCH RECENT"))[0] == b"* SEARCH 3"
    for c in (a, b, w):
        c.close()


@pytest_twisted.ensureDeferred
async def test_select_and_status_read_the_mark_with_the_uids(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await writer(imap_server)
    await append(w, 3)
    calls = JmapCalls(monkeypatch)
    seen = calls.on()
    # STATUS counts what no session took, and takes nothing
    status = untagged(await w.command(b"STATUS INBOX (MESSAGES RECENT)"))
    assert status == [b'* STATUS "INBOX" (MESSAGES 3 RECENT 3)']
    assert CLAIM not in seen, seen
    # EXAMINE shows them as recent without taking them; SELECT takes them, in its one read
    seen.clear()
    examined = await w.command(b"EXAMINE INBOX")
    assert b"* 3 RECENT" in examined and CLAIM not in seen, seen
    reader = RawConnection(imap_server)
    await reader.line()
    await logged_in(reader)
    seen.clear()
    selected = await reader.command(b"SELECT INBOX")
    assert b"* 3 RECENT" in selected
    assert CLAIM not in seen and seen.count("ImapMailbox/get") == 1, seen
    calls.off()
    assert untagged(await w.command(b"STATUS INBOX (RECENT)")) == [
        b'* STATUS "INBOX" (RECENT 0)']
    again = await w.command(b"EXAMINE INBOX")
    assert b"* 0 RECENT" in again
    for c in (w, reader):
        c.close()
