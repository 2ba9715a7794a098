"""The body parts of an Email create object (RFC 8621 4.6), checked, as a tree to write.

Each part becomes a Part; anything section 4.6 does not allow raises ComposeError naming the
property at fault by its path (``bodyStructure/subParts/1/blobId``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.mail.compose_body import canonical_text
from stalwart_tx.mail.compose_headers import (
    HeaderValueError,
    Segment,
    check_token,
    field_segments,
)
from stalwart_tx.mail.headers import parse_header_property

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


def pointer(base: str, *pieces: str | int) -> str:
    """The path ``base/piece/...`` to a property, pieces escaped as in JSON Pointer (RFC 6901)."""
    return "/".join([base, *(str(p).replace("~", "~0").replace("/", "~1") for p in pieces)])


@dataclass
class Field:
    name: str
    segments: list[Segment]
    prop: str  # the property that set it


@dataclass
class Part:
    path: str
    type: str
    fields: list[Field] = field(default_factory=list)
    charset: str | None = None
    name: str | None = None
    disposition: str | None = None
    cid: str | None = None
    language: list[str] | None = None
    location: str | None = None
    part_id: str | None = None
    blob_id: str | None = None
    sub_parts: list[Part] | None = None
    content: bytes = b""

    def leaves(self) -> list[Part]:
        if self.sub_parts is None:
            return [self]
        return [leaf for part in self.sub_parts for leaf in part.leaves()]


class Claims:
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


def header_property(key: str, value: Any, prop: str, claims: Claims) -> list[Field]:
    """The fields of one ``header:Name[:asForm][:all]`` property (not null)."""
    parsed = parse_header_property(key)
    if parsed is None:
        raise ComposeError([prop], "not a header property, or a form that field cannot take")
    claims.claim(parsed.name, prop)
    if parsed.all and not isinstance(value, list):
        raise ComposeError([prop], "a :all header property takes a list of values")
    try:
        return [
            Field(parsed.name, field_segments(parsed.form, item), prop)
            for item in (value if parsed.all else [value])
            if item is not None
        ]
    except HeaderValueError as error:
        raise ComposeError([prop], str(error)) from None


def no_headers_list(value: Any, prop: str) -> None:
    if value not in (None, []):
        raise ComposeError(
            [prop], 'set header fields as "header:" properties, not as a "headers" list'
        )


def _string(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ComposeError([pointer(path, key)], f"{key} must be a string or null")
    return value


def check(ok: bool, prop: str, description: str) -> None:
    if not ok:
        raise ComposeError([prop], description)


def _printable(value: str, forbidden: str) -> bool:
    return bool(value) and all("\x21" <= c <= "\x7e" and c not in forbidden for c in value)


@dataclass
class PartReader:
    """Reads EmailBodyPart objects against the create object's ``bodyValues`` (part id ->
    text)."""

    body_values: dict[str, str]

    def part(
        self, obj: Any, path: str, *, sub_parts: bool, depth: int = 0, required: str | None = None
    ) -> Part:
        """The part ``obj`` at ``path``: ``sub_parts`` if it may be multipart (bodyStructure
        only), ``required`` the type a textBody or htmlBody part must have. Blob contents are
        left to read; a bodyValues part has its content (UTF-8, CRLF) already."""
        check(isinstance(obj, Mapping), path, "a body part must be an object")
        for key in obj:
            if key not in _PART_PROPERTIES and not key.startswith("header:"):
                raise ComposeError([pointer(path, key)], "not a property of a body part")
        no_headers_list(obj.get("headers"), pointer(path, "headers"))
        claims = Claims()
        fields: list[Field] = []
        for key, value in obj.items():
            if key.startswith("header:") and value is not None:
                parsed = parse_header_property(key)
                if parsed is not None and parsed.name.lower() in _DERIVED:
                    raise ComposeError(
                        [pointer(path, key)],
                        f"{parsed.name} is set by {_DERIVED[parsed.name.lower()]}",
                    )
                fields.extend(header_property(key, value, pointer(path, key), claims))
        for prop, name in _PART_FIELDS.items():
            if obj.get(prop) is not None:
                claims.claim(name, pointer(path, prop))
        part = Part(path=path, type="", fields=fields)
        self._properties(obj, part, required)
        children = obj.get("subParts")
        part_id, blob_id = _string(obj, "partId", path), _string(obj, "blobId", path)
        if children is not None:
            where = pointer(path, "subParts")
            check(sub_parts, where, "only bodyStructure parts have subParts")
            check(isinstance(children, list), where, "subParts must be a list")
            check(depth < MAX_DEPTH, where, f"parts nest at most {MAX_DEPTH} deep")
            part.type = part.type or "multipart/mixed"
            check(
                part.type.startswith("multipart/"),
                pointer(path, "type"),
                "a part with subParts must be multipart/*",
            )
            for key in ("partId", "blobId", "charset"):
                check(obj.get(key) is None, pointer(path, key), f"a multipart part has no {key}")
            part.sub_parts = [
                self.part(child, pointer(where, i), sub_parts=True, depth=depth + 1)
                for i, child in enumerate(children)
            ]
            return part
        check(
            not part.type.startswith("multipart/"),
            pointer(path, "subParts"),
            "a multipart/* part needs subParts",
        )
        if part_id is not None:
            part.type = part.type or "text/plain"
            check(blob_id is None, pointer(path, "blobId"), "give a partId or a blobId, not both")
            check(
                part_id in self.body_values,
                pointer(path, "partId"),
                "no bodyValues entry has this partId",
            )
            check(
                obj.get("charset") is None,
                pointer(path, "charset"),
                "the server chooses the charset of a bodyValues part",
            )
            check(
                obj.get("size") is None,
                pointer(path, "size"),
                "the size of a bodyValues part is not given",
            )
            part.part_id = part_id
            part.content = canonical_text(self.body_values[part_id])
        else:
            check(
                blob_id is not None,
                pointer(path, "partId"),
                "a part needs a partId or a blobId (or subParts)",
            )
            part.type = part.type or "application/octet-stream"
            part.blob_id = blob_id
        return part

    def _properties(self, obj: Mapping[str, Any], part: Part, required: str | None) -> None:
        path = part.path
        mime_type = _string(obj, "type", path)
        if mime_type is not None:
            pieces = mime_type.split("/")
            try:
                ok = len(pieces) == 2 and all(check_token(p, "type") for p in pieces)
            except HeaderValueError:
                ok = False
            check(ok, pointer(path, "type"), "type must be a media type, type/subtype")
            part.type = mime_type.lower()
        if required is not None:
            part.type = part.type or required
            check(part.type == required, pointer(path, "type"), f"this part must be {required}")
        for key in ("charset", "disposition"):
            value = _string(obj, key, path)
            if value is not None:
                try:
                    check_token(value, key)
                    # (Dispositions are case-insensitive and read back lowercased.)
                    setattr(part, key, value.lower() if key == "disposition" else value)
                except HeaderValueError as error:
                    raise ComposeError([pointer(path, key)], str(error)) from None
        name = _string(obj, "name", path)
        if name is not None:
            controls = any(c != "\t" and (c < " " or c == "\x7f") for c in name)
            check(not controls, pointer(path, "name"), "a name must not contain control characters")
            part.name = name
        cid = _string(obj, "cid", path)
        if cid is not None:
            check(
                _printable(cid, '<>()"\\'),
                pointer(path, "cid"),
                "a cid is printable ASCII without spaces, brackets or quotes",
            )
            part.cid = cid
        location = _string(obj, "location", path)
        if location is not None:
            check(
                _printable(location, "<>"),
                pointer(path, "location"),
                "a location is a URI (printable ASCII, no spaces)",
            )
            part.location = location
        language = obj.get("language")
        if language is not None:
            check(
                isinstance(language, list)
                and all(
                    isinstance(tag, str)
                    and tag
                    and all(c.isascii() and (c.isalnum() or c == "-") for c in tag)
                    for tag in language
                ),
                pointer(path, "language"),
                "language is a list of language tags",
            )
            part.language = list(language) or None
