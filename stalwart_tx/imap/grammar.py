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

import datetime
from collections.abc import Callable
from typing import TypeVar

from stalwart_tx.imap.parse_text import (
    decode_base64,
    decode_mutf7,
    decode_utf8,
    encode_mutf7,
    mailbox_name,
    parse_date_text,
    parse_date_time,
)
from stalwart_tx.imap.parse_values import (
    STAR,
    ImapSyntaxError,
    ImapTagError,
    Partial,
    Section,
    SeqNumber,
    SequenceSet,
    Star,
)
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
    "decode_base64",
    "decode_mutf7",
    "decode_utf8",
    "encode_mutf7",
    "literal_bytes",
    "mailbox_name",
    "parse_date_text",
    "parse_date_time",
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
SYSTEM_FLAGS = {
    f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")
}


# -- the scanner ------------------------------------------------------------------------------


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
        return decode_utf8(self.astring(), what)

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
        return decode_utf8(data, "mailbox name") if utf8 else decode_mutf7(data)

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
        return parse_date_text(text)

    def date_time(self) -> datetime.datetime:
        """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` (the day may be space-padded) as an aware datetime."""
        return parse_date_time(self.quoted())

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
