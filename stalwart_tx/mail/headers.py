"""Header fields: the raw header block and the parsed forms of RFC 8621 section 4.1.2."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz
from enum import Enum
from typing import Any, NamedTuple

from stalwart_tx.mail.addresses import addresses, grouped_addresses
from stalwart_tx.mail.encoded_words import as_text, unfold
from stalwart_tx.mail.syntax import without_comments


class Header(NamedTuple):
    """One header field: its name as written and its raw value (RFC 8621 4.1.2.1)."""

    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


class Form(Enum):
    RAW = "Raw"
    TEXT = "Text"
    ADDRESSES = "Addresses"
    GROUPED_ADDRESSES = "GroupedAddresses"
    MESSAGE_IDS = "MessageIds"
    DATE = "Date"
    URLS = "URLs"


# RFC 8621 4.1.2: the forms each header defined in RFC 5322 or RFC 2369 may be fetched as
# (Raw is always allowed). Any other header may be fetched in every form.
_ADDRESS_FORMS = frozenset({Form.ADDRESSES, Form.GROUPED_ADDRESSES})
_ALLOWED: dict[str, frozenset[Form]] = {
    **dict.fromkeys(("subject", "comments", "keywords", "list-id"), frozenset({Form.TEXT})),
    **dict.fromkeys(
        (
            "from", "sender", "reply-to", "to", "cc", "bcc",
            "resent-from", "resent-sender", "resent-reply-to", "resent-to", "resent-cc",
            "resent-bcc",
        ),
        _ADDRESS_FORMS,
    ),
    **dict.fromkeys(
        ("message-id", "in-reply-to", "references", "resent-message-id"),
        frozenset({Form.MESSAGE_IDS}),
    ),
    **dict.fromkeys(("date", "resent-date"), frozenset({Form.DATE})),
    **dict.fromkeys(
        (
            "list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner",
            "list-archive",
        ),
        frozenset({Form.URLS}),
    ),
    **dict.fromkeys(("return-path", "received"), frozenset[Form]()),
}  # fmt: skip


def form_allowed(name: str, form: Form) -> bool:
    """Whether ``header:name:asForm`` is a valid property (else Email/get is invalidArguments)."""
    if form is Form.RAW:
        return True
    allowed = _ALLOWED.get(name.lower())
    return allowed is None or form in allowed


class HeaderProperty(NamedTuple):
    name: str
    form: Form
    all: bool


_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


def parse_header_property(prop: str) -> HeaderProperty | None:
    """``header:Name[:asForm][:all]`` parsed, or None if malformed or a disallowed form."""
    pieces = prop.split(":")
    if len(pieces) < 2 or pieces[0] != "header" or _FIELD_NAME.fullmatch(pieces[1]) is None:
        return None
    rest = pieces[2:]
    fetch_all = bool(rest) and rest[-1] == "all"
    if fetch_all:
        rest = rest[:-1]
    form = Form.RAW
    if rest:
        if len(rest) > 1 or not rest[0].startswith("as"):
            return None
        try:
            form = Form(rest[0][2:])
        except ValueError:
            return None
    if not form_allowed(pieces[1], form):
        return None
    return HeaderProperty(pieces[1], form, fetch_all)


# -- the raw header block ----------------------------------------------------------------------

_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


def split_header_block(data: bytes) -> tuple[list[Header], int]:
    """The header fields at the start of ``data`` and the offset where the body starts.

    A line that is neither a field nor a continuation ends the block, as if a blank line
    preceded it (it is body, not lost). 8-bit octets that are not UTF-8 become U+FFFD, as
    RFC 8621 4.1.2.1 suggests.
    """
    fields: list[tuple[bytes, bytearray]] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        next_pos = len(data) if end < 0 else end + 1
        line = data[pos:next_pos]
        bare = line.rstrip(b"\r\n")
        if not bare:
            pos = next_pos
            break
        if bare[:1] in (b" ", b"\t"):
            if not fields:
                break
            fields[-1][1].extend(line)
        elif pos == 0 and bare.startswith(b"From "):
            pass  # an mbox separator, not a field
        else:
            colon = bare.find(b":")
            name = bare[:colon].rstrip(b" \t") if colon > 0 else b""
            if _NAME.fullmatch(name) is None:
                break
            fields.append((name, bytearray(line[colon + 1 :])))
        pos = next_pos
    headers = [
        Header(
            name.decode("ascii"),
            bytes(value).removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "replace"),
        )
        for name, value in fields
    ]
    return headers, pos


# -- the parsed forms --------------------------------------------------------------------------


def message_ids(raw: str) -> list[str] | None:
    """MessageIds form (4.1.2.5): the msg-ids without CFWS and brackets, or None."""
    value = without_comments(unfold(raw))
    ids = ["".join(found.split()) for found in re.findall(r"<([^<>]*)>", value)]
    ids = [found for found in ids if found]
    if ids:
        return ids
    # Brackets are often missing on a lone id; accept it if it looks like one.
    bare = value.split()
    if len(bare) == 1 and "@" in bare[0] and "<" not in bare[0] and ">" not in bare[0]:
        return bare
    return None


def date(raw: str) -> str | None:
    """Date form (4.1.2.6): an RFC 3339 date-time keeping the message's offset, or None."""
    value = " ".join(without_comments(unfold(raw)).split())
    try:
        parsed = parsedate_tz(value)
        if parsed is None:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        offset = parsed[9] or 0
        if not (-86400 < offset < 86400):
            return None
        when = datetime(
            year, month, day, hour, minute, min(second, 59),
            tzinfo=timezone(timedelta(seconds=offset)),
        )  # fmt: skip
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.utcoffset() == timedelta(0):
        return text + "Z"
    sign = "-" if offset < 0 else "+"
    return f"{text}{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def urls(raw: str) -> list[str] | None:
    """URLs form (4.1.2.7): the bracketed URLs of an RFC 2369 list, or None."""
    value = without_comments(unfold(raw))
    found = ["".join(url.split()) for url in re.findall(r"<([^<>]*)>", value)]
    return found or None


def parse_form(raw: str, form: Form) -> Any:
    """One raw value in ``form`` (JSON-ready); null if it cannot be parsed in that form."""
    try:
        return _parse_form(raw, form)
    except Exception:
        # These run at Email/get time on stored messages: a parser bug must not fail the call.
        return [] if form in (Form.ADDRESSES, Form.GROUPED_ADDRESSES) else None


def _parse_form(raw: str, form: Form) -> Any:
    if form is Form.RAW:
        return raw
    if form is Form.TEXT:
        return as_text(raw)
    if form is Form.ADDRESSES:
        return addresses(raw)
    if form is Form.GROUPED_ADDRESSES:
        return grouped_addresses(raw)
    if form is Form.MESSAGE_IDS:
        return message_ids(raw)
    if form is Form.DATE:
        return date(raw)
    return urls(raw)


def field_value(headers: list[Header], name: str, form: Form, all: bool = False) -> Any:
    """``header:name:asForm[:all]`` (4.1.3): the last field, or a list of all of them."""
    wanted = name.lower()
    values = [parse_form(h.value, form) for h in headers if h.name.lower() == wanted]
    if all:
        return values
    return values[-1] if values else None
