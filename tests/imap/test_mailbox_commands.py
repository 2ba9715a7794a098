"""LIST, LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE over a raw socket, checked against the
JMAP view of the same account."""

from __future__ import annotations

import re

import pytest_twisted

from tests.imap.conftest import ImapServer, RawConnection, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"


async def append(raw: RawConnection, mailbox: bytes, message: bytes = MESSAGE,
                 flags: bytes = b"") -> list[bytes]:
    await raw.send(b"ap APPEND " + mailbox + b" " + flags + b"{%d+}\r\n" % len(message) + message
                   + b"\r\n")
    return await raw.until(b"ap")


def names(lines: list[bytes]) -> dict[str, bytes]:
    found = {}
    for line in lines:
        match = re.match(rb'\* (?:LIST|LSUB) \(([^)]*)\) "/" (.*)$', line)
        if match:
            found[match.group(2).strip(b'"').decode()] = match.group(1)
    return found


@pytest_twisted.ensureDeferred
async def test_list_shows_the_default_mailboxes_with_special_use(raw: RawConnection) -> None:
    await logged_in(raw)
    listed = names(await raw.command(b'LIST "" "*"'))
    assert set(listed) == {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"}
    assert listed["INBOX"] == b"\\HasNoChildren"
    assert listed["Sent"] == b"\\HasNoChildren \\Sent"
    assert listed["Trash"] == b"\\HasNoChildren \\Trash"
    root = await raw.command(b'LIST "" ""')
    assert root[0] == b'* LIST (\\Noselect) "/" ""'
    assert names(await raw.command(b'LIST "" "inbox"')).keys() == {"INBOX"}
    assert names(await raw.command(b'LIST "" "S%"')).keys() == {"Sent"}


@pytest_twisted.ensureDeferred
async def test_create_nested_and_list_patterns(raw: RawConnection) -> None:
    await logged_in(raw)
    created = (await raw.command(b"CREATE Projects/2026/Q4"))[-1]
    assert created.startswith(b"t OK [MAILBOXID (") and created.endswith(b")] CREATE completed")
    listed = names(await raw.command(b'LIST "" "*"'))
    assert listed["Projects"] == b"\\HasChildren"
    assert listed["Projects/2026"] == b"\\HasChildren"
    assert listed["Projects/2026/Q4"] == b"\\HasNoChildren"
    assert names(await raw.command(b'LIST "" "Projects/%"')).keys() == {"Projects/2026"}
    assert names(await raw.command(b'LIST "Projects/" "%"')).keys() == {"Projects/2026"}
    assert names(await raw.command(b'LIST "" "*/Q4"')).keys() == {"Projects/2026/Q4"}
    exists = await raw.command(b"CREATE Projects/2026")
    assert exists[-1].startswith(b"t NO [ALREADYEXISTS]")
    assert (await raw.command(b"CREATE INBOX"))[-1].startswith(b"t NO [ALREADYEXISTS]")
    assert (await raw.command(b"CREATE INBOX/Sub"))[-1].endswith(b"CREATE completed")
    assert "INBOX/Sub" in names(await raw.command(b'LIST "" "*"'))


@pytest_twisted.ensureDeferred
async def test_create_with_special_use(raw: RawConnection, imap_server: ImapServer) -> None:
    await logged_in(raw)
    assert (await raw.command(b"CREATE Everything (USE (\\All))"))[-1].startswith(b"t OK")
    listed = names(await raw.command(b'LIST (SPECIAL-USE) "" "*"'))
    assert listed["Everything"] == b"\\HasNoChildren \\All"
    assert "Projects" not in listed and "INBOX" not in listed
    taken = await raw.command(b"CREATE Second (USE (\\Sent))")
    assert taken[-1].startswith(b"t NO")
    mailboxes = (await imap_server.jmap("Mailbox/get"))["list"]
    assert {m["name"]: m["role"] for m in mailboxes}["Everything"] == "all"


@pytest_twisted.ensureDeferred
async def test_delete(raw: RawConnection) -> None:
    await logged_in(raw)
    await raw.command(b"CREATE Parent/Child")
    assert (await raw.command(b"DELETE Parent"))[-1].startswith(b"t NO [HASCHILDREN]")
    await append(raw, b"Parent/Child")
    assert (await raw.command(b"DELETE Parent/Child"))[-1] == b"t OK DELETE completed"
    assert (await raw.command(b"DELETE Parent"))[-1] == b"t OK DELETE completed"
    assert (await raw.command(b"DELETE Parent"))[-1].startswith(b"t NO [NONEXISTENT]")
    assert (await raw.command(b"DELETE INBOX"))[-1].startswith(b"t NO")
    assert set(names(await raw.command(b'LIST "" "*"'))) == {
        "INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive",
    }


@pytest_twisted.ensureDeferred
async def test_rename_keeps_messages_and_children(raw: RawConnection) -> None:
    await logged_in(raw)
    await raw.command(b"CREATE Old/Child")
    await append(raw, b"Old")
    before = await raw.command(b"STATUS Old (MESSAGES UIDVALIDITY UIDNEXT)")
    assert (await raw.command(b"RENAME Old New/Place"))[-1] == b"t OK RENAME completed"
    listed = names(await raw.command(b'LIST "" "*"'))
    assert "Old" not in listed and "New/Place" in listed and "New/Place/Child" in listed
    after = await raw.command(b"STATUS New/Place (MESSAGES UIDVALIDITY UIDNEXT)")
    assert before[0].split(b" ", 3)[3] == after[0].split(b" ", 3)[3]
    assert (await raw.command(b"RENAME Nope Other"))[-1].startswith(b"t NO [NONEXISTENT]")
    assert (await raw.command(b"RENAME New/Place Sent"))[-1].startswith(b"t NO [ALREADYEXISTS]")
    assert (await raw.command(b"RENAME New New/Place/Child/X"))[-1].startswith(b"t NO")


@pytest_twisted.ensureDeferred
async def test_rename_inbox_moves_its_messages(raw: RawConnection) -> None:
    await logged_in(raw)
    await append(raw, b"INBOX")
    await append(raw, b"INBOX")
    assert (await raw.command(b"RENAME INBOX Saved"))[-1] == b"t OK RENAME completed"
    status = await raw.command(b"STATUS Saved (MESSAGES)")
    assert status[0] == b'* STATUS "Saved" (MESSAGES 2)'
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0] == b'* STATUS "INBOX" (MESSAGES 0)'


@pytest_twisted.ensureDeferred
async def test_subscribe_lsub_and_list_subscribed(raw: RawConnection) -> None:
    await logged_in(raw)
    await raw.command(b"CREATE Lists")
    assert (await raw.command(b"UNSUBSCRIBE Lists"))[-1] == b"t OK UNSUBSCRIBE completed"
    subscribed = names(await raw.command(b'LSUB "" "*"'))
    assert "Lists" not in subscribed and "INBOX" in subscribed
    await raw.command(b"SUBSCRIBE Lists")
    assert "Lists" in names(await raw.command(b'LSUB "" "*"'))
    extended = names(await raw.command(b'LIST (SUBSCRIBED) "" "*"'))
    assert all(b"\\Subscribed" in attributes for attributes in extended.values())
    returned = names(await raw.command(b'LIST "" "*" RETURN (SUBSCRIBED)'))
    assert b"\\Subscribed" in returned["Lists"]


@pytest_twisted.ensureDeferred
async def test_status_items(raw: RawConnection) -> None:
    await logged_in(raw)
    await append(raw, b"INBOX", flags=b"(\\Seen) ")
    await append(raw, b"INBOX", flags=b"(\\Deleted) ")
    await append(raw, b"INBOX", MESSAGE + b"more\r\n")
    status = await raw.command(
        b"STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ"
        b" MAILBOXID)"
    )
    values = dict(re.findall(rb"([A-Z]+) (\d+|\([^)]*\))", status[0].split(b"(", 1)[1]))
    assert values[b"MESSAGES"] == b"3" and values[b"UIDNEXT"] == b"4"
    assert values[b"UNSEEN"] == b"2" and values[b"DELETED"] == b"1"
    assert int(values[b"SIZE"]) == 3 * len(MESSAGE) + 6
    assert values[b"RECENT"] == b"3"
    assert int(values[b"HIGHESTMODSEQ"]) > 0 and int(values[b"UIDVALIDITY"]) > 0
    list_status = await raw.command(b'LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN))')
    assert list_status[1] == b'* STATUS "INBOX" (MESSAGES 3 UNSEEN 2)'
    assert (await raw.command(b"STATUS Nope (MESSAGES)"))[-1].startswith(b"t NO [NONEXISTENT]")


@pytest_twisted.ensureDeferred
async def test_status_recent_counts_what_no_session_has_taken(
    imap_server: ImapServer, raw: RawConnection
) -> None:
    await logged_in(raw)
    for _ in range(3):
        await append(raw, b"INBOX")

    async def recent() -> bytes:
        status = await raw.command(b"STATUS INBOX (RECENT UIDNEXT)")
        found = re.search(rb"RECENT (\d+)", status[0])
        assert found, status
        return found.group(1)

    assert await recent() == b"3"
    assert await recent() == b"3"  # STATUS only looks
    other = RawConnection(imap_server)
    await other.line()
    await logged_in(other)
    await other.command(b"SELECT INBOX")  # takes the three
    assert await recent() == b"0"
    await append(raw, b"INBOX")
    assert await recent() == b"1"
    other.close()


@pytest_twisted.ensureDeferred
async def test_non_ascii_names_in_modified_utf7_and_utf8(raw: RawConnection) -> None:
    await logged_in(raw)
    assert (await raw.command(b"CREATE &AMk-t&AOk-"))[-1].endswith(b"CREATE completed")
    listed = names(await raw.command(b'LIST "" "*"'))
    assert "&AMk-t&AOk-" in listed
    await raw.command(b"ENABLE UTF8=ACCEPT")
    listed = names(await raw.command(b'LIST "" "*"'))
    assert "Été" in listed
