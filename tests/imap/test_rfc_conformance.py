"""Conformance of the IMAP bridge to IMAP4rev1 (RFC 3501), IMAP4rev2 (RFC 9051) and the
extensions it advertises, one requirement per test, over a raw socket."""

from __future__ import annotations

import re

import pytest_twisted

from tests.imap.conftest import RawConnection, logged_in
from tests.imap.test_message_commands import PLAIN, append, selected


def tagged(lines: list[bytes]) -> bytes:
    return lines[-1]


def fetched(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* ") and b" FETCH " in line]


# -- SEARCHRES (RFC 5182) -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_select_resets_the_saved_search_result(raw: RawConnection) -> None:
    # RFC 5182 §2.1: a successful SELECT or EXAMINE empties the search result variable, so
    # UIDs saved in one mailbox never name messages of another
    await selected(raw, PLAIN, PLAIN)
    assert tagged(await raw.command(b"CREATE Other")).startswith(b"t OK")
    assert (await append(raw, PLAIN, mailbox=b"Other"))[-1].startswith(b"ap OK")
    assert tagged(await raw.command(b"SEARCH RETURN (SAVE) ALL")).startswith(b"t OK")
    assert tagged(await raw.command(b"SELECT Other")).startswith(b"t OK")
    lines = await raw.command(b"FETCH $ UID")
    assert not fetched(lines)
    assert tagged(lines).startswith(b"t OK")


@pytest_twisted.ensureDeferred
async def test_search_save_with_min_max_saves_only_those(raw: RawConnection) -> None:
    # RFC 5182 §2.1: SAVE with MIN and/or MAX alone saves just the minimum/maximum message
    await selected(raw, PLAIN, PLAIN, PLAIN)
    lines = await raw.command(b"SEARCH RETURN (SAVE MIN) ALL")
    assert b'* ESEARCH (TAG "t") MIN 1' in lines
    lines = await raw.command(b"FETCH $ UID")
    assert fetched(lines) == [b"* 1 FETCH (UID 1)"]
    await raw.command(b"SEARCH RETURN (MIN MAX SAVE) ALL")
    lines = await raw.command(b"FETCH $ UID")
    assert fetched(lines) == [
        b"* 1 FETCH (UID 1)", b"* 3 FETCH (UID 3)",
    ]
    await raw.command(b"SEARCH RETURN (MIN COUNT SAVE) ALL")
    lines = await raw.command(b"FETCH $ UID")
    assert len(fetched(lines)) == 3


# -- mailbox commands ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_delete_of_a_mailbox_with_children_says_haschildren(raw: RawConnection) -> None:
    # RFC 9051 §7.1: HASCHILDREN is the code for a DELETE refused because of child mailboxes
    await logged_in(raw)
    assert tagged(await raw.command(b"CREATE Parent/Child")).startswith(b"t OK")
    assert tagged(await raw.command(b"DELETE Parent")).startswith(b"t NO [HASCHILDREN]")


@pytest_twisted.ensureDeferred
async def test_create_answers_the_mailbox_id(raw: RawConnection) -> None:
    # RFC 8474 §4.1: a successful CREATE's tagged OK carries MAILBOXID
    await logged_in(raw)
    lines = await raw.command(b"CREATE Projects/New")
    match = re.match(rb"t OK \[MAILBOXID \(([^)\s]+)\)\]", tagged(lines))
    assert match, lines
    status = await raw.command(b"STATUS Projects/New (MAILBOXID)")
    assert b"MAILBOXID (" + match.group(1) + b")" in status[0]


@pytest_twisted.ensureDeferred
async def test_error_codes_of_mailbox_commands(raw: RawConnection) -> None:
    await logged_in(raw)
    # RFC 5530 §3: ALREADYEXISTS, NONEXISTENT; RFC 3501 §6.3.11/§6.4.7: TRYCREATE
    assert tagged(await raw.command(b"CREATE inbox")).startswith(b"t NO [ALREADYEXISTS]")
    assert tagged(await raw.command(b"RENAME Nope Other")).startswith(b"t NO [NONEXISTENT]")
    assert tagged(await raw.command(b"DELETE Nope")).startswith(b"t NO [NONEXISTENT]")
    assert tagged(await raw.command(b"STATUS Nope (MESSAGES)")).startswith(b"t NO [NONEXISTENT]")
    assert (await append(raw, PLAIN, mailbox=b"Nope"))[-1].startswith(b"ap NO [TRYCREATE]")
    await append(raw, PLAIN)
    await raw.command(b"SELECT INBOX")
    assert tagged(await raw.command(b"COPY 1 Nope")).startswith(b"t NO [TRYCREATE]")
    assert tagged(await raw.command(b"MOVE 1 Nope")).startswith(b"t NO [TRYCREATE]")


@pytest_twisted.ensureDeferred
async def test_lsub_percent_shows_an_unsubscribed_parent_as_noselect(
    raw: RawConnection,
) -> None:
    # RFC 3501 §6.3.9: "foo/bar" subscribed and "foo" not: LSUB "" "%" returns foo, flagged
    # \Noselect
    await logged_in(raw)
    assert tagged(await raw.command(b"CREATE Foo/Bar")).startswith(b"t OK")
    await raw.command(b"UNSUBSCRIBE Foo")
    assert tagged(await raw.command(b"SUBSCRIBE Foo/Bar")).startswith(b"t OK")
    lines = await raw.command(b'LSUB "" "%"')
    foo = [line for line in lines if line.endswith(b' "/" "Foo"')]
    assert len(foo) == 1 and b"\\Noselect" in foo[0], lines
    assert not [line for line in lines if b"Foo/Bar" in line]
    lines = await raw.command(b'LSUB "" "*"')
    assert [line for line in lines if line.endswith(b'"Foo/Bar"')]
    assert not [line for line in lines if line.endswith(b'"Foo"')]


@pytest_twisted.ensureDeferred
async def test_list_recursivematch_gives_childinfo(raw: RawConnection) -> None:
    # RFC 5258 §3.5: with RECURSIVEMATCH a parent that does not meet the selection itself but
    # has a descendant that does is listed with CHILDINFO naming the criteria
    await logged_in(raw)
    assert tagged(await raw.command(b"CREATE Foo/Bar")).startswith(b"t OK")
    await raw.command(b"UNSUBSCRIBE Foo")
    assert tagged(await raw.command(b"SUBSCRIBE Foo/Bar")).startswith(b"t OK")
    plain = await raw.command(b'LIST (SUBSCRIBED) "" "%"')
    assert not [line for line in plain if b'"Foo"' in line]
    lines = await raw.command(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    foo = [line for line in lines if b' "/" "Foo"' in line]
    assert len(foo) == 1, lines
    assert foo[0].endswith(b' "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))')
    assert b"\\Subscribed" not in foo[0]
    assert not [line for line in lines if b"Foo/Bar" in line]


# -- IMAP4rev2 ----------------------------------------------------------------------------


async def rev2(raw: RawConnection) -> RawConnection:
    await logged_in(raw)
    lines = await raw.command(b"ENABLE IMAP4rev2")
    assert b"* ENABLED IMAP4rev2" in lines
    return raw


@pytest_twisted.ensureDeferred
async def test_rev2_select_sends_a_list_response(raw: RawConnection) -> None:
    # RFC 9051 §6.3.2: SELECT's required untagged responses include LIST with the name
    await rev2(raw)
    await append(raw, PLAIN)
    lines = await raw.command(b"SELECT inbox")
    assert any(re.fullmatch(rb'\* LIST \([^)]*\) "/" "?INBOX"?', line) for line in lines), lines
    assert not [line for line in lines if b"RECENT" in line or b"[UNSEEN" in line]
    assert tagged(lines).startswith(b"t OK [READ-WRITE]")


@pytest_twisted.ensureDeferred
async def test_rev2_mailbox_names_are_utf8(raw: RawConnection) -> None:
    # RFC 9051 §5.1: IMAP4rev2 mailbox names are UTF-8, not modified UTF-7
    await rev2(raw)
    assert tagged(await raw.command('CREATE "Ünïcode"'.encode())).startswith(b"t OK")
    lines = await raw.command(b'LIST "" "*"')
    assert any(line.endswith(' "/" "Ünïcode"'.encode()) for line in lines), lines
    assert tagged(await raw.command('SELECT "Ünïcode"'.encode())).startswith(b"t OK")


@pytest_twisted.ensureDeferred
async def test_rev2_search_answers_esearch(raw: RawConnection) -> None:
    # RFC 9051 §6.4.4: an IMAP4rev2 SEARCH answers ESEARCH, never SEARCH
    await rev2(raw)
    await append(raw, PLAIN)
    await append(raw, PLAIN)
    await raw.command(b"SELECT INBOX")
    assert b'* ESEARCH (TAG "t") ALL 1:2' in await raw.command(b"SEARCH ALL")
    assert b'* ESEARCH (TAG "t") UID ALL 1:2' in await raw.command(b"UID SEARCH ALL")
    lines = await raw.command(b"SEARCH DELETED")
    assert lines == [b'* ESEARCH (TAG "t")', b"t OK SEARCH completed"]


@pytest_twisted.ensureDeferred
async def test_rev2_status_deleted_and_no_recent(raw: RawConnection) -> None:
    # RFC 9051 §6.3.11: STATUS DELETED counts messages flagged \Deleted
    await rev2(raw)
    await append(raw, PLAIN, b"(\\Deleted) ")
    await append(raw, PLAIN)
    lines = await raw.command(b"STATUS INBOX (MESSAGES DELETED)")
    assert lines[0] == b'* STATUS "INBOX" (MESSAGES 2 DELETED 1)'


# -- sequence sets ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_sequence_numbers_and_uid_ranges(raw: RawConnection) -> None:
    await logged_in(raw)
    assert tagged(await raw.command(b"SELECT INBOX")).startswith(b"t OK")
    # RFC 9051 §9 (seq-number): "*" in an empty mailbox is a number beyond EXISTS: BAD;
    # as a UID set it matches nothing and the command succeeds
    assert tagged(await raw.command(b"FETCH 1:* FLAGS")).startswith(b"t BAD")
    assert await raw.command(b"UID FETCH 1:* FLAGS") == [b"t OK FETCH completed"]
    await append(raw, PLAIN)
    await append(raw, PLAIN)
    await raw.command(b"NOOP")
    assert tagged(await raw.command(b"FETCH 3 FLAGS")).startswith(b"t BAD")
    assert tagged(await raw.command(b"STORE 2:5 +FLAGS (\\Seen)")).startswith(b"t BAD")
    # RFC 9051 §6.4.9: a UID range n:* includes the largest UID even when n is above it
    lines = await raw.command(b"UID FETCH 100:* UID")
    assert lines[0] == b"* 2 FETCH (UID 2)" and tagged(lines).startswith(b"t OK")
    lines = await raw.command(b"UID SEARCH UID 100:*")
    assert lines[0] == b"* SEARCH 2"
