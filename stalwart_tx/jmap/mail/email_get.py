"""Email/get's computed properties (RFC 8621 §4.2): what needs the message itself.

headers, bodyStructure, textBody, htmlBody, attachments, bodyValues and every
``header:{name}[:as{Form}][:all]`` are taken from the parsed message blob, parsed once per
email per call and only when one of them is asked for. Body parts carry the ``bodyProperties``
the client asked for (§4.2 default list), each of which may itself be a ``header:`` property.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.message_analysis import parse
from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.mail.body import BodyPart
from stalwart_tx.mail.headers import field_value, parse_header_property
from stalwart_tx.mail.parse import ParsedMessage, body_values
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

DEFAULT_BODY_PROPERTIES: Final = (
    "partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language",
    "location",
)
BODY_PART_PROPERTIES: Final = frozenset({*DEFAULT_BODY_PROPERTIES, "headers", "subParts"})
DEFAULT_GET_PROPERTIES: Final = (
    "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
    "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject",
    "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody", "attachments",
)
PARSED_PROPERTIES: Final = frozenset(
    {"headers", "bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues"}
)


def is_header_property(name: str) -> bool:
    return name.startswith("header:") and parse_header_property(name) is not None


def body_properties(call: MethodCall) -> list[str]:
    wanted = call.extras.get("bodyProperties")
    if wanted is None:
        return list(DEFAULT_BODY_PROPERTIES)
    bad = [p for p in wanted if p not in BODY_PART_PROPERTIES and not is_header_property(p)]
    if bad:
        raise MethodError.invalid_arguments(f"unknown bodyProperties: {', '.join(bad)}")
    return list(wanted)


def render_part(part: BodyPart, blob_id: str, names: list[str]) -> JSONObject:
    full = part.to_json(blob_id)
    out: JSONObject = {}
    for name in names:
        if name == "subParts":
            out[name] = None if part.sub_parts is None else [
                render_part(sub, blob_id, names) for sub in part.sub_parts
            ]
        elif name in full:
            out[name] = full[name]
        else:
            prop = parse_header_property(name)
            if prop is not None:
                out[name] = field_value(part.headers, prop.name, prop.form, prop.all)
    return out


FETCH_FLAGS: Final = ("fetchTextBodyValues", "fetchHTMLBodyValues", "fetchAllBodyValues")


def check_arguments(call: MethodCall) -> list[str]:
    """The body arguments of Email/get and Email/parse (§4.2, §4.9) checked: invalidArguments
    for a fetch flag that is not a Boolean, a maxBodyValueBytes that is not an UnsignedInt,
    or an unknown body part property. The bodyProperties to render."""
    extras = call.extras
    for flag in FETCH_FLAGS:
        if not isinstance(extras.get(flag, False), (bool, type(None))):
            raise MethodError.invalid_arguments(f"{flag} must be a Boolean")
    limit = extras.get("maxBodyValueBytes")
    if limit is not None and (type(limit) is not int or limit < 0):
        raise MethodError.invalid_arguments("maxBodyValueBytes must be an UnsignedInt")
    wanted = extras.get("bodyProperties")
    if wanted is not None and (
        not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted)
    ):
        raise MethodError.invalid_arguments("bodyProperties must be a list of strings")
    return body_properties(call)


def _body_values(call: MethodCall, parsed: ParsedMessage) -> dict[str, Any]:
    extras = call.extras
    parts: list[BodyPart] = []
    if extras.get("fetchAllBodyValues"):
        parts = [p for p in parsed.parts() if p.type.startswith("text/")]
    else:
        if extras.get("fetchTextBodyValues"):
            parts += parsed.text_body
        if extras.get("fetchHTMLBodyValues"):
            parts += parsed.html_body
    ids = [p.part_id for p in parts if p.part_id]
    limit = extras.get("maxBodyValueBytes") or 0
    return body_values(parsed, list(dict.fromkeys(ids)), limit)


def parsed_values(
    call: MethodCall, parsed: ParsedMessage, blob_id: str, names: frozenset[str]
) -> JSONObject:
    """The computed properties of one email among ``names`` (its callers, Email/get and
    Email/parse, have checked the body arguments with ``check_arguments`` once per call)."""
    values: JSONObject = {}
    part_names = body_properties(call) if names & PARSED_PROPERTIES else []
    for name in names:
        if name == "headers":
            values[name] = [h.to_json() for h in parsed.headers]
        elif name == "bodyStructure":
            tree_names = part_names if "subParts" in part_names else [*part_names, "subParts"]
            values[name] = render_part(parsed.body_structure, blob_id, tree_names)
        elif name in ("textBody", "htmlBody", "attachments"):
            parts = getattr(parsed, {"textBody": "text_body", "htmlBody": "html_body",
                                     "attachments": "attachments"}[name])
            values[name] = [render_part(p, blob_id, part_names) for p in parts]
        elif name == "bodyValues":
            values[name] = _body_values(call, parsed)
        else:
            prop = parse_header_property(name)
            if prop is not None:
                values[name] = field_value(parsed.headers, prop.name, prop.form, prop.all)
    return values


async def email_computed(
    call: MethodCall, emails: Mapping[str, JSONObject], names: frozenset[str]
) -> Mapping[str, JSONObject]:
    check_arguments(call)  # a bad one is invalidArguments even with nothing to render
    result: dict[str, JSONObject] = {}
    for email_id, email in emails.items():
        blob_id = str(email.get("blobId"))
        try:
            raw = await call.ctx.store.blobs.get(call.account_id, blob_id)
        except BlobNotFound:
            raw = b""
        result[email_id] = parsed_values(call, await parse(call.ctx.reactor, raw), blob_id, names)
    return result
