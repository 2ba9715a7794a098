"""The values of IMAP FETCH responses as a small tree, and their wire form (RFC 3501 section 4).

``None`` is NIL, ``str`` and ``bytes`` are strings, ``int`` is a number, ``list`` is a
parenthesised list with its items apart, ``Run`` is items back to back, ``Atom`` is sent as
it is and ``Literal8`` is a binary literal (RFC 3516).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Atom:
    """Text sent without quoting; the caller vouches that it is a valid atom."""

    text: str


@dataclass(frozen=True)
class Literal8:
    """Content that may hold NUL, sent as ``~{n}`` when it does (RFC 3516 section 4.2)."""

    data: bytes


@dataclass(frozen=True)
class Run:
    """Items with nothing between them and no parentheses around them: the grammar writes
    ``1*body`` of a multipart and ``1*address`` of an address list without spaces."""

    items: list[ImapValue]


ImapValue: TypeAlias = "str | bytes | int | Atom | Literal8 | Run | list[ImapValue] | None"

# Longer strings go as literals: a quoted string must fit on one line a client reads whole.
MAX_QUOTED = 1024
_QUOTABLE = frozenset(range(0x01, 0x80)) - {0x0A, 0x0D}


def _string(data: bytes) -> bytes:
    if len(data) <= MAX_QUOTED and all(octet in _QUOTABLE for octet in data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def nul_free(value: bytes) -> bytes:
    """Header text made fit for an IMAP string, which cannot carry NUL: 0x80 keeps the length
    and shows that something was there."""
    return value.replace(b"\x00", b"\x80")


def render(value: ImapValue) -> bytes:
    """``value`` as it goes on the wire: NIL, a number, an atom, a quoted string or a literal."""
    out: list[bytes] = []
    _render(value, out)
    return b"".join(out)


def _render(value: ImapValue, out: list[bytes]) -> None:
    if value is None:
        out.append(b"NIL")
    elif isinstance(value, bool):
        # bool is an int; a flag has no meaning on the wire, so refuse it loudly.
        raise TypeError("a bool is not an IMAP value")
    elif isinstance(value, int):
        if value < 0:
            raise ValueError("IMAP numbers are unsigned")
        out.append(b"%d" % value)
    elif isinstance(value, str):
        out.append(_string(value.encode("utf-8")))
    elif isinstance(value, bytes):
        out.append(_string(value))
    elif isinstance(value, Atom):
        out.append(value.text.encode("ascii"))
    elif isinstance(value, Literal8):
        if b"\x00" in value.data:
            out.append(b"~{%d}\r\n" % len(value.data) + value.data)
        else:
            out.append(_string(value.data))
    elif isinstance(value, Run):
        for item in value.items:
            _render(item, out)
    else:
        out.append(b"(")
        for index, item in enumerate(value):
            if index:
                out.append(b" ")
            _render(item, out)
        out.append(b")")
