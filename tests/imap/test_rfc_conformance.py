"""Conformance of the IMAP bridge to IMAP4rev1 (RFC 3501), IMAP4rev2 (RFC 9051) and the
extensions it advertises, one requirement per test, over a raw socket."""

from __future__ import annotations

import re

import pytest
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


# -- message commands and extensions ------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_expunge_order_and_move(raw: RawConnection) -> None:
    await selected(raw, PLAIN, PLAIN, PLAIN, PLAIN)
    await raw.command(b"STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    # RFC 9051 §7.5.1: each EXPUNGE renumbers the messages after it at once; highest first
    # keeps every number right
    assert await raw.command(b"EXPUNGE") == [
        b"* 3 EXPUNGE", b"* 1 EXPUNGE", b"t OK EXPUNGE completed",
    ]
    assert tagged(await raw.command(b"CREATE Dest")).startswith(b"t OK")
    # RFC 6851 §4.3: COPYUID in an untagged OK before the expunges, then the tagged OK
    lines = await raw.command(b"UID MOVE 4 Dest")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 4 1\] .*", lines[0]), lines
    assert lines[1:] == [b"* 2 EXPUNGE", b"t OK MOVE completed"]
    # RFC 4315 §2.1: UID EXPUNGE leaves \Deleted messages outside the set alone
    await append(raw, PLAIN, b"(\\Deleted) ")
    await raw.command(b"NOOP")
    await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines = await raw.command(b"UID EXPUNGE 5")
    assert [line for line in lines if line.endswith(b" EXPUNGE")] == [b"* 2 EXPUNGE"]
    assert tagged(lines) == b"t OK EXPUNGE completed"


@pytest_twisted.ensureDeferred
async def test_multiappend_answers_every_uid(raw: RawConnection) -> None:
    # RFC 3502 §6.3.11 with RFC 4315 §3: one APPENDUID with the UIDs of all the messages
    await logged_in(raw)
    size = b"%d" % len(PLAIN)
    await raw.send(b"ap APPEND INBOX {" + size + b"+}\r\n" + PLAIN
                   + b" (\\Seen) {" + size + b"+}\r\n" + PLAIN + b"\r\n")
    lines = await raw.until(b"ap")
    assert re.fullmatch(rb"ap OK \[APPENDUID \d+ 1:2\] .*", tagged(lines)), lines


@pytest_twisted.ensureDeferred
async def test_fetch_section_labels_and_binary(raw: RawConnection) -> None:
    multipart = (
        b"From: carol@example.net\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--XX--\r\n"
    )
    await selected(raw, multipart)
    # RFC 9051 §7.5.2: a partial fetch is labelled with its origin only, and never .PEEK
    lines = await raw.command(b"FETCH 1 (BODY.PEEK[]<0.4>)")
    assert lines[0] == b'* 1 FETCH (BODY[]<0> "From")'
    # RFC 3516 §4.3: BINARY.SIZE is the decoded size; BINARY the decoded octets, literal8
    lines = await raw.command(b"FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
    assert lines[0] == b"* 1 FETCH (BINARY.SIZE[2] 5 BINARY[2] ~{5}"
    assert lines[1] == b"\x00\x01\x02\x03\x04)"
    assert tagged(lines) == b"t OK FETCH completed"


@pytest_twisted.ensureDeferred
async def test_append_of_binary_and_utf8_literals(raw: RawConnection) -> None:
    await logged_in(raw)
    # RFC 3516 §4.4: APPEND takes a literal8, whose content may hold NUL
    binary = b"Subject: b\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n"
    await raw.send(b"ap APPEND INBOX ~{%d+}\r\n" % len(binary) + binary + b"\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap OK")
    # RFC 6855 §4: once UTF8=ACCEPT is enabled, APPEND takes UTF8 (~{n})
    assert b"* ENABLED UTF8=ACCEPT" in await raw.command(b"ENABLE UTF8=ACCEPT")
    utf8 = "Subject: Grüße\r\nFrom: jörg@example.com\r\n\r\nHallo\r\n".encode()
    await raw.send(b"ap APPEND INBOX UTF8 (~{%d+}\r\n" % len(utf8) + utf8 + b")\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap OK [APPENDUID")
    await raw.command(b"SELECT INBOX")
    lines = await raw.command(b"FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert "Grüße".encode() in b"\n".join(lines)


@pytest_twisted.ensureDeferred
async def test_append_beyond_the_appendlimit_is_toobig(raw: RawConnection) -> None:
    # RFC 7889 §3: a message above APPENDLIMIT is refused with NO [TOOBIG], and a
    # synchronizing literal is refused before the client sends it
    await logged_in(raw)
    caps = (await raw.command(b"CAPABILITY"))[0]
    limit = int(re.search(rb"APPENDLIMIT=(\d+)", caps).group(1))  # type: ignore[union-attr]
    await raw.send(b"ap APPEND INBOX {%d}\r\n" % (limit + 1))
    assert tagged(await raw.until(b"ap")).startswith(b"ap NO [TOOBIG]")
    assert tagged(await raw.command(b"NOOP")) == b"t OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_enable_id_namespace_preview_and_size(raw: RawConnection) -> None:
    await logged_in(raw)
    # RFC 5161 §3.2: ENABLED lists only what this command turned on
    assert b"* ENABLED CONDSTORE" in await raw.command(b"ENABLE CONDSTORE")
    assert (await raw.command(b"ENABLE CONDSTORE X-UNKNOWN"))[0] == b"* ENABLED"
    # RFC 2971 §3.1: ID NIL is answered with the server's own list
    assert re.fullmatch(rb'\* ID \(.*\)', (await raw.command(b"ID NIL"))[0])
    # RFC 2342 §5
    assert (await raw.command(b"NAMESPACE"))[0] == b'* NAMESPACE (("" "/")) NIL NIL'
    await append(raw, PLAIN)
    # RFC 8438 §2: SIZE is the total of the messages' RFC822.SIZE
    status = await raw.command(b"STATUS INBOX (SIZE)")
    assert status[0] == b'* STATUS "INBOX" (SIZE %d)' % len(PLAIN)
    await raw.command(b"SELECT INBOX")
    # RFC 8970 §3: PREVIEW, with or without LAZY, is a string of at most 256 characters
    for command in (b"FETCH 1 (PREVIEW)", b"FETCH 1 (PREVIEW (LAZY))"):
        lines = await raw.command(command)
        assert lines[0] == b'* 1 FETCH (PREVIEW "Shall we meet at noon?")', lines


@pytest_twisted.ensureDeferred
async def test_rev2_denormalized_names_open_the_normalized_mailbox(raw: RawConnection) -> None:
    # RFC 9051 §5.1: names are stored in NFC; a server that accepts a de-normalized name must
    # accept it in every command, and (§6.3.2, §6.3.4) tells the client the stored name in a
    # LIST response with OLDNAME
    await rev2(raw)
    decomposed = "Cafe\u0301".encode()
    composed = "Caf\u00e9".encode()
    lines = await raw.command(b'CREATE "' + decomposed + b'"')
    assert tagged(lines).startswith(b"t OK"), lines
    assert b'* LIST () "/" "' + composed + b'" ("OLDNAME" ("' + decomposed + b'"))' in lines
    assert tagged(await raw.command(b'CREATE "' + composed + b'"')).startswith(
        b"t NO [ALREADYEXISTS]"
    )
    lines = await raw.command(b'SELECT "' + decomposed + b'"')
    assert tagged(lines).startswith(b"t OK [READ-WRITE]"), lines
    assert any(line.startswith(b"* LIST (") and line.endswith(
        b' "/" "' + composed + b'" ("OLDNAME" ("' + decomposed + b'"))') for line in lines), lines
    lines = await raw.command(b'STATUS "' + decomposed + b'" (MESSAGES)')
    assert lines[0] == b'* STATUS "' + composed + b'" (MESSAGES 0)'
    assert (await append(raw, PLAIN, mailbox=b'"' + decomposed + b'"'))[-1].startswith(b"ap OK")
    new = "Cre\u0300me".encode()
    lines = await raw.command(b'RENAME "' + decomposed + b'" "' + new + b'"')
    assert tagged(lines).startswith(b"t OK"), lines
    assert b'* LIST () "/" "' + "Cr\u00e8me".encode() + b'" ("OLDNAME" ("' + new + b'"))' in lines


@pytest_twisted.ensureDeferred
async def test_selecting_another_mailbox_says_closed(raw: RawConnection) -> None:
    # RFC 7162 §3.2.11: a server that supports QRESYNC marks where the responses of the
    # implicitly closed mailbox end with OK [CLOSED], whatever the client enabled
    await selected(raw, PLAIN)
    lines = await raw.command(b"EXAMINE INBOX")
    assert lines[0].startswith(b"* OK [CLOSED]"), lines
    assert not [line for line in lines[1:] if b"[CLOSED]" in line]


@pytest_twisted.ensureDeferred
async def test_search_by_sequence_number_beyond_exists_is_bad(raw: RawConnection) -> None:
    # RFC 9051 §9 (seq-number): a command that uses a sequence number greater than EXISTS
    # is answered BAD, a search key included; UIDs above the largest are fine
    await selected(raw, PLAIN, PLAIN)
    assert tagged(await raw.command(b"SEARCH 3")).startswith(b"t BAD")
    assert tagged(await raw.command(b"SEARCH OR 1 NOT 2:4")).startswith(b"t BAD")
    assert tagged(await raw.command(b"UID SEARCH 1:5")).startswith(b"t BAD")
    assert (await raw.command(b"SEARCH 2:*"))[0] == b"* SEARCH 2"
    assert (await raw.command(b"UID SEARCH UID 5:7"))[0] == b"* SEARCH"


@pytest_twisted.ensureDeferred
async def test_check_belongs_to_the_selected_state_and_close_is_silent(
    raw: RawConnection,
) -> None:
    # RFC 3501 §6.4.1: CHECK is a selected-state command (command-select in §9)
    await logged_in(raw)
    assert tagged(await raw.command(b"CHECK")).startswith(b"t BAD")
    await append(raw, PLAIN, b"(\\Deleted) ")
    await append(raw, PLAIN)
    await raw.command(b"SELECT INBOX")
    assert await raw.command(b"CHECK") == [b"t OK CHECK completed"]
    # RFC 3501 §6.4.2: CLOSE removes \Deleted messages without EXPUNGE responses
    assert await raw.command(b"CLOSE") == [b"t OK CLOSE completed"]
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0] == b'* STATUS "INBOX" (MESSAGES 1)'


@pytest_twisted.ensureDeferred
async def test_rename_of_inbox_creates_the_superior_names(raw: RawConnection) -> None:
    # RFC 3501 §6.3.5: RENAME SHOULD create superior names the new name needs; renaming
    # INBOX moves its messages there and leaves INBOX empty
    await logged_in(raw)
    await append(raw, PLAIN)
    assert tagged(await raw.command(b"RENAME INBOX Old/Mail")).startswith(b"t OK")
    assert (await raw.command(b"STATUS Old/Mail (MESSAGES)"))[0].endswith(b"(MESSAGES 1)")
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0].endswith(b"(MESSAGES 0)")


@pytest_twisted.ensureDeferred
async def test_a_failed_search_with_save_empties_the_saved_result(
    raw: RawConnection, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RFC 5182 §2.1: a SEARCH with SAVE answered NO sets the search result to the empty
    # sequence; one answered BAD leaves it as it was
    from stalwart_tx.imap import commands_search

    await selected(raw, PLAIN, PLAIN)
    await raw.command(b"SEARCH RETURN (SAVE) ALL")
    assert tagged(await raw.command(b"SEARCH RETURN (SAVE) 7")).startswith(b"t BAD")
    assert len(fetched(await raw.command(b"FETCH $ UID"))) == 2

    async def fails(self: object, key: object) -> set[int]:
        raise commands_search.CommandFailed.no("cannot search that", "CANNOT")

    monkeypatch.setattr(commands_search.Searcher, "uids", fails)
    assert tagged(await raw.command(b"SEARCH RETURN (SAVE) ALL")).startswith(b"t NO")
    monkeypatch.undo()
    assert fetched(await raw.command(b"FETCH $ UID")) == []


@pytest.mark.xfail(strict=True, reason="the protocol answers NO [BADCHARSET] while parsing, "
                   "before the SEARCH handler could empty the saved result")
@pytest_twisted.ensureDeferred
async def test_a_search_with_save_refused_for_its_charset_empties_the_saved_result(
    raw: RawConnection,
) -> None:
    # RFC 5182 §2.1: NO [BADCHARSET] to a SEARCH with SAVE is a NO like any other
    await selected(raw, PLAIN, PLAIN)
    await raw.command(b"SEARCH RETURN (SAVE) ALL")
    lines = await raw.command(b"SEARCH RETURN (SAVE) CHARSET X-UNKNOWN ALL")
    assert tagged(lines).startswith(b"t NO [BADCHARSET")
    assert fetched(await raw.command(b"FETCH $ UID")) == []


@pytest_twisted.ensureDeferred
async def test_synchronizing_literals_as_arguments(raw: RawConnection) -> None:
    # RFC 9051 §4.3: a synchronizing literal waits for the server's continuation request
    await logged_in(raw)
    await raw.send(b"t SELECT {5}\r\n")
    assert (await raw.line()).startswith(b"+ ")
    await raw.send(b"INBOX\r\n")
    assert tagged(await raw.until(b"t")).startswith(b"t OK [READ-WRITE]")


@pytest_twisted.ensureDeferred
async def test_append_and_copy_to_the_selected_mailbox_announce_exists(
    raw: RawConnection,
) -> None:
    # RFC 3501 §6.3.11, §6.4.7: the new message is announced at once with EXISTS
    await selected(raw, PLAIN)
    lines = await append(raw, PLAIN)
    assert b"* 2 EXISTS" in lines and lines.index(b"* 2 EXISTS") < len(lines) - 1, lines
    lines = await raw.command(b"COPY 1 INBOX")
    assert b"* 3 EXISTS" in lines and tagged(lines).startswith(b"t OK [COPYUID"), lines


@pytest.mark.xfail(strict=True, reason="a subscription is the JMAP Mailbox's isSubscribed, so "
                   "it goes with its mailbox; keeping the name needs a subscription list in "
                   "the store, outside the bridge")
@pytest_twisted.ensureDeferred
async def test_a_deleted_mailbox_stays_subscribed(raw: RawConnection) -> None:
    # RFC 3501 §6.3.6 / RFC 9051 §6.3.9: the server MUST NOT unilaterally remove a name from
    # the subscription list; LIST (SUBSCRIBED) shows it \NonExistent (RFC 5258 §3.4)
    await logged_in(raw)
    await raw.command(b"CREATE Gone")
    await raw.command(b"SUBSCRIBE Gone")
    assert tagged(await raw.command(b"DELETE Gone")).startswith(b"t OK")
    lines = await raw.command(b'LIST (SUBSCRIBED) "" "*"')
    assert b'* LIST (\\NonExistent \\Subscribed) "/" "Gone"' in lines, lines
    lines = await raw.command(b'LSUB "" "*"')
    assert b'* LSUB (\\Noselect) "/" "Gone"' in lines, lines


@pytest_twisted.ensureDeferred
async def test_a_fetch_that_sets_seen_reports_modseq_under_condstore(
    raw: RawConnection,
) -> None:
    # RFC 7162 §3.1: once CONDSTORE is on, every untagged FETCH a flag change causes, the
    # \Seen a FETCH sets implicitly included, carries MODSEQ
    await logged_in(raw)
    await append(raw, PLAIN)
    await raw.command(b"ENABLE CONDSTORE")
    await raw.command(b"SELECT INBOX")
    lines = await raw.command(b"FETCH 1 (BODY[TEXT])")
    assert re.search(rb"FLAGS \([^)]*\\Seen[^)]*\) MODSEQ \(\d+\)\)$", lines[-2]), lines


@pytest_twisted.ensureDeferred
async def test_no_nul_in_a_literal_outside_binary(raw: RawConnection) -> None:
    # RFC 9051 §4.3 and §9 (CHAR8 excludes NUL): only a literal8 (~{n}, RFC 3516) may carry
    # NUL, so BODY[] of a message holding NUL cannot send it as it is
    await logged_in(raw)
    binary = b"Subject: b\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n"
    await raw.send(b"ap APPEND INBOX ~{%d+}\r\n" % len(binary) + binary + b"\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap OK")
    await raw.command(b"SELECT INBOX")
    for command in (b"FETCH 1 (BODY.PEEK[])", b"FETCH 1 (BODY.PEEK[1])", b"FETCH 1 (RFC822)",
                    b"FETCH 1 (RFC822.TEXT)", b"FETCH 1 (BODY.PEEK[TEXT]<0.3>)"):
        lines = await raw.command(command)
        assert tagged(lines) == b"t OK FETCH completed", lines
        assert not [line for line in lines if b"\x00" in line], lines
    lines = await raw.command(b"FETCH 1 (BINARY.PEEK[1])")
    assert lines[1] == b"a\x00b"
    # a big message goes out in pieces, and the same holds
    big = binary + b"x" * (300 * 1024) + b"\x00\r\n"
    await raw.send(b"ap APPEND INBOX ~{%d+}\r\n" % len(big) + big + b"\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap OK")
    await raw.command(b"NOOP")
    lines = await raw.command(b"FETCH 2 (BODY.PEEK[])")
    assert lines[0] == b"* 2 FETCH (BODY[] {%d}" % len(big)
    assert not [line for line in lines if b"\x00" in line]
    lines = await raw.command(b"FETCH 2 (BINARY.PEEK[])")
    assert lines[0] == b"* 2 FETCH (BINARY[] ~{%d}" % len(big)
    assert b"".join(lines[1:-1]).count(b"\x00") == 2


@pytest_twisted.ensureDeferred
async def test_append_of_nul_in_a_plain_literal_is_bad(raw: RawConnection) -> None:
    # RFC 9051 §9 (CHAR8 excludes NUL) and RFC 3516 §4.4: NUL needs a literal8; in a plain
    # literal the command does not parse, and nothing is appended
    await logged_in(raw)
    binary = b"Subject: b\r\n\r\na\x00b\r\n"
    await raw.send(b"ap APPEND INBOX {%d+}\r\n" % len(binary) + binary + b"\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap BAD")
    big = b"Subject: b\r\n\r\n" + b"x" * (300 * 1024) + b"\x00\r\n"
    await raw.send(b"ap APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
    assert tagged(await raw.until(b"ap")).startswith(b"ap BAD")
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0].endswith(b"(MESSAGES 0)")


@pytest_twisted.ensureDeferred
async def test_a_copy_keeps_the_flags_it_was_copied_with(raw: RawConnection) -> None:
    # RFC 3501 §6.4.7: the copy keeps the flags of the message as copied; the usual move of
    # a client without MOVE (COPY, STORE \Deleted, EXPUNGE) must not leave the copy \Deleted
    await selected(raw, PLAIN)
    await raw.command(b"STORE 1 +FLAGS.SILENT (\\Flagged)")
    await raw.command(b"CREATE Dest")
    assert tagged(await raw.command(b"COPY 1 Dest")).startswith(b"t OK")
    await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert b"* 1 EXPUNGE" in await raw.command(b"EXPUNGE")
    await raw.command(b"SELECT Dest")
    lines = await raw.command(b"FETCH 1 FLAGS")
    assert b"\\Flagged" in lines[0] and b"\\Deleted" not in lines[0], lines
