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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stalwart_tx.mail.compose_body import (
    boundary_for,
    canonical_text,
    text_charset,
    transfer_encode,
)
from stalwart_tx.mail.compose_headers import (
    HeaderValueError,
    Segment,
    check_token,
    date_text,
    field_segments,
    fold,
    parameter_segments,
    with_parameters,
)
from stalwart_tx.mail.headers import Form, parse_header_property

__all__ = ["MAX_MESSAGE_SIZE", "BlobReader", "ComposeError", "compose_message"]

BlobReader = Callable[[str], Awaitable[bytes | None]]

MAX_MESSAGE_SIZE = 50 * 1024 * 1024
# Deeper trees are no real message; the parser gives up at 64 levels, so stay well within.
MAX_DEPTH = 32


class ComposeError(Exception):
    """What is wrong with the create object: ``properties`` names the offending properties (for
    a SetError invalidProperties), ``description`` says why in words. ``not_found_blob_ids``
    lists blob ids ``read_blob`` did not know (a blobNotFound SetError rather)."""

    def __init__(
        self,
        properties: list[str],
        description: str,
        not_found_blob_ids: list[str] | None = None,
    ) -> None:
        super().__init__(description)
        self.properties = properties
        self.description = description
        self.not_found_blob_ids = not_found_blob_ids or []


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
_PART_PROPERTIES = frozenset(
    {
        "partId", "blobId", "size", "headers", "name", "type", "charset", "disposition",
        "cid", "language", "location", "subParts",
    }
)  # fmt: skip
# Content-* fields a part's own properties write; a header:* property may not write them too.
_DERIVED = {
    "content-type": "type, charset and name",
    "content-disposition": "disposition and name",
    "content-transfer-encoding": "the server",
}
_PART_FIELDS = {"cid": "content-id", "language": "content-language", "location": "content-location"}


def _path(base: str, *pieces: str | int) -> str:
    """The path ``base/piece/...`` to a property, pieces escaped as in JSON Pointer (RFC 6901)."""
    return "/".join([base, *(str(p).replace("~", "~0").replace("/", "~1") for p in pieces)])


@dataclass
class _Field:
    name: str
    segments: list[Segment]
    prop: str  # the property that set it


@dataclass
class _Part:
    path: str
    type: str
    fields: list[_Field] = field(default_factory=list)
    charset: str | None = None
    name: str | None = None
    disposition: str | None = None
    cid: str | None = None
    language: list[str] | None = None
    location: str | None = None
    part_id: str | None = None
    blob_id: str | None = None
    sub_parts: list[_Part] | None = None
    content: bytes = b""

    def leaves(self) -> list[_Part]:
        if self.sub_parts is None:
            return [self]
        return [leaf for part in self.sub_parts for leaf in part.leaves()]


class _Claims:
    """The header fields set so far, to refuse one set by two properties."""

    def __init__(self) -> None:
        self.by_name: dict[str, str] = {}

    def claim(self, name: str, prop: str) -> None:
        key = name.lower()
        if key in self.by_name:
            raise ComposeError(
                [self.by_name[key], prop], f"two properties set the {name} header field"
            )
        self.by_name[key] = prop


def _header_property(key: str, value: Any, prop: str, claims: _Claims) -> list[_Field]:
    """The fields of one ``header:Name[:asForm][:all]`` property (not null)."""
    parsed = parse_header_property(key)
    if parsed is None:
        raise ComposeError([prop], "not a header property, or a form that field cannot take")
    claims.claim(parsed.name, prop)
    if parsed.all and not isinstance(value, list):
        raise ComposeError([prop], "a :all header property takes a list of values")
    try:
        return [
            _Field(parsed.name, field_segments(parsed.form, item), prop)
            for item in (value if parsed.all else [value])
            if item is not None
        ]
    except HeaderValueError as error:
        raise ComposeError([prop], str(error)) from None


def _no_headers_list(value: Any, prop: str) -> None:
    if value not in (None, []):
        raise ComposeError(
            [prop], 'set header fields as "header:" properties, not as a "headers" list'
        )


def _message_fields(email: Mapping[str, Any], claims: _Claims) -> tuple[list[_Field], list[_Field]]:
    """``(convenience fields, header:* fields)`` of the Email object itself."""
    _no_headers_list(email.get("headers"), "headers")
    convenience: list[_Field] = []
    for prop, (name, form) in _CONVENIENCE.items():
        value = email.get(prop)
        if value is None:
            continue
        claims.claim(name, prop)
        try:
            convenience.append(_Field(name, field_segments(form, value), prop))
        except HeaderValueError as error:
            raise ComposeError([prop], str(error)) from None
    extra: list[_Field] = []
    for key, value in email.items():
        if not key.startswith("header:") or value is None:
            continue
        parsed = parse_header_property(key)
        if parsed is not None and parsed.name.lower().startswith("content-"):
            raise ComposeError([key], "Content-* header fields belong on body parts")
        extra.extend(_header_property(key, value, key, claims))
    return convenience, extra


def _body_values(email: Mapping[str, Any]) -> dict[str, str]:
    values = email.get("bodyValues")
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ComposeError(["bodyValues"], "bodyValues must be an object")
    texts: dict[str, str] = {}
    for part_id, body_value in values.items():
        where = _path("bodyValues", part_id)
        if not isinstance(body_value, Mapping) or not isinstance(body_value.get("value"), str):
            raise ComposeError([where], "a body value is an object with a string value")
        for flag in ("isEncodingProblem", "isTruncated"):
            if body_value.get(flag) not in (None, False):
                raise ComposeError([_path(where, flag)], f"{flag} must be false when creating")
        value = body_value["value"]
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ComposeError([_path(where, "value")], "the value is not valid Unicode") from None
        texts[part_id] = value
    return texts


def _string(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ComposeError([_path(path, key)], f"{key} must be a string or null")
    return value


def _check(ok: bool, prop: str, description: str) -> None:
    if not ok:
        raise ComposeError([prop], description)


def _printable(value: str, forbidden: str) -> bool:
    return bool(value) and all("\x21" <= c <= "\x7e" and c not in forbidden for c in value)


@dataclass
class _PartReader:
    body_values: dict[str, str]

    def part(
        self, obj: Any, path: str, *, sub_parts: bool, depth: int = 0, required: str | None = None
    ) -> _Part:
        _check(isinstance(obj, Mapping), path, "a body part must be an object")
        for key in obj:
            if key not in _PART_PROPERTIES and not key.startswith("header:"):
                raise ComposeError([_path(path, key)], "not a property of a body part")
        _no_headers_list(obj.get("headers"), _path(path, "headers"))
        claims = _Claims()
        fields: list[_Field] = []
        for key, value in obj.items():
            if key.startswith("header:") and value is not None:
                parsed = parse_header_property(key)
                if parsed is not None and parsed.name.lower() in _DERIVED:
                    raise ComposeError(
                        [_path(path, key)],
                        f"{parsed.name} is set by {_DERIVED[parsed.name.lower()]}",
                    )
                fields.extend(_header_property(key, value, _path(path, key), claims))
        for prop, name in _PART_FIELDS.items():
            if obj.get(prop) is not None:
                claims.claim(name, _path(path, prop))
        part = _Part(path=path, type="", fields=fields)
        self._properties(obj, part, required)
        children = obj.get("subParts")
        part_id, blob_id = _string(obj, "partId", path), _string(obj, "blobId", path)
        if children is not None:
            where = _path(path, "subParts")
            _check(sub_parts, where, "only bodyStructure parts have subParts")
            _check(isinstance(children, list), where, "subParts must be a list")
            _check(depth < MAX_DEPTH, where, f"parts nest at most {MAX_DEPTH} deep")
            part.type = part.type or "multipart/mixed"
            _check(part.type.startswith("multipart/"), _path(path, "type"),
                   "a part with subParts must be multipart/*")  # fmt: skip
            for key in ("partId", "blobId", "charset"):
                _check(obj.get(key) is None, _path(path, key), f"a multipart part has no {key}")
            part.sub_parts = [
                self.part(child, _path(where, i), sub_parts=True, depth=depth + 1)
                for i, child in enumerate(children)
            ]
            return part
        _check(not part.type.startswith("multipart/"), _path(path, "subParts"),
               "a multipart/* part needs subParts")  # fmt: skip
        if part_id is not None:
            part.type = part.type or "text/plain"
            _check(blob_id is None, _path(path, "blobId"), "give a partId or a blobId, not both")
            _check(part_id in self.body_values, _path(path, "partId"),
                   "no bodyValues entry has this partId")  # fmt: skip
            _check(obj.get("charset") is None, _path(path, "charset"),
                   "the server chooses the charset of a bodyValues part")  # fmt: skip
            _check(obj.get("size") is None, _path(path, "size"),
                   "the size of a bodyValues part is not given")  # fmt: skip
            part.part_id = part_id
            part.content = canonical_text(self.body_values[part_id])
        else:
            _check(blob_id is not None, _path(path, "partId"),
                   "a part needs a partId or a blobId (or subParts)")  # fmt: skip
            part.type = part.type or "application/octet-stream"
            part.blob_id = blob_id
        return part

    def _properties(self, obj: Mapping[str, Any], part: _Part, required: str | None) -> None:
        path = part.path
        mime_type = _string(obj, "type", path)
        if mime_type is not None:
            pieces = mime_type.split("/")
            try:
                ok = len(pieces) == 2 and all(check_token(p, "type") for p in pieces)
            except HeaderValueError:
                ok = False
            _check(ok, _path(path, "type"), "type must be a media type, type/subtype")
            part.type = mime_type.lower()
        if required is not None:
            part.type = part.type or required
            _check(part.type == required, _path(path, "type"), f"this part must be {required}")
        for key in ("charset", "disposition"):
            value = _string(obj, key, path)
            if value is not None:
                try:
                    setattr(part, key, check_token(value, key).lower())
                except HeaderValueError as error:
                    raise ComposeError([_path(path, key)], str(error)) from None
        name = _string(obj, "name", path)
        if name is not None:
            controls = any(c != "\t" and (c < " " or c == "\x7f") for c in name)
            _check(not controls, _path(path, "name"), "a name must not contain control characters")
            part.name = name
        cid = _string(obj, "cid", path)
        if cid is not None:
            _check(_printable(cid, '<>()"\\'), _path(path, "cid"),
                   "a cid is printable ASCII without spaces, brackets or quotes")  # fmt: skip
            part.cid = cid
        location = _string(obj, "location", path)
        if location is not None:
            _check(_printable(location, "<>"), _path(path, "location"),
                   "a location is a URI (printable ASCII, no spaces)")  # fmt: skip
            part.location = location
        language = obj.get("language")
        if language is not None:
            _check(isinstance(language, list) and all(
                isinstance(tag, str) and tag and all(c.isascii() and (c.isalnum() or c == "-")
                                                     for c in tag)
                for tag in language), _path(path, "language"),
                "language is a list of language tags")  # fmt: skip
            part.language = list(language) or None


def _single(
    email: Mapping[str, Any], prop: str, mime_type: str, reader: _PartReader
) -> _Part | None:
    parts = email.get(prop)
    if parts is None:
        return None
    _check(isinstance(parts, list) and len(parts) == 1, prop,
           f"{prop} must hold exactly one part, of type {mime_type}")  # fmt: skip
    return reader.part(parts[0], _path(prop, 0), sub_parts=False, required=mime_type)


def _flat_structure(email: Mapping[str, Any], reader: _PartReader) -> _Part:
    """The tree for ``textBody``/``htmlBody``/``attachments``."""
    text = _single(email, "textBody", "text/plain", reader)
    html = _single(email, "htmlBody", "text/html", reader)
    given = email.get("attachments")
    given = [] if given is None else given
    _check(isinstance(given, list), "attachments", "attachments must be a list")
    related: list[_Part] = []
    mixed: list[_Part] = []
    for i, obj in enumerate(given):
        part = reader.part(obj, _path("attachments", i), sub_parts=False)
        if html is not None and part.cid is not None and part.disposition != "attachment":
            # Shown by the HTML (cid: URLs): kept with it in multipart/related.
            part.disposition = part.disposition or "inline"
            related.append(part)
        else:
            # Without a disposition an image after the text would count as part of the body.
            part.disposition = part.disposition or "attachment"
            mixed.append(part)
    if html is not None and related:
        html = _Part(path="htmlBody", type="multipart/related", sub_parts=[html, *related])
    body: _Part | None
    if text is not None and html is not None:
        body = _Part(path="textBody", type="multipart/alternative", sub_parts=[text, html])
    else:
        body = text or html
    if mixed:
        return _Part(
            path="attachments", type="multipart/mixed",
            sub_parts=[*([body] if body is not None else []), *mixed],
        )  # fmt: skip
    if body is None:
        # No body at all: an empty text part, so the message is still well formed.
        return _Part(path="textBody", type="text/plain")
    return body


async def _read_blobs(root: _Part, read_blob: BlobReader, max_size: int) -> None:
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
            missing_paths.append(_path(leaf.path, "blobId"))
            continue
        leaf.content = found[leaf.blob_id]
        total += len(leaf.content)
        if total > max_size:
            raise ComposeError([], f"the message would be larger than {max_size} octets")
    if missing:
        raise ComposeError(missing_paths, "no blob with this id", not_found_blob_ids=missing)


def _part_header(part: _Part, boundary: str | None) -> tuple[list[bytes], bytes]:
    """The header fields of ``part`` and its encoded body (leaves only: boundary is None)."""
    lines: list[bytes] = []
    body = b""
    params: list[list[Segment]] = []
    charset = part.charset
    if boundary is not None:
        params.append(parameter_segments("boundary", boundary))
    else:
        if part.part_id is not None and part.type.startswith("text/"):
            charset = "utf-8"
        elif charset is None and part.type.startswith("text/"):
            charset = text_charset(part.content)
    if charset is not None:
        params.append(parameter_segments("charset", charset))
    try:
        if part.name is not None and part.disposition is None:
            params.append(parameter_segments("name", part.name))
        lines.append(fold("Content-Type", with_parameters(part.type, params)))
        if part.disposition is not None:
            filename = [] if part.name is None else [parameter_segments("filename", part.name)]
            lines.append(fold("Content-Disposition", with_parameters(part.disposition, filename)))
        if part.cid is not None:
            lines.append(fold("Content-ID", [(" ", f"<{part.cid}>")]))
        if part.language:
            tags = [(" ", tag + ("," if i < len(part.language) - 1 else ""))
                    for i, tag in enumerate(part.language)]  # fmt: skip
            lines.append(fold("Content-Language", tags))
        if part.location is not None:
            lines.append(fold("Content-Location", [(" ", part.location)]))
    except HeaderValueError as error:
        raise ComposeError([part.path], str(error)) from None
    if boundary is None:
        encoding, body = transfer_encode(part.content, part.type)
        lines.append(fold("Content-Transfer-Encoding", [(" ", encoding)]))
    lines.extend(_fold(f) for f in part.fields)
    return lines, body


def _fold(header: _Field) -> bytes:
    try:
        return fold(header.name, header.segments)
    except HeaderValueError as error:
        raise ComposeError([header.prop], str(error)) from None


def _render(part: _Part, head: list[bytes]) -> bytes:
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
    claims = _Claims()
    convenience, extra = _message_fields(email, claims)
    reader = _PartReader(_body_values(email))
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
    head = [_fold(f) for f in convenience]
    if "date" not in claims.by_name:
        head.append(fold("Date", [(" ", date_text(now))]))
    if "message-id" not in claims.by_name:
        generated = f"<{secrets.token_hex(16)}@{message_id_domain}>"
        head.append(fold("Message-ID", [(" ", generated)]))
    head.extend(_fold(f) for f in extra)
    if "mime-version" not in claims.by_name:
        head.append(b"MIME-Version: 1.0\r\n")
    raw = _render(root, head)
    if len(raw) > max_size:
        raise ComposeError([], f"the message would be larger than {max_size} octets")
    return raw
