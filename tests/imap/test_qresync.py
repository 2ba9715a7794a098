"""CONDSTORE and QRESYNC (RFC 7162): quick resynchronisation after a reconnect, VANISHED."""

from __future__ import annotations

import re

import pytest_twisted

from tests.imap.conftest import ImapServer, RawConnection, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"


async def connect(server: ImapServer) -> RawConnection:
    connection = RawConnection(server)
    await connection.line()
    return await logged_in(connection)


async def append(raw: RawConnection, count: int) -> None:
    for _ in range(count):
        await raw.send(b"ap APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        assert (await raw.until(b"ap"))[-1].startswith(b"ap OK")


def code(lines: list[bytes], name: bytes) -> int:
    for line in lines:
        match = re.match(rb"\* OK \[" + name + rb" (\d+)\]", line)
        if match:
            return int(match.group(1))
    raise AssertionError((name, lines))


@pytest_twisted.ensureDeferred
async def test_reconnect_with_qresync_gets_what_it_missed(imap_server: ImapServer) -> None:
    first = await connect(imap_server)
    await append(first, 4)
    selected = await first.command(b"SELECT INBOX")
    validity, highest = code(selected, b"UIDVALIDITY"), code(selected, b"HIGHESTMODSEQ")
    first.close()
    other = await connect(imap_server)
    await other.command(b"SELECT INBOX")
    await other.command(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    await other.command(b"EXPUNGE")
    await other.command(b"STORE 3 +FLAGS (\\Flagged)")  # UID 4 now at 3
    again = await connect(imap_server)
    assert (await again.command(b"ENABLE QRESYNC"))[0] == b"* ENABLED QRESYNC"
    lines = await again.command(b"SELECT INBOX (QRESYNC (%d %d))" % (validity, highest))
    assert b"* VANISHED (EARLIER) 2" in lines
    fetches = [line for line in lines if b" FETCH " in line]
    assert len(fetches) == 1
    assert re.match(rb"\* 3 FETCH \(UID 4 FLAGS \([^)]*\\Flagged[^)]*\) MODSEQ \(\d+\)\)",
                    fetches[0]), fetches
    assert lines[-1].startswith(b"t OK [READ-WRITE]")
    # a known-UIDs set narrows what is reported
    narrow = await again.command(b"SELECT INBOX (QRESYNC (%d %d 1,3))" % (validity, highest))
    assert not any(b"VANISHED" in line or b" FETCH " in line for line in narrow)
    assert any(line.startswith(b"* OK [CLOSED]") for line in narrow)
    # another UIDVALIDITY: a plain SELECT, nothing resynchronised
    stale = await again.command(b"SELECT INBOX (QRESYNC (%d %d))" % (validity + 1, highest))
    assert not any(b"VANISHED" in line or b" FETCH " in line for line in stale)
    for c in (other, again):
        c.close()


@pytest_twisted.ensureDeferred
async def test_qresync_needs_enable(imap_server: ImapServer) -> None:
    c = await connect(imap_server)
    assert (await c.command(b"SELECT INBOX (QRESYNC (1 1))"))[-1].startswith(b"t BAD")
    await c.command(b"SELECT INBOX")
    assert (await c.command(b"UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)"))[-1].startswith(
        b"t BAD")
    c.close()


@pytest_twisted.ensureDeferred
async def test_expunges_are_vanished_once_enabled(imap_server: ImapServer) -> None:
    c = await connect(imap_server)
    await append(c, 3)
    await c.command(b"ENABLE QRESYNC")
    await c.command(b"SELECT INBOX")
    await c.command(b"STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    lines = await c.command(b"EXPUNGE")
    assert lines == [b"* VANISHED 1,3", b"t OK EXPUNGE completed"]
    highest = code(await c.command(b"SELECT INBOX"), b"HIGHESTMODSEQ")
    await append(c, 1)
    await c.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    await c.command(b"EXPUNGE")
    fetched = await c.command(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert fetched[0] == b"* VANISHED (EARLIER) 1:3"
    changed = await c.command(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % highest)
    assert changed[0] == b"* VANISHED (EARLIER) 2"
    assert re.match(rb"\* 1 FETCH \(UID 4 FLAGS \(.*\) MODSEQ \(\d+\)\)", changed[1]), changed
    c.close()
