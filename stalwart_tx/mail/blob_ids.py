"""Blob ids of body parts, derived from the message blob id so nothing extra is stored.

Scheme: ``P<partId>_<message blob id>``. Part ids are decimal numbers (see ``body``), so the
text between ``P`` and the first ``_`` is the part id and everything after it is the message
blob id, whatever Id characters that contains. The download layer parses the message blob again
and serves the decoded content of that part (``parse.part_content``).

Store blob ids are ``B`` + hex, so never mistaken for part blob ids. A message/rfc822 part's
blob can itself be parsed (Email/parse); its parts get ``P<n>_P<m>_B...``, which resolves
one level at a time, as long as the whole stays within an Id's 255 characters.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 255

_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_PART_BLOB_ID = re.compile(r"P([1-9][0-9]*)_([A-Za-z0-9_-]+)")


def part_blob_id(message_blob_id: str, part_id: str) -> str:
    """The blob id of part ``part_id`` of the message stored as ``message_blob_id``."""
    if _ID.fullmatch(message_blob_id) is None or not part_id.isdigit():
        raise ValueError("a message blob id must be an Id and a part id a number")
    blob_id = f"P{part_id}_{message_blob_id}"
    if len(blob_id) > MAX_ID_LENGTH:
        # Message blob ids here are 65 characters, so this needs an absurd part number.
        raise ValueError("part blob id would be longer than an Id may be")
    return blob_id


def parse_part_blob_id(blob_id: str) -> tuple[str, str] | None:
    """``(message blob id, part id)`` if ``blob_id`` names a body part, else None."""
    if len(blob_id) > MAX_ID_LENGTH:
        return None
    match = _PART_BLOB_ID.fullmatch(blob_id)
    if match is None:
        return None
    return match.group(2), match.group(1)
