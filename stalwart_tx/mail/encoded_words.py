"""RFC 2047 encoded words, decoded as RFC 8621 section 4.1.2.2 (the Text form) says.

Only encoded words that stand as whole whitespace-separated tokens are decoded (placement
rules); words with an unknown charset or bad encoding stay as they are. Whitespace between two
adjacent encoded words is dropped, and adjacent words in one charset are decoded together so a
character split across them survives. Decoded NULs and controls are dropped.
"""

from __future__ import annotations

import binascii
import re
import unicodedata

from stalwart_tx.mail.charsets import decode_with, text_codec

_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
# Some writers put encoded words back to back in one token; that is still unambiguous.
_TOKEN_OF_WORDS = re.compile(rf"(?:{_WORD.pattern})+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"(\s+)")


def unfold(value: str) -> str:
    """Line breaks of folded header lines removed (RFC 5322 section 2.2.3)."""
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r\n", "").replace("\n", "")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            if len(text) % 4 == 1:
                return None
            # Strict: a word with stray characters is not syntactically correct, so not decoded.
            padded = text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)
            return binascii.a2b_base64(padded, strict_mode=True)
        return binascii.a2b_qp(text.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _decode_token(token: str) -> list[tuple[str, bytes]] | None:
    """The (codec, bytes) of each encoded word making up ``token``, or None if it is not one."""
    if _TOKEN_OF_WORDS.fullmatch(token) is None:
        return None
    words = []
    for match in _WORD.finditer(token):
        codec = text_codec(match.group(1))
        data = _word_bytes(match.group(2), match.group(3))
        if codec is None or data is None:
            return None
        words.append((codec, data))
    return words


def decode_words(value: str) -> str:
    """``value`` with its correctly placed encoded words decoded (no unfolding, no NFC)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []  # encoded words since the last plain token
    pending_space = ""

    def flush() -> None:
        codec, data = "", b""
        for word_codec, word_data in pending:
            if word_codec != codec and data:
                out.append(_CONTROLS.sub("", decode_with(data, codec, "replace")))
                data = b""
            codec = word_codec
            data += word_data
        if data:
            out.append(_CONTROLS.sub("", decode_with(data, codec, "replace")))
        pending.clear()

    for piece in _SPACE.split(value):
        if not piece:
            continue
        if piece.isspace():
            pending_space = piece
            continue
        words = _decode_token(piece)
        if words is not None:
            if not pending:
                out.append(pending_space)
            pending.extend(words)
        else:
            flush()
            out.append(pending_space)
            out.append(piece)
        pending_space = ""
    flush()
    out.append(pending_space)
    return "".join(out)


def as_text(raw: str) -> str:
    """The Text form of a raw header value (RFC 8621 section 4.1.2.2)."""
    return unicodedata.normalize("NFC", decode_words(unfold(raw).lstrip(" ")))
