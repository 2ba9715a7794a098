"""BODY[...] sections by part number (RFC 3501 / RFC 9051 section 6.4.5), BINARY (RFC 3516),
partial fetches and the header helpers."""

from __future__ import annotations

import base64

import pytest

from stalwart_tx.imap.message_parts import (
    UnknownEncoding,
    binary_section,
    binary_size,
    header_fields,
    line_count,
    partial,
    rfc822_header,
    rfc822_text,
    section_bytes,
)
from stalwart_tx.imap.message_tree import parse_message


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


# The example of RFC 3501 section 6.4.5, part for part: a multipart/mixed with a text part,
# an attachment, a message/rfc822 holding its own multipart, and a nested multipart/mixed whose
# second part is a message holding a multipart/alternative.
GIF = base64.b64encode(b"GIF89a\x01\x00").decode()
INNER_3 = """From: three@example.org
Subject: part three
Content-Type: multipart/mixed; boundary="b3"

--b3
Content-Type: text/plain

3.1 text
--b3
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
--b3--
"""
INNER_42 = """From: four@example.org
Subject: part four two
Content-Type: multipart/mixed; boundary="b42"

--b42
Content-Type: text/plain

4.2.1 text
--b42
Content-Type: multipart/alternative; boundary="b422"

--b422
Content-Type: text/plain

4.2.2.1 plain
--b422
Content-Type: text/richtext

<bold>4.2.2.2</bold>
--b422--
--b42--
"""
EXAMPLE = crlf(
    f"""From: top@example.org
To: you@example.org
Subject: the example
MIME-Version: 1.0
Content-Type: MULTIPART/MIXED; boundary="top"

This is the preamble.
--top
Content-Type: TEXT/PLAIN; charset=us-ascii

part one
--top
Content-Type: APPLICATION/OCTET-STREAM
Content-Transfer-Encoding: base64

AAECAwQ=
--top
Content-Type: MESSAGE/RFC822

{INNER_3}
--top
Content-Type: MULTIPART/MIXED; boundary="four"

--four
Content-Type: IMAGE/GIF
Content-Transfer-Encoding: base64

{GIF}
--four
Content-Type: MESSAGE/RFC822

{INNER_42}
--four--

--top--
epilogue
"""
)


def test_example_parts() -> None:
    def body(part: tuple[int, ...]) -> bytes | None:
        return section_bytes(EXAMPLE, part, None, ())

    assert section_bytes(EXAMPLE, (), None, ()) == EXAMPLE
    assert section_bytes(EXAMPLE, (), "HEADER", ()) == EXAMPLE[: EXAMPLE.index(b"\r\n\r\n") + 4]
    assert section_bytes(EXAMPLE, (), "TEXT", ()) == EXAMPLE[EXAMPLE.index(b"\r\n\r\n") + 4 :]
    assert body((1,)) == b"part one"
    assert body((2,)) == b"AAECAwQ="
    assert body((3,)) == crlf(INNER_3)
    assert section_bytes(EXAMPLE, (3,), "HEADER", ()) == crlf(INNER_3.split("\n\n")[0] + "\n\n")
    assert section_bytes(EXAMPLE, (3,), "TEXT", ()) == crlf(INNER_3.split("\n\n", 1)[1])
    assert body((3, 1)) == b"3.1 text"
    assert body((3, 2)) == b"AAEC"
    assert body((4,)).startswith(b"--four\r\n")  # type: ignore[union-attr]
    assert body((4,)).endswith(b"--four--\r\n")  # type: ignore[union-attr]
    assert body((4, 1)) == GIF.encode()
    assert section_bytes(EXAMPLE, (4, 1), "MIME", ()) == crlf(
        "Content-Type: IMAGE/GIF\nContent-Transfer-Encoding: base64\n\n"
    )
    assert body((4, 2)) == crlf(INNER_42)
    assert section_bytes(EXAMPLE, (4, 2), "HEADER", ()) == crlf(INNER_42.split("\n\n")[0] + "\n\n")
    assert section_bytes(EXAMPLE, (4, 2), "TEXT", ()) == crlf(INNER_42.split("\n\n", 1)[1])
    assert body((4, 2, 1)) == b"4.2.1 text"
    assert body((4, 2, 2)).startswith(b"--b422\r\n")  # type: ignore[union-attr]
    assert body((4, 2, 2, 1)) == b"4.2.2.1 plain"
    assert body((4, 2, 2, 2)) == b"<bold>4.2.2.2</bold>"
    assert section_bytes(EXAMPLE, (4, 2, 2, 2), "MIME", ()) == crlf(
        "Content-Type: text/richtext\n\n"
    )


def test_every_mime_header() -> None:
    expected = {
        (1,): "Content-Type: TEXT/PLAIN; charset=us-ascii\n\n",
        (2,): "Content-Type: APPLICATION/OCTET-STREAM\nContent-Transfer-Encoding: base64\n\n",
        (3,): "Content-Type: MESSAGE/RFC822\n\n",
        (3, 1): "Content-Type: text/plain\n\n",
        (3, 2): "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n",
        (4,): 'Content-Type: MULTIPART/MIXED; boundary="four"\n\n',
        (4, 2): "Content-Type: MESSAGE/RFC822\n\n",
        (4, 2, 1): "Content-Type: text/plain\n\n",
        (4, 2, 2): 'Content-Type: multipart/alternative; boundary="b422"\n\n',
        (4, 2, 2, 1): "Content-Type: text/plain\n\n",
    }
    for part, header in expected.items():
        assert section_bytes(EXAMPLE, part, "MIME", ()) == crlf(header), part


@pytest.mark.parametrize(
    "part", [(0,), (5,), (1, 1), (2, 1), (3, 3), (4, 3), (4, 1, 1), (4, 2, 3), (4, 2, 2, 3)]
)
def test_nonexistent_parts(part: tuple[int, ...]) -> None:
    assert section_bytes(EXAMPLE, part, None, ()) is None
    assert section_bytes(EXAMPLE, part, "MIME", ()) is None
    assert binary_section(EXAMPLE, part) is None


@pytest.mark.parametrize("text", ["HEADER", "TEXT", "HEADER.FIELDS", "HEADER.FIELDS.NOT"])
def test_message_texts_only_on_messages(text: str) -> None:
    # Only the message itself and message/rfc822 parts have a HEADER and a TEXT.
    for part in [(1,), (2,), (4,), (4, 1), (3, 1), (4, 2, 2)]:
        assert section_bytes(EXAMPLE, part, text, ("subject",)) is None
    assert section_bytes(EXAMPLE, (), "MIME", ()) is None


def test_section_text_any_case() -> None:
    assert section_bytes(EXAMPLE, (3,), "header", ()) == section_bytes(EXAMPLE, (3,), "HEADER", ())
    assert section_bytes(EXAMPLE, (), "Bogus", ()) is None


def test_header_fields() -> None:
    message = crlf(
        "Subject: one\nX-Folded: a\n  b\nfrom: me@example.org\nTo: you@example.org\n"
        "SUBJECT: two\n\nbody\n"
    )
    assert section_bytes(message, (), "HEADER.FIELDS", ("Subject", "FROM")) == crlf(
        "Subject: one\nfrom: me@example.org\nSUBJECT: two\n\n"
    )
    assert section_bytes(message, (), "HEADER.FIELDS.NOT", ("subject", "from")) == crlf(
        "X-Folded: a\n  b\nTo: you@example.org\n\n"
    )
    assert header_fields(message, ("x-folded",)) == crlf("X-Folded: a\n  b\n\n")
    assert header_fields(message, ("x-folded",), not_=True) == section_bytes(
        message, (), "HEADER.FIELDS.NOT", ("X-FOLDED",)
    )
    # Nothing matched: still the blank line.
    assert header_fields(message, ("nothing",)) == b"\r\n"
    assert section_bytes(EXAMPLE, (4, 2), "HEADER.FIELDS", ("subject",)) == crlf(
        "Subject: part four two\n\n"
    )


def test_header_fields_without_blank_line() -> None:
    # A message with no body and no blank line: the one case without it (section 6.4.5).
    message = b"Subject: only\r\nTo: x@example.org\r\n"
    assert header_fields(message, ("subject",)) == b"Subject: only\r\n"
    assert rfc822_header(message) == message
    assert rfc822_text(message) == b""
    last_unterminated = b"Subject: only\r\nTo: x@example.org"
    assert header_fields(last_unterminated, ("to",)) == b"To: x@example.org"


def test_no_separator_ends_header_at_first_non_field_line() -> None:
    message = b"Subject: hi\r\nthis is not a field\r\nmore\r\n"
    assert section_bytes(message, (), "HEADER", ()) == b"Subject: hi\r\n"
    assert section_bytes(message, (), "TEXT", ()) == b"this is not a field\r\nmore\r\n"
    assert section_bytes(message, (1,), None, ()) == b"this is not a field\r\nmore\r\n"


def test_single_part_message() -> None:
    message = crlf("Subject: plain\nContent-Type: text/plain\n\nline one\nline two\n")
    assert section_bytes(message, (1,), None, ()) == crlf("line one\nline two\n")
    assert section_bytes(message, (1,), None, ()) == section_bytes(message, (), "TEXT", ())
    # The MIME header of part 1 of a one-part message is the message's header.
    assert section_bytes(message, (1,), "MIME", ()) == rfc822_header(message)
    assert section_bytes(message, (2,), None, ()) is None
    assert section_bytes(message, (1, 1), None, ()) is None
    assert section_bytes(message, (1,), "HEADER", ()) is None
    assert rfc822_text(message) == crlf("line one\nline two\n")


def test_message_rfc822_with_one_part_body() -> None:
    inner = "Subject: inner\n\ninner body\n"
    message = crlf(f"Subject: outer\nContent-Type: message/rfc822\n\n{inner}")
    assert section_bytes(message, (1,), None, ()) == crlf(inner)
    assert section_bytes(message, (1,), "HEADER", ()) == crlf("Subject: inner\n\n")
    assert section_bytes(message, (1,), "TEXT", ()) == crlf("inner body\n")
    # The encapsulated message's body is its part 1; its MIME header is that message's header.
    assert section_bytes(message, (1, 1), None, ()) == crlf("inner body\n")
    assert section_bytes(message, (1, 1), "MIME", ()) == crlf("Subject: inner\n\n")
    assert section_bytes(message, (1, 2), None, ()) is None


def test_bare_lf() -> None:
    message = (
        b'Subject: lf\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
        b"Content-Type: text/plain\n\none\n--b\n\ntwo\n--b--\n"
    )
    assert section_bytes(message, (), "HEADER", ()) == (
        b'Subject: lf\nContent-Type: multipart/mixed; boundary="b"\n\n'
    )
    assert section_bytes(message, (1,), None, ()) == b"one"
    assert section_bytes(message, (1,), "MIME", ()) == b"Content-Type: text/plain\n\n"
    assert section_bytes(message, (2,), None, ()) == b"two"
    assert section_bytes(message, (2,), "MIME", ()) == b"\n"
    assert header_fields(message, ("subject",)) == b"Subject: lf\n\n"


def test_missing_closing_boundary() -> None:
    message = crlf(
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\none\n--b\n\ntwo\nand more\n'
    )
    assert section_bytes(message, (1,), None, ()) == b"one"
    assert section_bytes(message, (2,), None, ()) == b"two\r\nand more\r\n"
    assert section_bytes(message, (3,), None, ()) is None


def test_missing_boundary_is_one_leaf() -> None:
    message = crlf("Content-Type: multipart/mixed\n\n--b\n\none\n--b--\n")
    assert section_bytes(message, (1,), None, ()) == crlf("--b\n\none\n--b--\n")
    assert section_bytes(message, (2,), None, ()) is None


def test_binary_decodes() -> None:
    assert binary_section(EXAMPLE, (2,)) == b"\x00\x01\x02\x03\x04"
    assert binary_size(EXAMPLE, (2,)) == 5
    assert binary_section(EXAMPLE, (3, 2)) == b"\x00\x01\x02"
    assert binary_section(EXAMPLE, (4, 1)) == b"GIF89a\x01\x00"
    assert binary_section(EXAMPLE, (1,)) == b"part one"
    assert binary_section(EXAMPLE, ()) == EXAMPLE
    qp = crlf(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: Quoted-Printable\n\n"
        "caf=C3=A9 soft=\nbreak\n"
    )
    assert binary_section(qp, (1,)) == "café softbreak\r\n".encode()
    assert binary_size(qp, (1,)) == len("café softbreak\r\n".encode())
    for encoding in ("7bit", "8BIT", "binary"):
        message = crlf(f"Content-Transfer-Encoding: {encoding}\n\n") + b"\xff\x00raw"
        assert binary_section(message, (1,)) == b"\xff\x00raw"


def test_binary_malformed_base64_is_decoded_as_far_as_it_goes() -> None:
    message = crlf("Content-Transfer-Encoding: base64\n\nAAEC!!AwQ=\n")
    assert binary_section(message, (1,)) == b"\x00\x01\x02\x03\x04"


def test_binary_unknown_encoding() -> None:
    message = crlf("Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n")
    assert binary_section(message, (1,)) == UnknownEncoding(b"x-uuencode")
    assert binary_size(message, (1,)) == UnknownEncoding(b"x-uuencode")
    assert section_bytes(message, (1,), None, ()) == b"begin 644 x\r\n"


def test_partial() -> None:
    data = b"0123456789"
    assert partial(data, 0, 4) == b"0123"
    assert partial(data, 8, 10) == b"89"
    assert partial(data, 10, 1) == b""
    assert partial(data, 100, 5) == b""
    assert partial(data, 3, 0) == b""


def test_line_count() -> None:
    assert line_count(b"") == 0
    assert line_count(b"one") == 1
    assert line_count(b"one\r\n") == 1
    assert line_count(b"one\r\ntwo") == 2
    assert line_count(b"a\nb\nc\n") == 3


def test_parse_is_cached_and_immutable() -> None:
    assert parse_message(EXAMPLE) is parse_message(EXAMPLE)


def test_tree_attributes() -> None:
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
        'Content-Type: Text/Plain; charset="utf-8"; format=flowed\n'
        "Content-ID: <c1@example.org>\nContent-Description: a\n  note\n"
        "Content-Transfer-Encoding: 8bit\n"
        "Content-Disposition: inline; filename=note.txt\nContent-Language: de\n"
        "Content-Location: note.txt\nContent-MD5: abc=\n\nnote\n--b--\n"
    )
    root = parse_message(raw)
    assert (root.type, root.subtype) == (b"multipart", b"mixed")
    assert root.params == ((b"boundary", b"b"),)
    (note,) = root.children
    assert (note.mime_type, note.type, note.subtype) == ("text/plain", b"Text", b"Plain")
    assert note.params == ((b"charset", b"utf-8"), (b"format", b"flowed"))
    assert note.id == b"<c1@example.org>"
    assert note.description == b"a  note"
    assert note.encoding == b"8bit"
    assert note.disposition is not None
    assert (note.disposition.kind, note.disposition.params) == (
        b"inline", ((b"filename", b"note.txt"),)
    )  # fmt: skip
    assert (note.language, note.location, note.md5) == ((b"de",), b"note.txt", b"abc=")
    assert raw[note.start : note.body_start].startswith(b"Content-Type: Text/Plain")
    assert raw[note.body_start : note.end] == b"note"


def test_space_before_colon_and_mbox_line() -> None:
    raw = b"From sender@example.org Mon Jan  1 00:00:00 2024\r\nSubject : spaced\r\n\r\nbody"
    assert header_fields(raw, ("subject",)) == b"Subject : spaced\r\n\r\n"
    assert header_fields(raw, ("x",), not_=True) == b"Subject : spaced\r\n\r\n"
