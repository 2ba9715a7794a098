"""The mail capabilities (RFC 8621 §1.3) and the Mailbox limits they advertise.

The limits are constants the Mailbox code enforces, so the session never promises what /set
does not keep.
"""

from __future__ import annotations

from typing import Final

from stalwart_tx.jmap.capabilities import MAIL, VACATION_RESPONSE
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec, RegistryOptions

# One more than the most ancestors a Mailbox may have (§1.3.1): a top-level mailbox has depth 1.
MAX_MAILBOX_DEPTH: Final = 10
# In UTF-8 octets, as the RFC counts it.
MAX_SIZE_MAILBOX_NAME: Final = 255
# Bounded so one Email cannot fan out into unbounded per-mailbox index work.
MAX_MAILBOXES_PER_EMAIL: Final = 256
MAX_SIZE_ATTACHMENTS_PER_EMAIL: Final = 50_000_000
# What Email/query will support (the Email type comes later; listed so clients can plan).
EMAIL_QUERY_SORT_OPTIONS: Final = (
    "receivedAt", "size", "from", "to", "subject", "sentAt",
    "hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword",
)

METHODS: list[MethodSpec] = []  # the methods live in mailbox.py and vacation.py


def mail_account_value(account_id: str) -> JSONObject:
    """``accountCapabilities[urn:ietf:params:jmap:mail]`` (§1.3.1): the same for every account."""
    return {
        "maxMailboxesPerEmail": MAX_MAILBOXES_PER_EMAIL,
        "maxMailboxDepth": MAX_MAILBOX_DEPTH,
        "maxSizeMailboxName": MAX_SIZE_MAILBOX_NAME,
        "maxSizeAttachmentsPerEmail": MAX_SIZE_ATTACHMENTS_PER_EMAIL,
        "emailQuerySortOptions": list(EMAIL_QUERY_SORT_OPTIONS),
        "mayCreateTopLevelMailbox": True,
    }


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    return [
        CapabilitySpec(MAIL, session_value=dict, account_value=mail_account_value),
        CapabilitySpec(VACATION_RESPONSE, session_value=dict, account_value=lambda _a: {}),
    ]
