"""The transfer encodings composed messages use: chosen by the server, always decodable back
to the exact octets, CRLF only, lines within bounds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.mail.compose_body import (
    base64_body,
    boundary_for,
    canonical_text,
    text_charset,
    transfer_encode,
)
from stalwart_tx.mail.transfer import decode_transfer

_BARE_BREAK = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def _check(data: bytes, mime_type: str) -> str:
    encoding, body = transfer_encode(data, mime_type)
    assert decode_transfer(body, encoding) == (data, False)
    if encoding in ("base64", "quoted-printable", "7bit"):
        assert _BARE_BREAK.search(body) is None
        assert body.isascii()
    if encoding in ("base64", "quoted-printable"):
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
    return encoding


def test_the_encoding_chosen() -> None:
    assert _check(b"short ASCII lines\r\nonly\r\n", "text/plain") == "7bit"
    assert _check(b"x" * 79, "text/plain") == "quoted-printable"
    assert _check("café\r\n".encode(), "text/html") == "quoted-printable"
    assert _check("日本語".encode() * 50, "text/plain") == "base64"
    assert _check(b"LF only\nlines\n", "text/plain") == "base64"  # bytes kept exactly
    assert _check(b"nul\x00", "text/plain") == "quoted-printable"
    assert _check(b"\x89PNG", "image/png") == "base64"
    assert _check(b"", "application/octet-stream") == "base64"
    assert _check(b"Subject: x\r\n\r\nhi\r\n", "message/rfc822") == "7bit"
    assert _check("Subject: é\r\n\r\nhi\r\n".encode(), "message/rfc822") == "8bit"
    assert _check(b"Subject: x\n\nbare LF\n", "message/rfc822") == "base64"


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=2000), mime_type=st.sampled_from(["text/plain", "image/png"]))
def test_any_octets_come_back(data: bytes, mime_type: str) -> None:
    _check(data, mime_type)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=1000))
def test_any_text_comes_back(text: str) -> None:
    _check(canonical_text(text), "text/plain")


def test_base64_lines() -> None:
    body = base64_body(bytes(range(256)) * 4)
    lines = body.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) == 76 for line in lines[:-2])
    assert base64_body(b"") == b""


def test_canonical_text_and_charset() -> None:
    assert canonical_text("a\nb\r\nc\rd") == b"a\r\nb\r\nc\rd"
    assert text_charset(b"ascii") == "us-ascii"
    assert text_charset("é".encode()) == "utf-8"
    assert text_charset(b"\xe9") is None


def test_boundaries_avoid_the_content() -> None:
    boundary = boundary_for([b"--=_x", b"abc"])
    assert boundary.startswith("=_") and len(boundary) == 34
    assert boundary_for([]) != boundary
