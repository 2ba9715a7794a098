"""Command framing: lines, literals of every kind, limits, raw lines and pausing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.imap.reader import (
    Command,
    CommandReader,
    Continue,
    Event,
    LineTooLong,
    LiteralBytes,
    LiteralTooBig,
    RawLine,
    SpooledLiteral,
)


def run(reader: CommandReader, *chunks: bytes) -> list[Event]:
    """Feed chunks, resuming whenever the reader pauses, as a protocol would."""
    events: list[Event] = []
    for chunk in chunks:
        events += reader.feed(chunk)
        while reader.paused:
            events += reader.resume()
    return events


def plain(events: list[Event]) -> list[object]:
    """Events with literals as (kind, binary, content), comparable whatever their storage."""
    out: list[object] = []
    for event in events:
        if isinstance(event, Command):
            line = []
            for part in event.line:
                if isinstance(part, SpooledLiteral):
                    line.append(("spooled", part.binary, part.read()))
                elif isinstance(part, LiteralBytes):
                    line.append(("inline", part.binary, bytes(part)))
                else:
                    line.append(part)
            out.append(("command", event.tag, line, event.raw_size))
        else:
            out.append(event)
    return out


def test_simple_commands_crlf_and_bare_lf() -> None:
    events = run(CommandReader(), b"a1 NOOP\r\na2 CAPABILITY\nA3 LOGOUT\r\n")
    assert events == [
        Command("a1", [b"NOOP"], 9),
        Command("a2", [b"CAPABILITY"], 14),
        Command("A3", [b"LOGOUT"], 11),
    ]


def test_empty_lines_are_ignored() -> None:
    assert run(CommandReader(), b"\r\n\n\r\na NOOP\r\n\r\n") == [Command("a", [b"NOOP"], 8)]


def test_incomplete_line_waits() -> None:
    reader = CommandReader()
    assert reader.feed(b"a NO") == []
    assert reader.feed(b"OP\r") == []
    assert reader.feed(b"\n") == [Command("a", [b"NOOP"], 8)]


def test_tag_only_and_raw_tag() -> None:
    events = run(CommandReader(), b"abc\r\n*bad NOOP\r\n")
    assert events == [Command("abc", [b""], 5), Command("*bad", [b"NOOP"], 11)]


def test_synchronizing_literal_rfc3501_example() -> None:
    # RFC 3501 section 6.3.11 (APPEND), with the literal sent after the continuation.
    reader = CommandReader()
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello Joe\r\n"
    first = reader.feed(b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(message))
    assert first == [Continue()]
    events = reader.feed(message + b"\r\n")
    assert len(events) == 1
    command = events[0]
    assert isinstance(command, Command)
    assert command.tag == "A003"
    assert command.line == [b"APPEND saved-messages (\\Seen) ", message, b""]
    literal = command.line[1]
    assert isinstance(literal, LiteralBytes)
    assert literal.size == len(message) and not literal.binary
    assert command.raw_size == len(
        b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(message)
    ) + (len(message) + 2)


def test_several_literals_and_zero_length() -> None:
    events = run(CommandReader(), b"a LOGIN {4}\r\nfred {0}\r\n\r\n")
    assert events[:2] == [Continue(), Continue()]
    assert plain(events[2:]) == [
        (
            "command",
            "a",
            [b"LOGIN ", ("inline", False, b"fred"), b" ", ("inline", False, b""), b""],
            25,
        )
    ]


def test_non_synchronizing_literal_has_no_continuation() -> None:
    # RFC 7888 section 3.
    events = run(CommandReader(), b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n")
    assert plain(events) == [
        (
            "command",
            "A001",
            [
                b"LOGIN ",
                ("inline", False, b"FRED FOOBAR"),
                b" ",
                ("inline", False, b"fat man"),
                b"",
            ],
            45,
        )
    ]


def test_literal_bytes_may_contain_crlf_and_braces() -> None:
    events = run(CommandReader(), b"a X {9+}\r\n{3}\r\n\r\nab\r\n")
    assert plain(events) == [
        ("command", "a", [b"X ", ("inline", False, b"{3}\r\n\r\nab"), b""], 21)
    ]


def test_binary_literals() -> None:
    # RFC 3516 section 4.2 literal8 and RFC 6855 APPEND UTF8 form.
    reader = CommandReader()
    events = run(reader, b"a APPEND x UTF8 (~{3}\r\n", b"\x00\xff\x01)\r\nb X ~{2+}\r\nab\r\n")
    assert plain(events) == [
        Continue(),
        ("command", "a", [b"APPEND x UTF8 (", ("inline", True, b"\x00\xff\x01"), b")"], 29),
        ("command", "b", [b"X ", ("inline", True, b"ab"), b""], 15),
    ]


def test_synchronizing_literal_too_big_refused_without_reading() -> None:
    reader = CommandReader(max_literal=100)
    assert reader.feed(b"a APPEND x {101}\r\n") == [LiteralTooBig("a", 101)]
    # The client does not send the literal; what follows is a new command.
    assert reader.feed(b"b NOOP\r\n") == [Command("b", [b"NOOP"], 8)]


def test_huge_literal_size_refused_at_once() -> None:
    reader = CommandReader()
    size = 10**40
    assert reader.feed(b"a APPEND x {%d}\r\n" % size)[0] == LiteralTooBig("a", 10**20)
    assert reader.feed(b"a APPEND x {4294967296}\r\n") == [LiteralTooBig("a", 4294967296)]


def test_refused_literal_drops_spooled_parts() -> None:
    reader = CommandReader(max_literal=100, inline_literal=2)
    events = reader.feed(b"a APPEND x {5+}\r\nhello {200}\r\n")
    assert events == [LiteralTooBig("a", 200)]
    assert run(reader, b"b NOOP\r\n") == [Command("b", [b"NOOP"], 8)]


def test_non_synchronizing_literal_too_big_is_skipped() -> None:
    reader = CommandReader(max_literal=10)
    events = run(reader, b"a APPEND x {12+}\r\n", b"0123456789ab more {2+}\r\nzz\r\nb NOOP\r\n")
    assert events == [LiteralTooBig("a", 12), Command("b", [b"NOOP"], 8)]


def test_literal_minus_limit() -> None:
    # RFC 7888 section 4: LITERAL- allows at most 4096 octets in a non-synchronizing literal.
    reader = CommandReader(literal_minus=True)
    data = b"x" * 4097
    events = run(reader, b"a APPEND x {4097+}\r\n" + data + b"\r\nb NOOP\r\n")
    assert events == [LiteralTooBig("a", 4097), Command("b", [b"NOOP"], 8)]
    events = run(reader, b"c APPEND x {4096+}\r\n" + data[:4096] + b"\r\n")
    assert len(events) == 1 and isinstance(events[0], Command)
    # A synchronizing literal of the same size is fine.
    assert run(reader, b"d APPEND x {4097}\r\n") == [Continue()]


def test_literal_too_big_with_invalid_tag() -> None:
    reader = CommandReader(max_literal=1)
    assert reader.feed(b"* APPEND x {2}\r\n") == [LiteralTooBig(None, 2)]


def test_large_literal_is_spooled() -> None:
    reader = CommandReader(inline_literal=10)
    body = bytes(range(256)) * 40
    events = run(reader, b"a APPEND x ~{%d}\r\n" % len(body), body[:1000], body[1000:] + b"\r\n")
    assert events[0] == Continue()
    command = events[1]
    assert isinstance(command, Command)
    literal = command.line[1]
    assert isinstance(literal, SpooledLiteral)
    assert literal.binary and literal.size == len(body)
    assert b"".join(literal.chunks(999)) == body
    assert b"".join(literal.chunks()) == body
    literal.close()
    with pytest.raises(ValueError):
        list(literal.chunks())


def test_inline_budget_is_per_command() -> None:
    reader = CommandReader(inline_literal=10)
    events = run(reader, b"a X {6+}\r\nabcdef {6+}\r\nghijkl {4+}\r\nmnop\r\n")
    command = events[0]
    assert isinstance(command, Command)
    kinds = [type(part).__name__ for part in command.line[1::2]]
    assert kinds == ["LiteralBytes", "SpooledLiteral", "LiteralBytes"]
    events = run(reader, b"b X {6+}\r\nabcdef\r\n")
    assert isinstance(events[0], Command) and isinstance(events[0].line[1], LiteralBytes)


def test_dropped_command_closes_its_spooled_literals() -> None:
    reader = CommandReader(max_line=40, inline_literal=4)
    events = run(reader, b"a APPEND x {10+}\r\n0123456789 " + b"y" * 50 + b"\r\n")
    assert events == [LineTooLong("a")]
    # The literal was spooled, then dropped with the command: nothing is left open.
    reader = CommandReader(inline_literal=4, max_literal=20)
    literal_events = run(reader, b"b APPEND x {10+}\r\n0123456789 {30}\r\n")
    assert literal_events == [LiteralTooBig("b", 30)]


def test_spooled_literal_after_close() -> None:
    literal = SpooledLiteral(binary=True)
    literal.write(b"abc")
    assert "size=3" in repr(literal)
    literal.close()
    literal.write(b"more")
    literal.close()
    assert literal.size == 3


def test_literal_bytes_interface() -> None:
    literal = LiteralBytes(b"abcdef", binary=True)
    assert literal == b"abcdef" and literal.binary and literal.size == 6
    assert list(literal.chunks(4)) == [b"abcd", b"ef"]
    literal.close()
    assert LiteralBytes(b"").size == 0 and list(LiteralBytes(b"").chunks()) == []


def test_line_too_long() -> None:
    reader = CommandReader(max_line=20)
    events = run(reader, b"a1 SEARCH " + b"x" * 30, b"y" * 1000, b"\r\nb NOOP\r\n")
    assert events == [LineTooLong("a1"), Command("b", [b"NOOP"], 8)]
    # Nothing of the long line was kept.
    assert len(reader._buffer) == 0


def test_line_exactly_at_limit() -> None:
    reader = CommandReader(max_line=10)
    assert run(reader, b"a 12345678\r\n") == [Command("a", [b"12345678"], 12)]
    assert run(reader, b"a 123456789\r\n") == [LineTooLong("a")]
    assert run(reader, b"a 12345678\n") == [Command("a", [b"12345678"], 11)]


def test_line_too_long_without_tag() -> None:
    reader = CommandReader(max_line=10)
    assert run(reader, b"x" * 50 + b"\r\n") == [LineTooLong(None)]
    assert run(reader, b"*" * 5 + b" " + b"x" * 50 + b"\r\n") == [LineTooLong(None)]


def test_line_too_long_counts_the_whole_command() -> None:
    reader = CommandReader(max_line=30)
    events = run(reader, b"a X 12345678901234 {1+}\r\nz 1234567890\r\nb NOOP\r\n")
    assert events == [LineTooLong("a"), Command("b", [b"NOOP"], 8)]


def test_line_too_long_skips_following_non_synchronizing_literal() -> None:
    reader = CommandReader(max_line=20)
    events = run(reader, b"a APPEND " + b"x" * 30 + b" {7+}\r\nb NOOP\r\n\r\nc NOOP\r\n")
    assert events == [LineTooLong("a"), Command("c", [b"NOOP"], 8)]


def test_raw_line_mode_idle() -> None:
    # RFC 2177: the client ends IDLE with DONE; the reader pauses after IDLE.
    reader = CommandReader()
    events = reader.feed(b"a IDLE\r\nDONE\r\nb NOOP\r\n")
    assert events == [Command("a", [b"IDLE"], 8)]
    assert reader.paused
    assert reader.feed(b"c NOOP\r\n") == []
    assert reader.buffered_size == len(b"DONE\r\nb NOOP\r\nc NOOP\r\n")
    assert reader.expect_line() == [RawLine(b"DONE")]
    assert reader.paused
    reader.raw_line_mode = False
    assert reader.resume() == [Command("b", [b"NOOP"], 8), Command("c", [b"NOOP"], 8)]


def test_raw_line_mode_keeps_braces_and_empty_lines() -> None:
    reader = CommandReader()
    reader.raw_line_mode = True
    assert reader.feed(b"dGVzdA== {5}\r\n\r\n*\r\n") == [RawLine(b"dGVzdA== {5}")]
    assert reader.paused
    assert reader.resume() == [RawLine(b"")]
    assert reader.resume() == [RawLine(b"*")]
    assert reader.resume() == []
    reader = CommandReader(max_line=4)
    reader.raw_line_mode = True
    assert reader.feed(b"abcdefgh {3+}\r\nab\r\n") == [LineTooLong(None)]
    assert reader.resume() == [RawLine(b"ab")]


def test_authenticate_pauses() -> None:
    reader = CommandReader()
    assert reader.feed(b"a authenticate PLAIN\r\nAGZyZWQAc2VjcmV0\r\n") == [
        Command("a", [b"authenticate PLAIN"], 22)
    ]
    assert reader.expect_line() == [RawLine(b"AGZyZWQAc2VjcmV0")]


def test_starttls_and_compress_leave_the_rest_buffered() -> None:
    reader = CommandReader()
    events = reader.feed(b"a STARTTLS\r\nb LOGIN injected x\r\n")
    assert events == [Command("a", [b"STARTTLS"], 12)]
    assert reader.take_buffered() == b"b LOGIN injected x\r\n"
    assert reader.resume() == []
    events = reader.feed(b"c COMPRESS DEFLATE\r\n\x78\x9c")
    assert events == [Command("c", [b"COMPRESS DEFLATE"], 20)]
    assert reader.take_buffered() == b"\x78\x9c"


def test_literal_right_after_the_tag() -> None:
    events = run(CommandReader(), b"a{2+}\r\nxy\r\nb NOOP\r\n")
    assert plain(events) == [
        ("command", "a", [b"", ("inline", False, b"xy"), b""], 11),
        ("command", "b", [b"NOOP"], 8),
    ]


def test_verb_property() -> None:
    assert Command("a", [b"uid fetch 1 FLAGS"]).verb == b"UID"
    assert Command("a", [b""]).verb == b""
    assert Command("a", []).verb == b""


def test_odd_literal_markers_are_text() -> None:
    events = run(CommandReader(), b"a X {}\r\nb X {+}\r\nc X {1a}\r\nd X {-1}\r\n")
    assert [e.tag for e in events if isinstance(e, Command)] == ["a", "b", "c", "d"]


def test_memory_bounded_on_endless_line() -> None:
    reader = CommandReader(max_line=1000)
    events: list[Event] = []
    for _ in range(1000):
        events += reader.feed(b"z" * 10000)
        assert len(reader._buffer) <= 1002
    assert events == [LineTooLong(None)]


def test_line_fed_octet_by_octet_is_searched_once() -> None:
    reader = CommandReader()
    data = b"a SEARCH " + b"x" * 60000 + b"\r\n"
    events: list[Event] = []
    for i in range(len(data)):
        events += reader.feed(data[i : i + 1])
    assert events == [Command("a", [b"SEARCH " + b"x" * 60000], len(data))]


STREAM_PIECES = st.sampled_from(
    [
        b"a NOOP\r\n",
        b"b LOGIN {3}\r\nabc def\r\n",
        b"c X {2+}\r\n\r\n\r\n",
        b"d X ~{1}\r\n\x00\r\n",
        b"e APPEND x {999999999999}\r\n",
        b"f X {20+}\r\n" + b"q" * 20 + b" {3+}\r\nabc\r\n",
        b"g IDLE\r\n",
        b"DONE\r\n",
        b"\r\n",
        b"\n",
        b"{",
        b"}",
        b"+",
        b"~",
        b"7",
        b" ",
        b"x" * 70,
        b"h AUTHENTICATE PLAIN\r\n",
        b"{5+}\r\n",
        b"i X {60+}\r\n" + b"s" * 60 + b" tail\r\n",
        b"j X {4097+}\r\n" + b"m" * 4097 + b"\r\n",
        b"k X {30+}\r\n" + b"n" * 30 + b" {9}\r\n",
    ]
)


def split_points(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = []
    previous = 0
    for point in [*points, len(data)]:
        chunks.append(data[previous:point])
        previous = point
    return chunks


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.binary(max_size=400), st.lists(STREAM_PIECES, max_size=30).map(b"".join)),
    st.lists(st.integers(min_value=0, max_value=10**6), max_size=20),
    st.booleans(),
    st.sampled_from([50, 5000]),
)
def test_split_feeding_gives_the_same_events(
    data: bytes, cuts: list[int], minus: bool, max_literal: int
) -> None:
    def make() -> CommandReader:
        return CommandReader(
            max_line=60, max_literal=max_literal, inline_literal=8, literal_minus=minus
        )

    whole = plain(run(make(), data))
    pieces = plain(run(make(), *split_points(data, cuts)))
    assert pieces == whole
    one_by_one = plain(run(make(), *(data[i : i + 1] for i in range(len(data)))))
    assert one_by_one == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_raw_mode_split_feeding(data: bytes, cuts: list[int]) -> None:
    def make() -> CommandReader:
        reader = CommandReader(max_line=40)
        reader.raw_line_mode = True
        return reader

    assert plain(run(make(), data)) == plain(run(make(), *split_points(data, cuts)))
