"""Vacation auto-replies (RFC 8621 §8 VacationResponse, sent as RFC 3834 says).

After a message is stored for an account whose VacationResponse is enabled and current, its
sender gets one reply per ``interval``: the first delivery to claim the sender in the account
(``IClaims``, shared by every process) sends it. No reply goes to the null sender or to a
mailer daemon, nor for mail that is automatic itself (``Auto-Submitted`` other than ``no``),
comes from a list (``List-*``, ``Precedence: bulk|list|junk``), or does not name the
recipient in To or Cc (a copy through a list or a Bcc). The reply comes from the recipient's
address to the envelope sender with the null return path, ``Auto-Submitted: auto-replied``,
In-Reply-To and References, through the SMTP relay EmailSubmission uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from twisted.logger import Logger

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.capabilities import CORE, VACATION_RESPONSE
from stalwart_tx.mail.smtp_relay import RelayConfig, RelayError, send_via_relay
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreError

log = Logger()

DEFAULT_INTERVAL = 7 * 24 * 3600.0
LIST_HEADERS = ("list-id", "list-help", "list-unsubscribe", "list-subscribe", "list-post",
                "list-owner", "list-archive")
NO_REPLY_LOCAL_PARTS = ("mailer-daemon", "postmaster", "listserv", "majordomo", "noreply",
                        "no-reply")


class Vacation:
    def __init__(
        self, api: JMAPApi, store: Callable[[], StoreBundle], relay: RelayConfig | None,
        reactor: Any, interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.api = api
        self.store = store
        self.relay = relay
        self.reactor = reactor
        self.interval = interval

    async def answer(
        self, principal_id: str, message: bytes, sender: str, addresses: Sequence[str]
    ) -> None:
        """Reply to ``message`` (stored for the principal, sent by ``sender`` to its
        ``addresses``) if the account is on vacation and the rules allow. Never raises: a
        reply that cannot be sent is logged, the delivery stands."""
        try:
            await self._answer(principal_id, message, sender, addresses)
        except (StoreError, RelayError) as error:
            log.warn("vacation reply to {sender} not sent: {error}", sender=sender, error=error)
        except Exception:
            log.failure("vacation reply to {sender} failed", sender=sender)

    async def _answer(
        self, principal_id: str, message: bytes, sender: str, addresses: Sequence[str]
    ) -> None:
        if self.relay is None or not _repliable_sender(sender):
            return
        headers = BytesHeaderParser(policy=SMTP).parsebytes(message)
        recipient = _named_recipient(headers, addresses)
        if recipient is None or _automatic(headers):
            return
        vacation = await self._vacation(principal_id)
        if vacation is None:
            return
        store = self.store()
        digest = hashlib.sha256(sender.lower().encode()).hexdigest()[:32]
        if not await store.claims.claim(principal_id, f"vacation:{digest}", self.interval):
            return  # this sender had a reply within the interval
        reply = _reply(headers, vacation, recipient, sender)
        await send_via_relay(self.reactor, self.relay, "", {}, [(sender, {})], reply)

    async def _vacation(self, principal_id: str) -> dict[str, Any] | None:
        """The account's VacationResponse when it is enabled and current."""
        user = MailUser(principal_id=principal_id, name=principal_id)
        [(name, answer, _)] = await self.api.run_calls(
            user, frozenset({CORE, VACATION_RESPONSE}),
            [("VacationResponse/get", {"accountId": user.account_id}, "v")],
        )
        if name != "VacationResponse/get" or not answer["list"]:
            return None
        vacation: dict[str, Any] = answer["list"][0]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if not vacation.get("isEnabled"):
            return None
        if vacation.get("fromDate") and now < vacation["fromDate"]:
            return None
        if vacation.get("toDate") and now >= vacation["toDate"]:
            return None
        return vacation


def _repliable_sender(sender: str) -> bool:
    local, at, _ = sender.rpartition("@")
    if not at or not local:
        return False  # the null sender (a bounce) and anything that is no address
    local = local.lower()
    return not (local in NO_REPLY_LOCAL_PARTS or local.startswith("owner-")
                or local.endswith("-request") or local.endswith("-owner"))


def _automatic(headers: Any) -> bool:
    auto = str(headers.get("Auto-Submitted", "no")).strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if any(headers.get(name) is not None for name in LIST_HEADERS):
        return True
    precedence = str(headers.get("Precedence", "")).strip().lower()
    return precedence in ("bulk", "list", "junk")


def _named_recipient(headers: Any, addresses: Sequence[str]) -> str | None:
    """The first of the recipient's addresses that To or Cc names (None: none does)."""
    named = {email.lower() for _, email in getaddresses(
        [str(v) for field in ("To", "Cc") for v in headers.get_all(field, [])]
    )}
    for address in addresses:
        if address.lower() in named:
            return address
    return None


def _reply(headers: Any, vacation: dict[str, Any], recipient: str, sender: str) -> bytes:
    reply = EmailMessage(policy=SMTP)
    domain = recipient.rpartition("@")[2]
    reply["From"] = Address(addr_spec=recipient) if recipient.isascii() else recipient
    reply["To"] = sender
    subject = vacation.get("subject")
    if not subject:
        original = str(headers.get("Subject", "")).strip()
        subject = f"Auto: {original}" if original else "Auto: away"
    reply["Subject"] = subject
    reply["Date"] = formatdate(localtime=False)
    reply["Message-ID"] = make_msgid(domain=domain or None)
    original_id = str(headers.get("Message-ID", "")).strip()
    if original_id:
        reply["In-Reply-To"] = original_id
        references = str(headers.get("References", "")).split()
        reply["References"] = " ".join([*references, original_id])
    reply["Auto-Submitted"] = "auto-replied"
    text = vacation.get("textBody") or "I am away and will read your message when I am back."
    reply.set_content(text)
    return bytes(reply)
