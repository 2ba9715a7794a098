"""The wire form of FETCH values, read back by a reader that knows the RFC 3501 grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.imap.message_values import MAX_QUOTED, Atom, ImapValue, Literal8, Run, render


class GrammarError(Exception):
    pass


@dataclass
class Reader:
    """A strict reader of FETCH data: NIL, numbers, quoted strings, literals, lists, and the
    ``body`` and ``envelope`` productions of RFC 3501 / RFC 9051 section 9, spaces and all."""

    data: bytes
    pos: int = 0

    def fail(self, what: str) -> GrammarError:
        return GrammarError(f"{what} at {self.pos}: {self.data[self.pos : self.pos + 40]!r}")

    def peek(self, token: bytes) -> bool:
        return self.data.startswith(token, self.pos)

    def expect(self, token: bytes) -> None:
        if not self.peek(token):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def sp(self) -> None:
        self.expect(b" ")

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail("trailing data")

    # -- the generic productions ---------------------------------------------------------------

    def nstring(self) -> bytes | None:
        if self.peek(b"NIL"):
            self.pos += 3
            return None
        return self.string()

    def string(self) -> bytes:
        if self.peek(b'"'):
            self.pos += 1
            out = bytearray()
            while True:
                if self.pos >= len(self.data):
                    raise self.fail("unterminated quoted string")
                octet = self.data[self.pos]
                if octet == 0x22:
                    self.pos += 1
                    return bytes(out)
                if octet == 0x5C:
                    escaped = self.data[self.pos + 1 : self.pos + 2]
                    if escaped not in (b'"', b"\\"):
                        raise self.fail("bad quoted-pair")
                    out += escaped
                    self.pos += 2
                    continue
                if octet in (0, 0x0A, 0x0D) or octet > 0x7F:
                    raise self.fail("octet not allowed in a quoted string")
                out.append(octet)
                self.pos += 1
        binary = self.peek(b"~{")
        match = re.compile(rb"~?\{(\d+)\}\r\n").match(self.data, self.pos)
        if match is None:
            raise self.fail("expected a string")
        size = int(match.group(1))
        start = match.end()
        if start + size > len(self.data):
            raise self.fail("literal longer than the data")
        content = self.data[start : start + size]
        if b"\x00" in content and not binary:
            raise self.fail("NUL in a literal")
        self.pos = start + size
        return content

    def number(self) -> int:
        match = re.compile(rb"\d+").match(self.data, self.pos)
        if match is None:
            raise self.fail("expected a number")
        self.pos = match.end()
        return int(match.group())

    def value(self) -> Any:
        """Any value, lists read with single spaces or back to back."""
        if self.peek(b"("):
            self.pos += 1
            items: list[Any] = []
            while not self.peek(b")"):
                if items and not self.peek(b"("):
                    self.sp()
                elif items and self.peek(b" "):
                    self.sp()
                items.append(self.value())
                if self.pos >= len(self.data):
                    raise self.fail("unbalanced parentheses")
            self.pos += 1
            return items
        if self.peek(b"NIL"):
            self.pos += 3
            return None
        if self.data[self.pos : self.pos + 1].isdigit():
            return self.number()
        if self.peek(b'"') or self.peek(b"{") or self.peek(b"~{"):
            return self.string()
        match = re.compile(rb"\\?[^\x00-\x20()\"{%*\\\]\x7f-\xff]+").match(self.data, self.pos)
        if match is None:
            raise self.fail("unexpected octet")
        self.pos = match.end()
        return ("atom", match.group())

    # -- envelope ------------------------------------------------------------------------------

    def envelope(self) -> dict[str, Any]:
        self.expect(b"(")
        found: dict[str, Any] = {"date": self.nstring()}
        self.sp()
        found["subject"] = self.nstring()
        for name in ("from", "sender", "reply-to", "to", "cc", "bcc"):
            self.sp()
            found[name] = self.addresses()
        self.sp()
        found["in-reply-to"] = self.nstring()
        self.sp()
        found["message-id"] = self.nstring()
        self.expect(b")")
        return found

    def addresses(self) -> list[tuple[bytes | None, ...]] | None:
        if self.peek(b"NIL"):
            self.pos += 3
            return None
        self.expect(b"(")
        found = [self.address()]
        while self.peek(b"("):
            found.append(self.address())
        self.expect(b")")
        return found

    def address(self) -> tuple[bytes | None, ...]:
        self.expect(b"(")
        fields = [self.nstring()]
        for _ in range(3):
            self.sp()
            fields.append(self.nstring())
        self.expect(b")")
        return tuple(fields)

    # -- body ----------------------------------------------------------------------------------

    def body(self, extensible: bool) -> dict[str, Any]:
        self.expect(b"(")
        if self.peek(b"("):
            parts = [self.body(extensible)]
            while self.peek(b"("):
                parts.append(self.body(extensible))
            self.sp()
            found: dict[str, Any] = {"parts": parts, "subtype": self.string()}
            if extensible:
                self.sp()
                found["params"] = self.params()
                self.extension(found)
            self.expect(b")")
            return found
        kind = self.string()
        self.sp()
        subtype = self.string()
        found = {"type": kind, "subtype": subtype}
        self.sp()
        found["params"] = self.params()
        self.sp()
        found["id"] = self.nstring()
        self.sp()
        found["description"] = self.nstring()
        self.sp()
        found["encoding"] = self.string()
        self.sp()
        found["octets"] = self.number()
        lowered = (kind.lower(), subtype.lower())
        if lowered in ((b"message", b"rfc822"), (b"message", b"global")):
            self.sp()
            found["envelope"] = self.envelope()
            self.sp()
            found["body"] = self.body(extensible)
            self.sp()
            found["lines"] = self.number()
        elif lowered[0] == b"text":
            self.sp()
            found["lines"] = self.number()
        if extensible:
            self.sp()
            found["md5"] = self.nstring()
            self.extension(found)
        self.expect(b")")
        return found

    def extension(self, found: dict[str, Any]) -> None:
        self.sp()
        if self.peek(b"NIL"):
            self.pos += 3
            found["disposition"] = None
        else:
            self.expect(b"(")
            kind = self.string()
            self.sp()
            found["disposition"] = (kind, self.params())
            self.expect(b")")
        self.sp()
        if self.peek(b"("):
            self.pos += 1
            tags = [self.string()]
            while self.peek(b" "):
                self.sp()
                tags.append(self.string())
            self.expect(b")")
            found["language"] = tags
        else:
            found["language"] = self.nstring()
        self.sp()
        found["location"] = self.nstring()

    def params(self) -> list[tuple[bytes, bytes]] | None:
        if self.peek(b"NIL"):
            self.pos += 3
            return None
        self.expect(b"(")
        pairs = []
        while True:
            name = self.string()
            self.sp()
            pairs.append((name, self.string()))
            if self.peek(b")"):
                break
            self.sp()
        self.expect(b")")
        return pairs


def read_body(data: bytes, extensible: bool) -> dict[str, Any]:
    reader = Reader(data)
    found = reader.body(extensible)
    reader.end()
    return found


def read_envelope(data: bytes) -> dict[str, Any]:
    reader = Reader(data)
    found = reader.envelope()
    reader.end()
    return found


def read_value(data: bytes) -> Any:
    reader = Reader(data)
    found = reader.value()
    reader.end()
    return found


# -- the serialiser -------------------------------------------------------------------------------


def test_nil_numbers_atoms() -> None:
    assert render(None) == b"NIL"
    assert render(0) == b"0"
    assert render(4294967295) == b"4294967295"
    assert render(Atom("\\Seen")) == b"\\Seen"
    assert render([]) == b"()"
    assert render([None, 1, [2, Atom("X")]]) == b"(NIL 1 (2 X))"


def test_quoted_when_safe() -> None:
    assert render(b"hello world") == b'"hello world"'
    assert render("") == b'""'
    assert render(b'say "hi" \\ bye') == b'"say \\"hi\\" \\\\ bye"'


@pytest.mark.parametrize(
    "value",
    [b"caf\xc3\xa9", "café", b"two\r\nlines", b"bare\nlf", b"bare\rcr", b"x" * (MAX_QUOTED + 1)],
)
def test_literal_otherwise(value: str | bytes) -> None:
    data = value.encode() if isinstance(value, str) else value
    assert render(value) == b"{%d}\r\n" % len(data) + data
    assert read_value(render(value)) == data


def test_longest_quoted() -> None:
    assert render(b"x" * MAX_QUOTED) == b'"' + b"x" * MAX_QUOTED + b'"'


def test_literal8_only_with_nul() -> None:
    assert render(Literal8(b"a\x00b")) == b"~{3}\r\na\x00b"
    assert render(Literal8(b"ab")) == b'"ab"'
    assert render(Literal8(b"\xff")) == b"{1}\r\n\xff"


def test_run_has_no_spaces() -> None:
    assert render([Run([[1], [2]]), b"MIXED"]) == b'((1)(2) "MIXED")'


def test_refuses_what_has_no_wire_form() -> None:
    with pytest.raises(ValueError):
        render(-1)
    with pytest.raises(TypeError):
        render(True)


def _values() -> st.SearchStrategy[ImapValue]:
    leaves: st.SearchStrategy[ImapValue] = st.one_of(
        st.none(),
        st.integers(min_value=0, max_value=2**63),
        st.binary(max_size=40).map(lambda data: data.replace(b"\x00", b"")),
        st.text(max_size=20).map(lambda text: text.replace("\x00", "")),
        st.binary(max_size=1200).map(Literal8),
        st.sampled_from([Atom("\\Seen"), Atom("FLAGS"), Atom("X-GM-EXT-1")]),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.lists(st.lists(inner, max_size=3), min_size=1, max_size=3).map(
                lambda items: [Run(list(items))]
            ),
        ),
        max_leaves=30,
    )


def _plain(value: ImapValue) -> Any:
    """What the reader gives back for ``value``."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Literal8):
        return value.data
    if isinstance(value, Atom):
        return ("atom", value.text.encode())
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, Run):
                out += [_plain(sub) for sub in item.items]
            else:
                out.append(_plain(item))
        return out
    return value


@settings(max_examples=300, deadline=None)
@given(_values())
def test_render_reads_back(value: ImapValue) -> None:
    assert read_value(render(value)) == _plain(value)
