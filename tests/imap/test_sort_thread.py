"""SORT, UID SORT, ESORT's RETURN, DISPLAYFROM/DISPLAYTO and THREAD over a real socket and a real
store: what RFC 5256, RFC 5267 and RFC 5957 ask of each, including their examples' shapes."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.imap import commands_sort
from tests.imap.conftest import RawConnection, logged_in


def mail(
    subject: str = "Hello",
    *,
    sender: str = "Alice <alice@example.com>",
    to: str = "Bob <bob@example.org>",
    cc: str | None = None,
    date: str | None = "Mon, 02 Jan 2023 10:00:00 +0000",
    message_id: str | None = None,
    references: str | None = None,
    in_reply_to: str | None = None,
    body: str = "Hi.",
) -> bytes:
    fields = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if cc is not None:
        fields.append(f"Cc: {cc}")
    if date is not None:
        fields.append(f"Date: {date}")
    if message_id is not None:
        fields.append(f"Message-ID: <{message_id}>")
    if references is not None:
        fields.append(f"References: {references}")
    if in_reply_to is not None:
        fields.append(f"In-Reply-To: {in_reply_to}")
    return ("\r\n".join(fields) + "\r\n\r\n" + body + "\r\n").encode()


def day(n: int, hour: int = 10) -> str:
    return f"Mon, {n:02d} Jan 2023 {hour:02d}:00:00 +0000"


async def append(raw: RawConnection, message: bytes, arrival: bytes = b"") -> None:
    date = b'"' + arrival + b'" ' if arrival else b""
    await raw.send(b"ap APPEND INBOX " + date + b"{%d+}\r\n" % len(message) + message + b"\r\n")
    lines = await raw.until(b"ap")
    assert lines[-1].startswith(b"ap OK"), lines


async def mailbox(raw: RawConnection, *messages: bytes | tuple[bytes, bytes]) -> RawConnection:
    """Log in, append the messages (a message, or one with its arrival date), select INBOX."""
    await logged_in(raw)
    for message in messages:
        if isinstance(message, tuple):
            await append(raw, message[0], message[1])
        else:
            await append(raw, message)
    lines = await raw.command(b"SELECT INBOX")
    assert lines[-1].startswith(b"t OK"), lines
    return raw


async def answer(raw: RawConnection, command: bytes, name: bytes = b"SORT") -> bytes:
    """The command's one untagged ``name`` response, after asserting it completed."""
    lines = await raw.command(command)
    assert lines[-1].startswith(b"t OK"), lines
    found = [line for line in lines if line.startswith(b"* " + name)]
    assert len(found) == 1, lines
    return found[0]


async def failure(raw: RawConnection, command: bytes) -> bytes:
    lines = await raw.command(command)
    assert not any(line.startswith((b"* SORT", b"* THREAD", b"* ESEARCH")) for line in lines)
    return lines[-1]


@pytest_twisted.ensureDeferred
async def test_capabilities_name_the_extensions(raw: RawConnection) -> None:
    await logged_in(raw)
    [line, *_] = await raw.command(b"CAPABILITY")
    for capability in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES",
                       b"THREAD=ORDEREDSUBJECT"):
        assert capability in line.split(), line


@pytest_twisted.ensureDeferred
async def test_sort_by_subject_as_the_rfc_examples_do(raw: RawConnection) -> None:
    await mailbox(
        raw,
        mail("Re: Zebra", date=day(5)),
        mail("apple", date=day(4)),
        mail("[list] Fwd: Mango (fwd)", date=day(3)),
        mail("zebra", date=day(2)),
        mail("RE: APPLE", date=day(1)),
    )
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 2 5 3 1 4"
    # SUBJECT ties (2 and 5, 1 and 4) broken by the latest date first
    assert await answer(raw, b"SORT (SUBJECT REVERSE DATE) UTF-8 ALL") == b"* SORT 2 5 3 1 4"
    assert await answer(raw, b"SORT (SUBJECT DATE) UTF-8 ALL") == b"* SORT 5 2 3 4 1"
    assert await answer(raw, b'SORT (SUBJECT) US-ASCII TEXT "not in mailbox"') == b"* SORT"


@pytest.mark.parametrize(("criteria", "expected"), [
    (b"(ARRIVAL)", b"* SORT 3 1 2"),
    (b"(REVERSE ARRIVAL)", b"* SORT 2 1 3"),
    (b"(DATE)", b"* SORT 2 3 1"),
    (b"(REVERSE DATE)", b"* SORT 1 3 2"),
])
@pytest_twisted.ensureDeferred
async def test_arrival_and_sent_dates(
    raw: RawConnection, criteria: bytes, expected: bytes
) -> None:
    await mailbox(
        raw,
        (mail("a", date="Tue, 03 Jan 2023 12:00:00 +0000"), b"05-Jan-2023 10:00:00 +0000"),
        # 09:00 at +0500 is 04:00 UTC: earlier than 08:00 UTC on the same day
        (mail("b", date="Tue, 03 Jan 2023 09:00:00 +0500"), b"06-Jan-2023 10:00:00 +0000"),
        # no Date header: its sent date is its arrival
        (mail("c", date=None), b"03-Jan-2023 08:00:00 +0000"),
    )
    assert await answer(raw, b"SORT " + criteria + b" UTF-8 ALL") == expected


@pytest_twisted.ensureDeferred
async def test_address_keys_compare_the_local_part_ignoring_ascii_case(
    raw: RawConnection,
) -> None:
    await mailbox(
        raw,
        mail(sender="Aaron <zed@example.com>", to="carol@b.example", cc="x@y.example"),
        mail(sender="bob@zzz.example", to="Zoe <Alpha@c.example>"),
        mail(sender='"Quoted" <"Bo b"@example.com>', to="beta@a.example, alpha@a.example",
             cc="A@y.example"),
        mail(sender="ALICE@example.com", to="Mallory <mallory@d.example>"),
    )
    assert await answer(raw, b"SORT (FROM) UTF-8 ALL") == b"* SORT 4 3 2 1"
    assert await answer(raw, b"SORT (REVERSE FROM) UTF-8 ALL") == b"* SORT 1 2 3 4"
    assert await answer(raw, b"SORT (TO) UTF-8 ALL") == b"* SORT 2 3 1 4"
    # a message without Cc sorts as the empty string, before every address
    assert await answer(raw, b"SORT (CC) UTF-8 ALL") == b"* SORT 2 4 3 1"


@pytest_twisted.ensureDeferred
async def test_display_keys_use_the_name_or_else_the_address(raw: RawConnection) -> None:
    await mailbox(
        raw,
        mail(sender="Zed <aaa@example.com>", to="mike@example.com"),
        mail(sender="bob@example.com", to="Anna <zzz@example.com>"),
        mail(sender="=?utf-8?q?=C3=89mile?= <emile@example.com>", to="Carl <c@example.com>"),
        mail(sender="alice <yyy@example.com>", to='"" <b@example.com>'),
    )
    assert await answer(raw, b"SORT (DISPLAYFROM) UTF-8 ALL") == b"* SORT 4 2 1 3"
    assert await answer(raw, b"SORT (DISPLAYTO) UTF-8 ALL") == b"* SORT 2 4 3 1"
    assert await answer(raw, b"SORT (FROM) UTF-8 ALL") == b"* SORT 1 2 3 4"


@pytest_twisted.ensureDeferred
async def test_ties_keep_mailbox_order_whichever_way_a_key_runs(raw: RawConnection) -> None:
    await mailbox(
        raw,
        mail("s", body="x" * 10),
        mail("s", body="x" * 30),
        mail("s", body="x" * 10),
        mail("s", body="x" * 20),
        mail("s", body="x" * 10),
    )
    assert await answer(raw, b"SORT (SIZE) UTF-8 ALL") == b"* SORT 1 3 5 4 2"
    assert await answer(raw, b"SORT (REVERSE SIZE) UTF-8 ALL") == b"* SORT 2 4 1 3 5"
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 1 2 3 4 5"
    assert await answer(raw, b"SORT (REVERSE SUBJECT) UTF-8 ALL") == b"* SORT 1 2 3 4 5"


@pytest_twisted.ensureDeferred
async def test_multiple_criteria_in_order_of_precedence(raw: RawConnection) -> None:
    await mailbox(
        raw,
        mail("b", sender="x@example.com", body="1" * 10),
        mail("a", sender="y@example.com", body="1" * 30),
        mail("b", sender="x@example.com", body="1" * 20),
        mail("a", sender="x@example.com", body="1" * 40),
    )
    assert await answer(raw, b"SORT (FROM SUBJECT SIZE) UTF-8 ALL") == b"* SORT 4 1 3 2"
    assert await answer(raw, b"SORT (FROM SUBJECT REVERSE SIZE) UTF-8 ALL") == b"* SORT 4 3 1 2"
    assert await answer(raw, b"SORT (REVERSE FROM SUBJECT) UTF-8 ALL") == b"* SORT 2 4 1 3"


@pytest_twisted.ensureDeferred
async def test_uid_sort_names_uids(raw: RawConnection) -> None:
    await mailbox(raw, *(mail(s) for s in ("d", "c", "b", "a")))
    assert (await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"t OK")
    assert (await raw.command(b"EXPUNGE"))[-1].startswith(b"t OK")
    # UIDs 2 3 4 are now sequence numbers 1 2 3
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 3 2 1"
    assert await answer(raw, b"UID SORT (SUBJECT) UTF-8 ALL") == b"* SORT 4 3 2"
    assert await answer(raw, b"UID SORT (SUBJECT) UTF-8 UID 3:*") == b"* SORT 4 3"


@pytest_twisted.ensureDeferred
async def test_an_empty_mailbox(raw: RawConnection) -> None:
    await mailbox(raw)
    assert await answer(raw, b"SORT (DATE) UTF-8 ALL") == b"* SORT"
    assert await answer(raw, b"UID SORT (ARRIVAL) US-ASCII ALL") == b"* SORT"
    assert await answer(raw, b"THREAD REFERENCES UTF-8 ALL", b"THREAD") == b"* THREAD"
    assert await answer(raw, b"UID THREAD ORDEREDSUBJECT UTF-8 ALL", b"THREAD") == b"* THREAD"
    esort = await answer(raw, b"SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 ALL", b"ESEARCH")
    assert esort == b'* ESEARCH (TAG "t") COUNT 0'


@pytest_twisted.ensureDeferred
async def test_the_search_key_chooses_the_messages(raw: RawConnection) -> None:
    await mailbox(
        raw,
        mail("Lunch", date=day(3), message_id="l1"),
        mail("Dinner", date=day(2), message_id="d1"),
        mail("Re: lunch", date=day(1), message_id="l2", references="<l1>"),
        mail("Re: dinner", date=day(4), message_id="d2", references="<d1>"),
    )
    await raw.command(b"STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert await answer(raw, b'SORT (DATE) UTF-8 SUBJECT "lunch"') == b"* SORT 3 1"
    assert await answer(raw, b"SORT (REVERSE DATE) UTF-8 OR FLAGGED 4") == b"* SORT 4 2"
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 NOT 1:2") == b"* SORT 4 3"
    thread = await answer(raw, b'THREAD REFERENCES UTF-8 SUBJECT "dinner"', b"THREAD")
    assert thread == b"* THREAD (2 4)"
    thread = await answer(raw, b"THREAD REFERENCES UTF-8 UNFLAGGED", b"THREAD")
    assert thread == b"* THREAD (1 3)(4)"


@pytest_twisted.ensureDeferred
async def test_esort_returns(raw: RawConnection) -> None:
    await mailbox(raw, *(mail(s) for s in ("e", "a", "d", "b", "c", "f")))
    assert (await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"t OK")
    assert (await raw.command(b"EXPUNGE"))[-1].startswith(b"t OK")
    # now: seq 1 a (UID 2), 2 d, 3 b, 4 c, 5 f (UID 6); by subject: 1 3 4 2 5
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 1 3 4 2 5"
    every = await answer(raw, b"SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL", b"ESEARCH")
    # MIN and MAX are the first and last in sort order; ALL keeps the order
    assert every == b'* ESEARCH (TAG "t") MIN 1 MAX 5 ALL 1,3:4,2,5 COUNT 5'
    uid = await answer(raw, b"UID SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", b"ESEARCH")
    assert uid == b'* ESEARCH (TAG "t") UID ALL 2,4:5,3,6'
    assert await answer(raw, b"SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL", b"ESEARCH") == (
        b'* ESEARCH (TAG "t") ALL 5,2,4,3,1'
    )
    assert await answer(raw, b"SORT RETURN (COUNT) (SUBJECT) UTF-8 2:3", b"ESEARCH") == (
        b'* ESEARCH (TAG "t") COUNT 2'
    )
    lines = await raw.command(b"SORT RETURN (SAVE) (SUBJECT) UTF-8 2:3")
    assert lines[-1].startswith(b"t OK") and len(lines) == 1, lines
    assert await answer(raw, b"SEARCH $", b"SEARCH") == b"* SEARCH 2 3"


@pytest.mark.parametrize("command", [
    b"SORT (BOGUS) UTF-8 ALL",
    b"SORT () UTF-8 ALL",
    b"SORT (REVERSE) UTF-8 ALL",
    b"SORT (REVERSE REVERSE DATE) UTF-8 ALL",
    b"SORT DATE UTF-8 ALL",
    b"SORT (DATE) UTF-8",
    b"SORT (DATE) UTF-8 NOSUCHKEY",
    b"SORT RETURN (BOGUS) (DATE) UTF-8 ALL",
    b"THREAD BOGUS UTF-8 ALL",
    b"THREAD REFERENCES",
    b"THREAD (REFERENCES) UTF-8 ALL",
])
@pytest_twisted.ensureDeferred
async def test_malformed_commands_are_bad(raw: RawConnection, command: bytes) -> None:
    await mailbox(raw, mail())
    assert (await failure(raw, command)).startswith(b"t BAD"), command


@pytest_twisted.ensureDeferred
async def test_charsets_and_states(raw: RawConnection) -> None:
    await logged_in(raw)
    assert (await failure(raw, b"SORT (DATE) UTF-8 ALL")).startswith(b"t BAD")
    assert (await failure(raw, b"THREAD REFERENCES UTF-8 ALL")).startswith(b"t BAD")
    await append(raw, mail())
    await raw.command(b"SELECT INBOX")
    for charset in (b"X-NO-SUCH", b"KOI8-R", b"ISO-8859-1"):
        for command in (b"SORT (DATE) ", b"THREAD REFERENCES "):
            refused = await failure(raw, command + charset + b" ALL")
            assert refused.startswith(b"t NO [BADCHARSET (UTF-8 US-ASCII)]"), refused
    assert await answer(raw, b"SORT (DATE) us-ascii ALL") == b"* SORT 1"
    assert await answer(raw, b'SORT (DATE) UTF-8 SUBJECT "Hello"') == b"* SORT 1"


@pytest_twisted.ensureDeferred
async def test_sorting_reads_the_store_in_batches(
    raw: RawConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands_sort, "GET_BATCH", 2)
    await mailbox(raw, *(mail(s, date=day(n)) for n, s in enumerate("edcba", start=1)))
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 5 4 3 2 1"
    assert await answer(raw, b"SORT (DATE) UTF-8 ALL") == b"* SORT 1 2 3 4 5"
    thread = await answer(raw, b"THREAD ORDEREDSUBJECT UTF-8 ALL", b"THREAD")
    assert thread == b"* THREAD (1)(2)(3)(4)(5)"


THREADED = [
    mail("Plan", date=day(1), message_id="a"),
    mail("Re: Plan", date=day(2), message_id="b", references="<a>"),
    mail("Other", date=day(3), message_id="c"),
    mail("Re: Plan", date=day(4), message_id="d", references="<a> <b>"),
    mail("Re: Other", date=day(5), message_id="e", in_reply_to="<c>"),
    mail("Re: Other", date=day(6), message_id="f"),
    mail("Lone", date=day(7), message_id="g", references="<missing@example.com>"),
    mail("Split", date=day(8), message_id="h", references="<gone@example.com>"),
    mail("Split too", date=day(9), message_id="i", references="<gone@example.com>"),
]


@pytest_twisted.ensureDeferred
async def test_thread_references(raw: RawConnection) -> None:
    await mailbox(raw, *THREADED)
    thread = await answer(raw, b"THREAD REFERENCES UTF-8 ALL", b"THREAD")
    # 6 has no references but is a reply to "Other": gathered by subject; 8 and 9 share a
    # parent that is not in the mailbox: a dummy that holds them both
    assert thread == b"* THREAD (1 2 4)(3 (5)(6))(7)((8)(9))"


@pytest_twisted.ensureDeferred
async def test_thread_references_the_rfc_example_shape(raw: RawConnection) -> None:
    # the tree of RFC 5256 §4's example, (2)(3 6 (4 23)(44 7 96)), on six messages
    await mailbox(
        raw,
        mail("two", date=day(1), message_id="n2"),
        mail("three", date=day(2), message_id="n3"),
        mail("six", date=day(3), message_id="n6", references="<n3>"),
        mail("four", date=day(4), message_id="n4", references="<n3> <n6>"),
        mail("twenty-three", date=day(5), message_id="n23", references="<n3> <n6> <n4>"),
        mail("forty-four", date=day(6), message_id="n44", references="<n3> <n6>"),
        mail("seven", date=day(7), message_id="n7", references="<n44>"),
        mail("ninety-six", date=day(8), message_id="n96", in_reply_to="<n7>"),
    )
    thread = await answer(raw, b"THREAD REFERENCES UTF-8 ALL", b"THREAD")
    assert thread == b"* THREAD (1)(2 3 (4 5)(6 7 8))"


@pytest_twisted.ensureDeferred
async def test_thread_ordered_subject_and_uids(raw: RawConnection) -> None:
    await mailbox(raw, mail("x"), *THREADED)
    assert (await raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"t OK")
    assert (await raw.command(b"EXPUNGE"))[-1].startswith(b"t OK")
    thread = await answer(raw, b"THREAD ORDEREDSUBJECT UTF-8 ALL", b"THREAD")
    assert thread == b"* THREAD (1 (2)(4))(3 (5)(6))(7)(8)(9)"
    thread = await answer(raw, b"UID THREAD ORDEREDSUBJECT UTF-8 ALL", b"THREAD")
    assert thread == b"* THREAD (2 (3)(5))(4 (6)(7))(8)(9)(10)"
    thread = await answer(raw, b"UID THREAD REFERENCES UTF-8 ALL", b"THREAD")
    assert thread == b"* THREAD (2 3 5)(4 (6)(7))(8)((9)(10))"


@pytest_twisted.ensureDeferred
async def test_a_modseq_key_reports_the_highest_modseq(raw: RawConnection) -> None:
    await mailbox(raw, mail("b"), mail("a"))
    plain = await answer(raw, b"SORT (SUBJECT) UTF-8 MODSEQ 1")
    assert plain.startswith(b"* SORT 2 1 (MODSEQ ") and plain.endswith(b")"), plain
    modseq = plain.split()[-1].rstrip(b")")
    esort = await answer(raw, b"SORT RETURN (COUNT) (SUBJECT) UTF-8 MODSEQ 1", b"ESEARCH")
    assert esort == b'* ESEARCH (TAG "t") COUNT 2 MODSEQ ' + modseq
    assert await answer(raw, b"SORT (SUBJECT) UTF-8 MODSEQ 999999") == b"* SORT"
