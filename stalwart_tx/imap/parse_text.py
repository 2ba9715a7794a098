"""Text forms inside IMAP arguments: modified UTF-7 mailbox names (RFC 3501 section 5.1.3),
mailbox names in either form, base64 for SASL, and the two date syntaxes.

``grammar`` re-exports every name here.
"""

from __future__ import annotations

import base64
import binascii
import datetime

from stalwart_tx.imap.parse_values import ImapSyntaxError

__all__ = [
    "decode_base64",
    "decode_mutf7",
    "decode_utf8",
    "encode_mutf7",
    "mailbox_name",
    "parse_date_text",
    "parse_date_time",
]

_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MUTF7_BASE64 = frozenset(_LETTERS + b"0123456789+,")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}


# -- modified UTF-7 ---------------------------------------------------------------------------


def decode_mutf7(name: bytes | str) -> str:
    """RFC 3501 section 5.1.3: printable ASCII, ``&-`` for ``&``, ``&...-`` modified base64."""
    data = name.encode("latin-1") if isinstance(name, str) else name
    out: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x26:  # "&"
            end = data.find(b"-", i + 1)
            if end < 0:
                raise ImapSyntaxError("bad modified UTF-7 mailbox name")
            chunk = data[i + 1 : end]
            if not chunk:
                out.append("&")
            else:
                out.append(_decode_mutf7_chunk(chunk))
            i = end + 1
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
            i += 1
        else:
            raise ImapSyntaxError("8-bit mailbox name without UTF8=ACCEPT")
    return "".join(out)


def _decode_mutf7_chunk(chunk: bytes) -> str:
    if not all(c in _MUTF7_BASE64 for c in chunk):
        raise ImapSyntaxError("bad modified UTF-7 mailbox name")
    # The unpadded base64 of whole UTF-16 units: extra bits beyond them must be zero.
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        if len(raw) % 2 or len(chunk) % 4 == 1:
            raise ValueError
        text = raw.decode("utf-16-be")
    except (binascii.Error, ValueError) as error:
        raise ImapSyntaxError("bad modified UTF-7 mailbox name") from error
    # Printable ASCII must be written directly, and the encoding must be the shortest one.
    if any(0x20 <= ord(ch) <= 0x7E for ch in text) or _encode_mutf7_chunk(text) != chunk:
        raise ImapSyntaxError("bad modified UTF-7 mailbox name")
    return text


def _encode_mutf7_chunk(text: str) -> bytes:
    return base64.b64encode(text.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")


def encode_mutf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("&" + _encode_mutf7_chunk("".join(pending)).decode("ascii") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImapSyntaxError(f"{what} is not UTF-8") from error


def decode_base64(data: bytes) -> bytes:
    """Strict base64 as in SASL exchanges; ``=`` alone is the empty response (RFC 4959)."""
    if data == b"=":
        return b""
    if len(data) % 4:
        raise ImapSyntaxError("bad base64")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImapSyntaxError("bad base64") from error


def mailbox_name(data: bytes, utf8: bool = False) -> str:
    if data.upper() == b"INBOX":
        return "INBOX"
    name = decode_utf8(data, "mailbox name") if utf8 else decode_mutf7(data)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ImapSyntaxError("control character in mailbox name")
    return name


def parse_date_text(text: bytes) -> datetime.date:
    try:
        day, month, year = text.decode("ascii").split("-")
    except (UnicodeDecodeError, ValueError) as error:
        raise ImapSyntaxError("bad date") from error
    day = day.strip()
    if (
        not (1 <= len(day) <= 2 and day.isdigit() and day.isascii())
        or month.upper() not in _MONTHS
        or not (len(year) == 4 and year.isdigit() and year.isascii())
    ):
        raise ImapSyntaxError("bad date")
    try:
        return datetime.date(int(year), _MONTHS[month.upper()], int(day))
    except ValueError as error:
        raise ImapSyntaxError("bad date") from error


def parse_date_time(raw: bytes) -> datetime.datetime:
    """``dd-Mon-yyyy hh:mm:ss +zzzz`` (the day may be space-padded) as an aware datetime."""
    try:
        day_text, time_text, zone = raw.decode("ascii").strip().split(" ")
    except (UnicodeDecodeError, ValueError) as error:
        raise ImapSyntaxError("bad date-time") from error
    day = parse_date_text(day_text.encode())
    parts = time_text.split(":")
    if (
        len(parts) != 3
        or not all(len(p) == 2 and p.isdigit() and p.isascii() for p in parts)
        or len(zone) != 5
        or zone[0] not in "+-"
        or not (zone[1:].isdigit() and zone[1:].isascii())
    ):
        raise ImapSyntaxError("bad date-time")
    hours, minutes = int(zone[1:3]), int(zone[3:5])
    if minutes > 59:
        raise ImapSyntaxError("bad date-time")
    offset = datetime.timedelta(hours=hours, minutes=minutes)
    try:
        return datetime.datetime(
            day.year,
            day.month,
            day.day,
            int(parts[0]),
            int(parts[1]),
            int(parts[2]),
            tzinfo=datetime.timezone(-offset if zone[0] == "-" else offset),
        )
    except ValueError as error:
        raise ImapSyntaxError("bad date-time") from error
