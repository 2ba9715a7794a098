"""EmailBodyPart properties (RFC 8621 4.1.4) and MIME splitting (RFC 2046 5.1.1)."""

from __future__ import annotations

import pytest

from stalwart_tx.mail.body import MAX_DEPTH, BodyPart, split_multipart
from stalwart_tx.mail.parse import parse_message


def _root(head: str, body: bytes = b"x") -> BodyPart:
    return parse_message(head.encode() + b"\r\n" + body).body_structure


@pytest.mark.parametrize(
    ("head", "charset"),
    [
        ("", "us-ascii"),
        ("Content-Type: text/html\r\n", "us-ascii"),
        ('Content-Type: text/plain; charset="UTF-8"\r\n', "UTF-8"),
        ("Content-Type: application/json; charset=utf-8\r\n", "utf-8"),
        ("Content-Type: image/png\r\n", None),
    ],
)
def test_charset(head: str, charset: str | None) -> None:
    assert _root(head).charset == charset


def test_part_properties() -> None:
    part = _root(
        'Content-Type: Image/PNG; name="=?utf-8?q?ignored?="\r\n'
        "Content-Disposition: INLINE;\r\n filename*0*=utf-8''caf%C3%A9;\r\n filename*1=.png\r\n"
        "Content-ID: (c) <img1@x> \r\n"
        "Content-Language: en (English), fr\r\n"
        "Content-Location: <https://example.com/\r\n a.png>\r\n"
    )
    assert (part.type, part.disposition, part.name) == ("image/png", "inline", "café.png")
    assert (part.cid, part.language, part.location) == (
        "img1@x", ["en", "fr"], "https://example.com/a.png",
    )  # fmt: skip
    encoded_name = _root('Content-Type: application/pdf; name="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="')
    assert encoded_name.name == "résumé.pdf"


def test_invalid_type_is_text_plain() -> None:
    assert _root("Content-Type: garbage\r\n").type == "text/plain"


def test_split_multipart_per_rfc_2046() -> None:
    body = (
        b"preamble\r\n--b \t\r\nA\r\n--bb\r\nstill A\r\n--b\r\n\r\nB\r\n\r\n--b--\r\n"
        b"epilogue\r\n--b\r\n"
    )
    # Transport padding allowed; a longer boundary with the same start is not a delimiter;
    # the CRLF before a delimiter is the delimiter's; the epilogue is ignored.
    assert split_multipart(body, b"b") == [b"A\r\n--bb\r\nstill A", b"\r\nB\r\n"]
    assert split_multipart(b"no delimiters", b"b") is None
    assert split_multipart(b"--b\r\nonly\r\n", b"b") == [b"only\r\n"]


def test_depth_cap() -> None:
    raw = b"Content-Type: text/plain\r\n\r\nbottom"
    for level in range(MAX_DEPTH + 2, 0, -1):
        raw = (
            b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (level, level)
            + raw
            + b"\r\n--d%d--" % level
        )
    parsed = parse_message(raw)
    depth, part = 0, parsed.body_structure
    while part.sub_parts:
        depth, part = depth + 1, part.sub_parts[0]
    assert depth == MAX_DEPTH
    assert part.type == "application/octet-stream"
    assert b"bottom" in part.content
    assert parsed.attachments == [part]
