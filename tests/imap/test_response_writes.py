"""A command's response leaves in one write, and the socket does not wait on Nagle.

A response that trickles out in pieces across reactor turns makes the client's delayed ACK hold
the last piece back (about 40 ms on Linux); collecting a command's output and sending it once
keeps every command's latency at its work.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx import send_now
from tests.imap.conftest import ImapServer, RawConnection, logged_in


def server_side(imap_server: ImapServer) -> Any:
    [connection] = list(imap_server.factory.connections)
    return connection


async def append_messages(raw: RawConnection, flags: list[bytes]) -> None:
    """One short message into INBOX per entry, with those flags (b"" or b" (...)")."""
    message = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
    for given in flags:
        await raw.send(b"a APPEND INBOX%s {%d+}\r\n" % (given, len(message)) + message + b"\r\n")
        assert (await raw.until(b"a"))[-1].startswith(b"a OK")


def record_writes(connection: Any, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every piece handed to the connection's transport, whether it left through Twisted's
    write or straight to the socket (``send_now``)."""
    writes: list[bytes] = []
    transport = connection.transport
    original = transport.write
    original_now = send_now.write
    sending_now: list[bool] = []

    def write(data: bytes) -> None:
        if not sending_now:  # not the rest of a piece send_now recorded already
            writes.append(data)
        original(data)

    def write_now(target: Any, data: bytes) -> None:
        if target is transport:
            writes.append(data)
            sending_now.append(True)
        try:
            original_now(target, data)
        finally:
            if target is transport:
                sending_now.pop()

    transport.write = write
    monkeypatch.setattr(send_now, "write", write_now)
    return writes


@pytest_twisted.ensureDeferred
async def test_the_socket_sends_without_delay(imap_server: ImapServer, raw: RawConnection) -> None:
    handle = server_side(imap_server).transport.getHandle()
    assert handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest_twisted.ensureDeferred
async def test_a_select_response_is_one_write(
    imap_server: ImapServer, raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await logged_in(raw)
    writes = record_writes(server_side(imap_server), monkeypatch)
    lines = await raw.command(b"SELECT INBOX", b"s")
    assert lines[-1].startswith(b"s OK [READ-WRITE]")
    # SELECT reads the store several times between its untagged lines
    assert len(lines) > 5
    assert len(writes) == 1
    assert writes[0] == b"".join(line + b"\r\n" for line in lines)


@pytest_twisted.ensureDeferred
async def test_idle_updates_leave_at_once(
    imap_server: ImapServer, raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await logged_in(raw)
    await raw.command(b"SELECT INBOX", b"s")
    writes = record_writes(server_side(imap_server), monkeypatch)
    await raw.send(b"i IDLE\r\n")
    assert (await raw.line()).startswith(b"+")
    other = await imap_server.client()
    await other.run(other.imap.append, "INBOX", "", None,
                    b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
    assert await raw.line() == b"* 1 EXISTS"
    # the continuation and the update went out as they happened, not at the end of IDLE
    assert len(writes) >= 2
    await raw.send(b"DONE\r\n")
    assert (await raw.until(b"i"))[-1].startswith(b"i OK")


@pytest_twisted.ensureDeferred
async def test_a_fetch_of_many_short_answers_is_one_write(
    imap_server: ImapServer, raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await logged_in(raw)
    await append_messages(raw, [b""] * 5)
    await raw.command(b"SELECT INBOX", b"s")
    writes = record_writes(server_side(imap_server), monkeypatch)
    lines = await raw.command(b"FETCH 1:5 (UID FLAGS)", b"f")
    assert len([line for line in lines if line.startswith(b"* ")]) == 5
    assert len(writes) == 1


@pytest_twisted.ensureDeferred
async def test_a_fetch_of_facts_alone_answers_as_one_with_content(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    # a FETCH of facts only (UID, FLAGS, sizes, dates, ids) is answered without reading any
    # message; its items must read exactly as when content is asked beside them
    await logged_in(raw)
    await append_messages(raw, [b"", b" (\\Seen)", b" (\\Flagged $Custom)"])
    await raw.command(b"ENABLE CONDSTORE", b"e")
    await raw.command(b"SELECT INBOX", b"s")
    facts = b"UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ EMAILID THREADID SAVEDATE PREVIEW"
    alone = [line for line in await raw.command(b"FETCH 1:3 (%s)" % facts, b"f")
             if b" FETCH (" in line]
    with_content = [line for line in await raw.command(b"FETCH 1:3 (%s RFC822.HEADER)" % facts,
                                                       b"g") if b" FETCH (" in line]
    assert len(alone) == 3
    assert b"\\Flagged" in alone[2] and b"\\Seen" in alone[1] and b"MODSEQ (" in alone[0]
    for lone, full in zip(alone, with_content, strict=True):
        assert lone.endswith(b")")
        assert full.startswith(lone[:-1] + b" RFC822.HEADER {"), (lone, full)


@pytest_twisted.ensureDeferred
async def test_the_flag_sync_line_reads_as_the_general_one(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    # FETCH (UID FLAGS), what clients sync with, has a line of its own: it must read as the
    # same items do when other facts come with them (\Recent, system and custom flags)
    await logged_in(raw)
    await append_messages(raw, [b"", b" (\\Seen)", b" (\\Flagged $Custom \\Deleted)"])
    await raw.command(b"SELECT INBOX", b"s")
    synced = [line for line in await raw.command(b"FETCH 1:3 (UID FLAGS)", b"f")
              if b" FETCH (" in line]
    general = [line for line in await raw.command(b"FETCH 1:3 (UID FLAGS RFC822.SIZE)", b"g")
               if b" FETCH (" in line]
    assert synced == [line.split(b" RFC822.SIZE ")[0] + b")" for line in general]
    assert synced[0].startswith(b"* 1 FETCH (UID 1 FLAGS (\\Recent")
    assert synced[2] == b"* 3 FETCH (UID 3 FLAGS (\\Recent \\Flagged \\Deleted $custom))"


@pytest_twisted.ensureDeferred
async def test_a_short_response_leaves_without_waiting_for_the_reactor(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    # queued through Twisted, each response would cost one more reactor turn and two epoll
    # changes; on a plain socket with nothing queued it is sent by the command itself
    await logged_in(raw)
    transport = server_side(imap_server).transport
    queued: list[bytes] = []
    original = transport.write

    def write(data: bytes) -> None:
        queued.append(data)
        original(data)

    transport.write = write
    assert (await raw.command(b"NOOP", b"n"))[-1].startswith(b"n OK")
    assert (await raw.command(b"SELECT INBOX", b"s"))[-1].startswith(b"s OK")
    assert queued == []
