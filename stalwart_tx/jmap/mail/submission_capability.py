"""``urn:ietf:params:jmap:submission`` (RFC 8621 §1.3.2), under which Identity lives.

EmailSubmission is not implemented yet: no delayed sending (``maxDelayedSend`` 0) and no SMTP
extensions to offer (``submissionExtensions`` empty).
"""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import SUBMISSION
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec

METHODS: list[MethodSpec] = []  # Identity's methods are in identity.py


def submission_account_value(account_id: str) -> JSONObject:
    return {"maxDelayedSend": 0, "submissionExtensions": {}}


CAPABILITIES = [
    CapabilitySpec(SUBMISSION, session_value=dict, account_value=submission_account_value)
]
