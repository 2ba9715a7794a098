"""Bcc fields leave the message on its way out; nothing else changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.mail.outgoing import without_bcc
from stalwart_tx.mail.parse import parse_message


def test_bcc_fields_go_with_their_continuation_lines() -> None:
    message = (
        b"From: a@example.com\r\nBcc: hidden@example.org,\r\n  other@example.org\r\n"
        b"To: b@example.com\r\nBCC: loud@example.org\r\nSubject: Bcc: in a subject\r\n\r\n"
        b"Bcc: in the body stays\r\n"
    )
    assert without_bcc(message) == (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Bcc: in a subject\r\n\r\n"
        b"Bcc: in the body stays\r\n"
    )


def test_a_message_without_bcc_is_unchanged() -> None:
    message = b"From: a@example.com\r\nTo: b@example.com\r\n\r\nbody\r\n"
    assert without_bcc(message) == message
    assert without_bcc(b"") == b""
    assert without_bcc(b"no headers at all") == b"no headers at all"


def test_nested_messages_keep_their_bcc() -> None:
    message = (
        b"From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Bcc: inner@example.org\r\nSubject: inner\r\n\r\nx\r\n"
    )
    assert without_bcc(message) == message


@given(st.lists(st.sampled_from([
    b"From: a@x\r\n", b"Bcc: b@x\r\n", b" c@x\r\n", b"To: d@x\r\n", b"bcc:e@x\n", b"\r\n",
    b"body line\r\n", b"X-Bcc: f@x\r\n",
]), max_size=12))
def test_only_bcc_fields_of_the_header_go(lines: list[bytes]) -> None:
    message = b"".join(lines)
    out = without_bcc(message)
    parsed, kept = parse_message(message), parse_message(out)
    assert [h for h in parsed.headers if h.name.lower() != "bcc"] == kept.headers
    assert parsed.body_structure.content == kept.body_structure.content
