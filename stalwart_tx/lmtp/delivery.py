"""Filing a delivered message in an account's Inbox, as any JMAP client would import it.

The message goes to the blob store, then ``Email/import`` files it in the Inbox through the
same in-process method layer the IMAP bridge uses (threads, counts, UIDs, search and push
notices come with it). The import is one durable store write: when ``deliver`` returns, the
message is stored, and only then does the LMTP recipient get its 250.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.imap.mail_client import JmapCallError, MailClient
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreError


@dataclass(frozen=True)
class Outcome:
    """An LMTP reply: the basic code, the enhanced status code, the text."""

    code: int
    status: str
    text: str

    @property
    def delivered(self) -> bool:
        return self.code < 300


DELIVERED = Outcome(250, "2.0.0", "delivered")
UNAVAILABLE = Outcome(451, "4.3.0", "the mail store is unavailable, try again later")
NO_INBOX = Outcome(451, "4.2.0", "the recipient has no Inbox at the moment, try again later")


class Delivery:
    def __init__(self, api: JMAPApi, store: Callable[[], StoreBundle]) -> None:
        self.api = api
        self.store = store

    async def deliver(self, principal_id: str, message: bytes) -> Outcome:
        """File ``message`` in the principal's Inbox; the reply its recipients get."""
        user = MailUser(principal_id=principal_id, name=principal_id)
        client = MailClient(self.api, user)
        try:
            blob = await self.store().blobs.put(user.account_id, message)
            # the Mailbox read makes sure the account has its default mailboxes first
            found = await client.call("Mailbox/query", filter={"role": "inbox"})
            if not found["ids"]:
                return NO_INBOX
            answer = await client.call("Email/import", emails={"m": {
                "blobId": blob.blob_id, "mailboxIds": {found["ids"][0]: True}, "keywords": {},
            }})
        except JmapCallError as error:
            return _refused(error.type, error.description)
        except StoreError:  # unavailable, or not known to have been written: the MTA retries
            return UNAVAILABLE
        problem = (answer.get("notCreated") or {}).get("m")
        if problem is not None:
            return _refused(str(problem.get("type")), str(problem.get("description") or ""))
        return DELIVERED


def _refused(kind: str, description: str) -> Outcome:
    """The reply for an import the method layer refused (RFC 3463's codes)."""
    if kind == "overQuota":
        return Outcome(552, "5.2.2", "the recipient's mailbox is full")
    if kind == "tooLarge":
        return Outcome(552, "5.3.4", "the message is too big for the recipient")
    if kind in ("serverUnavailable", "rateLimit"):
        return UNAVAILABLE
    if kind == "invalidEmail":
        return Outcome(554, "5.6.0", f"the message cannot be stored: {description}"[:200])
    # anything else is ours to fix; the MTA keeps the message and tries again
    return Outcome(451, "4.3.0", "local error in processing, try again later")
