"""FETCH, STORE, COPY, MOVE, EXPUNGE, APPEND, SEARCH and CONDSTORE over a raw socket, with
the results checked against the JMAP view of the same account."""

from __future__ import annotations

import re

import pytest_twisted

from tests.imap.conftest import ImapServer, RawConnection, logged_in

PLAIN = (
    b"From: Alice Example <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n"
    b"Subject: Lunch plans\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
    b"Message-ID: <lunch@example.com>\r\n\r\nShall we meet at noon?\r\n"
)
MULTIPART = (
    b"From: carol@example.net\r\nTo: alice@example.com\r\nSubject: Report\r\n"
    b"Date: Tue, 03 Jan 2023 09:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee attached.\r\n"
    b"--XX\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--XX--\r\n"
)


async def append(raw: RawConnection, message: bytes, flags: bytes = b"",
                 mailbox: bytes = b"INBOX", date: bytes = b"") -> list[bytes]:
    await raw.send(b"ap APPEND " + mailbox + b" " + flags + date
                   + b"{%d+}\r\n" % len(message) + message + b"\r\n")
    return await raw.until(b"ap")


async def selected(raw: RawConnection, *messages: bytes) -> RawConnection:
    await logged_in(raw)
    for message in messages:
        assert (await append(raw, message))[-1].startswith(b"ap OK")
    assert (await raw.command(b"SELECT INBOX"))[-1].startswith(b"t OK [READ-WRITE]")
    return raw


def flags_in(line: bytes) -> set[bytes]:
    match = re.search(rb"FLAGS \(([^)]*)\)", line)
    assert match, line
    return set(match.group(1).split())


@pytest_twisted.ensureDeferred
async def test_select_responses(raw: RawConnection) -> None:
    await logged_in(raw)
    await append(raw, PLAIN, b"(\\Seen) ")
    await append(raw, PLAIN)
    lines = await raw.command(b"SELECT INBOX")
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in lines
    assert b"* 2 EXISTS" in lines and b"* 2 RECENT" in lines
    assert any(line.startswith(b"* OK [UNSEEN 2]") for line in lines)
    assert any(line.startswith(b"* OK [PERMANENTFLAGS (") and b"\\*" in line for line in lines)
    assert any(line.startswith(b"* OK [UIDVALIDITY ") for line in lines)
    assert any(line.startswith(b"* OK [UIDNEXT 3]") for line in lines)
    assert any(line.startswith(b"* OK [HIGHESTMODSEQ ") for line in lines)
    assert lines[-1] == b"t OK [READ-WRITE] SELECT completed"
    examined = await raw.command(b"EXAMINE INBOX")
    assert examined[-1] == b"t OK [READ-ONLY] EXAMINE completed"
    assert any(line.startswith(b"* OK [PERMANENTFLAGS ()]") for line in examined)
    assert (await raw.command(b"STORE 1 +FLAGS (\\Flagged)"))[-1].startswith(b"t NO")
    assert (await raw.command(b"SELECT Nope"))[-1].startswith(b"t NO [NONEXISTENT]")
    # a failed SELECT leaves no mailbox selected
    assert (await raw.command(b"FETCH 1 FLAGS"))[-1].startswith(b"t BAD")


@pytest_twisted.ensureDeferred
async def test_fetch_metadata_and_envelope(raw: RawConnection) -> None:
    await selected(raw, PLAIN)
    lines = await raw.command(b"FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
    line = lines[0]
    assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Recent) INTERNALDATE \"")
    assert b"RFC822.SIZE %d" % len(PLAIN) in line
    assert (b'ENVELOPE ("Mon, 02 Jan 2023 10:00:00 +0000" "Lunch plans" '
            b'(("Alice Example" NIL "alice" "example.com"))') in line
    assert b'"<lunch@example.com>")' in line
    macro = await raw.command(b"FETCH 1 ALL")
    assert b"ENVELOPE" in macro[0] and b"INTERNALDATE" in macro[0]
    fast = await raw.command(b"FETCH 1 FAST")
    assert b"ENVELOPE" not in fast[0] and b"RFC822.SIZE" in fast[0]


@pytest_twisted.ensureDeferred
async def test_fetch_sections_and_structure(raw: RawConnection) -> None:
    await selected(raw, MULTIPART)
    lines = await raw.command(b"FETCH 1 (BODYSTRUCTURE)")
    assert b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII")' in lines[0].upper()
    assert b'"MIXED" ("BOUNDARY" "XX")' in lines[0].upper()
    part = await raw.command(b"FETCH 1 BODY.PEEK[1]")
    assert part[0] == b'* 1 FETCH (BODY[1] "See attached.")'
    mime = await raw.command(b"FETCH 1 BODY.PEEK[2.MIME]")
    assert b"application/octet-stream" in b"".join(mime)
    binary = await raw.command(b"FETCH 1 BINARY.PEEK[2]")
    assert binary[0].endswith(b"BINARY[2] {5}") or b"~{5}" in binary[0]
    size = await raw.command(b"FETCH 1 BINARY.SIZE[2]")
    assert size[0] == b"* 1 FETCH (BINARY.SIZE[2] 5)"
    fields = await raw.command(b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]")
    joined = b"\r\n".join(fields)
    assert b"Subject: Report" in joined and b"From: carol@example.net" in joined
    assert b"To:" not in joined
    partial = await raw.command(b"FETCH 1 BODY.PEEK[]<0.4>")
    assert partial[0] == b'* 1 FETCH (BODY[]<0> "From")'
    missing = await raw.command(b"FETCH 1 BODY.PEEK[9]")
    assert missing[0] == b"* 1 FETCH (BODY[9] NIL)"
    # nothing above was a non-peek fetch
    assert flags_in((await raw.command(b"FETCH 1 FLAGS"))[0]) == {b"\\Recent"}


@pytest_twisted.ensureDeferred
async def test_body_fetch_sets_seen_and_reports_flags(raw: RawConnection) -> None:
    await selected(raw, PLAIN)
    lines = await raw.command(b"FETCH 1 BODY[TEXT]")
    joined = b"\r\n".join(lines)
    assert b"Shall we meet at noon?" in joined
    assert b"\\Seen" in joined
    assert b"\\Seen" in (await raw.command(b"FETCH 1 FLAGS"))[0]


@pytest_twisted.ensureDeferred
async def test_big_message_goes_out_whole(raw: RawConnection, imap_server: ImapServer) -> None:
    body = b"".join(b"line %06d of a long message body\r\n" % n for n in range(40_000))
    message = b"Subject: big\r\n\r\n" + body
    await selected(raw, message)
    await raw.send(b"f FETCH 1 (BODY.PEEK[] UID)\r\n")
    head = await raw.line()
    assert head == b"* 1 FETCH (BODY[] {%d}" % len(message)

    def read_exact() -> bytes:
        while len(raw.buffer) < len(message):
            raw.buffer += raw.sock.recv(1 << 20)
        data, raw.buffer = raw.buffer[:len(message)], raw.buffer[len(message):]
        return data

    assert await raw.run(read_exact) == message
    assert await raw.line() == b" UID 1)"
    assert (await raw.until(b"f"))[-1] == b"f OK FETCH completed"


@pytest_twisted.ensureDeferred
async def test_store_modes_and_silent(raw: RawConnection, imap_server: ImapServer) -> None:
    await selected(raw, PLAIN, PLAIN)
    added = await raw.command(b"STORE 1:2 +FLAGS (\\Flagged $Forwarded custom)")
    assert len([line for line in added if b"FETCH" in line]) == 2
    assert flags_in(added[0]) >= {b"\\Flagged", b"$Forwarded", b"custom"}
    removed = await raw.command(b"STORE 1 -FLAGS (custom)")
    assert b"custom" not in flags_in(removed[0])
    replaced = await raw.command(b"STORE 2 FLAGS (\\Answered)")
    assert flags_in(replaced[0]) == {b"\\Answered", b"\\Recent"}
    silent = await raw.command(b"STORE 2 +FLAGS.SILENT (\\Draft)")
    assert silent == [b"t OK STORE completed"]
    uid = await raw.command(b"UID STORE 2 +FLAGS (\\Seen)")
    assert uid[0].startswith(b"* 2 FETCH (UID 2 FLAGS (")
    emails = (await imap_server.jmap("Email/query"))["ids"]
    found = (await imap_server.jmap("Email/get", ids=emails, properties=["keywords"]))["list"]
    keywords = sorted(sorted(e["keywords"]) for e in found)
    assert keywords == [["$answered", "$draft", "$seen"], ["$flagged", "$forwarded"]]
    assert (await raw.command(b"STORE 5 +FLAGS (\\Seen)"))[-1].startswith(b"t BAD")


@pytest_twisted.ensureDeferred
async def test_copy_and_move_report_uids(raw: RawConnection, imap_server: ImapServer) -> None:
    await selected(raw, PLAIN, MULTIPART)
    await raw.command(b"CREATE Keep")
    copied = await raw.command(b"COPY 1:2 Keep")
    match = re.match(rb"t OK \[COPYUID (\d+) 1:2 1:2\] COPY completed", copied[-1])
    assert match, copied
    assert (await raw.command(b"COPY 1 Nowhere"))[-1].startswith(b"t NO [TRYCREATE]")
    # a copy into the mailbox the message is in is a new message
    again = await raw.command(b"COPY 1 INBOX")
    assert re.match(rb"t OK \[COPYUID \d+ 1 3\]", again[-1]), again
    assert b"* 3 EXISTS" in again
    await raw.command(b"CREATE Other")
    moved = await raw.command(b"MOVE 2 Other")
    assert moved[0].startswith(b"* OK [COPYUID ")
    assert b"* 2 EXPUNGE" in moved
    assert moved[-1] == b"t OK MOVE completed"
    status = await raw.command(b"STATUS Other (MESSAGES)")
    assert status[0].endswith(b"(MESSAGES 1)")
    uid_move = await raw.command(b"UID MOVE 3 Other")
    assert b"* 2 EXPUNGE" in uid_move
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0].endswith(b"(MESSAGES 1)")


@pytest_twisted.ensureDeferred
async def test_expunge_and_uid_expunge(raw: RawConnection, imap_server: ImapServer) -> None:
    await selected(raw, PLAIN, PLAIN, PLAIN, PLAIN)
    await raw.command(b"CREATE Elsewhere")
    await raw.command(b"COPY 2 Elsewhere")
    await raw.command(b"STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    # the flags of a silent STORE on messages whose flags the client never fetched may be
    # announced (RFC 9051 §6.4.6 lets the server tell); the expunges are what matters here
    limited = await raw.command(b"UID EXPUNGE 3")
    assert [line for line in limited if line.endswith(b"EXPUNGE")] == [b"* 3 EXPUNGE"]
    rest = await raw.command(b"EXPUNGE")
    assert [line for line in rest if line.endswith(b"EXPUNGE")] == [
        b"* 2 EXPUNGE", b"* 1 EXPUNGE"]
    assert not any(line.endswith(b"EXPUNGE") for line in await raw.command(b"NOOP"))
    # the copy in another mailbox survives, without the \Deleted set here after the copy
    status = await raw.command(b"STATUS Elsewhere (MESSAGES DELETED)")
    assert status[0].endswith(b"(MESSAGES 1 DELETED 0)")
    total = await imap_server.jmap("Email/query")
    assert len(total["ids"]) == 2
    assert (await raw.command(b"FETCH 1 UID"))[0] == b"* 1 FETCH (UID 4)"


@pytest_twisted.ensureDeferred
async def test_close_expunges_unselect_does_not(raw: RawConnection) -> None:
    await selected(raw, PLAIN, PLAIN)
    await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert (await raw.command(b"UNSELECT"))[-1] == b"t OK UNSELECT completed"
    await raw.command(b"SELECT INBOX")
    assert (await raw.command(b"CLOSE")) == [b"t OK CLOSE completed"]
    assert (await raw.command(b"STATUS INBOX (MESSAGES)"))[0].endswith(b"(MESSAGES 1)")
    assert (await raw.command(b"FETCH 1 FLAGS"))[-1].startswith(b"t BAD")


@pytest_twisted.ensureDeferred
async def test_append_flags_date_and_multiappend(
    raw: RawConnection, imap_server: ImapServer
) -> None:
    await logged_in(raw)
    answer = await append(raw, PLAIN, b"(\\Seen \\Draft) ", date=b'"14-Jul-2024 09:30:00 +0200" ')
    match = re.match(rb"ap OK \[APPENDUID (\d+) 1\]", answer[-1])
    assert match, answer
    await raw.command(b"SELECT INBOX")
    fetched = await raw.command(b"FETCH 1 (FLAGS INTERNALDATE)")
    assert b'INTERNALDATE "14-Jul-2024 07:30:00 +0000"' in fetched[0]
    assert flags_in(fetched[0]) >= {b"\\Seen", b"\\Draft"}
    await raw.send(b"m APPEND INBOX {%d+}\r\n" % len(PLAIN) + PLAIN
                   + b" (\\Flagged) {%d+}\r\n" % len(MULTIPART) + MULTIPART + b"\r\n")
    multi = await raw.until(b"m")
    assert re.match(rb"m OK \[APPENDUID \d+ 2:3\]", multi[-1]), multi
    assert b"* 3 EXISTS" in multi
    assert (await append(raw, PLAIN, mailbox=b"Nowhere"))[-1].startswith(b"ap NO [TRYCREATE]")
    assert (await append(raw, b""))[-1].startswith(b"ap NO")


@pytest_twisted.ensureDeferred
async def test_search_keys(raw: RawConnection) -> None:
    other = PLAIN.replace(b"Lunch plans", b"Quarterly numbers").replace(
        b"alice@example.com", b"dave@example.net")
    await selected(raw, PLAIN, other, MULTIPART)
    await raw.command(b"STORE 2 +FLAGS (\\Flagged)")

    async def search(criteria: bytes) -> list[int]:
        lines = await raw.command(b"SEARCH " + criteria)
        assert lines[-1] == b"t OK SEARCH completed", (criteria, lines)
        return [int(n) for n in lines[0].split()[2:]]

    assert await search(b"ALL") == [1, 2, 3]
    assert await search(b"FLAGGED") == [2]
    assert await search(b"UNFLAGGED") == [1, 3]
    assert await search(b"SUBJECT lunch") == [1]
    assert await search(b"SUBJECT unch") == [1]
    assert await search(b"FROM dave") == [2]
    assert await search(b"FROM example") == [1, 2, 3]
    assert await search(b"NOT FROM dave") == [1, 3]
    assert await search(b"OR FLAGGED SUBJECT report") == [2, 3]
    assert await search(b"2:3") == [2, 3]
    assert await search(b"UID 1,3") == [1, 3]
    assert await search(b"LARGER 250") == [3]
    assert await search(b"SMALLER 250") == [1, 2]
    assert await search(b"SENTBEFORE 3-Jan-2023") == [1, 2]
    assert await search(b"SENTON 3-Jan-2023") == [3]
    assert await search(b"HEADER Message-ID lunch") == [1, 2]
    assert await search(b"BODY attached") == [3]
    assert await search(b"RECENT") == [1, 2, 3]
    assert await search(b"NEW") == [1, 2, 3]
    assert await search(b"KEYWORD custom") == []
    assert await search(b"SINCE 1-Jan-2000") == [1, 2, 3]
    assert await search(b"BEFORE 1-Jan-2000") == []
    uid = await raw.command(b"UID SEARCH FLAGGED")
    assert uid[0] == b"* SEARCH 2"


@pytest_twisted.ensureDeferred
async def test_esearch_and_searchres(raw: RawConnection) -> None:
    await selected(raw, PLAIN, PLAIN, PLAIN)
    lines = await raw.command(b"SEARCH RETURN (MIN MAX COUNT ALL) ALL", b"e1")
    assert lines[0] == b'* ESEARCH (TAG "e1") MIN 1 MAX 3 ALL 1:3 COUNT 3'
    uid = await raw.command(b"UID SEARCH RETURN () 2:3", b"e2")
    assert uid[0] == b'* ESEARCH (TAG "e2") UID ALL 2:3'
    none = await raw.command(b"SEARCH RETURN (COUNT) KEYWORD nothing", b"e3")
    assert none[0] == b'* ESEARCH (TAG "e3") COUNT 0'
    saved = await raw.command(b"SEARCH RETURN (SAVE) 2:3")
    assert saved == [b"t OK SEARCH completed, result saved"]
    fetched = await raw.command(b"FETCH $ UID")
    assert [line for line in fetched if line.startswith(b"* ")] == [
        b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)"]


@pytest_twisted.ensureDeferred
async def test_condstore(raw: RawConnection) -> None:
    await selected(raw, PLAIN, PLAIN)
    first = await raw.command(b"FETCH 1:2 (MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))  # type: ignore[union-attr]
               for line in first[:2]]
    assert modseqs[0] < modseqs[1]
    stored = await raw.command(b"STORE 1 +FLAGS (\\Seen)")
    new = int(re.search(rb"MODSEQ \((\d+)\)", stored[0]).group(1))  # type: ignore[union-attr]
    assert new > modseqs[1]
    changed = await raw.command(b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseqs[1])
    assert [line for line in changed if line.startswith(b"* ")] == [
        b"* 1 FETCH (FLAGS (\\Recent \\Seen) MODSEQ (%d))" % new]
    conditional = await raw.command(
        b"STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % modseqs[1])
    assert conditional[-1].startswith(b"t OK [MODIFIED 1]")
    assert next(line for line in conditional if line.startswith(b"* ")).startswith(b"* 2 FETCH")
    search = await raw.command(b"SEARCH MODSEQ %d" % new)
    assert search[0].startswith(b"* SEARCH 1 2 (MODSEQ ")


@pytest_twisted.ensureDeferred
async def test_a_new_keyword_is_announced_in_flags_before_it_is_shown(
    raw: RawConnection,
) -> None:
    await selected(raw, PLAIN)
    lines = await raw.command(b"STORE 1 +FLAGS ($Label1)")
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $label1)"
    assert lines[1].startswith(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                               b"\\Draft $label1 \\*)]")
    assert lines[2].startswith(b"* 1 FETCH") and b"$label1" in lines[2]
    again = await raw.command(b"FETCH 1 FLAGS")
    assert again[0].startswith(b"* 1 FETCH")  # told once is enough
