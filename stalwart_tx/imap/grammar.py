"""IMAP grammar (RFC 3501 section 9, RFC 9051 section 9): a scanner over one command's line.

``Scanner(command.line)`` walks the text segments and literals a ``reader.Command`` carries and
offers the productions the command parsers are built from: atoms, numbers with their ranges,
quoted strings, literals, astring / nstring, mailbox names, list patterns, flags, dates,
parenthesised lists, sequence sets and FETCH section specs. Every failure is an
``ImapSyntaxError(reason)``, the reason short enough to follow ``tag BAD``.

Sequence sets keep ``*`` as ``STAR`` and ``$`` (RFC 5182 SEARCHRES) as ``SequenceSet.saved``:
only the session knows the mailbox view they refer to; ``SequenceSet.resolve(largest)`` turns
one into sorted, merged ranges once it does.

Mailbox names: ``INBOX`` in any case becomes ``"INBOX"``; otherwise names are modified UTF-7
(RFC 3501 section 5.1.3, ``decode_mutf7`` / ``encode_mutf7``), or raw UTF-8 when the session has
enabled UTF8=ACCEPT (RFC 6855), which the caller says with ``utf8=True``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal as TypingLiteral
from typing import TypeVar

from stalwart_tx.imap.reader import Literal, LiteralBytes, SpooledLiteral

__all__ = [
    "MAX_NESTING",
    "NAME_CHARS",
    "STAR",
    "ImapSyntaxError",
    "ImapTagError",
    "Partial",
    "Scanner",
    "Section",
    "SeqNumber",
    "SequenceSet",
    "Star",
    "decode_mutf7",
    "encode_mutf7",
]

T = TypeVar("T")

MAX_NESTING = 32
# A string argument given as a spooled literal is read into memory only up to this size.
MAX_STRING = 1 << 20
NUMBER_MAX = 2**32 - 1
NUMBER64_MAX = 2**63 - 1

_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
ATOM_CHARS = frozenset(c for c in range(0x21, 0x7F) if c not in _ATOM_SPECIALS)
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
LIST_CHARS = ASTRING_CHARS | {ord("%"), ord("*")}
_DIGITS = frozenset(b"0123456789")
# Command names and FETCH/STORE item names, read up to a space, "[" or "(".
NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE64 = frozenset(_LETTERS + b"0123456789+/=")
_MUTF7_BASE64 = frozenset(_LETTERS + b"0123456789+,")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
SYSTEM_FLAGS = {
    f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")
}


class ImapSyntaxError(ValueError):
    """The command does not parse: the protocol answers ``tag BAD reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImapTagError(ImapSyntaxError):
    """Not even the tag is usable: the protocol answers ``* BAD reason``."""


class Star(enum.Enum):
    STAR = "*"


STAR = Star.STAR
SeqNumber = int | TypingLiteral[Star.STAR]


@dataclass(frozen=True)
class SequenceSet:
    """``1:3,5,*`` as ranges of (first, last) as written; ``$`` as ``saved=True``, no ranges."""

    ranges: tuple[tuple[SeqNumber, SeqNumber], ...] = ()
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive ranges with ``*`` read as ``largest``; ``$`` gives []."""
        spans = []
        for first, last in self.ranges:
            a = largest if first is STAR else first
            b = largest if last is STAR else last
            spans.append((min(a, b), max(a, b)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def contains(self, number: int, largest: int) -> bool:
        return any(a <= number <= b for a, b in self.resolve(largest))

    @property
    def has_star(self) -> bool:
        return any(STAR in r for r in self.ranges)


@dataclass(frozen=True)
class Section:
    """A FETCH section spec: ``part`` numbers, then ``text`` (HEADER, HEADER.FIELDS,
    HEADER.FIELDS.NOT, TEXT, MIME or None) with ``fields`` for the HEADER.FIELDS forms."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        items = [str(n) for n in self.part]
        if self.text is not None:
            items.append(self.text)
        spec = ".".join(items)
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True)
class Partial:
    """``<offset.length>``; the response names only ``<offset>``."""

    offset: int
    length: int


# -- modified UTF-7 ---------------------------------------------------------------------------


def decode_mutf7(name: bytes | str) -> str:
    """RFC 3501 section 5.1.3: printable ASCII, ``&-`` for ``&``, ``&...-`` modified base64."""
    data = name.encode("latin-1") if isinstance(name, str) else name
    out: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x26:  # "&"
            end = data.find(b"-", i + 1)
            if end < 0:
                raise ImapSyntaxError("bad modified UTF-7 mailbox name")
            chunk = data[i + 1 : end]
            if not chunk:
                out.append("&")
            else:
                out.append(_decode_mutf7_chunk(chunk))
            i = end + 1
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
            i += 1
        else:
            raise ImapSyntaxError("8-bit mailbox name without UTF8=ACCEPT")
    return "".join(out)


def _decode_mutf7_chunk(chunk: bytes) -> str:
    if not all(c in _MUTF7_BASE64 for c in chunk):
        raise ImapSyntaxError("bad modified UTF-7 mailbox name")
    # The unpadded base64 of whole UTF-16 units: extra bits beyond them must be zero.
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        if len(raw) % 2 or len(chunk) % 4 == 1:
            raise ValueError
        text = raw.decode("utf-16-be")
    except (binascii.Error, ValueError) as error:
        raise ImapSyntaxError("bad modified UTF-7 mailbox name") from error
    # Printable ASCII must be written directly, and the encoding must be the shortest one.
    if any(0x20 <= ord(ch) <= 0x7E for ch in text) or _encode_mutf7_chunk(text) != chunk:
        raise ImapSyntaxError("bad modified UTF-7 mailbox name")
    return text


def _encode_mutf7_chunk(text: str) -> bytes:
    return base64.b64encode(text.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")


def encode_mutf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("&" + _encode_mutf7_chunk("".join(pending)).decode("ascii") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


# -- the scanner ------------------------------------------------------------------------------


def _decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImapSyntaxError(f"{what} is not UTF-8") from error


def literal_bytes(literal: Literal) -> bytes:
    if isinstance(literal, SpooledLiteral):
        if literal.size > MAX_STRING:
            raise ImapSyntaxError("string too long")
        return literal.read()
    return bytes(literal)


class Scanner:
    """A cursor over ``[text, literal, text, ...]``; text positions are octet offsets."""

    def __init__(self, line: list[bytes | Literal]) -> None:
        self.parts = line if line else [b""]
        self.index = 0
        self.pos = 0
        self.depth = 0

    # -- primitives -------------------------------------------------------------------------

    @property
    def text(self) -> bytes:
        part = self.parts[self.index]
        return part if not isinstance(part, SpooledLiteral) else b""

    def peek(self) -> int | None:
        """The next text octet, or None at the end of a text segment (a literal or the end)."""
        text = self.text
        return text[self.pos] if self.pos < len(text) else None

    def at_literal(self) -> bool:
        return self.pos >= len(self.text) and self.index + 1 < len(self.parts)

    def at_end(self) -> bool:
        return self.pos >= len(self.text) and self.index + 1 >= len(self.parts)

    def end(self) -> None:
        if not self.at_end():
            raise ImapSyntaxError("unexpected text at end of command")

    def take_if(self, expected: bytes) -> bool:
        """Consume ``expected`` (case-insensitively) if it comes next."""
        text = self.text
        if text[self.pos : self.pos + len(expected)].upper() == expected.upper():
            self.pos += len(expected)
            return True
        return False

    def expect(self, expected: bytes, what: str | None = None) -> None:
        if not self.take_if(expected):
            raise ImapSyntaxError(f"expected {what or expected.decode()}")

    def sp(self) -> None:
        if not self.take_if(b" "):
            raise ImapSyntaxError("expected space" if not self.at_end() else "missing argument")

    def take_sp(self) -> bool:
        return self.take_if(b" ")

    def span(self, allowed: frozenset[int] | set[int]) -> bytes:
        text = self.text
        start = self.pos
        end = start
        while end < len(text) and text[end] in allowed:
            end += 1
        self.pos = end
        return text[start:end]

    def literal(self) -> Literal:
        if not self.at_literal():
            raise ImapSyntaxError("expected literal")
        self.index += 1
        part = self.parts[self.index]
        self.index += 1
        self.pos = 0
        if isinstance(part, SpooledLiteral):
            return part
        return part if isinstance(part, LiteralBytes) else LiteralBytes(part)

    # -- atoms and numbers ------------------------------------------------------------------

    def atom(self, what: str = "atom") -> str:
        data = self.span(ATOM_CHARS)
        if not data:
            raise ImapSyntaxError(f"expected {what}")
        return data.decode("ascii")

    def keyword(self) -> str:
        """An atom, upper-cased: command names, options, search keys."""
        return self.atom().upper()

    def digits(self) -> bytes:
        data = self.span(_DIGITS)
        if not data:
            raise ImapSyntaxError("expected number")
        if len(data) > 20:
            raise ImapSyntaxError("number too large")
        return data

    def number(self) -> int:
        value = int(self.digits())
        if value > NUMBER_MAX:
            raise ImapSyntaxError("number too large")
        return value

    def nz_number(self) -> int:
        value = self.number()
        if value == 0:
            raise ImapSyntaxError("zero not allowed")
        return value

    def number64(self) -> int:
        value = int(self.digits())
        if value > NUMBER64_MAX:
            raise ImapSyntaxError("number too large")
        return value

    def nz_number64(self) -> int:
        value = self.number64()
        if value == 0:
            raise ImapSyntaxError("zero not allowed")
        return value

    # -- strings ----------------------------------------------------------------------------

    def quoted(self) -> bytes:
        text = self.text
        if self.peek() != 0x22:
            raise ImapSyntaxError("expected quoted string")
        out = bytearray()
        i = self.pos + 1
        while i < len(text):
            c = text[i]
            if c == 0x22:
                self.pos = i + 1
                return bytes(out)
            if c == 0x5C:
                if i + 1 >= len(text) or text[i + 1] not in (0x22, 0x5C):
                    raise ImapSyntaxError("bad escape in quoted string")
                out.append(text[i + 1])
                i += 2
                continue
            if c == 0:
                raise ImapSyntaxError("NUL in quoted string")
            out.append(c)
            i += 1
        raise ImapSyntaxError("unterminated quoted string")

    def string_literal(self) -> bytes:
        literal = self.literal()
        if literal.binary:
            raise ImapSyntaxError("binary literal not allowed here")
        return literal_bytes(literal)

    def string(self) -> bytes:
        if self.peek() == 0x22:
            return self.quoted()
        if self.at_literal():
            return self.string_literal()
        raise ImapSyntaxError("expected string")

    def astring(self) -> bytes:
        if self.peek() == 0x22 or self.at_literal():
            return self.string()
        data = self.span(ASTRING_CHARS)
        if not data:
            raise ImapSyntaxError("expected string")
        return data

    def astring_text(self, what: str = "string") -> str:
        return _decode_utf8(self.astring(), what)

    def nil(self) -> bool:
        """Consume NIL if it comes next, as a whole word."""
        text = self.text
        if text[self.pos : self.pos + 3].upper() == b"NIL" and (
            self.pos + 3 >= len(text) or text[self.pos + 3] not in ASTRING_CHARS
        ):
            self.pos += 3
            return True
        return False

    def nstring(self) -> bytes | None:
        return None if self.nil() else self.string()

    # -- mailboxes --------------------------------------------------------------------------

    def mailbox(self, utf8: bool = False) -> str:
        return mailbox_name(self.astring(), utf8)

    def list_mailbox(self, utf8: bool = False) -> str:
        """A LIST pattern: a string, or atom characters plus ``%`` and ``*``."""
        if self.peek() == 0x22 or self.at_literal():
            data = self.string()
        else:
            data = self.span(LIST_CHARS)
            if not data:
                raise ImapSyntaxError("expected mailbox pattern")
        return _decode_utf8(data, "mailbox name") if utf8 else decode_mutf7(data)

    # -- lists ------------------------------------------------------------------------------

    def paren_list(self, item: Callable[[], T], *, empty: bool = True) -> list[T]:
        """``"(" [item *(SP item)] ")"``."""
        self.expect(b"(", '"("')
        items: list[T] = []
        with self.nested():
            if self.take_if(b")"):
                if not empty:
                    raise ImapSyntaxError("empty list")
                return items
            while True:
                items.append(item())
                if self.take_if(b")"):
                    return items
                if self.at_end():
                    raise ImapSyntaxError('expected ")"')
                self.sp()

    def nested(self) -> _Nesting:
        return _Nesting(self)

    # -- flags ------------------------------------------------------------------------------

    def flag(self, *, allow_recent: bool = True) -> str:
        if self.take_if(b"\\"):
            if self.take_if(b"*"):
                raise ImapSyntaxError("\\* is not a flag")
            name = "\\" + self.atom("flag")
            canonical = SYSTEM_FLAGS.get(name.upper(), name)
            if canonical == "\\Recent" and not allow_recent:
                raise ImapSyntaxError("\\Recent cannot be set")
            return canonical
        return self.atom("flag")

    def flag_list(self, *, allow_recent: bool = True) -> list[str]:
        return self.paren_list(lambda: self.flag(allow_recent=allow_recent))

    # -- dates ------------------------------------------------------------------------------

    def date(self) -> datetime.date:
        """``date-text / DQUOTE date-text DQUOTE`` as in SEARCH: ``1-Feb-1994``."""
        quoted = self.take_if(b'"')
        text = self.span(ATOM_CHARS)
        if quoted:
            self.expect(b'"', "closing quote")
        return _parse_date(text)

    def date_time(self) -> datetime.datetime:
        """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` (the day may be space-padded) as an aware datetime."""
        raw = self.quoted()
        try:
            day_text, time_text, zone = raw.decode("ascii").strip().split(" ")
        except (UnicodeDecodeError, ValueError) as error:
            raise ImapSyntaxError("bad date-time") from error
        day = _parse_date(day_text.encode())
        parts = time_text.split(":")
        if (
            len(parts) != 3
            or not all(len(p) == 2 and p.isdigit() and p.isascii() for p in parts)
            or len(zone) != 5
            or zone[0] not in "+-"
            or not (zone[1:].isdigit() and zone[1:].isascii())
        ):
            raise ImapSyntaxError("bad date-time")
        hours, minutes = int(zone[1:3]), int(zone[3:5])
        if minutes > 59:
            raise ImapSyntaxError("bad date-time")
        offset = datetime.timedelta(hours=hours, minutes=minutes)
        try:
            return datetime.datetime(
                day.year,
                day.month,
                day.day,
                int(parts[0]),
                int(parts[1]),
                int(parts[2]),
                tzinfo=datetime.timezone(-offset if zone[0] == "-" else offset),
            )
        except ValueError as error:
            raise ImapSyntaxError("bad date-time") from error

    # -- sequence sets ----------------------------------------------------------------------

    def seq_number(self, allow_star: bool = True) -> SeqNumber:
        if self.take_if(b"*"):
            if not allow_star:
                raise ImapSyntaxError("* not allowed here")
            return STAR
        return self.nz_number()

    def sequence_set(self, *, allow_star: bool = True, allow_saved: bool = True) -> SequenceSet:
        if self.take_if(b"$"):
            if not allow_saved:
                raise ImapSyntaxError("$ not allowed here")
            return SequenceSet(saved=True)
        ranges = []
        while True:
            first = self.seq_number(allow_star)
            last = self.seq_number(allow_star) if self.take_if(b":") else first
            ranges.append((first, last))
            if not self.take_if(b","):
                break
        return SequenceSet(tuple(ranges))

    def starts_sequence_set(self) -> bool:
        c = self.peek()
        return c is not None and (c in _DIGITS or c in b"*$")

    # -- FETCH sections ---------------------------------------------------------------------

    def section(self) -> Section:
        """``"[" [section-spec] "]"`` of BODY[...]."""
        self.expect(b"[", '"["')
        if self.take_if(b"]"):
            return Section()
        part = self._section_part()
        text: str | None = None
        fields: tuple[str, ...] = ()
        if not part or self.take_if(b"."):
            word = self.span(frozenset(_LETTERS + b"."))
            text = word.decode("ascii").upper()
            if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
                self.sp()
                fields = tuple(self.paren_list(self.header_field_name, empty=False))
            elif text not in ("HEADER", "TEXT", "MIME") or (text == "MIME" and not part):
                raise ImapSyntaxError("bad section")
        self.expect(b"]", '"]"')
        return Section(part, text, fields)

    def binary_section(self) -> Section:
        """``"[" [section-part] "]"`` of BINARY[...] (RFC 3516)."""
        self.expect(b"[", '"["')
        part = () if self.peek() == 0x5D else self._section_part()
        self.expect(b"]", '"]"')
        return Section(part)

    def _section_part(self) -> tuple[int, ...]:
        numbers: list[int] = []
        while self.peek() is not None and self.peek() in _DIGITS:
            numbers.append(self.nz_number())
            if not (self.peek() == 0x2E and self.pos + 1 < len(self.text)):
                break
            if self.text[self.pos + 1] not in _DIGITS:
                break
            self.pos += 1
        return tuple(numbers)

    def partial(self) -> Partial | None:
        if not self.take_if(b"<"):
            return None
        offset = self.number64()
        self.expect(b".", '"."')
        length = self.nz_number64()
        self.expect(b">", '">"')
        return Partial(offset, length)

    def header_field_name(self) -> str:
        name = self.astring()
        if not name or not all(0x21 <= c <= 0x7E and c != 0x3A for c in name):
            raise ImapSyntaxError("bad header field name")
        return name.decode("ascii").upper()

    def base64(self) -> bytes:
        data = self.span(_BASE64)
        if not data:
            raise ImapSyntaxError("expected base64")
        return decode_base64(data)


class _Nesting:
    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner

    def __enter__(self) -> None:
        self.scanner.depth += 1
        if self.scanner.depth > MAX_NESTING:
            raise ImapSyntaxError("too deeply nested")

    def __exit__(self, *exc: object) -> None:
        self.scanner.depth -= 1


def decode_base64(data: bytes) -> bytes:
    """Strict base64 as in SASL exchanges; ``=`` alone is the empty response (RFC 4959)."""
    if data == b"=":
        return b""
    if len(data) % 4:
        raise ImapSyntaxError("bad base64")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImapSyntaxError("bad base64") from error


def mailbox_name(data: bytes, utf8: bool = False) -> str:
    if data.upper() == b"INBOX":
        return "INBOX"
    name = _decode_utf8(data, "mailbox name") if utf8 else decode_mutf7(data)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ImapSyntaxError("control character in mailbox name")
    return name


def _parse_date(text: bytes) -> datetime.date:
    try:
        day, month, year = text.decode("ascii").split("-")
    except (UnicodeDecodeError, ValueError) as error:
        raise ImapSyntaxError("bad date") from error
    day = day.strip()
    if (
        not (1 <= len(day) <= 2 and day.isdigit() and day.isascii())
        or month.upper() not in _MONTHS
        or not (len(year) == 4 and year.isdigit() and year.isascii())
    ):
        raise ImapSyntaxError("bad date")
    try:
        return datetime.date(int(year), _MONTHS[month.upper()], int(day))
    except ValueError as error:
        raise ImapSyntaxError("bad date") from error


def iter_literals(line: list[bytes | Literal]) -> Iterator[Literal]:
    """The literals of a command's line (odd positions)."""
    for part in line[1::2]:
        if isinstance(part, SpooledLiteral | LiteralBytes):
            yield part
        else:
            yield LiteralBytes(part)
