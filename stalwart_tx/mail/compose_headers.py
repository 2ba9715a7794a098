"""Header fields of composed messages: the JMAP header forms (RFC 8621 section 4.1.2) written
back as RFC 5322 fields.

Every writer returns a list of segments, ``(whitespace, text)``: the whitespace before a piece
of text is where the field may be folded, by putting CRLF in front of it, so unfolding (which
removes just the CRLF) gives back exactly the value written. Non-ASCII text goes into RFC 2047
encoded words (UTF-8), non-ASCII or long parameter values into RFC 2231 continuations. Values
that cannot be written faithfully or safely (line breaks, controls) raise HeaderValueError.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from stalwart_tx.mail.headers import Form

Segment = tuple[str, str]

FOLD_AT = 78
MAX_LINE = 998
# An encoded word is at most 75 characters (RFC 2047 section 2).
_WORD_LIMIT = 75
# A plain word in unstructured text longer than this is written as encoded words instead, which
# can be split: a line must never pass 998 octets.
_LONGEST_PLAIN_WORD = 900

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_PHRASE_OF_ATOMS = re.compile(rf"{_ATOM.pattern}(?: {_ATOM.pattern})*")
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+@[A-Za-z0-9.\-]+")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_CHAR = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
# Folds already in a Raw value are kept; any other CR or LF is a header injection.
_BAD_BREAK = re.compile(r"\r(?!\n[ \t])|(?<!\r)\n")


class HeaderValueError(ValueError):
    """A header value that cannot be written; the message says why."""


def fold(name: str, segments: list[Segment]) -> bytes:
    """The field ``name: value`` with CRLF, folded before whitespace where a line would pass
    78 characters; HeaderValueError if a line still passes 998 octets."""
    lines = [name + ":"]
    has_value = False
    for space, text in segments:
        piece = space + text
        if space and has_value and len(lines[-1]) + len(piece) > FOLD_AT:
            lines.append(piece)
        else:
            lines[-1] += piece
        has_value = True
    encoded = [line.encode("utf-8") for line in lines]
    if any(len(line) > MAX_LINE for line in encoded):
        raise HeaderValueError("a line of the header field would pass 998 octets")
    return b"\r\n".join(encoded) + b"\r\n"


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise HeaderValueError(f"{what} must be a string")
    if _CONTROL.search(value):
        raise HeaderValueError(f"{what} must not contain line breaks or control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise HeaderValueError(f"{what} is not valid Unicode") from None
    return value


# -- encoded words -----------------------------------------------------------------------------


def _q_char(char: str) -> str:
    if char == " ":
        return "_"
    return "".join(chr(b) if b in _Q_SAFE else f"={b:02X}" for b in char.encode("utf-8"))


def encoded_words(text: str) -> list[str]:
    """``text`` as UTF-8 encoded words of at most 75 characters, Q or B whichever is shorter;
    a character is never split across two words."""
    data = text.encode("utf-8")
    q_length = sum(len(_q_char(char)) for char in text)
    use_q = q_length <= (len(data) + 2) // 3 * 4
    prefix = "=?utf-8?q?" if use_q else "=?utf-8?b?"
    room = _WORD_LIMIT - len(prefix) - 2
    words: list[str] = []
    chunk = ""
    for char in text:
        candidate = chunk + char
        length = (
            sum(len(_q_char(c)) for c in candidate)
            if use_q
            else (len(candidate.encode("utf-8")) + 2) // 3 * 4
        )
        if length > room and chunk:
            words.append(chunk)
            chunk = char
        else:
            chunk = candidate
    if chunk:
        words.append(chunk)
    if use_q:
        return [prefix + "".join(_q_char(c) for c in word) + "?=" for word in words]
    return [
        prefix + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?=" for word in words
    ]


def _encoded_segments(text: str, space: str) -> list[Segment]:
    words = encoded_words(text)
    return [(space if i == 0 else " ", word) for i, word in enumerate(words)]


# -- the forms ---------------------------------------------------------------------------------


def text_segments(value: Any) -> list[Segment]:
    """The Text form (unstructured): whitespace and ASCII words kept as they are, runs of words
    that need it (non-ASCII, encoded-word look-alikes, edge whitespace) as encoded words."""
    text = _check_text(value, "the value")
    if not text:
        return []
    pieces = re.split(r"([ \t]+)", text)
    # (whitespace before, word, must encode)
    words: list[tuple[str, str, bool]] = []
    for i in range(0, len(pieces), 2):
        space = pieces[i - 1] if i else ""
        words.append((space, pieces[i], False))
    # Whitespace at either end would be lost (the parser strips the start): keep it encoded.
    if words[0][1] == "" and len(words) > 1:
        first_space, first_word, _ = words[1]
        words[1:2] = [("", first_space + first_word, True)]
        del words[0]
    if words[-1][1] == "" and len(words) > 1:
        last_space = words[-1][0]
        space, word, _ = words[-2]
        words[-2:] = [(space, word + last_space, True)]
    segments: list[Segment] = []
    run: list[tuple[str, str]] = []
    run_space = ""

    def flush() -> None:
        if run:
            joined = "".join((space if j else "") + word for j, (space, word) in enumerate(run))
            segments.extend(_encoded_segments(joined, run_space))
            run.clear()

    for i, (space, word, forced) in enumerate(words):
        space = space if i else " "
        encode = (
            forced
            or not word.isascii()
            or ("=?" in word and "?=" in word)
            or len(word) > _LONGEST_PLAIN_WORD
        )
        if encode:
            if not run:
                run_space = space
            run.append((space, word))
        else:
            flush()
            segments.append((space, word))
    flush()
    return segments


def phrase_segments(name: str) -> list[Segment]:
    """A display name or group name: atoms, a quoted string, or encoded words."""
    name = _check_text(name, "a name")
    if not name.isascii() or "=?" in name:
        # (Readers decode encoded-word look-alikes even in quoted strings: encode those too.)
        return _encoded_segments(name, "")
    if _PHRASE_OF_ATOMS.fullmatch(name):
        return [("" if i == 0 else " ", atom) for i, atom in enumerate(name.split(" "))]
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    pieces = re.split(r"([ \t]+)", escaped)
    segments: list[Segment] = [("", '"' + pieces[0])]
    for i in range(1, len(pieces), 2):
        segments.append((pieces[i], pieces[i + 1]))
    space, text = segments[-1]
    segments[-1] = (space, text + '"')
    return segments


def _email(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise HeaderValueError("an address must have an email")
    if any(c.isspace() or c in "<>()," or ord(c) < 32 or ord(c) == 127 for c in value):
        raise HeaderValueError("an email must not contain whitespace, controls or <>(),")
    return value


def _mailbox(address: Any) -> list[Segment]:
    if not isinstance(address, Mapping) or set(address) - {"name", "email"}:
        raise HeaderValueError("an address is an object with a name and an email")
    email = _email(address.get("email"))
    name = address.get("name")
    if name is not None and not isinstance(name, str):
        raise HeaderValueError("an address's name must be a string or null")
    if name and name.strip():
        return [*phrase_segments(name), (" ", f"<{email}>")]
    return [("", email if _SIMPLE_ADDRESS.fullmatch(email) else f"<{email}>")]


def _joined(items: list[list[Segment]], separator: str) -> list[Segment]:
    out: list[Segment] = []
    for i, item in enumerate(items):
        if i and out:
            space, text = out[-1]
            out[-1] = (space, text + separator)
        first_space, first_text = item[0]
        out.append((" " if out else first_space, first_text))
        out.extend(item[1:])
    return out


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise HeaderValueError(f"{what} must be a list")
    return value


def address_segments(value: Any) -> list[Segment]:
    """The Addresses form: ``name <email>, ...``."""
    mailboxes = [_mailbox(address) for address in _list(value, "the addresses")]
    return _with_leading_space(_joined(mailboxes, ","))


def grouped_address_segments(value: Any) -> list[Segment]:
    """The GroupedAddresses form: groups as ``name: members;``, null-named ones as plain lists."""
    items: list[list[Segment]] = []
    for group in _list(value, "the groups"):
        if not isinstance(group, Mapping) or set(group) - {"name", "addresses"}:
            raise HeaderValueError("a group is an object with a name and addresses")
        members = [_mailbox(address) for address in _list(group.get("addresses"), "addresses")]
        name = group.get("name")
        if name is None:
            if members:
                items.append(_joined(members, ","))
            continue
        head = phrase_segments(name) if name.strip() else [("", "")]
        space, text = head[-1]
        head[-1] = (space, text + ":")
        body = _joined(members, ",")
        if body:
            body[0] = (" ", body[0][1])
            space, text = body[-1]
            body[-1] = (space, text + ";")
            items.append(head + body)
        else:
            items.append([*head[:-1], (space, text + ":;")])
    return _with_leading_space(_joined(items, ","))


def _with_leading_space(segments: list[Segment]) -> list[Segment]:
    if segments:
        segments[0] = (" ", segments[0][1])
    return segments


def _bracketed(value: Any, what: str, forbidden: str) -> str:
    if not isinstance(value, str) or not value:
        raise HeaderValueError(f"each of {what} must be a non-empty string")
    if any(not ("\x21" <= c <= "\x7e") or c in forbidden for c in value):
        raise HeaderValueError(f"{what} must be printable ASCII without whitespace or {forbidden}")
    return f"<{value}>"


def message_id_segments(value: Any) -> list[Segment]:
    """The MessageIds form: ``<id> <id>``."""
    ids = [_bracketed(v, "message ids", '<>()"\\') for v in _list(value, "message ids")]
    return [(" ", msg_id) for msg_id in ids]


def url_segments(value: Any) -> list[Segment]:
    """The URLs form: ``<url>, <url>``."""
    urls = [[("", _bracketed(v, "URLs", "<>"))] for v in _list(value, "URLs")]
    return _with_leading_space(_joined(urls, ","))


def parse_date(value: Any) -> datetime:
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise HeaderValueError("a date must be an RFC 3339 date-time with a time zone")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise HeaderValueError("a date must be an RFC 3339 date-time with a time zone") from None


def date_text(when: datetime) -> str:
    """RFC 5322 date-time keeping the offset of ``when`` (UTC if it has none)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_datetime(when.replace(microsecond=0))


def date_segments(value: Any) -> list[Segment]:
    """The Date form."""
    return [(" ", date_text(parse_date(value)))]


def raw_segments(value: Any) -> list[Segment]:
    """The Raw form, written exactly as given (it starts right after the colon)."""
    if not isinstance(value, str):
        raise HeaderValueError("a raw value must be a string")
    if _BAD_BREAK.search(value) or re.search(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]", value):
        raise HeaderValueError("a raw value must not contain line breaks other than folds")
    if not value.isascii():
        raise HeaderValueError("a raw value must be ASCII (the Text form encodes)")
    return [("", value)] if value else []


_WRITERS: dict[Form, Callable[[Any], list[Segment]]] = {
    Form.RAW: raw_segments,
    Form.TEXT: text_segments,
    Form.ADDRESSES: address_segments,
    Form.GROUPED_ADDRESSES: grouped_address_segments,
    Form.MESSAGE_IDS: message_id_segments,
    Form.DATE: date_segments,
    Form.URLS: url_segments,
}


def field_segments(form: Form, value: Any) -> list[Segment]:
    """One value of a ``header:Name:asForm`` property as a field value."""
    return _WRITERS[form](value)


# -- parameters (RFC 2045, RFC 2231) -----------------------------------------------------------


def check_token(value: Any, what: str) -> str:
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise HeaderValueError(f"{what} must be a MIME token")
    return value


def parameter_segments(attribute: str, value: str) -> list[Segment]:
    """``attribute=value`` (each segment to follow a ``;``): a token or quoted string when it is
    short printable ASCII, else RFC 2231 ``attribute*N*=utf-8''...`` continuations."""
    value = _check_text(value, f"the {attribute}")
    # Readers unquote <...> and "..." more than once, and decode encoded words even in quoted
    # strings: such values go the RFC 2231 way.
    plain = value[:1] not in '<"' and value[-1:] not in '>"'
    plain = plain and not any(s in value for s in ("\\", "\t", "=?"))
    if value.isascii() and len(value) <= 60 and plain:
        # A token, but not with the characters RFC 2231 gives a meaning ('*%).
        if value and all(ord(c) in _ATTRIBUTE_CHAR for c in value):
            return [(" ", f"{attribute}={value}")]
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return [(" ", f'{attribute}="{escaped}"')]
    encoded: list[str] = []
    for char in value:
        data = char.encode("utf-8")
        encoded.append("".join(chr(b) if b in _ATTRIBUTE_CHAR else f"%{b:02X}" for b in data))
    chunks: list[str] = []
    chunk = "utf-8''"
    for piece in encoded:
        if len(chunk) + len(piece) > 60 and chunk and chunk != "utf-8''":
            chunks.append(chunk)
            chunk = ""
        chunk += piece
    chunks.append(chunk)
    return [(" ", f"{attribute}*{i}*={chunk}") for i, chunk in enumerate(chunks)]


def with_parameters(value: str, parameters: list[list[Segment]]) -> list[Segment]:
    """``value; p1; p2``."""
    segments: list[Segment] = [(" ", value)]
    for parameter in parameters:
        for segment in parameter:
            space, text = segments[-1]
            segments[-1] = (space, text + ";")
            segments.append(segment)
    return segments
