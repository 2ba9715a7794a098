"""Decoding bytes in a declared charset without ever raising."""

from __future__ import annotations

import codecs

# Python codecs that are text encodings but no charset a message may name: "undefined" always
# fails, the others turn escapes or DNS labels into text.
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "charmap"}
)
# Labels that senders use for the superset their software actually wrote (as browsers do).
_SUPERSETS = {"euc_kr": "cp949", "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932"}


def text_codec(charset: str | None) -> str | None:
    """Python's codec name for a MIME charset, or None if unknown or not a text encoding."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # "base64", "rot13", "zip"... are codecs too, but not charsets; a message must not pick them.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(info.name, info.name)


def decode_with(data: bytes, codec: str, errors: str = "strict") -> str:
    """``data.decode(codec)``, but UTF-16/32 without a byte order mark is big-endian as
    RFC 2781 says (Python would take the machine's order)."""
    if codec in ("utf-16", "utf-32") and not data.startswith(
        (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
    ):
        codec += "-be"
    if errors == "strict":
        return data.decode(codec)
    try:
        return data.decode(codec, errors)
    except (UnicodeError, LookupError):
        # Some codecs fail whatever the error handler; still text, never an exception.
        return data.decode("utf-8", errors)


def decode_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """``(text, problem)``: ``data`` decoded in ``charset``; ``problem`` when anything was lost
    or guessed (unknown charset, malformed sequences)."""
    codec = text_codec(charset)
    if codec is not None:
        try:
            return decode_with(data, codec), False
        except (UnicodeDecodeError, ValueError, LookupError):
            pass
    # Mislabelled text is most often UTF-8 (or its ASCII subset).
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    try:
        return decode_with(data, codec or "utf-8", "replace"), True
    except (ValueError, LookupError):
        return data.decode("utf-8", errors="replace"), True
