"""Sending one pending EmailSubmission through the relay and recording what happened.

Both EmailSubmission/set (right after the write that stored the submission) and the scheduler
(held messages when due, retries) send with ``SubmissionSender.deliver``:

1. It claims the submission's current attempt (IClaims, ``claim_name(id, due)``), so of every
   process only one sends it, and a cancel racing with the send loses (``cannotUnsend``).
2. It reads the submission again: only a pending one is sent.
3. It sends the message blob, unaltered, with the stored envelope (the hold parameters left
   out: the hold was the server's).
4. It records the outcome in a second write:

   * the relay took the data: ``undoStatus`` final, ``deliveryStatus`` per recipient
     (``smtpReply`` the relay's whole reply to RCPT TO, or to the data when it refused the
     data; ``delivered`` ``queued`` or ``no``; ``displayed`` ``unknown``);
   * a temporary failure (4xx, network, timeout): still pending, ``deliveryStatus`` queued with
     the reply, tried again after a backoff (``retry_delay``) until ``MAX_RETRY_AGE`` after
     ``sendAt``, then final with ``delivered`` ``no``;
   * a permanent refusal (5xx of MAIL FROM, of the data, of every recipient): when the
     /set sends (``may_refuse``), the submission is destroyed again and the /set reports it in
     notCreated; later, it becomes final with ``delivered`` ``no``.

A process that dies between sending and recording leaves the submission pending with its claim;
once the claim runs out the scheduler sends it again (at most one duplicate, never a loss).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from twisted.internet.task import deferLater
from twisted.logger import Logger

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.email_model import EMAIL, date_seconds
from stalwart_tx.jmap.mail.email_submission import (
    BLOB_MAP,
    CLAIM_TTL,
    DUE_INDEX,
    DUE_LIST,
    FINAL,
    PENDING,
    SUBMISSION_TYPE_NAME,
    claim_name,
    forget_pending,
)
from stalwart_tx.jmap.mail.email_submission_envelope import relay_parameters
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.mail.smtp_relay import RecipientResult, RelayConfig, RelayError, send_via_relay
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import BlobNotFound, ObjectExists, ObjectNotFound, StateMismatch
from stalwart_tx.store.records import JSONObject, WriteBatch

log = Logger()

FIRST_RETRY: Final = 60.0
LONGEST_RETRY: Final = 4 * 3600.0
MAX_RETRY_AGE: Final = 5 * 24 * 3600.0
WRITE_ATTEMPTS: Final = 12

SENT = "sent"
REFUSED = "refused"
DEFERRED = "deferred"
FAILED = "failed"  # final, not delivered
SKIPPED = "skipped"


def retry_delay(age: float) -> float:
    """Seconds until the next attempt at a message first due ``age`` seconds ago: about as
    long again as it has waited (so the delays double), from a minute to four hours."""
    return min(max(FIRST_RETRY, age), LONGEST_RETRY)


@dataclass
class Delivery:
    """What one ``deliver`` did: ``outcome`` is one of SENT, REFUSED, DEFERRED, FAILED, SKIPPED.

    ``changed`` has the properties it changed (for a /set's ``created``), ``error`` the SetError
    of a REFUSED create, ``new_state`` the EmailSubmission state after its write (if any).
    """

    outcome: str
    changed: JSONObject = field(default_factory=dict)
    error: SetError | None = None
    new_state: str | None = None


def status_of(recipients: Sequence[RecipientResult]) -> JSONObject:
    """§7: ``smtpReply`` is the reply to RCPT TO (the data was accepted)."""
    return {
        r.email: {
            "smtpReply": r.reply,
            "delivered": "queued" if r.accepted else "no",
            "displayed": "unknown",
        }
        for r in recipients
    }


def uniform_status(envelope: JSONObject, reply: str, delivered: str) -> JSONObject:
    return {
        r["email"]: {"smtpReply": reply, "delivered": delivered, "displayed": "unknown"}
        for r in envelope["rcptTo"]
    }


class SubmissionSender:
    """Sends pending submissions of ``store`` through ``relay``; ``clock`` tells the time
    (``reactor`` by default), ``reactor`` makes the connections."""

    def __init__(
        self, store: StoreBundle, reactor: Any, relay: RelayConfig, *, clock: Any = None
    ) -> None:
        self.store = store
        self.reactor = reactor
        self.relay = relay
        self.clock = clock if clock is not None else reactor

    async def deliver(
        self, account_id: str, submission_id: str, *, may_refuse: bool = False
    ) -> Delivery:
        """Send the submission if it is pending and due (``may_refuse``: the /set's own first
        attempt, due at once); see the module docstring."""
        now = self.clock.seconds()
        scores = await self.store.indexes.index_scores(account_id, DUE_INDEX, [submission_id])
        due = scores.get(submission_id)
        if due is None or (due > now and not may_refuse):
            return Delivery(SKIPPED)
        if not await self.store.claims.claim(
            account_id, claim_name(submission_id, due), CLAIM_TTL
        ):
            return Delivery(SKIPPED)
        found = await self.store.accounts.get(account_id, SUBMISSION_TYPE_NAME, [submission_id])
        submission = found.get(submission_id)
        again = await self.store.indexes.index_scores(account_id, DUE_INDEX, [submission_id])
        if submission is None or submission.get("undoStatus") != PENDING \
                or again.get(submission_id) != due:
            return Delivery(SKIPPED)
        envelope = submission["envelope"]
        blob_id = await self._blob_id(account_id, submission_id, submission)
        try:
            if blob_id is None:
                raise BlobNotFound(submission_id)
            message = await self.store.blobs.get(account_id, blob_id)
        except BlobNotFound:
            reply = "the message of the email is gone"
            return await self._final(account_id, submission_id, blob_id,
                                     uniform_status(envelope, reply, "no"), FAILED)
        try:
            result = await send_via_relay(
                self.reactor, self.relay,
                envelope["mailFrom"]["email"],
                relay_parameters(envelope["mailFrom"].get("parameters")),
                [(r["email"], r.get("parameters") or {}) for r in envelope["rcptTo"]],
                message,
            )
        except RelayError as error:
            if error.permanent:
                return await self._refused(
                    account_id, submission_id, blob_id, envelope, error, may_refuse
                )
            return await self._deferred(account_id, submission, submission_id, error.reply)
        except Exception as error:  # a bug, or something the relay client did not foresee
            log.failure("Sending submission {id} failed", id=submission_id)
            return await self._deferred(account_id, submission, submission_id, str(error))
        if result.delivered:
            status = status_of(result.recipients)
            return await self._final(account_id, submission_id, blob_id, status, SENT)
        # the relay refused every recipient: for good if every refusal was permanent
        if all(r.code >= 500 for r in result.recipients):
            refused = [r.email for r in result.recipients]
            reply = "; ".join(r.reply for r in result.recipients)
            refusal = RelayError(reply, permanent=True, reply=reply, result=result)
            return await self._refused(
                account_id, submission_id, blob_id, envelope, refusal, may_refuse, refused
            )
        reply = "; ".join(r.reply for r in result.recipients if r.code < 500)
        return await self._deferred(account_id, submission, submission_id, reply)

    async def _blob_id(
        self, account_id: str, submission_id: str, submission: JSONObject
    ) -> str | None:
        mapped = await self.store.indexes.map_get(account_id, BLOB_MAP, [submission_id])
        if submission_id in mapped:
            return mapped[submission_id]
        emails = await self.store.accounts.get(account_id, EMAIL, [submission["emailId"]])
        email = emails.get(submission["emailId"])
        return None if email is None else str(email["blobId"])

    async def _refused(
        self, account_id: str, submission_id: str, blob_id: str | None, envelope: JSONObject,
        error: RelayError, may_refuse: bool, recipients: list[str] | None = None,
    ) -> Delivery:
        if not may_refuse:
            if error.result is not None and error.result.recipients:
                status = {
                    r.email: {
                        "smtpReply": error.reply if r.accepted else r.reply,
                        "delivered": "no",
                        "displayed": "unknown",
                    }
                    for r in error.result.recipients
                }
            else:
                status = uniform_status(envelope, error.reply, "no")
            return await self._final(account_id, submission_id, blob_id, status, FAILED)
        if recipients:
            set_error = SetError(
                "invalidRecipients", f"the relay refused every recipient: {error.reply}",
                extra={"invalidRecipients": recipients},
            )
        else:
            set_error = SetError("forbiddenToSend", f"the relay refused the message: {error.reply}")

        def destroy(objects: WorkingSet, value: JSONObject) -> None:
            objects.destroy(SUBMISSION_TYPE_NAME, submission_id)
            objects.stage_derived(forget_pending(blob_id, submission_id))

        new_state = await self._write(account_id, submission_id, destroy)
        return Delivery(REFUSED, error=set_error, new_state=new_state)

    async def _final(
        self, account_id: str, submission_id: str, blob_id: str | None, status: JSONObject,
        outcome: str,
    ) -> Delivery:
        changed: JSONObject = {"undoStatus": FINAL, "deliveryStatus": status}

        def finish(objects: WorkingSet, value: JSONObject) -> None:
            objects.update(SUBMISSION_TYPE_NAME, submission_id, {**value, **changed})
            objects.stage_derived(forget_pending(blob_id, submission_id))

        new_state = await self._write(account_id, submission_id, finish)
        return Delivery(outcome, changed=changed, new_state=new_state)

    async def _deferred(
        self, account_id: str, submission: JSONObject, submission_id: str, reply: str
    ) -> Delivery:
        now = self.clock.seconds()
        first_due = date_seconds(str(submission["sendAt"]))
        envelope = submission["envelope"]
        age = max(0.0, now - first_due)
        if age + retry_delay(age) > MAX_RETRY_AGE:
            blobs = await self.store.indexes.map_get(account_id, BLOB_MAP, [submission_id])
            log.warn("Giving up on submission {id} after {age:.0f} s: {reply}",
                     id=submission_id, age=age, reply=reply)
            return await self._final(account_id, submission_id, blobs.get(submission_id),
                                     uniform_status(envelope, reply, "no"), FAILED)
        next_try = now + retry_delay(age)
        changed: JSONObject = {"deliveryStatus": uniform_status(envelope, reply, "queued")}

        def postpone(objects: WorkingSet, value: JSONObject) -> None:
            objects.update(SUBMISSION_TYPE_NAME, submission_id, {**value, **changed})
            objects.stage_derived(
                lambda batch: batch.index_add(DUE_INDEX, submission_id, next_try)
            )

        new_state = await self._write(account_id, submission_id, postpone)
        await self.store.due.note_due(DUE_LIST, account_id, next_try)
        log.info("Submission {id} deferred for {delay:.0f} s: {reply}", id=submission_id,
                 delay=next_try - now, reply=reply)
        return Delivery(DEFERRED, changed=changed, new_state=new_state)

    async def _write(
        self, account_id: str, submission_id: str,
        change: Callable[[WorkingSet, JSONObject], None],
    ) -> str | None:
        """Apply ``change`` to the submission in one write, computed again on a conflict; the
        EmailSubmission state after it (None when the submission is gone)."""
        for attempt in range(WRITE_ATTEMPTS):
            objects = WorkingSet(self.store, account_id)
            value = await objects.get_one(SUBMISSION_TYPE_NAME, submission_id)
            if value is None:
                return None
            change(objects, value)
            batch: WriteBatch = objects.batch()
            try:
                result = await self.store.accounts.write(account_id, batch)
            except (StateMismatch, ObjectExists, ObjectNotFound):
                pause = random.uniform(0, min(0.1, 0.002 * 2**attempt))
                await deferLater(self.reactor, pause, lambda: None)
                continue
            return result.new_states.get(SUBMISSION_TYPE_NAME)
        raise StateMismatch(SUBMISSION_TYPE_NAME, "", "")


__all__ = ["Delivery", "SubmissionSender", "retry_delay"]
