"""bodyValues (RFC 8621 4.1.4): decoding, charset fallback, encoding problems, truncation."""

from __future__ import annotations

from stalwart_tx.mail.blob_ids import parse_part_blob_id, part_blob_id
from stalwart_tx.mail.parse import body_values, parse_message, part_content


def _single(content_type: str, body: bytes, encoding: str | None = None) -> bytes:
    head = f"Content-Type: {content_type}\r\n"
    if encoding:
        head += f"Content-Transfer-Encoding: {encoding}\r\n"
    return head.encode() + b"\r\n" + body


def _value(raw: bytes, max_bytes: int = 0) -> dict[str, object]:
    return body_values(parse_message(raw), ["1"], max_bytes)["1"]


def test_charsets_decoded() -> None:
    assert _value(_single("text/plain; charset=iso-8859-1", b"caf\xe9")) == {
        "value": "café", "isEncodingProblem": False, "isTruncated": False,
    }  # fmt: skip
    assert _value(_single("text/plain; charset=utf-8", b"Y2Fmw6k=", "base64"))["value"] == "café"
    qp = _single("text/plain; charset=utf-8", b"caf=C3=A9=\r\n!", "quoted-printable")
    assert _value(qp)["value"] == "café!"


def test_unknown_charset_falls_back_and_is_a_problem() -> None:
    assert _value(_single("text/plain; charset=x-klingon", "café".encode())) == {
        "value": "café", "isEncodingProblem": True, "isTruncated": False,
    }  # fmt: skip
    # Not UTF-8 either: replacement characters, still a problem.
    value = _value(_single("text/plain; charset=x-klingon", b"caf\xe9"))
    assert value["value"] == "caf\ufffd"
    assert value["isEncodingProblem"] is True


def test_codecs_that_are_not_charsets_are_unknown_charsets() -> None:
    for name in ("undefined", "unicode_escape", "idna", "base64", "rot13"):
        raw = _single(f'text/plain; charset={name}; name="=?{name}?q?n?="', b"abc\\x41")
        parsed = parse_message(raw)
        assert parsed.body_structure.type == "text/plain"
        assert parsed.body_structure.name == f"=?{name}?q?n?="
        value = body_values(parsed, ["1"], 0)["1"]
        assert value == {"value": "abc\\x41", "isEncodingProblem": True, "isTruncated": False}


def test_superset_charsets_decode_what_senders_wrote() -> None:
    # 0x81 0x41 is in cp949 but not in EUC-KR proper; mail labelled ks_c_5601 has it.
    assert _value(_single("text/plain; charset=ks_c_5601-1987", b"\x81\x41"))["value"] == "\uac02"


def test_malformed_charset_data_is_a_problem() -> None:
    value = _value(_single("text/plain; charset=utf-8", b"ok \xff\xfe"))
    assert value["value"] == "ok \ufffd\ufffd"
    assert value["isEncodingProblem"] is True
    # Not a charset at all, though Python has a codec of that name.
    assert _value(_single("text/plain; charset=rot13", b"abc"))["isEncodingProblem"] is True


def test_invalid_base64_is_a_problem_but_decoded_as_far_as_possible() -> None:
    value = _value(_single("text/plain", b"aGVsbG8g!!d29y\r\nbGQ", "base64"))
    assert value["value"] == "hello world"
    assert value["isEncodingProblem"] is True


def test_truncation_at_a_character_boundary() -> None:
    raw = _single("text/plain; charset=utf-8", "aé€😀".encode())  # 1 + 2 + 3 + 4 bytes
    assert _value(raw, 10) == {"value": "aé€😀", "isEncodingProblem": False, "isTruncated": False}
    assert _value(raw, 9) == {"value": "aé€", "isEncodingProblem": False, "isTruncated": True}
    assert _value(raw, 5)["value"] == "aé"
    assert _value(raw, 1)["value"] == "a"


def test_html_truncation_not_inside_a_tag() -> None:
    raw = _single("text/html", b'<p>Hi <a href="https://example.com">there</a></p>')
    assert _value(raw, 20) == {"value": "<p>Hi ", "isEncodingProblem": False, "isTruncated": True}


def test_only_text_parts_have_body_values() -> None:
    parsed = parse_message(_single("image/png", b"\x89PNG"))
    assert body_values(parsed, ["1", "7"], 0) == {}


def test_part_blob_ids_round_trip_and_resolve() -> None:
    blob_id = part_blob_id("B" + "a" * 64, "12")
    assert blob_id == "P12_B" + "a" * 64
    assert parse_part_blob_id(blob_id) == ("B" + "a" * 64, "12")
    assert parse_part_blob_id("B" + "a" * 64) is None
    assert parse_part_blob_id("P0_B") is None
    assert parse_part_blob_id("P1_" + "x" * 253) is None
    assert parse_part_blob_id("P1_a_b") == ("a_b", "1")
    # A part of a message that is itself a part (Email/parse of a message/rfc822 part).
    nested = part_blob_id(blob_id, "3")
    assert parse_part_blob_id(nested) == (blob_id, "3")
    parsed = parse_message(_single("application/pdf", b"JVBERi0=", "base64"))
    assert part_content(parsed, "1") == b"%PDF-"
    assert part_content(parsed, "2") is None
