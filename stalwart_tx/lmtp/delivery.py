"""Filing a delivered message in an account's Inbox, as any JMAP client would import it.

The message goes to the blob store, then ``Email/import`` files it in the Inbox through the
same in-process method layer the IMAP bridge uses (threads, counts, UIDs, search and push
notices come with it). The import is one durable store write: when ``deliver`` returns, the
message is stored, and only then does the LMTP recipient get its 250.

An MTA that did not hear that 250 (a dropped connection, a timeout) delivers the message again
later. So a stored message leaves a mark in the account for ``DEDUPE_WINDOW``: its Message-ID
with the envelope sender. A message bearing a mark is answered 250 and not stored again. The
mark is set after the message is stored, never before: a failure between the two may store a
retry twice, but nothing can make a message count as delivered that was not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.logger import Logger

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.imap.mail_client import JmapCallError, MailClient
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreError

log = Logger()


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
DELIVERED_BEFORE = Outcome(250, "2.0.0", "delivered already")
UNAVAILABLE = Outcome(451, "4.3.0", "the mail store is unavailable, try again later")
NO_INBOX = Outcome(451, "4.2.0", "the recipient has no Inbox at the moment, try again later")


# seconds a delivered message's mark stays (an MTA gives up retrying after some days; most
# retries come within minutes)
DEDUPE_WINDOW = 24 * 3600.0
MESSAGE_ID_HEADER = re.compile(rb"message-id[ \t]*:(.*)", re.I | re.S)


def message_id_of(lines: Sequence[bytes]) -> str | None:
    """The Message-ID header's value of a message given as lines (None when it has none)."""
    found: bytearray | None = None
    for line in lines:
        if not line:
            break  # the end of the header
        if line[:1] in (b" ", b"\t"):
            if found is not None:
                found += line  # a folded continuation
            continue
        if found is not None:
            break
        header = MESSAGE_ID_HEADER.match(line)
        if header is not None:
            found = bytearray(header.group(1))
    if found is None:
        return None
    value = bytes(found).decode("utf-8", "replace").strip()
    return value or None


def delivery_mark(message_id: str | None, sender: str) -> str | None:
    """The name of a delivered message's mark; None when it has no Message-ID to tell a
    retry by."""
    if message_id is None:
        return None
    digest = hashlib.sha256(f"{sender}\0{message_id}".encode()).hexdigest()[:32]
    return f"lmtp:{digest}"


class Delivery:
    def __init__(self, api: JMAPApi, store: Callable[[], StoreBundle]) -> None:
        self.api = api
        self.store = store

    async def deliver(self, principal_id: str, message: bytes, mark: str | None = None) -> Outcome:
        """File ``message`` in the principal's Inbox unless ``mark`` says it was (see above);
        the reply its recipients get."""
        user = MailUser(principal_id=principal_id, name=principal_id)
        client = MailClient(self.api, user)
        try:
            store = self.store()
            if mark is not None and await store.claims.held(user.account_id, mark):
                return DELIVERED_BEFORE
            blob = await store.blobs.put(user.account_id, message)
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
        if mark is not None:
            try:
                await store.claims.claim(user.account_id, mark, DEDUPE_WINDOW)
            except StoreError as error:
                # stored all the same: a retry may be stored twice, nothing is lost
                log.warn("LMTP: delivered to {account}, but its retry mark is not set: {error}",
                         account=user.account_id, error=error)
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
