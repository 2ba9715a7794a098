"""Sessions watching each other: what one IMAP session, a JMAP client or another process
changes reaches every other session as EXISTS / FETCH / EXPUNGE, only where RFC 3501 §7.4.1
allows, and through IDLE within a second."""

from __future__ import annotations

import time

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.imap.conftest import ImapServer, RawConnection, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"


async def session(server: ImapServer, mailbox: bytes = b"INBOX") -> RawConnection:
    connection = RawConnection(server)
    await connection.line()
    await logged_in(connection)
    assert (await connection.command(b"SELECT " + mailbox))[-1].startswith(b"t OK")
    return connection


async def append(raw: RawConnection, count: int = 1) -> None:
    for _ in range(count):
        await raw.send(b"ap APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        assert (await raw.until(b"ap"))[-1].startswith(b"ap OK")


def untagged(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* ")]


@pytest_twisted.ensureDeferred
async def test_new_messages_flags_and_expunges_reach_the_other_session(
    imap_server: ImapServer,
) -> None:
    a = await session(imap_server)
    b = await session(imap_server)
    await append(a, 2)
    seen = untagged(await b.command(b"NOOP"))
    assert b"* 2 EXISTS" in seen
    await a.command(b"STORE 1 +FLAGS (\\Flagged)")
    flags = untagged(await b.command(b"NOOP"))
    assert len(flags) == 1 and flags[0].startswith(b"* 1 FETCH (UID 1 FLAGS (")
    assert b"\\Flagged" in flags[0]
    await a.command(b"STORE 1 +FLAGS (\\Deleted)")
    await a.command(b"EXPUNGE")
    gone = untagged(await b.command(b"NOOP"))
    assert b"* 1 EXPUNGE" in gone
    assert (await b.command(b"FETCH 1 UID"))[0] == b"* 1 FETCH (UID 2)"
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_no_expunge_while_answering_fetch_store_or_search(imap_server: ImapServer) -> None:
    a = await session(imap_server)
    await append(a, 3)
    b = await session(imap_server)
    await a.command(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    await a.command(b"EXPUNGE")
    # b hears of it through the notifier, a few milliseconds later
    await deferLater(reactor, 0.3, lambda: None)
    for command in (b"FETCH 1:* UID", b"STORE 1 +FLAGS.SILENT (x)", b"SEARCH ALL"):
        lines = await b.command(command)
        assert not any(line.endswith(b"EXPUNGE") for line in lines), (command, lines)
    # sequence numbers did not move under the client: message 3 is still UID 3
    assert (await b.command(b"FETCH 3 UID"))[0] == b"* 3 FETCH (UID 3)"
    # the UID version may tell, and the expunge comes exactly once
    lines = await b.command(b"UID FETCH 1:* UID")
    assert b"* 2 EXPUNGE" in lines
    assert not any(b"EXPUNGE" in line for line in await b.command(b"NOOP"))
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_jmap_changes_reach_the_imap_session(imap_server: ImapServer) -> None:
    a = await session(imap_server)
    await append(a, 1)
    await a.command(b"NOOP")
    [email_id] = (await imap_server.jmap("Email/query"))["ids"]
    await imap_server.jmap("Email/set", update={email_id: {"keywords/$seen": True}})
    lines = untagged(await a.command(b"NOOP"))
    assert len(lines) == 1 and b"\\Seen" in lines[0]
    await imap_server.jmap("Email/set", destroy=[email_id])
    assert untagged(await a.command(b"NOOP")) == [b"* 1 EXPUNGE"]
    a.close()


@pytest_twisted.ensureDeferred
async def test_idle_delivers_changes_within_a_second(imap_server: ImapServer) -> None:
    watcher = await session(imap_server)
    writer = await session(imap_server, b"Drafts")  # so the watcher alone takes \Recent
    await watcher.send(b"i IDLE\r\n")
    assert (await watcher.line()).startswith(b"+ ")
    started = time.monotonic()
    await append(writer, 1)
    assert await watcher.line() == b"* 1 EXISTS"
    assert await watcher.line() == b"* 1 RECENT"
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    await writer.command(b"SELECT INBOX")
    await writer.command(b"STORE 1 +FLAGS (\\Answered)")
    line = await watcher.line()
    assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (") and b"\\Answered" in line
    await writer.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    await writer.command(b"EXPUNGE")
    # a flags update may come first, unless both writes arrive as one notification
    line = await watcher.line()
    if line.startswith(b"* 1 FETCH"):
        line = await watcher.line()
    assert line == b"* 1 EXPUNGE"
    await watcher.send(b"DONE\r\n")
    assert (await watcher.until(b"i"))[-1] == b"i OK IDLE terminated"
    assert (await watcher.command(b"NOOP"))[-1] == b"t OK NOOP completed"
    watcher.close()
    writer.close()


@pytest_twisted.ensureDeferred
async def test_idle_ends_only_with_done(imap_server: ImapServer) -> None:
    a = await session(imap_server)
    await a.send(b"i IDLE\r\n")
    await a.line()
    await a.send(b"NOOP\r\n")
    assert (await a.until(b"i"))[-1].startswith(b"i BAD")
    assert (await a.command(b"NOOP"))[-1] == b"t OK NOOP completed"
    a.close()


@pytest_twisted.ensureDeferred
async def test_recent_goes_to_exactly_one_session(imap_server: ImapServer) -> None:
    writer = RawConnection(imap_server)
    await writer.line()
    await logged_in(writer)
    await append(writer, 2)
    first = await session(imap_server)
    second = await session(imap_server)
    one = await first.command(b"SEARCH RECENT")
    two = await second.command(b"SEARCH RECENT")
    assert one[0] == b"* SEARCH 1 2"
    assert two[0] == b"* SEARCH"
    await append(writer, 1)
    await deferLater(reactor, 0.05, lambda: None)
    await first.command(b"NOOP")
    await second.command(b"NOOP")
    recent = [(await c.command(b"SEARCH RECENT"))[0] for c in (first, second)]
    # the first keeps what it had and takes the new one; the second never had any
    assert recent == [b"* SEARCH 1 2 3", b"* SEARCH"]
    for c in (writer, first, second):
        c.close()


@pytest_twisted.ensureDeferred
async def test_fetch_shows_flags_changed_elsewhere_since_the_last_fetch(
    imap_server: ImapServer,
) -> None:
    a = await session(imap_server)
    await append(a, 1)
    first = await a.command(b"FETCH 1 (FLAGS RFC822.SIZE)")
    assert b"\\Flagged" not in b"".join(first)
    [email_id] = (await imap_server.jmap("Email/query"))["ids"]
    await imap_server.jmap("Email/set", update={email_id: {"keywords/$flagged": True}})
    again = await a.command(b"FETCH 1 (FLAGS RFC822.SIZE)")
    assert any(b"\\Flagged" in line and b"RFC822.SIZE" in line for line in again), again
    a.close()
