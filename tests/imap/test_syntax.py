"""Every command parsed, from the RFC examples to malformed input."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.imap.grammar import STAR, ImapSyntaxError, ImapTagError, Partial, Section
from stalwart_tx.imap.grammar import SequenceSet as Seq
from stalwart_tx.imap.parse_fetch import MACROS, FetchAtt
from stalwart_tx.imap.parse_search import (
    AgeKey,
    All,
    And,
    BadCharsetError,
    DateKey,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    ObjectIdKey,
    Or,
    SequenceKey,
    SizeKey,
    TextKey,
)
from stalwart_tx.imap.reader import Command, CommandReader, LiteralBytes, SpooledLiteral
from stalwart_tx.imap.syntax import (
    Append,
    Authenticate,
    Capability,
    Check,
    Close,
    Compress,
    Copy,
    Create,
    Delete,
    Enable,
    Expunge,
    Fetch,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    ParsedCommand,
    QResync,
    Rename,
    Search,
    Select,
    Sort,
    SortCriterion,
    StartTLS,
    Status,
    Store,
    Subscribe,
    Thread,
    Unselect,
    Unsubscribe,
    decode_sasl_response,
    parse_command,
)


def frame(data: bytes) -> Command:
    """The command as the reader cuts it from the wire (literals sent in full)."""
    reader = CommandReader(inline_literal=256)
    events = reader.feed(data + b"\r\n")
    while reader.paused:
        events += reader.resume()
    commands = [e for e in events if isinstance(e, Command)]
    assert len(commands) == 1, events
    return commands[0]


def parse(data: bytes, *, utf8: bool = False) -> ParsedCommand:
    return parse_command(frame(data), utf8=utf8)


def bad(data: bytes, reason: str | None = None, *, utf8: bool = False) -> None:
    with pytest.raises(ImapSyntaxError) as caught:
        parse(data, utf8=utf8)
    if reason is not None:
        assert reason in caught.value.reason


def fetch_atts(spec: bytes) -> tuple[FetchAtt, ...]:
    command = parse(b"a FETCH 1 " + spec)
    assert isinstance(command, Fetch)
    return command.attributes


def search_key(spec: bytes) -> object:
    command = parse(b"a SEARCH " + spec)
    assert isinstance(command, Search)
    return command.key


# -- tags and names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a001 CAPABILITY", Capability("a001")),
        (b"a002 noop", Noop("a002")),
        (b"A023 LOGOUT", Logout("A023")),
        (b"a001 StartTLS", StartTLS("a001")),
        (b"A002 NAMESPACE", Namespace("A002")),
        (b"FXXZ CHECK", Check("FXXZ")),
        (b"A341 CLOSE", Close("A341")),
        (b"A342 UNSELECT", Unselect("A342")),
        (b"a IDLE", Idle("a")),
        (b"]tag] NOOP", Noop("]tag]")),
    ],
)
def test_commands_without_arguments(data: bytes, expected: ParsedCommand) -> None:
    assert parse(data) == expected


@pytest.mark.parametrize("data", [b"a NOOP x", b"a CAPABILITY ", b"a LOGOUT  ", b"a IDLE DONE"])
def test_arguments_where_none_are_taken(data: bytes) -> None:
    bad(data, "unexpected text")


@pytest.mark.parametrize("tag", ["", "*", "+a", "a+", "a(b", "a{1}", 'a"', "a%", "a\\", "é"])
def test_unusable_tags(tag: str) -> None:
    with pytest.raises(ImapTagError):
        parse_command(Command(tag, [b"NOOP"]))


def test_missing_or_unknown_command() -> None:
    bad(b"a", "missing command")
    bad(b"a FOO", "unknown command")
    bad(b"a XNOOP", "unknown command")
    bad(b"a (NOOP)", "unknown command")
    bad(b"a UID NOOP", "unknown UID command")
    bad(b"a UID", "missing argument")
    bad(b"a UID LOGIN a b", "unknown UID command")
    bad(b"a NOOP.X", "unknown command")
    with pytest.raises(ImapSyntaxError, match="unknown command"):
        parse_command(Command("a", [b"", LiteralBytes(b"NOOP"), b""]))


# -- any state / not authenticated ------------------------------------------------------------


def test_login() -> None:
    assert parse(b"a001 LOGIN SMITH SESAME") == Login("a001", "SMITH", "SESAME")
    assert parse(b'a LOGIN "fred foo" "p\\"w"') == Login("a", "fred foo", 'p"w')
    assert parse(b"a LOGIN {4+}\r\nfred {6+}\r\nsecret") == Login("a", "fred", "secret")
    assert parse('a LOGIN "jörg" "pässword"'.encode()) == Login("a", "jörg", "pässword")
    bad("a LOGIN jörg x".encode())
    bad(b"a LOGIN fred", "missing argument")
    bad(b"a LOGIN", "missing argument")
    bad(b"a LOGIN fred pw x", "unexpected text")
    bad(b'a LOGIN "\xff" x', "not UTF-8")
    bad(b"a LOGIN (x) y")
    bad(b"a LOGIN ~{1+}\r\nx y", "binary literal")


def test_authenticate() -> None:
    assert parse(b"A001 AUTHENTICATE GSSAPI") == Authenticate("A001", "GSSAPI")
    # RFC 4959 SASL-IR.
    assert parse(b"a authenticate plain dGVzdAB0ZXN0AHRlc3Q=") == Authenticate(
        "a", "PLAIN", b"test\x00test\x00test"
    )
    assert parse(b"a AUTHENTICATE EXTERNAL =") == Authenticate("a", "EXTERNAL", b"")
    assert parse(b"a AUTHENTICATE SCRAM-SHA-256") == Authenticate("a", "SCRAM-SHA-256")
    bad(b"a AUTHENTICATE", "missing argument")
    bad(b"a AUTHENTICATE PLAIN dGVzd", "base64")
    bad(b"a AUTHENTICATE PLAIN ===", "base64")
    bad(b"a AUTHENTICATE PLAIN !x", "base64")
    bad(b"a AUTHENTICATE PLAIN = x")


def test_sasl_response_lines() -> None:
    assert decode_sasl_response(b"*") is None
    assert decode_sasl_response(b"") == b""
    assert decode_sasl_response(b"=") == b""
    assert decode_sasl_response(b"AGZyZWQAc2VjcmV0") == b"\x00fred\x00secret"
    with pytest.raises(ImapSyntaxError):
        decode_sasl_response(b"not base64!")


def test_enable() -> None:
    # RFC 5161 section 3.1 / RFC 9051 section 6.3.1.
    assert parse(b"t1 ENABLE CONDSTORE X-GOOD-IDEA") == Enable("t1", ("CONDSTORE", "X-GOOD-IDEA"))
    assert parse(b"t2 enable utf8=accept qresync") == Enable("t2", ("UTF8=ACCEPT", "QRESYNC"))
    bad(b"t1 ENABLE", "missing argument")
    bad(b"t1 ENABLE (CONDSTORE)")


def test_id() -> None:
    # RFC 2971 section 3.1.
    assert parse(b"a023 ID NIL") == Id("a023", None)
    assert parse(
        b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")'
    ) == Id(
        "a023",
        (("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited")),
    )
    assert parse(b'a ID ("os" NIL "x" {2+}\r\nyz)') == Id("a", (("os", None), ("x", "yz")))
    assert parse(b"a ID ()") == Id("a", ())
    bad(b"a ID", "missing argument")
    bad(b'a ID ("name")')
    bad(b"a ID (name sodr)")
    bad(b'a ID ("a" "b"')
    bad(b"a ID nilx")


def test_compress() -> None:
    assert parse(b"a COMPRESS deflate") == Compress("a", "DEFLATE")
    bad(b"a COMPRESS LZ4", "unknown compression")
    bad(b"a COMPRESS", "missing argument")


# -- mailboxes --------------------------------------------------------------------------------


def test_select_and_examine() -> None:
    assert parse(b"A142 SELECT INBOX") == Select("A142", "INBOX")
    assert parse(b"A932 EXAMINE blurdybloop") == Select("A932", "blurdybloop", readonly=True)
    assert parse(b'a SELECT "inbox"') == Select("a", "INBOX")
    assert parse(b"a SELECT {5+}\r\nInBox") == Select("a", "INBOX")
    # RFC 7162 section 3.1.8.
    assert parse(b"a SELECT INBOX (CONDSTORE)") == Select("a", "INBOX", condstore=True)
    assert parse(b"a SELECT INBOX ()") == Select("a", "INBOX")
    bad(b"a SELECT", "missing argument")
    bad(b"a SELECT INBOX (FOO)", "unknown SELECT parameter")
    bad(b"a SELECT INBOX (CONDSTORE")
    bad(b"a SELECT INBOX x")
    bad(b"a SELECT a b")


def test_select_qresync() -> None:
    # RFC 7162 section 3.2.5.1 examples.
    command = parse(b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert command == Select(
        "A02",
        "INBOX",
        qresync=QResync(67890007, 20050715194045000, Seq(((41, 41), (43, 211), (214, 541)))),
    )
    command = parse(
        b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999"
        b" 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))"
    )
    assert isinstance(command, Select) and command.qresync is not None
    assert command.qresync.known_uids == Seq(((1, 29997),))
    assert command.qresync.seq_match is not None
    assert command.qresync.seq_match[0].ranges[-1] == (9990, 9999)
    command = parse(b"a SELECT INBOX (QRESYNC (1 2))")
    assert isinstance(command, Select) and command.qresync == QResync(1, 2)
    command = parse(b"a SELECT INBOX (QRESYNC (1 2 (1:3 10:12)) CONDSTORE)")
    assert command == Select(
        "a",
        "INBOX",
        condstore=True,
        qresync=QResync(1, 2, None, (Seq(((1, 3),)), Seq(((10, 12),)))),
    )
    bad(b"a SELECT INBOX (QRESYNC (0 2))", "zero")
    bad(b"a SELECT INBOX (QRESYNC (1 0))", "zero")
    bad(b"a SELECT INBOX (QRESYNC (1 2 1:*))", "not allowed")
    bad(b"a SELECT INBOX (QRESYNC (1 2 $))", "not allowed")
    bad(b"a SELECT INBOX (QRESYNC (1))")
    bad(b"a SELECT INBOX (QRESYNC (1 2 3 4))")
    bad(b"a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))")
    bad(b"a SELECT INBOX (QRESYNC)")


def test_create() -> None:
    assert parse(b"A003 CREATE owatagusiam/") == Create("A003", "owatagusiam/")
    assert parse(b"A004 CREATE owatagusiam/blurdybloop") == Create(
        "A004", "owatagusiam/blurdybloop"
    )
    assert parse(b"a CREATE &ZeVnLIqe-") == Create("a", "日本語")
    assert parse('a CREATE "日本語"'.encode(), utf8=True) == Create("a", "日本語")
    # RFC 6154 section 5.2.
    assert parse(b"t1 CREATE MySpecialArchive (USE (\\Archive))") == Create(
        "t1", "MySpecialArchive", ("\\Archive",)
    )
    assert parse(b"t1 CREATE x (USE (\\drafts \\SENT))") == Create(
        "t1", "x", ("\\Drafts", "\\Sent")
    )
    bad(b"t1 CREATE x (USE (\\Foo))", "special-use")
    bad(b"t1 CREATE x (USE (Drafts))", "special-use")
    bad(b"t1 CREATE x (FOO (\\Drafts))", "unknown CREATE option")
    bad(b"t1 CREATE x ()", "empty")
    bad('a CREATE "日本語"'.encode(), "UTF8=ACCEPT")
    bad(b"a CREATE", "missing argument")


def test_delete_rename_subscribe() -> None:
    assert parse(b"A682 DELETE blurdybloop") == Delete("A682", "blurdybloop")
    assert parse(b"A683 RENAME blurdybloop sarasoop") == Rename("A683", "blurdybloop", "sarasoop")
    assert parse(b"a RENAME INBOX {3+}\r\nold") == Rename("a", "INBOX", "old")
    assert parse(b"A002 SUBSCRIBE #news.comp.mail.mime") == Subscribe(
        "A002", "#news.comp.mail.mime"
    )
    assert parse(b"A002 UNSUBSCRIBE #news.comp.mail.mime") == Unsubscribe(
        "A002", "#news.comp.mail.mime"
    )
    bad(b"a RENAME x", "missing argument")
    bad(b"a DELETE")
    bad(b"a DELETE a*")
    bad(b"a SUBSCRIBE a b")


def test_list_basic() -> None:
    # RFC 3501 section 6.3.8.
    assert parse(b'A101 LIST "" ""') == List("A101", "", ("",))
    assert parse(b'A102 LIST #news.comp.mail.misc ""') == List(
        "A102", "#news.comp.mail.misc", ("",)
    )
    assert parse(b'A103 LIST /usr/staff/jones ""') == List("A103", "/usr/staff/jones", ("",))
    assert parse(b"A202 LIST ~/Mail/ %") == List("A202", "~/Mail/", ("%",))
    assert parse(b'a LIST "" *') == List("a", "", ("*",))
    assert parse(b'a LIST "" &ZeVnLIqe-/*') == List("a", "", ("日本語/*",))
    assert parse(b"A682 LSUB #news. comp.mail.*") == Lsub("A682", "#news.", "comp.mail.*")
    bad(b'a LIST ""', "missing argument")
    bad(b"a LIST", "missing argument")
    bad(b"a LSUB a", "missing argument")
    bad(b'a LIST "" "a" b')


def test_list_extended() -> None:
    # RFC 5258 section 5 examples.
    assert parse(b'A02 LIST (SUBSCRIBED) "" "*"') == List(
        "A02", "", ("*",), selection=frozenset({"SUBSCRIBED"}), extended=True
    )
    assert parse(b'A03 LIST () "" "%" RETURN (CHILDREN)') == List(
        "A03", "", ("%",), returns=frozenset({"CHILDREN"}), extended=True
    )
    assert parse(b'A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)') == List(
        "A04",
        "",
        ("%",),
        selection=frozenset({"REMOTE"}),
        returns=frozenset({"CHILDREN"}),
        extended=True,
    )
    assert parse(b'A05 LIST (subscribed RECURSIVEMATCH) "" "%"') == List(
        "A05", "", ("%",), selection=frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), extended=True
    )
    assert parse(b'A06 LIST "" ("INBOX" "Drafts" "Sent/%")') == List(
        "A06", "", ("INBOX", "Drafts", "Sent/%"), extended=True
    )
    assert parse(b'A07 LIST "" "%" RETURN ()') == List("A07", "", ("%",), extended=True)
    # RFC 6154 section 5.1 and RFC 5819 section 5.
    assert parse(b't1 LIST (SPECIAL-USE) "" "*"') == List(
        "t1", "", ("*",), selection=frozenset({"SPECIAL-USE"}), extended=True
    )
    assert parse(b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))') == List(
        "A01",
        "",
        ("%",),
        returns=frozenset({"STATUS"}),
        status_items=("MESSAGES", "UNSEEN"),
        extended=True,
    )
    assert parse(b'A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))') == List(
        "A02",
        "",
        ("%",),
        selection=frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
        returns=frozenset({"STATUS"}),
        status_items=("MESSAGES",),
        extended=True,
    )
    bad(b'a LIST (RECURSIVEMATCH) "" "%"', "RECURSIVEMATCH")
    bad(b'a LIST (RECURSIVEMATCH REMOTE) "" "%"', "RECURSIVEMATCH")
    bad(b'a LIST (FOO) "" "%"', "selection option")
    bad(b'a LIST "" "%" RETURN (FOO)', "return option")
    bad(b'a LIST "" "%" RETURN (STATUS (FOO))', "status item")
    bad(b'a LIST "" "%" RETURN (STATUS ())', "empty")
    bad(b'a LIST "" "%" RETURN', "missing argument")
    bad(b'a LIST "" "%" FOO ()', "expected RETURN")
    bad(b'a LIST "" ()', "empty")
    bad(b'a LIST (SUBSCRIBED "" "%"')


def test_status() -> None:
    # RFC 3501 section 6.3.10, RFC 9051 section 6.3.11.
    assert parse(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)") == Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES")
    )
    every = b"MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT"
    command = parse(b"a STATUS inbox (" + every.lower() + b" MAILBOXID)")
    assert isinstance(command, Status) and command.mailbox == "INBOX"
    assert len(command.items) == 10
    bad(b"a STATUS x ()", "empty")
    bad(b"a STATUS x (FOO)", "status item")
    bad(b"a STATUS x MESSAGES")
    bad(b"a STATUS x", "missing argument")


def test_append() -> None:
    # RFC 3501 section 6.3.11.
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\r\nHello Joe, do you think\r\n"
    command = parse(b"A003 APPEND saved-messages (\\Seen) {%d+}\r\n" % len(message) + message)
    assert isinstance(command, Append)
    assert command.tag == "A003" and command.mailbox == "saved-messages"
    (only,) = command.messages
    assert only.flags == ("\\Seen",) and only.date_time is None and not only.utf8
    assert bytes(only.literal) == message and isinstance(only.literal, LiteralBytes)
    command = parse(b'a APPEND INBOX "07-Feb-1994 21:52:25 -0800" {2+}\r\nhi')
    assert isinstance(command, Append)
    assert command.messages[0].date_time == datetime.datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))
    )
    command = parse(b"a APPEND x () {0+}\r\n")
    assert isinstance(command, Append) and command.messages[0].flags == ()
    command = parse(b"a APPEND x (\\draft $Junk) {2+}\r\nhi")
    assert isinstance(command, Append) and command.messages[0].flags == ("\\Draft", "$Junk")


def test_append_spooled_and_binary() -> None:
    big = b"x" * 1000
    command = parse(b"a APPEND x ~{1000+}\r\n" + big)
    assert isinstance(command, Append)
    literal = command.messages[0].literal
    assert isinstance(literal, SpooledLiteral) and literal.binary
    assert literal.read() == big
    literal.close()


def test_multiappend() -> None:
    # RFC 3502 section 6.3.11 example.
    first = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\r\nHello Joe\r\n"
    second = b"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n\r\nHello Fred\r\n"
    command = parse(
        b"A003 APPEND saved-messages (\\Seen) {%d+}\r\n" % len(first)
        + first
        + b' (\\Seen) "07-Feb-1994 22:43:04 -0800" {%d+}\r\n' % len(second)
        + second
        + b" {1+}\r\nz"
    )
    assert isinstance(command, Append)
    assert [bytes(m.literal) for m in command.messages] == [first, second, b"z"]
    assert [m.flags for m in command.messages] == [("\\Seen",), ("\\Seen",), ()]
    assert command.messages[1].date_time is not None and command.messages[2].date_time is None


def test_append_utf8() -> None:
    # RFC 6855 section 4.
    command = parse(b"a APPEND x (\\Seen) UTF8 (~{5+}\r\nh\xc3\xa9!!)")
    assert isinstance(command, Append)
    message = command.messages[0]
    assert message.utf8 and message.literal.binary and bytes(message.literal) == b"h\xc3\xa9!!"
    bad(b"a APPEND x UTF8 ({2+}\r\nhi)", "~{n}")
    bad(b"a APPEND x UTF8 (~{2+}\r\nhi", '")"')
    bad(b"a APPEND x UTF8 ~{2+}\r\nhi")


def test_bad_appends() -> None:
    bad(b"a APPEND x (\\Recent) {1+}\r\nz", "Recent")
    bad(b"a APPEND x (\\Seen)", "missing argument")
    bad(b"a APPEND x", "missing argument")
    bad(b"a APPEND x hello", "expected message literal")
    bad(b'a APPEND x "bad date" {1+}\r\nz', "date-time")
    bad(b"a APPEND x {1+}\r\nz (\\Seen)", "missing argument")
    bad(b"a APPEND x {1+}\r\nz junk")
    bad(b"a APPEND x {1+}\r\nz  {1+}\r\nz")
    bad(b"a APPEND x (\\Seen) (\\Seen) {1+}\r\nz")


def test_quota() -> None:
    # RFC 9208 section 4.
    assert parse(b'G0001 GETQUOTA "!partition/sda4"') == GetQuota("G0001", "!partition/sda4")
    assert parse(b"A003 GETQUOTAROOT INBOX") == GetQuotaRoot("A003", "INBOX")
    bad(b"G GETQUOTA", "missing argument")
    bad(b"G GETQUOTAROOT a b")


# -- messages ---------------------------------------------------------------------------------


def test_expunge() -> None:
    assert parse(b"A202 EXPUNGE") == Expunge("A202")
    # RFC 4315 section 2.1.
    assert parse(b"A003 UID EXPUNGE 3000:3002") == Expunge("A003", True, Seq(((3000, 3002),)))
    bad(b"a EXPUNGE 1", "unexpected text")
    bad(b"a UID EXPUNGE", "missing argument")


def test_copy_and_move() -> None:
    assert parse(b"A003 COPY 2:4 MEETING") == Copy("A003", False, Seq(((2, 4),)), "MEETING")
    assert parse(b"a UID COPY 1:* inbox") == Copy("a", True, Seq(((1, STAR),)), "INBOX")
    # RFC 6851 section 4.
    assert parse(b"a UID MOVE 42:69 foo") == Move("a", True, Seq(((42, 69),)), "foo")
    assert parse(b"a MOVE $ Trash") == Move("a", False, Seq(saved=True), "Trash")
    bad(b"a COPY 1", "missing argument")
    bad(b"a MOVE x y", "expected number")
    bad(b"a COPY 0 y", "zero")


def test_store() -> None:
    # RFC 3501 section 6.4.6.
    assert parse(b"A003 STORE 2:4 +FLAGS (\\Deleted)") == Store(
        "A003", False, Seq(((2, 4),)), "add", ("\\Deleted",)
    )
    assert parse(b"a UID STORE 1 -FLAGS.SILENT \\seen foo") == Store(
        "a", True, Seq(((1, 1),)), "remove", ("\\Seen", "foo"), silent=True
    )
    assert parse(b"a STORE 1 flags ()") == Store("a", False, Seq(((1, 1),)), "set", ())
    assert parse(b"a STORE 1 FLAGS (a a b)") == Store("a", False, Seq(((1, 1),)), "set", ("a", "b"))
    # RFC 7162 section 3.1.3 examples.
    assert parse(b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)") == Store(
        "d105",
        False,
        Seq(((7, 7), (5, 5), (9, 9))),
        "add",
        ("\\Deleted",),
        silent=True,
        unchanged_since=320162338,
    )
    command = parse(b"C101 STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)")
    assert isinstance(command, Store) and command.unchanged_since == 0
    bad(b"a STORE 1 +FLAGS (\\Recent)", "Recent")
    bad(b"a STORE 1 +FLAGS \\Recent", "Recent")
    bad(b"a STORE 1 +FLAGS (\\*)", "not a flag")
    bad(b"a STORE 1 *FLAGS (x)", "expected FLAGS")
    bad(b"a STORE 1 FLAGS.LOUD (x)", "expected FLAGS")
    bad(b"a STORE 1 FLAGS", "missing argument")
    bad(b"a STORE 1 (UNCHANGEDSINCE) FLAGS (x)")
    bad(b"a STORE 1 (FOO 1) FLAGS (x)", "STORE modifier")
    bad(b"a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS (x)", "STORE modifier")
    bad(b"a STORE 1 +FLAGS (x", '")"')
    bad(b"a STORE 1 +FLAGS (\\)")


def test_fetch_simple_items() -> None:
    names = [
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "BODY",
        "BODYSTRUCTURE",
        "UID",
        "MODSEQ",
        "EMAILID",
        "THREADID",
        "SAVEDATE",
        "PREVIEW",
    ]
    command = parse(b"a FETCH 1 (" + " ".join(names).lower().encode() + b")")
    assert isinstance(command, Fetch)
    assert [att.name for att in command.attributes] == names
    for name in names:
        assert fetch_atts(name.encode()) == (FetchAtt(name),)


def test_fetch_macros() -> None:
    # RFC 3501 section 6.4.5.
    assert fetch_atts(b"all") == MACROS["ALL"]
    assert [a.name for a in fetch_atts(b"FAST")] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [a.name for a in fetch_atts(b"FULL")] == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
    ]
    bad(b"a FETCH 1 (ALL)", "unknown fetch attribute")
    bad(b"a FETCH 1 (FAST FLAGS)", "unknown fetch attribute")


def test_fetch_body_sections() -> None:
    # RFC 3501 section 6.4.5 examples.
    command = parse(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])")
    assert command == Fetch(
        "A654",
        False,
        Seq(((2, 4),)),
        (
            FetchAtt("FLAGS"),
            FetchAtt("BODY", Section(text="HEADER.FIELDS", fields=("DATE", "FROM"))),
        ),
    )
    (att,) = fetch_atts(b"BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.100>")
    assert att == FetchAtt(
        "BODY", Section((1, 2), "HEADER.FIELDS", ("A", "B")), Partial(0, 100), peek=True
    )
    assert att.label() == "BODY[1.2.HEADER.FIELDS (A B)]<0>"
    (att,) = fetch_atts(b"body[]")
    assert att == FetchAtt("BODY", Section()) and att.label() == "BODY[]"
    (att,) = fetch_atts(b"BODY[4.2.MIME]<10.5>")
    assert att.section == Section((4, 2), "MIME") and att.partial == Partial(10, 5)
    (att,) = fetch_atts(b"BODY[1.HEADER.FIELDS.NOT (X-Mailer)]")
    assert att.section == Section((1,), "HEADER.FIELDS.NOT", ("X-MAILER",))
    for spec in [b"BODY[", b"BODY[TEXT", b"BODY[]<", b"BODY[]<1.0>", b"BODY.PEEK", b"BODY[X]"]:
        bad(b"a FETCH 1 " + spec)
    bad(b"a FETCH 1 BODY []")
    bad(b"a FETCH 1 RFC822.PEEK", "unknown fetch attribute")
    bad(b"a FETCH 1 BODYSTRUCTURE[]")


def test_fetch_binary() -> None:
    # RFC 3516 section 4.
    assert fetch_atts(b"(BINARY[1] BINARY.PEEK[1.2]<0.5> BINARY.SIZE[3] BINARY[])") == (
        FetchAtt("BINARY", Section((1,))),
        FetchAtt("BINARY", Section((1, 2)), Partial(0, 5), peek=True),
        FetchAtt("BINARY.SIZE", Section((3,))),
        FetchAtt("BINARY", Section()),
    )
    assert FetchAtt("BINARY.SIZE", Section((3,))).label() == "BINARY.SIZE[3]"
    bad(b"a FETCH 1 BINARY", '"["')
    bad(b"a FETCH 1 BINARY[TEXT]")
    bad(b"a FETCH 1 BINARY.SIZE[1]<0.1>")


def test_fetch_preview() -> None:
    # RFC 8970 section 3.
    assert fetch_atts(b"(UID PREVIEW (LAZY))") == (FetchAtt("UID"), FetchAtt("PREVIEW", lazy=True))
    assert fetch_atts(b"PREVIEW (LAZY)") == (FetchAtt("PREVIEW", lazy=True),)
    assert fetch_atts(b"(PREVIEW)") == (FetchAtt("PREVIEW"),)
    bad(b"a FETCH 1 (PREVIEW (FUZZY))")
    bad(b"a FETCH 1 (PREVIEW (LAZY)", '")"')


def test_fetch_modifiers() -> None:
    # RFC 7162 sections 3.1.4.1 and 3.2.6.
    command = parse(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)")
    assert command == Fetch(
        "s100", True, Seq(((1, STAR),)), (FetchAtt("FLAGS"),), changed_since=12345
    )
    command = parse(b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    assert isinstance(command, Fetch) and command.vanished and command.changed_since == 12345
    command = parse(b"a UID FETCH 1 FLAGS (VANISHED CHANGEDSINCE 0)")
    assert isinstance(command, Fetch) and command.vanished and command.changed_since == 0
    command = parse(b"a FETCH 1 PREVIEW (CHANGEDSINCE 5)")
    assert isinstance(command, Fetch) and command.changed_since == 5
    bad(b"a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", "VANISHED")
    bad(b"a UID FETCH 1:* (FLAGS) (VANISHED)", "VANISHED")
    bad(b"a FETCH 1 FLAGS (CHANGEDSINCE)")
    bad(b"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "FETCH modifier")
    bad(b"a FETCH 1 FLAGS (FOO)", "FETCH modifier")
    bad(b"a FETCH 1 FLAGS ()", "empty")
    bad(b"a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)", "too large")


def test_bad_fetches() -> None:
    bad(b"a FETCH", "missing argument")
    bad(b"a FETCH 1", "missing argument")
    bad(b"a FETCH 1 ()", "empty")
    bad(b"a FETCH 1 (FLAGS", '")"')
    bad(b"a FETCH 1 FLAGS UID")
    bad(b"a FETCH x FLAGS")
    bad(b"a FETCH 1 (FLAGS  UID)")


# -- SEARCH -----------------------------------------------------------------------------------


def test_search_rfc_examples() -> None:
    # RFC 3501 section 6.4.4.
    assert search_key(b'FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"') == And(
        (
            FlagKey("\\Flagged", True),
            DateKey("internal", "since", datetime.date(1994, 2, 1)),
            Not(HeaderKey("from", "Smith")),
        )
    )
    assert search_key(b'TEXT "string not in mailbox"') == TextKey("string not in mailbox", True)
    command = parse(b"A284 SEARCH CHARSET UTF-8 TEXT {12+}\r\nXXXXXX\xd0\xb9\xd1\x86\xd1\x83")
    assert isinstance(command, Search) and command.charset == "UTF-8"
    assert command.key == TextKey("XXXXXX\u0439\u0446\u0443", True)
    assert parse(b"a UID SEARCH ALL") == Search("a", True, All())
    # RFC 9051 section 6.4.4.
    key = search_key(b'OR (FROM "Smith" SUBJECT "x") (NOT 1:5 UID 2:*)')
    assert key == Or(
        And((HeaderKey("from", "Smith"), HeaderKey("subject", "x"))),
        And((Not(SequenceKey(Seq(((1, 5),)), False)), SequenceKey(Seq(((2, STAR),)), True))),
    )


def test_every_search_key() -> None:
    day = datetime.date(1994, 2, 1)
    cases: list[tuple[bytes, object]] = [
        (b"ALL", All()),
        (b"ANSWERED", FlagKey("\\Answered", True)),
        (b"DELETED", FlagKey("\\Deleted", True)),
        (b"DRAFT", FlagKey("\\Draft", True)),
        (b"FLAGGED", FlagKey("\\Flagged", True)),
        (b"SEEN", FlagKey("\\Seen", True)),
        (b"RECENT", FlagKey("\\Recent", True)),
        (b"UNANSWERED", FlagKey("\\Answered", False)),
        (b"UNDELETED", FlagKey("\\Deleted", False)),
        (b"UNDRAFT", FlagKey("\\Draft", False)),
        (b"UNFLAGGED", FlagKey("\\Flagged", False)),
        (b"UNSEEN", FlagKey("\\Seen", False)),
        (b"OLD", FlagKey("\\Recent", False)),
        (b"NEW", And((FlagKey("\\Recent", True), FlagKey("\\Seen", False)))),
        (b"KEYWORD $Forwarded", FlagKey("$Forwarded", True)),
        (b"UNKEYWORD foo", FlagKey("foo", False)),
        (b"BCC a", HeaderKey("bcc", "a")),
        (b"CC a", HeaderKey("cc", "a")),
        (b"FROM a", HeaderKey("from", "a")),
        (b"SUBJECT {3+}\r\na b", HeaderKey("subject", "a b")),
        (b'TO ""', HeaderKey("to", "")),
        (b"HEADER X-Mailer mutt", HeaderKey("x-mailer", "mutt")),
        (b'HEADER "Message-ID" ""', HeaderKey("message-id", "")),
        (b"BODY x", TextKey("x", False)),
        (b"TEXT x", TextKey("x", True)),
        (b"BEFORE 1-Feb-1994", DateKey("internal", "before", day)),
        (b'ON "1-Feb-1994"', DateKey("internal", "on", day)),
        (b"SINCE 01-feb-1994", DateKey("internal", "since", day)),
        (b"SENTBEFORE 1-Feb-1994", DateKey("sent", "before", day)),
        (b"SENTON 1-Feb-1994", DateKey("sent", "on", day)),
        (b"SENTSINCE 1-Feb-1994", DateKey("sent", "since", day)),
        (b"SAVEDBEFORE 1-Feb-1994", DateKey("saved", "before", day)),
        (b"SAVEDON 1-Feb-1994", DateKey("saved", "on", day)),
        (b"SAVEDSINCE 1-Feb-1994", DateKey("saved", "since", day)),
        (b"LARGER 1000", SizeKey("larger", 1000)),
        (b"SMALLER 5000000000", SizeKey("smaller", 5000000000)),
        (b"UID 1,3:*", SequenceKey(Seq(((1, 1), (3, STAR))), True)),
        (b"UID $", SequenceKey(Seq(saved=True), True)),
        (b"$", SequenceKey(Seq(saved=True), False)),
        (b"*", SequenceKey(Seq(((STAR, STAR),)), False)),
        (b"NOT SEEN", Not(FlagKey("\\Seen", True))),
        (b"OR SEEN DRAFT", Or(FlagKey("\\Seen", True), FlagKey("\\Draft", True))),
        (b"(SEEN)", FlagKey("\\Seen", True)),
        (b"MODSEQ 620162338", ModSeqKey(620162338)),
        (
            b'MODSEQ "/flags/\\\\draft" all 620162338',
            ModSeqKey(620162338, "/flags/\\draft", "all"),
        ),
        (b'MODSEQ "/flags/$x" PRIV 0', ModSeqKey(0, "/flags/$x", "priv")),
        (b'MODSEQ "/flags/$x" shared 5', ModSeqKey(5, "/flags/$x", "shared")),
        (b"OLDER 3600", AgeKey("older", 3600)),
        (b"YOUNGER 60", AgeKey("younger", 60)),
        (b"EMAILID M6d99ac3275bb4e", ObjectIdKey("emailid", "M6d99ac3275bb4e")),
        (b"THREADID T64b478a75b7ea9", ObjectIdKey("threadid", "T64b478a75b7ea9")),
    ]
    for text, key in cases:
        assert search_key(text) == key, text
        assert search_key(text.lower() if b"{" not in text else text) is not None


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (b"", "missing argument"),
        (b"FOO", "unknown search key"),
        (b"FROM", "missing argument"),
        (b"HEADER X", "missing argument"),
        (b"HEADER a:b c", "header field name"),
        (b"BEFORE 31-Feb-1994", "bad date"),
        (b"SINCE yesterday", "bad date"),
        (b"LARGER x", "expected number"),
        (b"LARGER 9223372036854775808", "too large"),
        (b"UID x", "expected number"),
        (b"OR SEEN", "missing argument"),
        (b"NOT", "missing argument"),
        (b"()", "empty"),
        (b"(SEEN", '")"'),
        (b"SEEN)", "unexpected text"),
        (b"SEEN  DRAFT", "expected atom"),
        (b"KEYWORD \\Seen", "keyword"),
        (b"MODSEQ", "missing argument"),
        (b'MODSEQ "/flags/\\\\draft" 5', "entry type"),
        (b'MODSEQ "/foo/x" all 5', "entry name"),
        (b'MODSEQ "/flags/" all 5', "entry name"),
        (b'MODSEQ "/flags/x" mine 5', "entry type"),
        (b"OLDER 0", "zero"),
        (b"YOUNGER -1", "expected number"),
        (b"EMAILID a.b", "object id"),
        (b"EMAILID " + b"a" * 256, "object id"),
        (b"THREADID", "missing argument"),
        (b"0", "zero"),
        (b"1:", "expected number"),
        (b'"FROM" x', "expected atom"),
        (b"RETURN (MIN)", "missing argument"),
        (b"RETURN (FOO) ALL", "RETURN option"),
        (b"CHARSET", "unknown search key"),
        (b"CHARSET UTF-8", "missing argument"),
    ],
)
def test_bad_searches(spec: bytes, reason: str) -> None:
    bad(b"a SEARCH " + spec if spec else b"a SEARCH", reason)


def test_search_nesting_limits() -> None:
    assert search_key(b"NOT " * 100 + b"ALL") is not None
    bad(b"a SEARCH " + b"NOT " * 1000 + b"ALL", "nested")
    bad(b"a SEARCH " + b"OR ALL " * 1000 + b"ALL", "nested")
    assert search_key(b"(" * 10 + b"ALL" + b")" * 10) == All()
    bad(b"a SEARCH " + b"(" * 100 + b"ALL" + b")" * 100, "nested")


def test_search_return_options() -> None:
    # RFC 4731 section 3.1 examples.
    command = parse(b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert isinstance(command, Search) and command.returns == ("MIN", "COUNT")
    command = parse(b"A283 SEARCH RETURN () FLAGGED")
    assert isinstance(command, Search) and command.returns == ("ALL",)
    command = parse(b"a UID SEARCH RETURN (all max MIN COUNT SAVE) CHARSET us-ascii ALL")
    assert command == Search("a", True, All(), "US-ASCII", ("ALL", "MAX", "MIN", "COUNT", "SAVE"))
    # RFC 5182 section 2.4.
    command = parse(b'A300 SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM "Smith"')
    assert isinstance(command, Search) and command.returns == ("SAVE",)
    assert parse(b"a SEARCH ALL") == Search("a", False, All())


def test_search_charsets() -> None:
    command = parse(b'a SEARCH CHARSET ISO-8859-1 SUBJECT "caf\xe9"')
    assert isinstance(command, Search) and command.key == HeaderKey("subject", "café")
    assert command.charset == "ISO-8859-1"
    with pytest.raises(BadCharsetError):
        parse(b"a SEARCH CHARSET X-UNKNOWN ALL")
    with pytest.raises(BadCharsetError):
        parse(b"a SEARCH CHARSET base64 ALL")
    bad(b'a SEARCH SUBJECT "\xff"', "not UTF-8")
    bad(b'a SEARCH CHARSET US-ASCII SUBJECT "\xc3\xa9"', "not US-ASCII")


def test_searchres_rfc5182_examples() -> None:
    # RFC 5182 section 4.
    command = parse(b'A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert isinstance(command, Search) and command.returns == ("SAVE",)
    assert parse(b"A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.HEADER)") == Fetch(
        "A283",
        False,
        Seq(saved=True),
        (
            FetchAtt("UID"),
            FetchAtt("INTERNALDATE"),
            FetchAtt("FLAGS"),
            FetchAtt("RFC822.HEADER"),
        ),
    )
    assert parse(b"A301 UID SEARCH UID 1,4:* $ NOT DELETED") == Search(
        "A301",
        True,
        And(
            (
                SequenceKey(Seq(((1, 1), (4, STAR))), True),
                SequenceKey(Seq(saved=True), False),
                Not(FlagKey("\\Deleted", True)),
            )
        ),
    )
    assert parse(b'A303 UID COPY $ "Other Messages"') == Copy(
        "A303", True, Seq(saved=True), "Other Messages"
    )
    assert parse(b"A304 STORE $ +FLAGS.SILENT (\\Deleted)") == Store(
        "A304", False, Seq(saved=True), "add", ("\\Deleted",), silent=True
    )
    bad(b"a FETCH $,1 FLAGS")


def test_rfc9051_examples() -> None:
    # RFC 9051 section 6.
    assert parse(b"A999 UID FETCH 4827313:4828442 FLAGS") == Fetch(
        "A999", True, Seq(((4827313, 4828442),)), (FetchAtt("FLAGS"),)
    )
    assert parse(b"A003 MOVE 2:4 MEETING") == Move("A003", False, Seq(((2, 4),)), "MEETING")
    assert parse(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])") is not None
    command = parse(b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert isinstance(command, Search) and command.charset is None
    command = parse(b'A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert isinstance(command, Search) and command.returns == ("ALL",)
    command = parse(b"A284 SEARCH RETURN () NOT 1:10 UNSEEN")
    assert isinstance(command, Search)
    assert command.key == And((Not(SequenceKey(Seq(((1, 10),)), False)), FlagKey("\\Seen", False)))
    assert parse(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)") is not None
    assert parse(b"A004 UID STORE 1:* -FLAGS (\\Seen)") == Store(
        "A004", True, Seq(((1, STAR),)), "remove", ("\\Seen",)
    )


# -- SORT and THREAD --------------------------------------------------------------------------


def test_sort() -> None:
    # RFC 5256 section 3.
    command = parse(b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
    assert command == Sort(
        "A282",
        False,
        (SortCriterion("SUBJECT"),),
        "UTF-8",
        DateKey("internal", "since", datetime.date(1994, 2, 1)),
    )
    command = parse(b"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
    assert isinstance(command, Sort)
    assert command.criteria == (SortCriterion("SUBJECT"), SortCriterion("DATE", True))
    command = parse(b'A284 UID SORT (SUBJECT) US-ASCII TEXT "not in mailbox"')
    assert isinstance(command, Sort) and command.uid and command.charset == "US-ASCII"
    # RFC 5957 and every key.
    command = parse(
        b"a SORT (ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM reverse DISPLAYTO) UTF-8 ALL"
    )
    assert isinstance(command, Sort) and len(command.criteria) == 9
    assert command.criteria[-1] == SortCriterion("DISPLAYTO", True)
    # RFC 5267 section 3.
    command = parse(b"A301 SORT RETURN (MIN) (DATE) UTF-8 SINCE 1-Feb-1994")
    assert isinstance(command, Sort) and command.returns == ("MIN",)
    command = parse(b"A302 UID SORT RETURN () (REVERSE SIZE) UTF-8 ALL")
    assert isinstance(command, Sort) and command.returns == ("ALL",)
    bad(b"a SORT () UTF-8 ALL", "empty")
    bad(b"a SORT (FOO) UTF-8 ALL", "sort key")
    bad(b"a SORT (REVERSE) UTF-8 ALL", "expected space")
    bad(b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL", "sort key")
    bad(b"a SORT (DATE) UTF-8", "missing argument")
    with pytest.raises(BadCharsetError):
        parse(b"a SORT (DATE) ALL")
    bad(b"a SORT DATE UTF-8 ALL", '"("')
    with pytest.raises(BadCharsetError):
        parse(b"a SORT (DATE) KLINGON ALL")


def test_thread() -> None:
    # RFC 5256 section 3.
    command = parse(b"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000")
    assert command == Thread(
        "A283",
        False,
        "ORDEREDSUBJECT",
        "UTF-8",
        DateKey("internal", "since", datetime.date(2000, 3, 5)),
    )
    command = parse(b'A284 UID THREAD references US-ASCII TEXT "gewp"')
    assert command == Thread("A284", True, "REFERENCES", "US-ASCII", TextKey("gewp", True))
    bad(b"a THREAD FOO UTF-8 ALL", "threading algorithm")
    bad(b"a THREAD REFERENCES UTF-8", "missing argument")
    bad(b"a THREAD", "missing argument")


# -- robustness -------------------------------------------------------------------------------


TOKENS = st.sampled_from(
    [
        b"UID",
        b"FETCH",
        b"STORE",
        b"SEARCH",
        b"SORT",
        b"THREAD",
        b"LIST",
        b"APPEND",
        b"SELECT",
        b"LOGIN",
        b"AUTHENTICATE",
        b"ID",
        b"STATUS",
        b"CREATE",
        b"ENABLE",
        b"RETURN",
        b"CHARSET",
        b"UTF-8",
        b"UTF8",
        b"OR",
        b"NOT",
        b"HEADER",
        b"MODSEQ",
        b"QRESYNC",
        b"CONDSTORE",
        b"CHANGEDSINCE",
        b"UNCHANGEDSINCE",
        b"VANISHED",
        b"BODY",
        b"BODY.PEEK",
        b"BINARY",
        b"PREVIEW",
        b"LAZY",
        b"+FLAGS",
        b"FLAGS.SILENT",
        b"HEADER.FIELDS",
        b"MIME",
        b"NIL",
        b"INBOX",
        b"USE",
        b"SINCE",
        b"1-Feb-1994",
        b"31-Feb-1994",
        b'"07-Feb-1994 21:52:25 -0800"',
        b"1",
        b"0",
        b"*",
        b"$",
        b"1:*",
        b"4294967296",
        b"99999999999999999999999999",
        b"(",
        b")",
        b"[",
        b"]",
        b"<",
        b">",
        b".",
        b":",
        b",",
        b" ",
        b" ",
        b" ",
        b'"',
        b'"x"',
        b"\\",
        b"\\Seen",
        b"\\Recent",
        b"\\*",
        b"&",
        b"&Jjo-",
        b"=",
        b"%",
        b"~",
        b"\xff",
        b"\x00",
        "é".encode(),
    ]
)


@st.composite
def token_soups(draw: st.DrawFn) -> Command:
    line: list[bytes | LiteralBytes | SpooledLiteral] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if line:
            line.append(LiteralBytes(draw(st.binary(max_size=8)), binary=draw(st.booleans())))
        line.append(b"".join(draw(st.lists(TOKENS, max_size=25))))
    tag = draw(st.sampled_from(["a", "A1", "*", "", "+", "x]"]))
    return Command(tag, line)


@settings(max_examples=3000, deadline=None)
@given(token_soups(), st.booleans())
def test_token_soups_only_raise_syntax_errors(command: Command, utf8: bool) -> None:
    try:
        parse_command(command, utf8=utf8)
    except ImapSyntaxError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(TOKENS, st.sampled_from([b"\r\n", b"{3+}\r\n", b"~{2}\r\n"])), max_size=60)
)
def test_framed_streams_only_raise_syntax_errors(pieces: list[bytes]) -> None:
    reader = CommandReader(max_line=200, max_literal=100, inline_literal=2)
    events = reader.feed(b"a " + b"".join(pieces) + b"\r\n")
    while reader.paused:
        events += reader.resume()
    for event in events:
        if isinstance(event, Command):
            try:
                parse_command(event)
            except ImapSyntaxError:
                pass


def test_plain_bytes_as_literals() -> None:
    command = Command("a", [b"LOGIN ", b"fred", b" ", b"pw", b""])
    assert parse_command(command) == Login("a", "fred", "pw")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=60), st.booleans())
def test_random_bytes_only_raise_syntax_errors(data: bytes, utf8: bool) -> None:
    try:
        parse_command(Command("a", [data]), utf8=utf8)
    except ImapSyntaxError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"FETCH 1 ", b"SEARCH ", b"STORE 1 ", b"LIST ", b"APPEND x "]), st.data())
def test_prefixed_soups(prefix: bytes, data: st.DataObject) -> None:
    rest = b"".join(data.draw(st.lists(TOKENS, max_size=30)))
    try:
        parse_command(Command("a", [prefix + rest]))
    except ImapSyntaxError:
        pass
