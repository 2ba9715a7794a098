"""Every golden message (tests/mail/golden: broken MIME, odd charsets, deep nesting, huge
headers...) imported through the API reads back exactly as the parser reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted

from stalwart_tx.mail.parse import body_values, email_properties, parse_message
from tests.jmap.mail.conftest import Emails

GOLDEN = Path(__file__).parents[2] / "mail" / "golden"
MESSAGES = sorted(GOLDEN.glob("*.eml"))


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("path", MESSAGES, ids=[p.stem for p in MESSAGES])
async def test_golden_message_through_the_api(emails: Emails, path: Path) -> None:
    raw = path.read_bytes()
    created = await emails.import_raw(raw)
    parsed = parse_message(raw)
    expected = email_properties(parsed, created["blobId"])
    names = [*expected, "bodyValues"]
    body_part_properties = [
        "partId", "blobId", "size", "headers", "name", "type", "charset", "disposition", "cid",
        "language", "location", "subParts",
    ]
    got = await emails.get_email(created["id"], *names, fetchAllBodyValues=True,
                                 bodyProperties=body_part_properties)
    for name, value in expected.items():
        assert got[name] == value, name
    text_ids = [p.part_id for p in parsed.parts() if p.type.startswith("text/") and p.part_id]
    assert got["bodyValues"] == body_values(parsed, text_ids)
    assert got["size"] == len(raw)
