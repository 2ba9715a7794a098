"""The sections of a message that FETCH returns: BODY[...], BINARY[...] and partial fetches.

Part numbers and section texts follow RFC 3501 / RFC 9051 section 6.4.5 and RFC 3516. These
work on the bytes they are given; the server gives every one of them the same form of a
message (the one whose length it reports as RFC822.SIZE).
"""

from __future__ import annotations

from dataclasses import dataclass

from stalwart_tx.imap.message_tree import MimePart, parse_message
from stalwart_tx.mail.transfer import decode_transfer

# Content-Transfer-Encodings BINARY can undo; any other is answered NO [UNKNOWN-CTE].
KNOWN_ENCODINGS = frozenset({"", "7bit", "8bit", "binary", "base64", "quoted-printable"})


@dataclass(frozen=True)
class UnknownEncoding:
    """A part BINARY cannot decode: its Content-Transfer-Encoding, as written."""

    encoding: bytes


def section_bytes(
    raw: bytes, part: tuple[int, ...], text: str | None = None, fields: tuple[str, ...] = ()
) -> bytes | None:
    """What ``BODY[part.text (fields)]`` returns, or None if the message has no such section.

    ``part`` is empty for the message itself; ``text`` is None, ``HEADER``, ``TEXT``, ``MIME``,
    ``HEADER.FIELDS`` or ``HEADER.FIELDS.NOT`` (any case), the last two with ``fields``.
    HEADER, TEXT and HEADER.FIELDS apply to the message or to a message/rfc822 part; MIME
    needs a part number.
    """
    kind = None if text is None else text.upper()
    if not part and kind is None:
        return raw  # the whole message: nothing to parse
    root = parse_message(raw)
    if not part:
        assert kind is not None
        return _message_section(raw, root, kind, fields)
    node = root.find(part)
    if node is None:
        return None
    if kind is None:
        return raw[node.body_start : node.end]
    if kind == "MIME":
        return raw[node.start : node.body_start]
    if node.message is None:
        return None
    return _message_section(raw, node.message, kind, fields)


def _message_section(
    raw: bytes, message: MimePart, kind: str, fields: tuple[str, ...]
) -> bytes | None:
    if kind == "HEADER":
        return raw[message.start : message.body_start]
    if kind == "TEXT":
        return raw[message.body_start : message.end]
    if kind in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return _subset(raw, message, fields, kind == "HEADER.FIELDS.NOT")
    return None


def _subset(raw: bytes, message: MimePart, names: tuple[str, ...], exclude: bool) -> bytes:
    wanted = {name.encode("utf-8", "replace").lower() for name in names}
    kept = [
        raw[field.start : field.end]
        for field in message.fields
        if (field.name.lower() in wanted) != exclude
    ]
    if message.blank_line:
        # RFC 3501 6.4.5: the blank line ending the header is part of every header fetch.
        block = raw[message.start : message.body_start]
        kept.append(b"\r\n" if block.endswith(b"\r\n") else b"\n")
    return b"".join(kept)


def header_fields(raw: bytes, names: tuple[str, ...], not_: bool = False) -> bytes:
    """``BODY[HEADER.FIELDS (names)]``, or ``HEADER.FIELDS.NOT`` with ``not_``."""
    return _subset(raw, parse_message(raw), names, not_)


def rfc822_header(raw: bytes) -> bytes:
    """RFC822.HEADER: the message's header block, as BODY.PEEK[HEADER]."""
    root = parse_message(raw)
    return raw[root.start : root.body_start]


def rfc822_text(raw: bytes) -> bytes:
    """RFC822.TEXT: the message's body, as BODY[TEXT]."""
    return raw[parse_message(raw).body_start :]


def line_count(data: bytes) -> int:
    """Lines of text in ``data``; a last line without a line break counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def binary_section(raw: bytes, part: tuple[int, ...]) -> bytes | UnknownEncoding | None:
    """What ``BINARY[part]`` returns (RFC 3516): the part's body with its transfer encoding
    undone; None if there is no such part. ``BINARY[]`` is the whole message as it is."""
    if not part:
        return raw
    node = parse_message(raw).find(part)
    if node is None:
        return None
    encoding = (node.encoding or b"").decode("latin-1").strip().lower()
    if encoding not in KNOWN_ENCODINGS:
        return UnknownEncoding(node.encoding or b"")
    # Malformed base64 or quoted-printable is decoded as far as it goes, not refused.
    return decode_transfer(raw[node.body_start : node.end], encoding)[0]


def binary_size(raw: bytes, part: tuple[int, ...]) -> int | UnknownEncoding | None:
    """``BINARY.SIZE[part]``: the length of what ``BINARY[part]`` returns."""
    found = binary_section(raw, part)
    return len(found) if isinstance(found, bytes) else found


def partial(data: bytes, origin: int, count: int) -> bytes:
    """The ``<origin.count>`` slice of a section; an origin past its end gives the empty
    string (RFC 3501 section 6.4.5)."""
    if origin < 0 or count < 0 or origin >= len(data):
        return b""
    return data[origin : origin + count]
