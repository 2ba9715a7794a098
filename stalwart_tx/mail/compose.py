"""compose_message: the RFC 5322 message an Email/set create object describes (RFC 8621 4.6).

The create object is checked against the rules of section 4.6 (``bodyStructure`` or the
``textBody``/``htmlBody``/``attachments`` shortcut, a ``partId`` or a ``blobId`` on every leaf,
no ``headers`` lists, no header given twice, no Content-Transfer-Encoding from the client...);
whatever breaks them raises ComposeError naming the offending properties as paths
(``bodyStructure/subParts/1/blobId``), for an ``invalidProperties`` SetError.

The shortcut builds the usual tree: text and HTML as multipart/alternative, the HTML with the
attachments it shows by ``cid`` as multipart/related, other attachments after the body in
multipart/mixed. What is written parses back (``parse_message``) to the same properties.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from stalwart_tx.mail.compose_body import boundary_for, text_charset, transfer_encode
from stalwart_tx.mail.compose_headers import (
    HeaderValueError,
    Segment,
    date_text,
    field_segments,
    fold,
    parameter_segments,
    with_parameters,
)
from stalwart_tx.mail.compose_parts import (
    Claims,
    ComposeError,
    Field,
    Part,
    PartReader,
    check,
    header_property,
    no_headers_list,
    pointer,
)
from stalwart_tx.mail.headers import Form, parse_header_property

__all__ = ["MAX_MESSAGE_SIZE", "BlobReader", "ComposeError", "compose_message"]

BlobReader = Callable[[str], Awaitable[bytes | None]]

MAX_MESSAGE_SIZE = 50 * 1024 * 1024
# The Email properties that are header fields, in the order they are written.
_CONVENIENCE: dict[str, tuple[str, Form]] = {
    "from": ("From", Form.ADDRESSES),
    "sender": ("Sender", Form.ADDRESSES),
    "replyTo": ("Reply-To", Form.ADDRESSES),
    "to": ("To", Form.ADDRESSES),
    "cc": ("Cc", Form.ADDRESSES),
    "bcc": ("Bcc", Form.ADDRESSES),
    "subject": ("Subject", Form.TEXT),
    "sentAt": ("Date", Form.DATE),
    "messageId": ("Message-ID", Form.MESSAGE_IDS),
    "inReplyTo": ("In-Reply-To", Form.MESSAGE_IDS),
    "references": ("References", Form.MESSAGE_IDS),
}
_SHORTCUTS = ("textBody", "htmlBody", "attachments")


def _message_fields(email: Mapping[str, Any], claims: Claims) -> tuple[list[Field], list[Field]]:
    """``(convenience fields, header:* fields)`` of the Email object itself."""
    no_headers_list(email.get("headers"), "headers")
    convenience: list[Field] = []
    for prop, (name, form) in _CONVENIENCE.items():
        value = email.get(prop)
        if value is None:
            continue
        claims.claim(name, prop)
        try:
            convenience.append(Field(name, field_segments(form, value), prop))
        except HeaderValueError as error:
            raise ComposeError([prop], str(error)) from None
    extra: list[Field] = []
    for key, value in email.items():
        if not key.startswith("header:") or value is None:
            continue
        parsed = parse_header_property(key)
        if parsed is not None and parsed.name.lower().startswith("content-"):
            raise ComposeError([key], "Content-* header fields belong on body parts")
        extra.extend(header_property(key, value, key, claims))
    return convenience, extra


def _body_values(email: Mapping[str, Any]) -> dict[str, str]:
    values = email.get("bodyValues")
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ComposeError(["bodyValues"], "bodyValues must be an object")
    texts: dict[str, str] = {}
    for part_id, body_value in values.items():
        where = pointer("bodyValues", part_id)
        if not isinstance(body_value, Mapping) or not isinstance(body_value.get("value"), str):
            raise ComposeError([where], "a body value is an object with a string value")
        for flag in ("isEncodingProblem", "isTruncated"):
            if body_value.get(flag) not in (None, False):
                raise ComposeError([pointer(where, flag)], f"{flag} must be false when creating")
        value = body_value["value"]
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ComposeError(
                [pointer(where, "value")], "the value is not valid Unicode"
            ) from None
        texts[part_id] = value
    return texts


def _single(email: Mapping[str, Any], prop: str, mime_type: str, reader: PartReader) -> Part | None:
    parts = email.get(prop)
    if parts is None:
        return None
    check(
        isinstance(parts, list) and len(parts) == 1,
        prop,
        f"{prop} must hold exactly one part, of type {mime_type}",
    )
    return reader.part(parts[0], pointer(prop, 0), sub_parts=False, required=mime_type)


def _flat_structure(email: Mapping[str, Any], reader: PartReader) -> Part:
    """The tree for ``textBody``/``htmlBody``/``attachments``."""
    text = _single(email, "textBody", "text/plain", reader)
    html = _single(email, "htmlBody", "text/html", reader)
    given = email.get("attachments")
    given = [] if given is None else given
    check(isinstance(given, list), "attachments", "attachments must be a list")
    related: list[Part] = []
    mixed: list[Part] = []
    for i, obj in enumerate(given):
        part = reader.part(obj, pointer("attachments", i), sub_parts=False)
        if html is not None and part.cid is not None and part.disposition != "attachment":
            # Shown by the HTML (cid: URLs): kept with it in multipart/related.
            part.disposition = part.disposition or "inline"
            related.append(part)
        else:
            # Without a disposition an image after the text would count as part of the body.
            part.disposition = part.disposition or "attachment"
            mixed.append(part)
    if html is not None and related:
        html = Part(path="htmlBody", type="multipart/related", sub_parts=[html, *related])
    body: Part | None
    if text is not None and html is not None:
        body = Part(path="textBody", type="multipart/alternative", sub_parts=[text, html])
    else:
        body = text or html
    if mixed:
        return Part(
            path="attachments", type="multipart/mixed",
            sub_parts=[*([body] if body is not None else []), *mixed],
        )  # fmt: skip
    if body is None:
        # No body at all: an empty text part, so the message is still well formed.
        return Part(path="textBody", type="text/plain")
    return body


async def _read_blobs(root: Part, read_blob: BlobReader, max_size: int) -> None:
    found: dict[str, bytes] = {}
    missing: list[str] = []
    missing_paths: list[str] = []
    total = sum(len(leaf.content) for leaf in root.leaves())
    for leaf in root.leaves():
        if leaf.blob_id is None:
            continue
        if leaf.blob_id not in found and leaf.blob_id not in missing:
            data = await read_blob(leaf.blob_id)
            if data is None:
                missing.append(leaf.blob_id)
            else:
                found[leaf.blob_id] = data
        if leaf.blob_id in missing:
            missing_paths.append(pointer(leaf.path, "blobId"))
            continue
        leaf.content = found[leaf.blob_id]
        total += len(leaf.content)
        if total > max_size:
            raise ComposeError([], f"the message would be larger than {max_size} octets")
    if missing:
        raise ComposeError(missing_paths, "no blob with this id", not_found_blob_ids=missing)
    if total > max_size:
        raise ComposeError([], f"the message would be larger than {max_size} octets")


def _part_header(part: Part, boundary: str | None) -> tuple[list[bytes], bytes]:
    """The header fields of ``part`` and its encoded body (leaves only: boundary is None)."""
    lines: list[bytes] = []
    body = b""
    params: list[list[Segment]] = []
    charset = part.charset
    if boundary is not None:
        params.append(parameter_segments("boundary", boundary))
        if part.type == "multipart/related" and part.sub_parts:
            # RFC 2387 section 3.1: the type of the root (first) part is a required parameter.
            params.append(parameter_segments("type", part.sub_parts[0].type))
    else:
        if part.part_id is not None and part.type.startswith("text/"):
            charset = "utf-8"
        elif charset is None and part.type.startswith("text/"):
            charset = text_charset(part.content)
    if charset is not None:
        params.append(parameter_segments("charset", charset))
    if part.name is not None and part.disposition is None:
        params.append(parameter_segments("name", part.name))
    lines.append(_fold(Field("Content-Type", with_parameters(part.type, params), part.path)))
    if part.disposition is not None:
        filename = [] if part.name is None else [parameter_segments("filename", part.name)]
        segments = with_parameters(part.disposition, filename)
        lines.append(_fold(Field("Content-Disposition", segments, part.path)))
    if part.cid is not None:
        cid = Field("Content-ID", [(" ", f"<{part.cid}>")], pointer(part.path, "cid"))
        lines.append(_fold(cid))
    if part.language:
        tags = [(" ", tag) for tag in ", ".join(part.language).split(" ")]
        lines.append(_fold(Field("Content-Language", tags, pointer(part.path, "language"))))
    if part.location is not None:
        where = pointer(part.path, "location")
        lines.append(_fold(Field("Content-Location", [(" ", part.location)], where)))
    if boundary is None:
        encoding, body = transfer_encode(part.content, part.type)
        lines.append(fold("Content-Transfer-Encoding", [(" ", encoding)]))
    lines.extend(_fold(f) for f in part.fields)
    return lines, body


def _fold(header: Field) -> bytes:
    try:
        return fold(header.name, header.segments)
    except HeaderValueError as error:
        raise ComposeError([header.prop], str(error)) from None


def _render(part: Part, head: list[bytes]) -> bytes:
    """The part as an entity, ``head`` fields first (the message's own, for the root)."""
    if part.sub_parts is None:
        lines, body = _part_header(part, None)
        return b"".join([*head, *lines, b"\r\n", body])
    children = [_render(child, []) for child in part.sub_parts]
    boundary = boundary_for(children)
    lines, _ = _part_header(part, boundary)
    delimiter = b"--" + boundary.encode("ascii")
    out = [*head, *lines, b"\r\n"]
    for child in children:
        out.extend([delimiter, b"\r\n", child, b"\r\n"])
    out.extend([delimiter, b"--\r\n"])
    return b"".join(out)


async def compose_message(
    email: Mapping[str, Any],
    read_blob: BlobReader,
    *,
    now: datetime,
    message_id_domain: str,
    max_size: int = MAX_MESSAGE_SIZE,
) -> bytes:
    """The message (CRLF line endings) the Email create object ``email`` describes.

    Date is ``sentAt`` or ``now``; a Message-ID ``<random@message_id_domain>`` is made up if
    the object gives none. Raises ComposeError for anything RFC 8621 4.6 does not allow, for
    blobs ``read_blob`` does not find, and for a message over ``max_size`` octets.
    """
    if email.get("bodyStructure") is not None:
        shortcuts = [prop for prop in _SHORTCUTS if email.get(prop) is not None]
        if shortcuts:
            raise ComposeError(
                ["bodyStructure", *shortcuts],
                "bodyStructure and textBody/htmlBody/attachments exclude each other",
            )
    claims = Claims()
    convenience, extra = _message_fields(email, claims)
    reader = PartReader(_body_values(email))
    if email.get("bodyStructure") is not None:
        root = reader.part(email["bodyStructure"], "bodyStructure", sub_parts=True)
    else:
        root = _flat_structure(email, reader)
    # The root part's fields are the message's: none may repeat a field the Email sets.
    for header in root.fields:
        if header.name.lower() in claims.by_name:
            raise ComposeError(
                [claims.by_name[header.name.lower()], header.prop],
                f"{header.name} is set both on the Email and on its body structure",
            )
    await _read_blobs(root, read_blob, max_size)
    given = {*claims.by_name, *(header.name.lower() for header in root.fields)}
    head = [_fold(f) for f in convenience]
    if "date" not in given:
        head.append(fold("Date", [(" ", date_text(now))]))
    if "message-id" not in given:
        generated = f"<{secrets.token_hex(16)}@{message_id_domain}>"
        head.append(fold("Message-ID", [(" ", generated)]))
    head.extend(_fold(f) for f in extra)
    if "mime-version" not in given:
        head.append(b"MIME-Version: 1.0\r\n")
    raw = _render(root, head)
    if len(raw) > max_size:
        raise ComposeError([], f"the message would be larger than {max_size} octets")
    return raw
