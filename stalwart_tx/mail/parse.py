"""parse_message: raw RFC 5322 bytes to the JMAP Email properties of RFC 8621 section 4.1.

Pure and total: any input gives a ParsedMessage. Broken parts are recovered as well as they can
be; if parsing fails outright, the message is one application/octet-stream part holding all the
bytes, so nothing is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from stalwart_tx.mail.blob_ids import parse_part_blob_id, part_blob_id
from stalwart_tx.mail.body import BodyPart, body_structure
from stalwart_tx.mail.charsets import decode_text
from stalwart_tx.mail.headers import (
    Form,
    Header,
    HeaderProperty,
    field_value,
    form_allowed,
    parse_header_property,
    split_header_block,
)
from stalwart_tx.mail.partition import partition
from stalwart_tx.mail.preview import PREVIEW_SOURCE_BYTES, make_preview

# What the Email methods and the blob download layer use; all of it is importable from here.
__all__ = [
    "BodyPart",
    "Form",
    "Header",
    "HeaderProperty",
    "ParsedMessage",
    "body_values",
    "email_properties",
    "form_allowed",
    "header_value",
    "parse_header_property",
    "parse_message",
    "parse_part_blob_id",
    "part_blob_id",
    "part_content",
]


@dataclass(frozen=True)
class ParsedMessage:
    size: int
    headers: list[Header]
    body_structure: BodyPart
    text_body: list[BodyPart]
    html_body: list[BodyPart]
    attachments: list[BodyPart]
    has_attachment: bool
    preview: str
    # (name, form) -> its value: storing a message reads the address fields twice (the Email's
    # properties, the search document), and parsing them is not cheap
    _header_values: dict[tuple[str, Form], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def header(self, name: str, form: Form) -> Any:
        """The parsed value of the last field of that name (shared: do not change it)."""
        key = (name.lower(), form)
        if key not in self._header_values:
            self._header_values[key] = field_value(self.headers, name, form)
        return self._header_values[key]

    @property
    def message_id(self) -> list[str] | None:
        return self.header("Message-ID", Form.MESSAGE_IDS)  # type: ignore[no-any-return]

    @property
    def in_reply_to(self) -> list[str] | None:
        return self.header("In-Reply-To", Form.MESSAGE_IDS)  # type: ignore[no-any-return]

    @property
    def references(self) -> list[str] | None:
        return self.header("References", Form.MESSAGE_IDS)  # type: ignore[no-any-return]

    @property
    def subject(self) -> str | None:
        return self.header("Subject", Form.TEXT)  # type: ignore[no-any-return]

    @property
    def sent_at(self) -> str | None:
        return self.header("Date", Form.DATE)  # type: ignore[no-any-return]

    def addresses(self, name: str) -> list[dict[str, Any]] | None:
        """``header:Name:asAddresses``, what sender, from, to, cc, bcc and replyTo are."""
        return self.header(name, Form.ADDRESSES)  # type: ignore[no-any-return]

    @property
    def sender(self) -> list[dict[str, Any]] | None:
        return self.addresses("Sender")

    @property
    def from_(self) -> list[dict[str, Any]] | None:
        return self.addresses("From")

    @property
    def to(self) -> list[dict[str, Any]] | None:
        return self.addresses("To")

    @property
    def cc(self) -> list[dict[str, Any]] | None:
        return self.addresses("Cc")

    @property
    def bcc(self) -> list[dict[str, Any]] | None:
        return self.addresses("Bcc")

    @property
    def reply_to(self) -> list[dict[str, Any]] | None:
        return self.addresses("Reply-To")

    def parts(self) -> list[BodyPart]:
        """Every part with a part id, in part id order."""
        return list(self._parts_by_id.values())

    def part(self, part_id: str) -> BodyPart | None:
        return self._parts_by_id.get(part_id)

    @cached_property
    def _parts_by_id(self) -> dict[str, BodyPart]:
        # Looked up once per requested part by bodyValues and downloads: index them once.
        return {part.part_id: part for part in self.body_structure.leaves() if part.part_id}


# cid: URLs (RFC 2392) in HTML attributes or CSS.
_CID_URL = re.compile(r"""cid:([^\s"'<>()]+)""", re.IGNORECASE)

# The Email properties that come from the message itself, with the header each is taken from.
_ADDRESS_PROPERTIES = {
    "sender": "Sender",
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "replyTo": "Reply-To",
}


def parse_message(raw: bytes) -> ParsedMessage:
    """The parsed form of a message; never raises."""
    try:
        return _parse(body_structure(raw), len(raw))
    except Exception:
        # Recovery failed somewhere unforeseen: keep every byte as one downloadable part.
        try:
            headers = split_header_block(raw)[0]
        except Exception:
            headers = []
        structure = BodyPart(
            part_id="1", headers=[], type="application/octet-stream", charset=None,
            disposition=None, cid=None, language=None, location=None, name=None, content=raw,
        )  # fmt: skip
        return _parse(structure, len(raw), headers)


def _parse(structure: BodyPart, size: int, headers: list[Header] | None = None) -> ParsedMessage:
    text_body, html_body, attachments = partition(structure)
    return ParsedMessage(
        size=size,
        headers=structure.headers if headers is None else headers,
        body_structure=structure,
        text_body=text_body,
        html_body=html_body,
        attachments=attachments,
        has_attachment=_has_attachment(attachments, html_body),
        preview=_preview(text_body, html_body),
    )


def _has_attachment(attachments: list[BodyPart], html_body: list[BodyPart]) -> bool:
    """RFC 8621: attachments not marked inline count; so may not images the HTML embeds by
    cid: (a newsletter's pictures are no attachment, even without Content-Disposition)."""
    candidates = [part for part in attachments if part.disposition != "inline"]
    if not any(part.cid for part in candidates):
        return bool(candidates)
    embedded: set[str] = set()
    for part in html_body:
        if part.type == "text/html":
            html, _ = decode_text(part.content, part.charset)
            embedded.update(unquote(cid).lower() for cid in _CID_URL.findall(html))
    return any(not part.cid or part.cid.lower() not in embedded for part in candidates)


def _preview(text_body: list[BodyPart], html_body: list[BodyPart]) -> str:
    for part in [*text_body, *html_body]:
        if part.type in ("text/plain", "text/html"):
            text, _ = decode_text(part.content[:PREVIEW_SOURCE_BYTES], part.charset)
            preview = make_preview(text, part.type == "text/html")
            if preview:
                return preview
    return ""


def header_value(parsed: ParsedMessage, name: str, form: Form, all: bool = False) -> Any:
    """The value of the property ``header:name:asForm`` (``:all`` if ``all``), RFC 8621 4.1.3:
    null (or []) if there is no such header. Check the property with ``parse_header_property``
    first: that is where forms a header may not be fetched as are refused."""
    return field_value(parsed.headers, name, form, all)


def part_content(parsed: ParsedMessage, part_id: str) -> bytes | None:
    """The decoded content of a part: what its blob id downloads. None if there is no such part."""
    part = parsed.part(part_id)
    return None if part is None else part.content


def body_value(part: BodyPart, max_bytes: int = 0) -> dict[str, Any]:
    """The EmailBodyValue of a text part (RFC 8621 4.1.4)."""
    text, problem = decode_text(part.content, part.charset)
    # §4.1.4: the value has every CRLF replaced with a single LF
    text = text.replace("\r\n", "\n")
    truncated = False
    if max_bytes > 0:
        encoded = text.encode("utf-8", "surrogatepass")
        if len(encoded) > max_bytes:
            truncated = True
            # Back off to a character boundary: never cut a UTF-8 sequence.
            text = encoded[:max_bytes].decode("utf-8", "ignore")
            if part.type == "text/html":
                # Nor inside a tag (RFC 8621 SHOULD).
                opened, closed = text.rfind("<"), text.rfind(">")
                if opened > closed:
                    text = text[:opened]
    return {
        "value": text,
        "isEncodingProblem": problem or part.encoding_problem,
        "isTruncated": truncated,
    }


def body_values(
    parsed: ParsedMessage, part_ids: list[str], max_body_value_bytes: int = 0
) -> dict[str, dict[str, Any]]:
    """bodyValues for those of ``part_ids`` that are text/* parts of the message."""
    values: dict[str, dict[str, Any]] = {}
    for part_id in part_ids:
        part = parsed.part(part_id)
        if part is not None and part.type.startswith("text/"):
            values[part_id] = body_value(part, max_body_value_bytes)
    return values


def email_properties(parsed: ParsedMessage, message_blob_id: str) -> dict[str, Any]:
    """The Email properties of RFC 8621 4.1.2-4.1.4 that the message alone determines
    (no id, mailboxIds, keywords, receivedAt, threadId, bodyValues)."""
    properties: dict[str, Any] = {
        "blobId": message_blob_id,
        "size": parsed.size,
        "headers": [h.to_json() for h in parsed.headers],
        "messageId": parsed.message_id,
        "inReplyTo": parsed.in_reply_to,
        "references": parsed.references,
    }
    for prop, name in _ADDRESS_PROPERTIES.items():
        properties[prop] = parsed.addresses(name)
    properties["subject"] = parsed.subject
    properties["sentAt"] = parsed.sent_at
    properties["bodyStructure"] = parsed.body_structure.to_json(message_blob_id)
    for prop, parts in (
        ("textBody", parsed.text_body),
        ("htmlBody", parsed.html_body),
        ("attachments", parsed.attachments),
    ):
        # Parts in these lists are full EmailBodyPart objects (leaves: no subParts to repeat).
        properties[prop] = [part.to_json(message_blob_id) for part in parts]
    properties["hasAttachment"] = parsed.has_attachment
    properties["preview"] = parsed.preview
    return properties
