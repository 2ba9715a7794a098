"""How often a session catches up with others' changes: after a command that does not ask for
them, at most once every LOOK_INTERVAL; at once for NOOP, in IDLE, and after the session's own
change of the mailbox. The interval is set here to make each case certain, not timing-bound."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.imap import session as session_module
from tests.imap.conftest import ImapServer, RawConnection
from tests.imap.test_concurrent_sessions import MESSAGE, append, session, untagged
from tests.imap.test_own_writes import settle_notifications


def told_flags(lines: list[bytes], seq: int, flag: bytes) -> bool:
    return any(line.startswith(b"* %d FETCH (" % seq) and b"FLAGS (" in line and flag in line
               for line in lines)


async def two_sessions(
    server: ImapServer, monkeypatch: pytest.MonkeyPatch, messages: int
) -> tuple[RawConnection, RawConnection]:
    """A, which appended the messages and has just looked, and B; from now on A looks again
    only when a command asks it to (the interval is an hour)."""
    a = await session(server)
    await append(a, messages)
    b = await session(server)
    await a.command(b"NOOP")
    monkeypatch.setattr(session_module, "LOOK_INTERVAL", 3600.0)
    return a, b


@pytest_twisted.ensureDeferred
async def test_others_changes_wait_for_the_interval_but_not_for_noop(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = await two_sessions(imap_server, monkeypatch, 2)

    await b.command(b"STORE 2 +FLAGS (\\Flagged)", b"s")
    await settle_notifications()
    fetched = await a.command(b"FETCH 1 (UID)", b"f")
    assert untagged(fetched) == [b"* 1 FETCH (UID 1)"]  # held back: A looked just now
    noticed = await a.command(b"NOOP", b"n")
    assert told_flags(noticed, 2, b"\\Flagged"), noticed

    monkeypatch.setattr(session_module, "LOOK_INTERVAL", 0.0)
    await b.command(b"STORE 1 +FLAGS (\\Seen)", b"s")
    await settle_notifications()
    fetched = await a.command(b"FETCH 2 (UID)", b"f")
    assert told_flags(fetched, 1, b"\\Seen"), fetched
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_a_held_back_change_comes_with_the_first_command_after_the_interval(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = await two_sessions(imap_server, monkeypatch, 1)
    await append(b, 1)
    await settle_notifications()
    held = await a.command(b"FETCH 1 (UID)", b"f")
    assert b"EXISTS" not in held
    # the interval has passed (as far as the session can tell) by the next command
    monkeypatch.setattr(session_module, "LOOK_INTERVAL", 0.0)
    told = await a.command(b"FETCH 1 (UID)", b"f")
    assert b"* 2 EXISTS" in told, told
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_idle_and_own_changes_do_not_wait(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = await two_sessions(imap_server, monkeypatch, 1)

    # the session's own APPEND into the selected mailbox is announced with it
    await a.send(b"ap APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
    appended = await a.until(b"ap")
    assert b"* 2 EXISTS" in appended, appended

    # in IDLE another session's change arrives without waiting for the interval
    await a.send(b"i IDLE\r\n")
    assert (await a.line()).startswith(b"+ ")
    await b.command(b"STORE 1 +FLAGS (\\Flagged)", b"s")
    line = await a.line()
    assert told_flags([line], 1, b"\\Flagged"), line
    await a.send(b"DONE\r\n")
    assert (await a.until(b"i"))[-1] == b"i OK IDLE terminated"
    a.close()
    b.close()
