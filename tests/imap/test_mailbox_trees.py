"""The mailbox tree a process keeps while the Mailbox shape state stays: mail moving does not
make commands read every mailbox again; a mailbox created, renamed or deleted anywhere (another
session, a JMAP client) is seen by the very next command; counts never come from the tree."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.imap.conftest import ImapServer, RawConnection
from tests.imap.test_concurrent_sessions import append, session, untagged
from tests.imap.test_own_writes import JmapCalls


def status_of(lines: list[bytes]) -> bytes:
    [line] = [line for line in untagged(lines) if line.startswith(b"* STATUS")]
    return line


async def one_and_two(a: RawConnection) -> None:
    """Mailboxes One (one message) and Two (none)."""
    for name in (b"One", b"Two"):
        assert (await a.command(b"CREATE " + name))[-1].startswith(b"t OK")
    message = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
    await a.send(b"ap APPEND One {%d+}\r\n" % len(message) + message + b"\r\n")
    assert (await a.until(b"ap"))[-1].startswith(b"ap OK")


async def mailbox_ids(imap_server: ImapServer) -> dict[str, str]:
    found = await imap_server.jmap("Mailbox/get", properties=["name"])
    return {m["name"]: m["id"] for m in found["list"]}


async def swap_names(imap_server: ImapServer, ids: dict[str, str]) -> None:
    """A JMAP client swaps the names of One and Two."""
    await imap_server.jmap("Mailbox/set", update={ids["One"]: {"name": "Tmp"}})
    await imap_server.jmap("Mailbox/set", update={ids["Two"]: {"name": "One"}})
    await imap_server.jmap("Mailbox/set", update={ids["One"]: {"name": "Two"}})


def reads_per_send(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """For each send to Redis holding a script call from now on, how many reads it holds (its
    script calls and HGETs)."""
    from stalwart_tx import send_now

    sends: list[int] = []
    original = send_now.write

    def counted(transport: object, data: bytes) -> None:
        if b"EVALSHA" in data:
            sends.append(data.count(b"EVALSHA") + data.count(b"\r\nHGET\r\n"))
        original(transport, data)

    monkeypatch.setattr(send_now, "write", counted)
    return sends


@pytest_twisted.ensureDeferred
async def test_mail_moving_reads_no_tree_again_and_counts_stay_exact(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    b = await session(imap_server)
    await a.command(b'LIST "" "*"')
    methods = JmapCalls(monkeypatch).on()
    for n in range(1, 4):
        await append(b)  # moves the Mailbox state (counts, UIDNEXT), not its shape
        lines = await a.command(b"STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
        assert status_of(lines) == b"* STATUS \"INBOX\" (MESSAGES %d UIDNEXT %d UNSEEN %d)" % (
            n, n + 1, n)
        await a.command(b'LIST "" "*"')
    assert "ImapMailbox/shape" in methods
    assert "Mailbox/get" not in methods  # every command took the kept tree


@pytest_twisted.ensureDeferred
async def test_mailboxes_changed_elsewhere_show_at_once(imap_server: ImapServer) -> None:
    a = await session(imap_server)
    b = await session(imap_server)
    assert (await a.command(b"STATUS Projects (MESSAGES)"))[-1].startswith(b"t NO [NONEXISTENT]")
    # another session creates it: the next command here finds it
    assert (await b.command(b"CREATE Projects"))[-1].startswith(b"t OK")
    lines = await a.command(b"STATUS Projects (MESSAGES)")
    assert status_of(lines) == b"* STATUS \"Projects\" (MESSAGES 0)"
    # a JMAP client renames it: the old name is gone, the new one answers
    found = await imap_server.jmap("Mailbox/get", properties=["name"])
    [projects] = [m["id"] for m in found["list"] if m["name"] == "Projects"]
    await imap_server.jmap("Mailbox/set", update={projects: {"name": "Plans"}})
    assert (await a.command(b"SELECT Projects"))[-1].startswith(b"t NO [NONEXISTENT]")
    assert (await a.command(b"SELECT Plans"))[-1].startswith(b"t OK")
    lines = untagged(await a.command(b'LIST "" "*"'))
    assert any(line.endswith(b' "/" "Plans"') for line in lines), lines
    assert not any(b"Projects" in line for line in lines)
    # deleted by the other session: gone here too
    assert (await b.command(b"DELETE Plans"))[-1].startswith(b"t OK")
    assert (await a.command(b"STATUS Plans (MESSAGES)"))[-1].startswith(b"t NO [NONEXISTENT]")


@pytest_twisted.ensureDeferred
async def test_status_reads_the_shape_beside_the_values_and_sees_names_swapped(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    await one_and_two(a)
    assert status_of(await a.command(b"STATUS One (MESSAGES)")) == b'* STATUS "One" (MESSAGES 1)'
    # with the tree kept, the shape state and the mailbox's values leave in one send
    sends = reads_per_send(monkeypatch)
    assert status_of(await a.command(b"STATUS One (MESSAGES)")) == b'* STATUS "One" (MESSAGES 1)'
    assert sends == [2], sends
    monkeypatch.undo()
    # a JMAP client swaps the two names: the kept tree is wrong now, and STATUS must see it
    ids = await mailbox_ids(imap_server)
    await swap_names(imap_server, ids)
    assert status_of(await a.command(b"STATUS One (MESSAGES)")) == b'* STATUS "One" (MESSAGES 0)'
    assert status_of(await a.command(b"STATUS Two (MESSAGES)")) == b'* STATUS "Two" (MESSAGES 1)'
    a.close()


@pytest_twisted.ensureDeferred
async def test_reselect_reads_the_shape_beside_the_catch_up_and_sees_names_swapped(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    await one_and_two(a)
    assert b"* 1 EXISTS" in await a.command(b"SELECT One")
    ids = await mailbox_ids(imap_server)
    # the same mailbox again: the shape state and the view's catch-up leave in one send
    sends = reads_per_send(monkeypatch)
    again = await a.command(b"SELECT One")
    monkeypatch.undo()
    assert b"* 1 EXISTS" in again and again[-1].startswith(b"t OK")
    assert sends == [2], sends
    # a JMAP client swaps the two names: SELECT One is now the other mailbox
    await swap_names(imap_server, ids)
    swapped = await a.command(b"SELECT One")
    assert b"* 0 EXISTS" in swapped, swapped
    assert b"* OK [MAILBOXID (%s)] mailbox id" % ids["Two"].encode() in swapped
    back = await a.command(b"SELECT Two")
    assert b"* 1 EXISTS" in back
    assert b"* OK [MAILBOXID (%s)] mailbox id" % ids["One"].encode() in back
    # renamed away while selected: the old name is nobody's, and nothing stays selected
    await imap_server.jmap("Mailbox/set", update={ids["One"]: {"name": "Three"}})
    assert (await a.command(b"SELECT Two"))[-1].startswith(b"t NO [NONEXISTENT]")
    assert (await a.command(b"FETCH 1 (FLAGS)"))[-1].startswith(b"t BAD")
    a.close()


@pytest_twisted.ensureDeferred
async def test_append_looks_the_mailbox_up_beside_the_upload_and_sees_names_swapped(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    await one_and_two(a)
    message = b"From: b@example.com\r\nSubject: again\r\n\r\nbody\r\n"

    async def append_to(name: bytes) -> bytes:
        await a.send(b"ap APPEND %s {%d+}\r\n" % (name, len(message)) + message + b"\r\n")
        return (await a.until(b"ap"))[-1]

    # the shape state and the message's upload leave in one send
    sends = reads_per_send(monkeypatch)
    assert (await append_to(b"One")).startswith(b"ap OK")
    assert sends[0] == 2, sends
    monkeypatch.undo()
    # a JMAP client swaps the two names: the message goes where the name points now
    ids = await mailbox_ids(imap_server)
    await swap_names(imap_server, ids)
    assert (await append_to(b"One")).startswith(b"ap OK")
    assert status_of(await a.command(b"STATUS One (MESSAGES)")) == b'* STATUS "One" (MESSAGES 1)'
    assert status_of(await a.command(b"STATUS Two (MESSAGES)")) == b'* STATUS "Two" (MESSAGES 2)'
    # no such mailbox: TRYCREATE, and no message anywhere
    assert (await append_to(b"Three")).startswith(b"ap NO [TRYCREATE]")
    found = await imap_server.jmap("Email/query")
    assert len(found["ids"]) == 3
    a.close()
