"""Content-Transfer-Encoding decoding that never raises and says when it had to guess."""

from __future__ import annotations

import binascii
import re

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_NOT_BASE64_OR_SPACE = re.compile(rb"[^A-Za-z0-9+/=\s]")
# "=" must start a hex pair or a soft line break; anything else is malformed.
_BAD_QP_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*(?:\r?\n|\Z))")
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})


def decode_transfer(data: bytes, encoding: str) -> tuple[bytes, bool]:
    """``(content, problem)``: ``data`` decoded; ``problem`` if it was malformed or unknown."""
    encoding = encoding.strip().lower()
    if encoding in _IDENTITY:
        return data, False
    if encoding == "base64":
        return _base64(data)
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(data), _BAD_QP_ESCAPE.search(data) is not None
        except (binascii.Error, ValueError):
            return data, True
    # x-uuencode and friends: handed over as they are, flagged.
    return data, True


def _base64(data: bytes) -> tuple[bytes, bool]:
    # Decode what is there: drop stray characters and anything after the padding, fix the
    # padding, and flag it, rather than refusing the whole part.
    problem = _NOT_BASE64_OR_SPACE.search(data) is not None
    body = data.split(b"=", 1)[0]
    if b"=" in data and data.split(b"=", 1)[1].strip(b"= \t\r\n"):
        problem = True
    clean = _NOT_BASE64.sub(b"", body)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
        problem = True
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4)), problem
    except binascii.Error:
        return b"", True
