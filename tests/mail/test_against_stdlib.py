"""On well-formed messages, the part tree and decoded contents agree with the standard
library's email package (policy.default), an independent MIME parser."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest

from stalwart_tx.mail.body import BodyPart
from stalwart_tx.mail.parse import body_values, parse_message

GOLDEN = Path(__file__).parent / "golden"
WELL_FORMED = [
    "plain_text",
    "multipart_alternative",
    "multipart_mixed_attachments",
    "nested_rfc822",
    "related_inline_images",
    "encoded_words",
    "address_groups",
    "lf_only_mbox",
    "digest",
]


def _stdlib_leaves(message: Message) -> list[Message]:
    # JMAP does not descend into message/rfc822; neither does this walk.
    if message.is_multipart() and message.get_content_maintype() == "multipart":
        payload = message.get_payload()
        assert isinstance(payload, list)
        return [
            leaf for part in payload if isinstance(part, Message) for leaf in _stdlib_leaves(part)
        ]
    return [message]


@pytest.mark.parametrize("name", WELL_FORMED)
def test_same_parts_as_the_email_package(name: str) -> None:
    raw = (GOLDEN / f"{name}.eml").read_bytes()
    ours: list[BodyPart] = parse_message(raw).parts()
    theirs = _stdlib_leaves(email.message_from_bytes(raw, policy=email.policy.default))
    assert [part.type for part in ours] == [part.get_content_type() for part in theirs]
    assert [part.name for part in ours] == [part.get_filename() for part in theirs]
    assert [part.disposition for part in ours] == [
        part.get_content_disposition() for part in theirs
    ]
    for mine, other in zip(ours, theirs, strict=True):
        if other.get_content_type() == "message/rfc822":
            inner = other.get_payload(0)
            assert isinstance(inner, Message)
            assert parse_message(mine.content).subject == inner["Subject"]
            continue
        assert mine.content == other.get_payload(decode=True)
        if mine.type.startswith("text/"):
            assert mine.part_id is not None
            value = body_values(parse_message(raw), [mine.part_id], 0)[mine.part_id]
            assert isinstance(other, EmailMessage)
            # RFC 8621 §4.1.4 values have LF line ends; the email package keeps CRLF
            assert value["value"] == other.get_content().replace("\r\n", "\n")
