"""The MIME tree of a message as EmailBodyPart objects (RFC 8621 section 4.1.4).

Part ids are the numbers 1, 2, 3... of the parts that are not multipart/*, in depth-first
order; the same bytes always give the same ids, which is what lets a part blob id name a part.
message/rfc822 parts are leaves, as in JMAP. Broken structure is recovered, never fatal:
a multipart/* without a usable boundary, or nested deeper than MAX_DEPTH, is one opaque leaf.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import Message
from typing import Any

from stalwart_tx.mail.blob_ids import part_blob_id
from stalwart_tx.mail.encoded_words import as_text, unfold
from stalwart_tx.mail.headers import Header, split_header_block
from stalwart_tx.mail.syntax import without_comments
from stalwart_tx.mail.transfer import decode_transfer

MAX_DEPTH = 64


@dataclass
class BodyPart:
    part_id: str | None
    headers: list[Header]
    type: str
    charset: str | None
    disposition: str | None
    cid: str | None
    language: list[str] | None
    location: str | None
    name: str | None
    # Content after transfer decoding (empty for multipart/*); its length is the size.
    content: bytes = b""
    # Transfer encoding unknown or malformed: the content is a best guess.
    encoding_problem: bool = False
    sub_parts: list[BodyPart] | None = None

    @property
    def size(self) -> int:
        return len(self.content)

    def leaves(self) -> list[BodyPart]:
        if self.sub_parts is None:
            return [self]
        return [leaf for part in self.sub_parts for leaf in part.leaves()]

    def to_json(self, message_blob_id: str) -> dict[str, Any]:
        """The EmailBodyPart object, with every property of RFC 8621 4.1.4."""
        return {
            "partId": self.part_id,
            "blobId": None if self.part_id is None else part_blob_id(message_blob_id, self.part_id),
            "size": self.size,
            "headers": [h.to_json() for h in self.headers],
            "name": self.name,
            "type": self.type,
            "charset": self.charset,
            "disposition": self.disposition,
            "cid": self.cid,
            "language": self.language,
            "location": self.location,
            "subParts": None
            if self.sub_parts is None
            else [part.to_json(message_blob_id) for part in self.sub_parts],
        }


def _last(headers: list[Header], name: str) -> str | None:
    found = [h.value for h in headers if h.name.lower() == name]
    return unfold(found[-1]).strip() if found else None


def _param(message: Message, name: str, header: str) -> str | None:
    value = message.get_param(name, header=header)
    if value is None:
        return None
    return str(email.utils.collapse_rfc2231_value(value))  # type: ignore[arg-type]


@dataclass
class _Builder:
    next_id: int = 1

    def build(self, data: bytes, default_type: str, depth: int) -> BodyPart:
        headers, body_at = split_header_block(data)
        body = data[body_at:]
        fields = Message()
        content_type = _last(headers, "content-type")
        disposition = _last(headers, "content-disposition")
        if content_type is not None:
            fields["Content-Type"] = content_type
        if disposition is not None:
            fields["Content-Disposition"] = disposition
        fields.set_default_type(default_type)
        mime_type = fields.get_content_type() if content_type is not None else default_type
        if "/" not in mime_type or mime_type.startswith("/") or mime_type.endswith("/"):
            mime_type = "text/plain"
        charset = _param(fields, "charset", "content-type")
        if charset is None and (content_type is None or mime_type.startswith("text/")):
            # RFC 8621: the parameter whatever the type; else us-ascii, MIME's implicit
            # charset, if there is no Content-Type or it is text/*; else null.
            charset = "us-ascii"
        name = _param(fields, "filename", "content-disposition")
        if name is None:
            name = _param(fields, "name", "content-type")
        part = BodyPart(
            part_id=None,
            headers=headers,
            type=mime_type,
            charset=charset,
            disposition=fields.get_content_disposition(),
            cid=_content_id(_last(headers, "content-id")),
            language=_languages(_last(headers, "content-language")),
            location=_location(_last(headers, "content-location")),
            name=as_text(name) if name else None,
        )
        if mime_type.startswith("multipart/"):
            boundary = _param(fields, "boundary", "content-type")
            chunks = None
            if boundary and depth < MAX_DEPTH:
                chunks = split_multipart(body, boundary.encode("utf-8", "replace"))
            if chunks is not None:
                child_type = "message/rfc822" if mime_type == "multipart/digest" else "text/plain"
                part.sub_parts = [self.build(chunk, child_type, depth + 1) for chunk in chunks]
                return part
            # No way to find the parts (or too deep to look): keep the bytes as one leaf.
            part.type = "text/plain" if depth < MAX_DEPTH else "application/octet-stream"
            part.charset = "us-ascii" if depth < MAX_DEPTH else None
        part.part_id = str(self.next_id)
        self.next_id += 1
        encoding = _last(headers, "content-transfer-encoding") or ""
        part.content, part.encoding_problem = decode_transfer(body, encoding)
        return part


def _content_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(without_comments(value).split())
    if value.startswith("<") and ">" in value:
        value = value[1 : value.index(">")]
    return value or None


def _languages(value: str | None) -> list[str] | None:
    if value is None:
        return None
    tags = [tag.strip() for tag in without_comments(value).split(",") if tag.strip()]
    return tags or None


def _location(value: str | None) -> str | None:
    if value is None:
        return None
    # A long URI may have been folded: whitespace is not part of it (RFC 2557 section 4.1).
    value = "".join(without_comments(value).split())
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value or None


def multipart_spans(body: bytes, boundary: bytes) -> list[tuple[int, int]] | None:
    """Where the body parts lie between the ``--boundary`` lines (RFC 2046 5.1.1), as (start,
    end) offsets, or None if there is no such line. A missing close delimiter ends the last
    part at the end of the body."""
    delimiter = b"--" + boundary
    spans: list[tuple[int, int]] = []
    start: int | None = None
    found = False
    pos = 0
    while True:
        at = body.find(delimiter, pos)
        if at < 0:
            break
        pos = at + 1
        if at > 0 and body[at - 1] != 0x0A:
            continue
        line_end = body.find(b"\n", at)
        line_end = len(body) if line_end < 0 else line_end
        rest = body[at + len(delimiter) : line_end]
        closing = rest.startswith(b"--")
        # Only transport padding may follow, or it is a longer boundary that starts the same.
        if (rest[2:] if closing else rest).strip(b" \t\r"):
            continue
        found = True
        if start is not None:
            end = at
            # The line break before a delimiter belongs to the delimiter.
            if end > start and body[end - 1] == 0x0A:
                end -= 1
                if end > start and body[end - 1] == 0x0D:
                    end -= 1
            spans.append((start, end))
        if closing:
            start = None
            break
        start = min(line_end + 1, len(body))
        pos = start
    if start is not None:
        spans.append((start, len(body)))
    return spans if found else None


def split_multipart(body: bytes, boundary: bytes) -> list[bytes] | None:
    """The body parts between the ``--boundary`` lines (``multipart_spans``, as bytes)."""
    spans = multipart_spans(body, boundary)
    return None if spans is None else [body[start:end] for start, end in spans]


def body_structure(raw: bytes) -> BodyPart:
    """The EmailBodyPart tree of a whole message (the root has the message's headers)."""
    return _Builder().build(raw, "text/plain", 0)
