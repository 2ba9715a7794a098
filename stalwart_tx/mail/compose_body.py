"""Content-Transfer-Encoding for composed messages: the server picks it (RFC 8621 section 4.6).

Text that is short-line printable ASCII stays 7bit; other text is quoted-printable or base64,
whichever is shorter; anything else is base64 in 76-column lines. message/rfc822 stays as it is
(7bit or 8bit, as RFC 2046 section 5.2.1 wants) when its lines allow. Every encoding keeps the
exact octets: decoding gives back what was encoded.
"""

from __future__ import annotations

import binascii
import re
import secrets

_SHORT_LINE = 78
_MAX_LINE = 998
_QP_LINE = 76
_PRINTABLE_LINE = re.compile(rb"[\t\x20-\x7e]*")
_LINE_8BIT = re.compile(rb"[^\x00\r\n]*")


def canonical_text(value: str) -> bytes:
    """A text body value as UTF-8 with CRLF line breaks (RFC 2046 section 4.1.1)."""
    return value.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def _is_7bit(data: bytes, longest: int) -> bool:
    return all(len(line) <= longest and _PRINTABLE_LINE.fullmatch(line) for line in _lines(data))


def _is_8bit(data: bytes) -> bool:
    return all(len(line) <= _MAX_LINE and _LINE_8BIT.fullmatch(line) for line in _lines(data))


def base64_body(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 section 6.8)."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[i : i + _QP_LINE] + b"\r\n" for i in range(0, len(encoded), _QP_LINE))


def quoted_printable(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045 section 6.7) of text whose line breaks are all CRLF: '=',
    controls, 8-bit octets and whitespace ending a line escaped, lines soft-broken at 76."""
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if b"\n" not in data:
        # With no line break to copy, binascii soft-breaks with a bare LF.
        encoded = encoded.replace(b"\n", b"\r\n")
    return encoded


def _crlf_only(data: bytes) -> bool:
    bare = data.replace(b"\r\n", b"")
    return b"\r" not in bare and b"\n" not in bare


def transfer_encode(data: bytes, mime_type: str) -> tuple[str, bytes]:
    """``(Content-Transfer-Encoding, encoded body)`` for content of ``mime_type``."""
    if mime_type in ("message/rfc822", "message/global"):
        if _is_7bit(data, _MAX_LINE):
            return "7bit", data
        if _is_8bit(data):
            return "8bit", data
        return "base64", base64_body(data)
    if mime_type.startswith("text/"):
        if _is_7bit(data, _SHORT_LINE):
            return "7bit", data
        encoded = base64_body(data)
        if _crlf_only(data):
            qp = quoted_printable(data)
            if len(qp) <= len(encoded):
                return "quoted-printable", qp
        return "base64", encoded
    return "base64", base64_body(data)


def text_charset(data: bytes) -> str | None:
    """The charset to label text whose client named none: us-ascii, utf-8, or unknown."""
    if data.isascii():
        return "us-ascii"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "utf-8"


def boundary_for(contents: list[bytes]) -> str:
    """A multipart boundary whose delimiter occurs in none of ``contents``. "=_" cannot occur in
    quoted-printable or base64, and the random part makes a collision with other content
    practically impossible; it is still checked."""
    while True:
        boundary = "=_" + secrets.token_hex(16)
        delimiter = b"--" + boundary.encode("ascii")
        if not any(delimiter in content for content in contents):
            return boundary
