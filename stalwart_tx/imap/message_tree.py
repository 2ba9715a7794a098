"""The MIME tree of a message over byte offsets into its raw form, as IMAP numbers it.

Unlike the JMAP tree (``mail/body.py``), message/rfc822 and message/global parts are opened:
the encapsulated message is parsed as a message of its own, with its own part numbers
(RFC 3501 / RFC 9051 section 6.4.5). Structure is found by the same rules as the JMAP tree,
so both protocols see the same parts: a multipart/* without a usable boundary, or nested deeper
than MAX_DEPTH, is one leaf. Any bytes give a tree; nothing here raises.
"""

from __future__ import annotations

import email.utils
import functools
import re
from dataclasses import dataclass
from email.message import Message

from stalwart_tx.mail.body import multipart_spans
from stalwart_tx.mail.encoded_words import unfold as text_unfold
from stalwart_tx.mail.headers import split_header_block
from stalwart_tx.mail.syntax import without_comments

MAX_DEPTH = 64

Params = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Field:
    """One header field: its name as written and where it lies, folding and line break kept."""

    name: bytes
    start: int
    end: int
    # The raw value after the colon, its final line break removed.
    value: bytes


@dataclass(frozen=True)
class Disposition:
    kind: bytes
    params: Params


@dataclass(frozen=True)
class MimePart:
    """A message or body part: its header block is raw[start:body_start] (blank line
    included when there is one) and its body raw[body_start:end]."""

    start: int
    body_start: int
    end: int
    fields: tuple[Field, ...]
    # Whether the header block ends with the blank line that separates it from the body.
    blank_line: bool
    # The type that decides the structure, lower case, as the JMAP tree finds it.
    mime_type: str
    # The type as the message writes it, or as recovered when it is missing or unusable.
    type: bytes
    subtype: bytes
    params: Params
    id: bytes | None
    description: bytes | None
    encoding: bytes | None
    disposition: Disposition | None
    language: tuple[bytes, ...] | None
    location: bytes | None
    md5: bytes | None
    children: tuple[MimePart, ...] = ()
    # The encapsulated message of a message/rfc822 or message/global part.
    message: MimePart | None = None

    def field_values(self, name: bytes) -> list[bytes]:
        wanted = name.lower()
        return [field.value for field in self.fields if field.name.lower() == wanted]

    def numbered(self) -> tuple[MimePart, ...]:
        """The parts numbered 1, 2, ... under this numbered part: a multipart's parts; under
        a message/rfc822 part, those of the message it holds, which are the parts of its
        multipart body or else its body alone as part 1; none under any other part."""
        if self.children:
            return self.children
        if self.message is not None:
            inner = self.message
            return inner.children or (inner,)
        return ()

    def find(self, part: tuple[int, ...]) -> MimePart | None:
        """The part numbered ``part`` (as in BODY[1.2.3]) in this message, or None. Numbering
        starts as under a message/rfc822 part: a one-part message's body is part 1."""
        node = self
        numbered = self.children or (self,)
        for number in part:
            if not 1 <= number <= len(numbered):
                return None
            node = numbered[number - 1]
            numbered = node.numbered()
        return node


def unfold(value: bytes) -> bytes:
    """A raw value on one line (folding undone, stray line break octets dropped), trimmed."""
    return re.sub(rb"\r?\n|\r", b"", value).strip(b" \t")


@functools.lru_cache(maxsize=4)
def parse_message(raw: bytes) -> MimePart:
    """The tree of a whole message (cached: a FETCH asks for several sections of one message)."""
    return _build(raw, 0, len(raw), "text/plain", 0)


_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


def _fields(raw: bytes, start: int, end: int) -> tuple[Field, ...]:
    """The fields of the header block raw[start:end], which split_header_block delimited."""
    found: list[Field] = []
    pos = start
    while pos < end:
        line_end = raw.find(b"\n", pos, end)
        next_pos = end if line_end < 0 else line_end + 1
        line = raw[pos:next_pos]
        if not line.rstrip(b"\r\n"):
            break
        if line[:1] in (b" ", b"\t") and found:
            last = found[-1]
            found[-1] = Field(last.name, last.start, next_pos, last.value)
        else:
            colon = line.find(b":")
            name = line[:colon].rstrip(b" \t") if colon > 0 else b""
            if _FIELD_NAME.fullmatch(name) is not None:
                found.append(Field(name, pos, next_pos, b""))
        pos = next_pos
    return tuple(Field(f.name, f.start, f.end, _value(raw[f.start : f.end])) for f in found)


def _value(field: bytes) -> bytes:
    value = field[field.find(b":") + 1 :]
    return value.removesuffix(b"\n").removesuffix(b"\r")


def _last_raw(fields: tuple[Field, ...], name: bytes) -> bytes | None:
    wanted = name.lower()
    values = [field.value for field in fields if field.name.lower() == wanted]
    # The last one, as the JMAP side reads header fields (RFC 8621 section 4.1.3).
    return values[-1] if values else None


def _last(fields: tuple[Field, ...], name: bytes) -> bytes | None:
    value = _last_raw(fields, name)
    return None if value is None else unfold(value)


def _text(value: bytes) -> str:
    # Octet for octet, so that offsets and 8-bit values survive the round trip.
    return value.decode("latin-1")


def _split_params(value: str) -> list[str]:
    """``value`` split at the semicolons that are not inside a quoted string."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    value = value.strip(" \t")
    if len(value) >= 2 and value.startswith('"'):
        inner = value[1:-1] if value.endswith('"') else value[1:]
        return re.sub(r"\\(.)", r"\1", inner)
    return value


def _params(pieces: list[str]) -> Params:
    found: list[tuple[bytes, bytes]] = []
    for piece in pieces:
        name, equals, value = without_comments(piece).partition("=")
        name = name.strip(" \t")
        if equals and name:
            found.append((name.encode("latin-1"), _unquote(value).encode("latin-1")))
    return tuple(found)


def _content_type(value: bytes | None) -> tuple[bytes, bytes, Params]:
    """The type and subtype as written (empty if unusable) and the parameters, unchanged
    (RFC 2231 continuations are passed on for the client to join)."""
    if value is None:
        return b"", b"", ()
    pieces = _split_params(_text(value))
    kind, _, subtype = "".join(without_comments(pieces[0]).split()).partition("/")
    return kind.encode("latin-1"), subtype.encode("latin-1"), _params(pieces[1:])


def _disposition(value: bytes | None) -> Disposition | None:
    if value is None:
        return None
    pieces = _split_params(_text(value))
    kind = "".join(without_comments(pieces[0]).split())
    if not kind:
        return None
    return Disposition(kind.encode("latin-1"), _params(pieces[1:]))


def _language(value: bytes | None) -> tuple[bytes, ...] | None:
    if value is None:
        return None
    tags = [tag.strip(" \t") for tag in without_comments(_text(value)).split(",")]
    return tuple(tag.encode("latin-1") for tag in tags if tag) or None


def _location(value: bytes | None) -> bytes | None:
    if value is None:
        return None
    # A long URI may have been folded: whitespace is not part of it (RFC 2557 section 4.1).
    return b"".join(value.split()) or None


def _mime_fields(content_type: bytes | None, default_type: str) -> tuple[str, str | None]:
    """The effective type (lower case) and the boundary of a raw Content-Type value, found
    exactly as the JMAP tree finds them, so that both protocols see the same parts."""
    fields = Message()
    if content_type is not None:
        fields["Content-Type"] = text_unfold(content_type.decode("utf-8", "replace")).strip()
    fields.set_default_type(default_type)
    mime_type = fields.get_content_type() if content_type is not None else default_type
    if "/" not in mime_type or mime_type.startswith("/") or mime_type.endswith("/"):
        mime_type = "text/plain"
    boundary = fields.get_param("boundary")
    if not boundary or isinstance(boundary, bool):
        return mime_type, None
    return mime_type, str(email.utils.collapse_rfc2231_value(boundary))  # type: ignore[arg-type]


def _build(raw: bytes, start: int, end: int, default_type: str, depth: int) -> MimePart:
    _, body_offset = split_header_block(raw[start:end])
    body_start = start + body_offset
    fields = _fields(raw, start, body_start)
    content_type = _last_raw(fields, b"content-type")
    kind, subtype, params = _content_type(None if content_type is None else unfold(content_type))
    mime_type, boundary = _mime_fields(content_type, default_type)
    if (kind + b"/" + subtype).decode("latin-1").lower() != mime_type:
        kind, subtype = (piece.upper().encode() for piece in mime_type.split("/", 1))
    children: tuple[MimePart, ...] = ()
    message: MimePart | None = None
    if mime_type.startswith("multipart/"):
        spans = None
        if boundary and depth < MAX_DEPTH:
            spans = multipart_spans(raw[body_start:end], boundary.encode("utf-8", "replace"))
        if spans is not None:
            child_type = "message/rfc822" if mime_type == "multipart/digest" else "text/plain"
            children = tuple(
                _build(raw, body_start + s, body_start + e, child_type, depth + 1)
                for s, e in spans or [(end - body_start, end - body_start)]
            )
        else:
            # No way to find the parts (or too deep to look): the bytes are one leaf.
            mime_type = "text/plain" if depth < MAX_DEPTH else "application/octet-stream"
            kind, subtype = (piece.upper().encode() for piece in mime_type.split("/"))
    elif mime_type in ("message/rfc822", "message/global"):
        if depth < MAX_DEPTH:
            message = _build(raw, body_start, end, "text/plain", depth + 1)
        else:
            mime_type = "application/octet-stream"
            kind, subtype = b"APPLICATION", b"OCTET-STREAM"
    block = raw[start:body_start]
    return MimePart(
        start=start,
        body_start=body_start,
        end=end,
        fields=fields,
        mime_type=mime_type,
        blank_line=block in (b"\n", b"\r\n") or block.endswith((b"\n\n", b"\n\r\n")),
        type=kind,
        subtype=subtype,
        params=params,
        id=_last(fields, b"content-id"),
        description=_last(fields, b"content-description"),
        encoding=_last(fields, b"content-transfer-encoding"),
        disposition=_disposition(_last(fields, b"content-disposition")),
        language=_language(_last(fields, b"content-language")),
        location=_location(_last(fields, b"content-location")),
        md5=_last(fields, b"content-md5"),
        children=children,
        message=message,
    )
