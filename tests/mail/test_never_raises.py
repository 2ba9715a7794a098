"""parse_message is total: arbitrary bytes and mutated real messages give a usable Email."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalwart_tx.mail.addresses import grouped_addresses
from stalwart_tx.mail.body import body_structure
from stalwart_tx.mail.encoded_words import as_text
from stalwart_tx.mail.headers import Form, date, message_ids, urls
from stalwart_tx.mail.parse import body_values, email_properties, header_value, parse_message
from stalwart_tx.mail.partition import partition

GOLDEN = Path(__file__).parent / "golden"
REAL = [path.read_bytes() for path in sorted(GOLDEN.glob("*.eml")) if path.stat().st_size < 5000]
ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Pieces that steer mutations into the interesting corners of MIME.
TOKENS = [
    b"\r\n", b"\n", b"\r\n\r\n", b"--", b"boundary=", b"Content-Type: multipart/mixed; ",
    b"Content-Transfer-Encoding: base64\r\n", b"quoted-printable", b"=?utf-8?b?", b"?=",
    b"=?", b"\x00", b"\xff", b"\xc3", b"<", b">", b'"', b"(", b")", b":", b";", b",",
    b"message/rfc822", b"charset=", b"undefined", b"utf-16", b"iso-2022-jp", b"filename*=",
    b"'", b"=", b" ", b"\t",
]  # fmt: skip


def check(raw: bytes) -> None:
    # The unguarded layers first: parse_message's last-resort fallback must stay unused, or it
    # would hide a bug behind a message shown as one opaque part.
    structure = body_structure(raw)
    partition(structure)
    for header in structure.headers:
        for parser in (as_text, grouped_addresses, message_ids, date, urls):
            json.dumps(parser(header.value))
    parsed = parse_message(raw)
    # Same tree as the unguarded parse: the fallback was not taken.
    assert [p.type for p in parsed.parts()] == [p.type for p in structure.leaves()]
    assert parsed.size == len(raw)
    email = email_properties(parsed, "Bmessage")
    json.dumps(email)
    part_ids = [part.part_id for part in parsed.parts()]
    assert part_ids == [str(n) for n in range(1, len(part_ids) + 1)]
    assert all(ID.fullmatch(p["blobId"]) for p in email["textBody"] + email["attachments"])
    assert len(parsed.preview) <= 256
    json.dumps(body_values(parsed, [p for p in part_ids if p], 100))
    for form in Form:
        json.dumps(header_value(parsed, "From", form, all=True))
        json.dumps(header_value(parsed, "Subject", form))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            raw[at:at] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 20))]
        elif action == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del raw[at:]
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_messages(raw: bytes) -> None:
    check(raw)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_header_values(value: str) -> None:
    raw = f"From: {value}\r\nSubject: {value}\r\nDate: {value}\r\n\r\n".encode("utf-8", "replace")
    check(raw)


def test_pathological_sizes_stay_fast() -> None:
    # Many parts, deep nesting without closes, a megabyte line: linear work, no recursion limit.
    many = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 5000
    assert len(parse_message(many).parts()) == 5000
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(500)
    )
    check(nested)
    check(b"Subject: " + b"a" * 1_000_000 + b"\r\n\r\n" + b"b" * 1_000_000)
