"""Which blobs the mail types reference, for Blob/lookup (RFC 9404 §4.3) and its capability's
``supportedTypeNames``: an Email holds its message's blob (the claim ``email_write`` records
with the write); a Mailbox and a Thread reference the blobs of their Emails."""

from __future__ import annotations

from stalwart_tx.jmap.blob_refs import BlobReferenceRegistry
from stalwart_tx.jmap.capabilities import MAIL


def register_mail_references(references: BlobReferenceRegistry) -> None:
    """Register the mail types in ``references``; a type already there is left as it is."""
    if references.get("Email") is None:
        references.register("Email", MAIL, lambda email: [email.get("blobId")])
    if references.get("Mailbox") is None:
        references.register_derived(
            "Mailbox", MAIL, via="Email", ids=lambda email: email.get("mailboxIds") or {}
        )
    if references.get("Thread") is None:
        references.register_derived(
            "Thread", MAIL, via="Email", ids=lambda email: [email.get("threadId")]
        )

