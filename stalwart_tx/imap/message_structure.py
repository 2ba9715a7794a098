"""BODY and BODYSTRUCTURE (RFC 3501 / RFC 9051 section 7.5.2, body in the formal syntax).

Types, subtypes, parameters and other field values are sent as the message writes them;
parameters are not RFC 2231-decoded (clients join continuations themselves). A part without
Content-Type is TEXT/PLAIN with CHARSET US-ASCII, and a text part without a charset gets
US-ASCII, MIME's implicit charset. Sizes and line counts are of the encoded body.
"""

from __future__ import annotations

from stalwart_tx.imap.message_envelope import message_envelope
from stalwart_tx.imap.message_parts import line_count
from stalwart_tx.imap.message_tree import Disposition, MimePart, Params, parse_message
from stalwart_tx.imap.message_values import ImapValue, Run, nul_free


def bodystructure(raw: bytes, extensible: bool) -> ImapValue:
    """BODYSTRUCTURE of ``raw`` with ``extensible``, else BODY (no extension data)."""
    return _body(raw, parse_message(raw), extensible)


def _nul_free(value: bytes | None) -> bytes | None:
    return None if value is None else nul_free(value)


def _params(params: Params) -> ImapValue:
    flat: list[ImapValue] = []
    for name, value in params:
        flat += [_nul_free(name), _nul_free(value)]
    return flat or None


def _disposition(disposition: Disposition | None) -> ImapValue:
    if disposition is None:
        return None
    return [_nul_free(disposition.kind), _params(disposition.params)]


def _language(language: tuple[bytes, ...] | None) -> ImapValue:
    if language is None:
        return None
    return [_nul_free(tag) for tag in language]


def _body(raw: bytes, part: MimePart, extensible: bool) -> ImapValue:
    extension: list[ImapValue] = [
        _disposition(part.disposition),
        _language(part.language),
        _nul_free(part.location),
    ]
    if part.children:
        fields: list[ImapValue] = [
            Run([_body(raw, child, extensible) for child in part.children]),
            _nul_free(part.subtype),
        ]
        if extensible:
            fields += [_params(part.params), *extension]
        return fields
    params = part.params
    is_text = part.type.lower() == b"text"
    if is_text and not any(name.lower() == b"charset" for name, _ in params):
        params = (*params, (b"CHARSET", b"US-ASCII"))
    body = raw[part.body_start : part.end]
    fields = [
        _nul_free(part.type),
        _nul_free(part.subtype),
        _params(params),
        _nul_free(part.id),
        _nul_free(part.description),
        _nul_free(part.encoding) or b"7BIT",
        len(body),
    ]
    if part.message is not None:
        fields += [
            message_envelope(part.message),
            _body(raw, part.message, extensible),
            line_count(body),
        ]
    elif is_text:
        fields.append(line_count(body))
    if extensible:
        fields += [_nul_free(part.md5), *extension]
    return fields
