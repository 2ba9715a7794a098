"""BODY and BODYSTRUCTURE, read back with the RFC 3501 / RFC 9051 body grammar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stalwart_tx.imap.message_parts import line_count, section_bytes
from stalwart_tx.imap.message_structure import bodystructure
from stalwart_tx.imap.message_tree import MAX_DEPTH, MimePart, parse_message
from stalwart_tx.imap.message_values import render
from tests.imap.test_message_envelope import RFC_HEADER
from tests.imap.test_message_parts import EXAMPLE, crlf
from tests.imap.test_message_values import read_body

GOLDEN = Path(__file__).parent.parent / "mail" / "golden"


def lines(count: int, width: int, last: int) -> bytes:
    """``count`` lines of ``width`` octets with CRLF, the last one ``last`` octets."""
    return (b"x" * (width - 2) + b"\r\n") * (count - 1) + b"y" * (last - 2) + b"\r\n"


def structure(raw: bytes, extensible: bool = True) -> dict[str, Any]:
    return read_body(render(bodystructure(raw, extensible)), extensible)


def test_rfc_body_example() -> None:
    # RFC 3501 section 7.4.2: a 3028-octet, 92-line text body.
    raw = RFC_HEADER + lines(92, 33, 3028 - 91 * 33)
    assert render(bodystructure(raw, False)) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
    )


def test_rfc_bodystructure_example() -> None:
    raw = (
        b"Subject: diff\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: MULTIPART/MIXED; BOUNDARY="=_b"\r\n\r\n'
        b"--=_b\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        + lines(23, 50, 1152 - 22 * 50)
        + b"\r\n--=_b\r\n"
        b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
        b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        b"Content-Description: Compiler diff\r\n"
        b"Content-Transfer-Encoding: BASE64\r\n\r\n"
        + lines(73, 62, 4554 - 72 * 62)
        + b"\r\n--=_b--\r\n"
    )
    # As RFC 3501 section 7.4.2 prints it: the parts back to back, as the grammar has them.
    assert render(bodystructure(raw, False)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
    found = structure(raw)
    assert found["params"] == [(b"BOUNDARY", b"=_b")]
    assert [part["md5"] for part in found["parts"]] == [None, None]


def test_defaults() -> None:
    found = structure(b"Subject: no type\r\n\r\nhi\r\n")
    assert found == {
        "type": b"TEXT", "subtype": b"PLAIN", "params": [(b"CHARSET", b"US-ASCII")],
        "id": None, "description": None, "encoding": b"7BIT", "octets": 4, "lines": 1,
        "md5": None, "disposition": None, "language": None, "location": None,
    }  # fmt: skip
    # A text part without a charset gets MIME's implicit one; other types get nothing.
    assert structure(b"Content-Type: text/html\r\n\r\n<p>")["params"] == [(b"CHARSET", b"US-ASCII")]
    assert structure(b"Content-Type: image/png\r\n\r\n")["params"] is None


def test_extension_fields() -> None:
    raw = crlf(
        'Content-Type: application/pdf; name*0="a very"; name*1=" long.pdf"\n'
        'Content-Disposition: attachment; filename="report.pdf"; size=5\n'
        "Content-Language: en, fr (French)\n"
        "Content-Location: http://example.org/\n  report.pdf\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-ID: <id@example.org>\n"
        "Content-Description: The report\n"
        "Content-Transfer-Encoding: base64\n\nAAEC\n"
    )
    found = structure(raw)
    assert found["type"] == b"application"
    assert found["subtype"] == b"pdf"
    # RFC 2231 continuations are passed on as written.
    assert found["params"] == [(b"name*0", b"a very"), (b"name*1", b" long.pdf")]
    assert found["id"] == b"<id@example.org>"
    assert found["description"] == b"The report"
    assert found["encoding"] == b"base64"
    assert found["octets"] == 6
    assert "lines" not in found
    assert found["md5"] == b"Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert found["disposition"] == (b"attachment", [(b"filename", b"report.pdf"), (b"size", b"5")])
    assert found["language"] == [b"en", b"fr"]
    assert found["location"] == b"http://example.org/report.pdf"
    assert render(bodystructure(raw, False)).count(b" ") < render(bodystructure(raw, True)).count(
        b" "
    )


def test_the_example_message() -> None:
    found = structure(EXAMPLE)
    assert found["subtype"] == b"MIXED"
    one, two, three, four = found["parts"]
    assert (one["type"], one["subtype"], one["params"]) == (
        b"TEXT", b"PLAIN", [(b"charset", b"us-ascii")]
    )  # fmt: skip
    assert (two["type"], two["encoding"], two["octets"]) == (b"APPLICATION", b"base64", 8)
    assert (three["type"], three["subtype"]) == (b"MESSAGE", b"RFC822")
    assert three["envelope"]["subject"] == b"part three"
    assert three["envelope"]["from"] == [(None, None, b"three", b"example.org")]
    assert [p["subtype"] for p in three["body"]["parts"]] == [b"plain", b"octet-stream"]
    inner = section_bytes(EXAMPLE, (3,), None, ())
    assert inner is not None
    assert (three["octets"], three["lines"]) == (len(inner), line_count(inner))
    assert [p["type"] for p in four["parts"]] == [b"IMAGE", b"MESSAGE"]
    forty_two = four["parts"][1]
    assert forty_two["envelope"]["subject"] == b"part four two"
    alternative = forty_two["body"]["parts"][1]
    assert alternative["subtype"] == b"alternative"
    assert [p["subtype"] for p in alternative["parts"]] == [b"plain", b"richtext"]
    assert [p["octets"] for p in alternative["parts"]] == [
        len(section_bytes(EXAMPLE, (4, 2, 2, n), None, ()) or b"") for n in (1, 2)
    ]


def test_message_global_is_opened() -> None:
    raw = crlf("Content-Type: message/global\n\nSubject: inner\n\nbody\n")
    found = structure(raw)
    assert found["envelope"]["subject"] == b"inner"
    assert found["body"]["type"] == b"TEXT"


def test_digest_parts_default_to_messages() -> None:
    raw = crlf(
        'Content-Type: multipart/digest; boundary="d"\n\n--d\n\nSubject: one\n\nfirst\n'
        "--d\nContent-Type: text/plain\n\nnot a message\n--d--\n"
    )
    first, second = structure(raw)["parts"]
    assert (first["type"], first["subtype"]) == (b"MESSAGE", b"RFC822")
    assert first["envelope"]["subject"] == b"one"
    assert second["type"] == b"text"


def test_broken_structure() -> None:
    # No boundary: the multipart is one text leaf, as on the JMAP side.
    found = structure(crlf("Content-Type: multipart/mixed\n\n--b\n\none\n"))
    assert (found["type"], found["subtype"]) == (b"TEXT", b"PLAIN")
    # A close delimiter and nothing else: one empty part keeps the grammar's 1*body.
    found = structure(crlf('Content-Type: multipart/mixed; boundary="b"\n\n--b--\n'))
    assert len(found["parts"]) == 1
    assert found["parts"][0]["octets"] == 0
    # A type that is no type.
    found = structure(crlf("Content-Type: nonsense\n\nx\n"))
    assert (found["type"], found["subtype"]) == (b"TEXT", b"PLAIN")


def test_depth_limit() -> None:
    depth = MAX_DEPTH + 5
    raw = (
        b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
            for n in range(depth)
        )
        + b"\r\ndeep\r\n"
    )
    found = structure(raw)
    level = 0
    while "parts" in found:
        found = found["parts"][0]
        level += 1
    assert level == MAX_DEPTH
    assert (found["type"], found["subtype"]) == (b"APPLICATION", b"OCTET-STREAM")
    messages = b"Content-Type: message/rfc822\r\n\r\n" * depth + b"Subject: x\r\n\r\nx"
    found = structure(messages)
    level = 0
    while "body" in found:
        found = found["body"]
        level += 1
    assert level == MAX_DEPTH
    assert found["type"] == b"APPLICATION"


def _leaves(part: MimePart) -> list[MimePart]:
    if part.children:
        return [leaf for child in part.children for leaf in _leaves(child)]
    if part.message is not None:
        return [part, *_leaves(part.message)]
    return [part]


def _read_leaves(found: dict[str, Any]) -> list[dict[str, Any]]:
    if "parts" in found:
        return [leaf for part in found["parts"] for leaf in _read_leaves(part)]
    if "body" in found:
        return [found, *_read_leaves(found["body"])]
    return [found]


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.eml")), ids=lambda path: path.stem)
@pytest.mark.parametrize("extensible", [True, False])
def test_real_world_shaped(path: Path, extensible: bool) -> None:
    raw = path.read_bytes()
    found = structure(raw, extensible)
    tree = _leaves(parse_message(raw))
    read = _read_leaves(found)
    assert len(read) == len(tree)
    for part, seen in zip(tree, read, strict=True):
        body = raw[part.body_start : part.end]
        assert seen["octets"] == len(body)
        assert seen["type"].lower() == part.type.lower()
        if seen["type"].lower() == b"text" or "body" in seen:
            assert seen["lines"] == line_count(body)
        assert ("md5" in seen) == extensible
