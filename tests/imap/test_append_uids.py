"""APPENDUID and COPYUID name the UIDVALIDITY and UIDs a SELECT then shows, also for a mailbox
made before IMAP state existed (it gets that state at the APPEND or COPY)."""

from __future__ import annotations

import re

import pytest_twisted

from stalwart_tx.store.records import WriteBatch
from tests.imap.conftest import ImapServer, RawConnection, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: hello\r\n\r\nbody\r\n"


async def mailbox_id(server: ImapServer, name: str) -> str:
    found = await server.jmap("Mailbox/get")
    return next(m["id"] for m in found["list"] if m["name"] == name)


async def forget_imap_state(server: ImapServer, mailbox: str) -> None:
    """The mailbox as stored before IMAP state existed: no UIDVALIDITY, no UIDs."""
    [stored] = (await server.store.accounts.get(server.account, "Mailbox", [mailbox])).values()
    stored.pop("imap")
    emails = await server.store.indexes.index_query(server.account, _uid_index(mailbox))
    batch = WriteBatch().update("Mailbox", mailbox, stored)
    for email_id in emails.ids:
        batch.index_remove(f"Email:uid:{mailbox}", email_id)
    await server.store.accounts.write(server.account, batch)


def _uid_index(mailbox: str) -> object:
    from stalwart_tx.store.records import Index

    return Index(f"Email:uid:{mailbox}")


async def append(raw: RawConnection, mailbox: bytes) -> tuple[int, int]:
    await raw.send(b"a APPEND %s {%d+}\r\n" % (mailbox, len(MESSAGE)) + MESSAGE + b"\r\n")
    lines = await raw.until(b"a")
    found = re.search(rb"\[APPENDUID (\d+) (\d+)\]", lines[-1])
    assert lines[-1].startswith(b"a OK") and found, lines
    return int(found.group(1)), int(found.group(2))


async def selected(raw: RawConnection, mailbox: bytes) -> tuple[int, list[int]]:
    lines = await raw.command(b"SELECT " + mailbox, b"s")
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))  # type: ignore[union-attr]
    fetched = await raw.command(b"UID FETCH 1:* (UID)", b"f")
    uids = [int(m.group(1)) for line in fetched if (m := re.search(rb"UID (\d+)", line))]
    return validity, uids


@pytest_twisted.ensureDeferred
async def test_appenduid_is_what_select_shows(imap_server: ImapServer, raw: RawConnection) -> None:
    await logged_in(raw)
    first = await append(raw, b"INBOX")
    second = await append(raw, b"INBOX")
    validity, uids = await selected(raw, b"INBOX")
    assert first == (validity, uids[0]) and second == (validity, uids[1])


@pytest_twisted.ensureDeferred
async def test_appenduid_for_a_mailbox_without_imap_state(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    await logged_in(raw)
    await append(raw, b"Archive")
    await forget_imap_state(imap_server, await mailbox_id(imap_server, "Archive"))
    validity, uid = await append(raw, b"Archive")
    assert (validity, [1, uid]) == await selected(raw, b"Archive")


@pytest_twisted.ensureDeferred
async def test_copyuid_for_a_mailbox_without_imap_state(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    await logged_in(raw)
    await append(raw, b"INBOX")
    await append(raw, b"Archive")
    await forget_imap_state(imap_server, await mailbox_id(imap_server, "Archive"))
    await raw.command(b"SELECT INBOX", b"s")
    lines = await raw.command(b"UID COPY 1 Archive", b"c")
    found = re.search(rb"\[COPYUID (\d+) 1 (\d+)\]", lines[-1])
    assert lines[-1].startswith(b"c OK") and found, lines
    validity, uids = await selected(raw, b"Archive")
    assert (int(found.group(1)), int(found.group(2))) == (validity, uids[-1])
    assert len(uids) == 2


@pytest_twisted.ensureDeferred
async def test_append_into_the_selected_mailbox_after_anothers(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    # the APPEND announces the other session's message and its own (EXISTS), and its
    # APPENDUID names the UID its message has in the view
    await logged_in(raw)
    other = RawConnection(imap_server)
    try:
        await other.line()
        await logged_in(other)
        await append(raw, b"INBOX")
        await raw.command(b"SELECT INBOX", b"s")
        theirs = await append(other, b"INBOX")
        await raw.send(b"a APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        lines = await raw.until(b"a")
        assert b"* 3 EXISTS" in lines, lines
        found = re.search(rb"\[APPENDUID (\d+) (\d+)\]", lines[-1])
        assert found, lines
        validity, uids = await selected(raw, b"INBOX")
        assert int(found.group(1)) == validity and theirs[0] == validity
        assert uids == [uids[0], theirs[1], int(found.group(2))]
        assert uids[0] < theirs[1] < int(found.group(2))
    finally:
        other.close()
