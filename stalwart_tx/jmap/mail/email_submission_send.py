"""Sending one EmailSubmission through the relay and recording what happened.

Both EmailSubmission/set (right after the write that stored the submission) and the scheduler
(held messages when due, retries) send with ``SubmissionSender.deliver``:

1. It claims the submission's current attempt (IClaims, ``claim_name(id, due)``), so of every
   process only one sends it, and a cancel racing with the send loses (``cannotUnsend``).
2. It reads the submission again: a pending one goes to every recipient of its envelope, a
   final one with recipients left to retry (map ``EmailSubmission:retry``) to those only.
3. It sends the message blob with the stored envelope (the hold parameters left out: the hold
   was the server's), its Bcc fields removed (``mail.outgoing``) and every other byte as stored.
4. It records the outcome in a second write, recipient by recipient (``deliveryStatus``:
   ``smtpReply`` the relay's whole reply to RCPT TO, or to the data when it refused the data;
   ``displayed`` ``unknown``):

   * accepted, the data too: ``delivered`` ``queued`` (in the relay's queue), and the
     submission ``final``;
   * refused for good (5xx, or a permanent failure of the whole transaction): ``no``;
   * refused for now (4xx, the network, a timeout): ``queued`` with that reply, and tried again
     after a backoff (``retry_delay``) until ``MAX_RETRY_AGE`` after ``sendAt``, then ``no``.
     A submission none of whose recipients got the message yet stays ``pending`` (and can be
     canceled) meanwhile.

   When the /set's own attempt (``may_refuse``) leaves nothing sent and nothing to retry, the
   submission is destroyed again and the /set reports it in notCreated (``forbiddenToSend``,
   or ``invalidRecipients`` when the relay refused each recipient).

A process that dies between sending and recording leaves the submission due with its attempt
claimed; once the claim runs out the scheduler sends it again (at most one duplicate, never a
loss).
"""

from __future__ import annotations

import json
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
    RETRY_MAP,
    SUBMISSION_TYPE_NAME,
    claim_name,
    forget_pending,
)
from stalwart_tx.jmap.mail.email_submission_envelope import relay_parameters
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.mail.outgoing import without_bcc
from stalwart_tx.mail.smtp_relay import RelayConfig, RelayError, RelayResult, send_via_relay
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
FAILED = "failed"  # nothing more will be sent
SKIPPED = "skipped"

# what became of one recipient in one attempt
_SENT, _FAILED, _RETRY = "sent", "failed", "retry"


def retry_delay(age: float) -> float:
    """Seconds until the next attempt at a message first due ``age`` seconds ago: about as
    long again as it has waited (so the delays double), from a minute to four hours."""
    return min(max(FIRST_RETRY, age), LONGEST_RETRY)


@dataclass
class Delivery:
    """What one ``deliver`` did: ``outcome`` is one of SENT (to at least one recipient),
    REFUSED (the /set's create undone), DEFERRED, FAILED or SKIPPED.

    ``changed`` has the properties it changed (for a /set's ``created``), ``error`` the SetError
    of a REFUSED create, ``new_state`` the EmailSubmission state after its write (if any).
    """

    outcome: str
    changed: JSONObject = field(default_factory=dict)
    error: SetError | None = None
    new_state: str | None = None


def _attempt_of(
    recipients: Sequence[str], result: RelayResult | None, error: RelayError | None
) -> dict[str, tuple[str, str]]:
    """Each recipient of one attempt -> (what became of it, the reply that says so)."""
    if error is not None and error.result is not None and error.result.recipients:
        # refused at the data: the recipients the relay had refused keep their own reply
        kind = _FAILED if error.permanent else _RETRY
        return {
            r.email: (kind, error.reply) if r.accepted
            else (_FAILED if r.code >= 500 else _RETRY, r.reply)
            for r in error.result.recipients
        }
    if error is not None:
        return {email: (_FAILED if error.permanent else _RETRY, error.reply)
                for email in recipients}
    assert result is not None
    return {
        r.email: (_SENT if r.accepted and result.delivered else
                  _FAILED if r.code >= 500 else _RETRY, r.reply)
        for r in result.recipients
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
        """Send the submission if it is due (``may_refuse``: the /set's own first attempt, due
        at once); see the module docstring."""
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
        if again.get(submission_id) != due:
            return Delivery(SKIPPED)  # another process moved it on meanwhile
        maps = await self.store.indexes.map_get(account_id, RETRY_MAP, [submission_id])
        if submission is None or not (
            submission.get("undoStatus") == PENDING or submission_id in maps
        ):
            await self._forget(account_id, submission_id)  # nothing to send: a stale entry
            return Delivery(SKIPPED)
        envelope = submission["envelope"]
        remaining = json.loads(maps[submission_id]) if submission_id in maps else None
        recipients = [r for r in envelope["rcptTo"]
                      if remaining is None or r["email"] in remaining]
        emails = [r["email"] for r in recipients]
        blob_id = await self._blob_id(account_id, submission_id, submission)
        try:
            if blob_id is None:
                raise BlobNotFound(submission_id)
            message = await self.store.blobs.get(account_id, blob_id)
        except BlobNotFound:
            gone = RelayError("the message of the email is gone", permanent=True)
            return await self._record(account_id, submission, submission_id, blob_id,
                                      _attempt_of(emails, None, gone), may_refuse=False)
        result: RelayResult | None = None
        failure: RelayError | None = None
        try:
            result = await send_via_relay(
                self.reactor, self.relay,
                envelope["mailFrom"]["email"],
                relay_parameters(envelope["mailFrom"].get("parameters")),
                [(r["email"], r.get("parameters") or {}) for r in recipients],
                without_bcc(message),
            )
        except RelayError as error:
            failure = error
        except Exception as error:  # a bug, or something the relay client did not foresee
            log.failure("Sending submission {id} failed", id=submission_id)
            failure = RelayError(str(error), permanent=False)
        attempt = _attempt_of(emails, result, failure)
        return await self._record(
            account_id, submission, submission_id, blob_id, attempt,
            may_refuse=may_refuse and submission.get("undoStatus") == PENDING,
            whole_refusal=failure is not None,
        )

    async def _blob_id(
        self, account_id: str, submission_id: str, submission: JSONObject
    ) -> str | None:
        mapped = await self.store.indexes.map_get(account_id, BLOB_MAP, [submission_id])
        if submission_id in mapped:
            return mapped[submission_id]
        emails = await self.store.accounts.get(account_id, EMAIL, [submission["emailId"]])
        email = emails.get(submission["emailId"])
        return None if email is None else str(email["blobId"])

    async def _forget(self, account_id: str, submission_id: str) -> None:
        blobs = await self.store.indexes.map_get(account_id, BLOB_MAP, [submission_id])
        batch = WriteBatch()
        forget_pending(blobs.get(submission_id), submission_id)(batch)
        await self.store.accounts.write(account_id, batch)

    async def _record(
        self, account_id: str, submission: JSONObject, submission_id: str, blob_id: str | None,
        attempt: dict[str, tuple[str, str]], *, may_refuse: bool, whole_refusal: bool = False,
    ) -> Delivery:
        """Write what one attempt did; see the module docstring."""
        sent = [e for e, (kind, _) in attempt.items() if kind == _SENT]
        retry = [e for e, (kind, _) in attempt.items() if kind == _RETRY]
        if may_refuse and not sent and not retry:
            # refused for good on the /set's own attempt: the create is undone
            replies = "; ".join(dict.fromkeys(reply for _, reply in attempt.values()))
            if whole_refusal:
                error = SetError("forbiddenToSend", f"the relay refused the message: {replies}")
            else:
                error = SetError(
                    "invalidRecipients", f"the relay refused every recipient: {replies}",
                    extra={"invalidRecipients": list(attempt)},
                )

            def destroy(objects: WorkingSet, value: JSONObject) -> None:
                objects.destroy(SUBMISSION_TYPE_NAME, submission_id)
                objects.stage_derived(forget_pending(blob_id, submission_id))

            new_state = await self._write(account_id, submission_id, destroy)
            return Delivery(REFUSED, error=error, new_state=new_state)

        now = self.clock.seconds()
        age = max(0.0, now - date_seconds(str(submission["sendAt"])))
        if retry and age + retry_delay(age) > MAX_RETRY_AGE:
            log.warn("Giving up on {count} recipients of submission {id} after {age:.0f} s",
                     count=len(retry), id=submission_id, age=age)
            attempt.update({e: (_FAILED, attempt[e][1]) for e in retry})
            retry = []
        status = dict(submission.get("deliveryStatus") or {})
        for email, (kind, reply) in attempt.items():
            status[email] = {
                "smtpReply": reply,
                "delivered": "no" if kind == _FAILED else "queued",
                "displayed": "unknown",
            }
        was_pending = submission.get("undoStatus") == PENDING
        undo = PENDING if was_pending and not sent and retry else FINAL
        changed: JSONObject = {"deliveryStatus": status}
        if undo != submission.get("undoStatus"):
            changed["undoStatus"] = undo
        next_try = now + retry_delay(age)

        def record(objects: WorkingSet, value: JSONObject) -> None:
            objects.update(SUBMISSION_TYPE_NAME, submission_id, {**value, **changed})
            if retry:
                objects.stage_derived(lambda batch: batch.index_add(
                    DUE_INDEX, submission_id, next_try
                ).map_set(RETRY_MAP, submission_id, json.dumps(retry)))
            else:
                objects.stage_derived(forget_pending(blob_id, submission_id))

        new_state = await self._write(account_id, submission_id, record)
        if retry:
            await self.store.due.note_due(DUE_LIST, account_id, next_try)
            log.info("Submission {id}: {count} recipients deferred for {delay:.0f} s",
                     id=submission_id, count=len(retry), delay=next_try - now)
        outcome = SENT if sent else DEFERRED if retry else FAILED
        return Delivery(outcome, changed=changed, new_state=new_state)

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
