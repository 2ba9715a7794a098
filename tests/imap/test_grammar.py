"""The IMAP grammar productions, one by one."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.imap.grammar import (
    STAR,
    ImapSyntaxError,
    Partial,
    Scanner,
    Section,
    SequenceSet,
    decode_base64,
    decode_mutf7,
    encode_mutf7,
    mailbox_name,
)
from stalwart_tx.imap.reader import LiteralBytes, SpooledLiteral


def scan(text: bytes, *rest: bytes | LiteralBytes | SpooledLiteral) -> Scanner:
    return Scanner([text, *rest])


def test_atom_stops_at_specials() -> None:
    for special in b'(){ %*"\\]':
        s = scan(b"abc" + bytes([special]) + b"def")
        assert s.atom() == "abc"
        assert s.peek() == special
    s = scan(b"a[b]")
    assert s.atom() == "a[b"
    with pytest.raises(ImapSyntaxError, match="expected atom"):
        scan(b"(x").atom()
    with pytest.raises(ImapSyntaxError):
        scan(b"\x01").atom()
    with pytest.raises(ImapSyntaxError):
        scan("é".encode()).atom()


@pytest.mark.parametrize(("text", "value"), [(b"0", 0), (b"4294967295", 4294967295), (b"007", 7)])
def test_number(text: bytes, value: int) -> None:
    assert scan(text).number() == value


@pytest.mark.parametrize("text", [b"4294967296", b"99999999999999999999999", b"x", b"", b"-1"])
def test_number_refused(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        scan(text).number()


def test_nz_number_and_number64() -> None:
    assert scan(b"1").nz_number() == 1
    with pytest.raises(ImapSyntaxError, match="zero"):
        scan(b"0").nz_number()
    assert scan(b"9223372036854775807").number64() == 2**63 - 1
    with pytest.raises(ImapSyntaxError):
        scan(b"9223372036854775808").number64()
    with pytest.raises(ImapSyntaxError):
        scan(b"0").nz_number64()
    with pytest.raises(ImapSyntaxError, match="too large"):
        scan(b"9" * 5000).number64()


def test_quoted_strings() -> None:
    assert scan(b'"hello world"').quoted() == b"hello world"
    assert scan(b'"a\\"b\\\\c"').quoted() == b'a"b\\c'
    assert scan(b'""').quoted() == b""
    assert scan('"Grüße"'.encode()).quoted() == "Grüße".encode()
    for bad in [b'"abc', b'"a\\b"', b'"a\\', b'"a\x00b"', b"abc"]:
        with pytest.raises(ImapSyntaxError):
            scan(bad).quoted()


def test_string_astring_nstring() -> None:
    s = scan(b"", LiteralBytes(b"lit"), b' "q" atom] NIL "NIL" nil')
    assert s.string() == b"lit"
    s.sp()
    assert s.astring() == b"q"
    s.sp()
    assert s.astring() == b"atom]"
    s.sp()
    assert s.nstring() is None
    s.sp()
    assert s.nstring() == b"NIL"
    s.sp()
    assert s.nstring() is None
    s.end()
    with pytest.raises(ImapSyntaxError):
        scan(b"NILX").nstring()
    with pytest.raises(ImapSyntaxError):
        scan(b"(").astring()


def test_binary_literal_refused_as_string() -> None:
    with pytest.raises(ImapSyntaxError, match="binary"):
        scan(b"", LiteralBytes(b"x", binary=True), b"").string()


def test_spooled_literal_as_string() -> None:
    literal = SpooledLiteral()
    literal.write(b"spooled")
    assert scan(b"", literal, b"").astring() == b"spooled"
    big = SpooledLiteral()
    big.write(b"x" * (1 << 20 + 1))
    with pytest.raises(ImapSyntaxError, match="too long"):
        scan(b"", big, b"").string()


def test_literal_and_end() -> None:
    s = scan(b"", LiteralBytes(b"a"), b"")
    assert s.at_literal()
    assert s.literal() == b"a"
    assert s.at_end()
    s.end()
    with pytest.raises(ImapSyntaxError, match="expected literal"):
        s.literal()
    with pytest.raises(ImapSyntaxError, match="unexpected text"):
        scan(b"x").end()
    with pytest.raises(ImapSyntaxError, match="unexpected text"):
        scan(b"", LiteralBytes(b"a"), b"").end()
    assert Scanner([]).at_end()


def test_space() -> None:
    with pytest.raises(ImapSyntaxError, match="missing argument"):
        scan(b"").sp()
    with pytest.raises(ImapSyntaxError, match="expected space"):
        scan(b"x").sp()


def test_sequence_sets() -> None:
    # RFC 9051 section 9, seq-number / seq-range examples.
    assert scan(b"2,4:7,9,12:*").sequence_set() == SequenceSet(((2, 2), (4, 7), (9, 9), (12, STAR)))
    assert scan(b"*:4").sequence_set() == SequenceSet(((STAR, 4),))
    assert scan(b"$").sequence_set() == SequenceSet(saved=True)
    for bad in [b"0", b"1:0", b"1,", b",1", b":", b"a", b"1:", b"4294967296", b""]:
        with pytest.raises(ImapSyntaxError):
            s = scan(bad)
            s.sequence_set()
            s.end()
    with pytest.raises(ImapSyntaxError):
        scan(b"1:*").sequence_set(allow_star=False)
    with pytest.raises(ImapSyntaxError):
        scan(b"$").sequence_set(allow_saved=False)
    s = scan(b"$,1")
    s.sequence_set()
    with pytest.raises(ImapSyntaxError):
        s.end()


def test_sequence_set_resolve() -> None:
    sequence_set = scan(b"*:4,2,3,10:12,11").sequence_set()
    assert sequence_set.resolve(7) == [(2, 7), (10, 12)]
    assert sequence_set.contains(5, 7) and not sequence_set.contains(9, 7)
    assert sequence_set.has_star
    assert not scan(b"1").sequence_set().has_star
    assert SequenceSet(saved=True).resolve(5) == []
    # "*" in an empty mailbox is 0 (RFC 9051 section 6.4.8 leaves that to the session).
    assert scan(b"*").sequence_set().resolve(0) == [(0, 0)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (b"INBOX", "INBOX"),
        (b"inbox", "INBOX"),
        (b'"InBoX"', "INBOX"),
        (b"INBOX.Sent", "INBOX.Sent"),
        (b"inbox/sub", "inbox/sub"),
        (b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        (b"&Jjo-!", "☺!"),
        (b'"Tom &- Jerry"', "Tom & Jerry"),
        (b'"a b"', "a b"),
    ],
)
def test_mailbox_names(text: bytes, name: str) -> None:
    assert scan(text).mailbox() == name


@pytest.mark.parametrize(
    "text",
    [
        b"&",
        b"&U,BTFw",
        b"&AGE-",  # "a" must be written directly
        b"&Jjp-",  # bits left over
        b"&!!-",
        "日本".encode(),
        b'"a\x01b"',
        b"&AAA-",  # NUL
        b"&2D0-",  # a lone surrogate
    ],
)
def test_bad_mailbox_names(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        scan(text).mailbox()


def test_utf8_mailbox_names() -> None:
    # RFC 6855: after ENABLE UTF8=ACCEPT names are raw UTF-8; "&" is itself.
    assert scan('"日本語"'.encode()).mailbox(utf8=True) == "日本語"
    assert scan(b"Tom&Jerry").mailbox(utf8=True) == "Tom&Jerry"
    with pytest.raises(ImapSyntaxError, match="UTF-8"):
        scan(b'"\xff"').mailbox(utf8=True)
    assert mailbox_name(b"iNbOx", utf8=True) == "INBOX"


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_mutf7_round_trip(name: str) -> None:
    encoded = encode_mutf7(name)
    assert encoded.isascii()
    assert decode_mutf7(encoded) == name


def test_mutf7_examples() -> None:
    # RFC 3501 section 5.1.3.
    assert encode_mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert encode_mutf7("&") == "&-"
    assert encode_mutf7("a😀b") == "a&2D3eAA-b"


def test_list_mailbox_patterns() -> None:
    s = scan(b'% * foo/* "a b%" ]x')
    assert s.list_mailbox() == "%"
    s.sp()
    assert s.list_mailbox() == "*"
    s.sp()
    assert s.list_mailbox() == "foo/*"
    s.sp()
    assert s.list_mailbox() == "a b%"
    s.sp()
    assert s.list_mailbox() == "]x"
    with pytest.raises(ImapSyntaxError):
        scan(b"(").list_mailbox()


def test_paren_lists_and_nesting() -> None:
    s = scan(b"(a b c)")
    assert s.paren_list(s.atom) == ["a", "b", "c"]
    s = scan(b"()")
    assert s.paren_list(s.atom) == []
    with pytest.raises(ImapSyntaxError, match="empty"):
        s = scan(b"()")
        s.paren_list(s.atom, empty=False)
    for bad in [b"(a b", b"(a  b)", b"( a)", b"(a )", b"a b)"]:
        with pytest.raises(ImapSyntaxError):
            s = scan(bad)
            s.paren_list(s.atom)

    def nested(s: Scanner) -> object:
        if s.peek() == 0x28:
            return s.paren_list(lambda: nested(s))
        return s.atom()

    assert nested(scan(b"(" * 32 + b"x" + b")" * 32)) is not None
    with pytest.raises(ImapSyntaxError, match="nested"):
        nested(scan(b"(" * 33 + b"x" + b")" * 33))


def test_flags() -> None:
    s = scan(b"(\\seen \\ANSWERED \\Flagged \\deleted \\draft \\Recent $Forwarded \\Custom)")
    assert s.flag_list() == [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Draft",
        "\\Recent",
        "$Forwarded",
        "\\Custom",
    ]
    with pytest.raises(ImapSyntaxError, match="Recent"):
        scan(b"(\\Recent)").flag_list(allow_recent=False)
    for bad in [b"(\\*)", b"(\\)", b"(a%)", b'("a")', b"(\\ a)"]:
        with pytest.raises(ImapSyntaxError):
            scan(bad).flag_list()


@pytest.mark.parametrize(
    ("text", "date"),
    [
        (b"1-Feb-1994", datetime.date(1994, 2, 1)),
        (b'"01-feb-1994"', datetime.date(1994, 2, 1)),
        (b"29-Feb-2024", datetime.date(2024, 2, 29)),
        (b"31-DEC-9999", datetime.date(9999, 12, 31)),
    ],
)
def test_dates(text: bytes, date: datetime.date) -> None:
    assert scan(text).date() == date


@pytest.mark.parametrize(
    "text",
    [b"29-Feb-2023", b"1-Foo-1994", b"1994-02-01", b"123-Feb-1994", b"1-Feb-94", b'"1-Feb-1994'],
)
def test_bad_dates(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        scan(text).date()


def test_date_time() -> None:
    # RFC 3501 section 6.3.11.
    value = scan(b'"07-Feb-1994 21:52:25 -0800"').date_time()
    assert value == datetime.datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))
    )
    value = scan(b'" 7-Feb-1994 21:52:25 +0130"').date_time()
    assert value.utcoffset() == datetime.timedelta(hours=1, minutes=30)
    assert value.day == 7


@pytest.mark.parametrize(
    "text",
    [
        b'"07-Feb-1994 21:52:25"',
        b'"07-Feb-1994 25:52:25 +0000"',
        b'"07-Feb-1994 21:52 +0000"',
        b'"07-Feb-1994 21:52:25 0800"',
        b'"07-Feb-1994 21:52:25 +08000"',
        b'"07-Feb-1994 21:52:25 +0099"',
        b'"30-Feb-1994 21:52:25 +0000"',
        b"07-Feb-1994",
        '"07-Feb-1994 21:52:2\u0665 +0000"'.encode(),  # a non-ASCII digit
    ],
)
def test_bad_date_times(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        scan(text).date_time()


@pytest.mark.parametrize(
    ("text", "section"),
    [
        (b"[]", Section()),
        (b"[HEADER]", Section(text="HEADER")),
        (b"[text]", Section(text="TEXT")),
        (b"[1]", Section((1,))),
        (b"[1.2.3]", Section((1, 2, 3))),
        (b"[1.2.MIME]", Section((1, 2), "MIME")),
        (b"[4.2.HEADER]", Section((4, 2), "HEADER")),
        (b"[3.TEXT]", Section((3,), "TEXT")),
        (
            b"[HEADER.FIELDS (DATE FROM)]",
            Section(text="HEADER.FIELDS", fields=("DATE", "FROM")),
        ),
        (
            b'[1.HEADER.FIELDS.NOT (x-mailer "Subject")]',
            Section((1,), "HEADER.FIELDS.NOT", ("X-MAILER", "SUBJECT")),
        ),
    ],
)
def test_sections(text: bytes, section: Section) -> None:
    s = scan(text)
    assert s.section() == section
    s.end()


@pytest.mark.parametrize(
    "text",
    [
        b"[MIME]",
        b"[0]",
        b"[1.]",
        b"[1.FOO]",
        b"[HEADER.FIELDS]",
        b"[HEADER.FIELDS ()]",
        b"[HEADER.FIELDS (a:b)]",
        b"[1",
        b"[HEADER",
        b"[1..2]",
    ],
)
def test_bad_sections(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        s = scan(text)
        s.section()
        s.end()


def test_section_text_form() -> None:
    assert str(Section((1, 2), "HEADER.FIELDS", ("A", "B"))) == "1.2.HEADER.FIELDS (A B)"
    assert str(Section()) == ""
    assert str(Section((3,))) == "3"


def test_binary_section_and_partial() -> None:
    s = scan(b"[1.2]<0.100>")
    assert s.binary_section() == Section((1, 2))
    assert s.partial() == Partial(0, 100)
    assert scan(b"[]").binary_section() == Section()
    assert scan(b"x").partial() is None
    for bad in [b"<0.0>", b"<1>", b"<a.1>", b"<1.2"]:
        with pytest.raises(ImapSyntaxError):
            scan(bad).partial()
    with pytest.raises(ImapSyntaxError):
        scan(b"[TEXT]").binary_section()


def test_base64() -> None:
    assert decode_base64(b"=") == b""
    assert decode_base64(b"AGZyZWQAc2VjcmV0") == b"\x00fred\x00secret"
    for bad in [b"abc", b"a===", b"!!!!"]:
        with pytest.raises(ImapSyntaxError):
            decode_base64(bad)
    assert scan(b"dGVzdA==").base64() == b"test"


def test_take_if_and_expect() -> None:
    s = scan(b"return (x)")
    assert s.take_if(b"RETURN ")
    s.expect(b"(")
    with pytest.raises(ImapSyntaxError, match=r"expected \)"):
        s.expect(b")")
