"""A FETCH of many messages (a client's flag sync) catches the session's view up first and takes
each message's MODSEQ from the view, reading only those the view does not know: the flags are
as current as when each MODSEQ was read one by one."""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from stalwart_tx.imap.commands_fetch import CATCH_UP_FIRST
from tests.imap.conftest import ImapServer
from tests.imap.test_concurrent_sessions import append, session, untagged
from tests.imap.test_own_writes import JmapCalls

COUNT = CATCH_UP_FIRST + 2
FLAGS = re.compile(rb"^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)$")


def flags_by_uid(lines: list[bytes]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for line in untagged(lines):
        match = FLAGS.match(line)
        if match:
            found[int(match.group(2))] = match.group(3)
    return found


@pytest_twisted.ensureDeferred
async def test_a_flag_sync_reads_only_the_modseqs_the_view_does_not_know(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = await session(imap_server)
    await append(writer, COUNT)
    a = await session(imap_server)
    calls = JmapCalls(monkeypatch)
    methods = calls.on()
    first = flags_by_uid(await a.command(b"FETCH 1:* (UID FLAGS)", b"f"))
    assert len(first) == COUNT
    assert methods.count("ImapEmail/get") == 1  # right after SELECT the view knows none
    # another session's change and the session's own
    await writer.command(b"STORE 3 +FLAGS (\\Answered)")
    await a.command(b"STORE 5 +FLAGS (\\Flagged)", b"s")
    methods = calls.on()
    second = await a.command(b"FETCH 1:* (UID FLAGS)", b"f")
    assert "ImapEmail/get" not in methods, methods  # the catch-up brought what changed
    assert "ImapMailbox/get" in methods
    now = flags_by_uid(second)
    assert b"\\Answered" in now[3] and b"\\Flagged" in now[5]
    assert {uid: text for uid, text in now.items() if uid not in (3, 5)} == {
        uid: text for uid, text in first.items() if uid not in (3, 5)}
    calls.off()
    for c in (writer, a):
        c.close()


@pytest_twisted.ensureDeferred
async def test_a_flag_sync_after_an_expunge_elsewhere_numbers_as_before_and_says_so(
    imap_server: ImapServer,
) -> None:
    writer = await session(imap_server)
    await append(writer, COUNT)
    a = await session(imap_server)
    await a.command(b"FETCH 1:* (UID FLAGS)", b"f")
    await writer.command(b"STORE 2 +FLAGS (\\Deleted)")
    await writer.command(b"EXPUNGE")
    await append(writer, 1)
    # a FETCH may not announce the expunge: message 2 keeps its number, the new message
    # comes as EXISTS, and the answer says one could not be fetched
    lines = await a.command(b"FETCH 1:* (UID FLAGS)", b"f")
    assert b"* %d EXISTS" % (COUNT + 1) in lines
    assert not any(line.endswith(b" EXPUNGE") for line in lines)
    assert lines[-1].startswith(b"f NO [EXPUNGEISSUED]"), lines[-1]
    shown = flags_by_uid(lines)
    assert 2 not in shown and sorted(shown) == [1, *range(3, COUNT + 2)]
    # a UID FETCH may: the expunge goes first, then the flags
    lines = await a.command(b"UID FETCH 1:* (FLAGS)", b"u")
    assert b"* 2 EXPUNGE" in lines and lines[-1].startswith(b"u OK")
    for c in (writer, a):
        c.close()
