"""Golden files: each golden/NAME.eml parses to exactly golden/NAME.json.

The .json files were reviewed against RFC 8621 by hand; regenerate them with
``UPDATE_GOLDEN=1 pytest tests/mail/test_golden.py`` only to review the diff again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from stalwart_tx.mail.parse import body_values, email_properties, parse_message

GOLDEN = Path(__file__).parent / "golden"
MESSAGE_BLOB_ID = "Bmessage"
# Longer strings are shown by length, digest and start, to keep the files reviewable.
LONGEST_SHOWN = 400


def _shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > LONGEST_SHOWN:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"<{len(value)} characters, sha256 {digest}..., starting {value[:60]!r}>"
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    return value


def golden_of(raw: bytes) -> dict[str, Any]:
    parsed = parse_message(raw)
    email = email_properties(parsed, MESSAGE_BLOB_ID)
    # The three lists repeat parts already shown in bodyStructure: their part ids suffice.
    for prop in ("textBody", "htmlBody", "attachments"):
        email[prop] = [part["partId"] for part in email[prop]]
    text_parts = [p.part_id for p in parsed.parts() if p.type.startswith("text/") and p.part_id]
    email["bodyValues"] = body_values(parsed, text_parts, 0)
    return _shortened(email)  # type: ignore[no-any-return]


@pytest.mark.parametrize("eml", sorted(GOLDEN.glob("*.eml")), ids=lambda path: path.stem)
def test_golden(eml: Path) -> None:
    actual = golden_of(eml.read_bytes())
    expected_file = eml.with_suffix(".json")
    if os.environ.get("UPDATE_GOLDEN"):
        text = json.dumps(actual, indent=1, ensure_ascii=False)
        expected_file.write_text(text + "\n", encoding="utf-8")
    assert actual == json.loads(expected_file.read_text(encoding="utf-8"))
