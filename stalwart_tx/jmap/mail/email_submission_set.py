"""EmailSubmission/set (RFC 8621 §7.5): store, then send, then the implicit Email/set.

1. Updates and destroys that would stop a pending submission first claim its current sending
   attempt (``claim_name``): a submission being sent right now cannot be canceled.
2. The creates, updates and destroys are computed and written as any /set (the hooks in
   ``email_submission``): a new submission is stored pending, listed in the account's due index
   and the account in the store's due list, all before anything is sent. The computation may
   run more than once, so nothing is sent inside it.
3. After the write, each new submission that is not held is sent (``SubmissionSender``); its
   outcome is recorded in a second write, and ``created`` shows it (``undoStatus`` final and
   the ``deliveryStatus``). A permanent refusal destroys the submission again and reports it in
   ``notCreated``; a temporary failure leaves it pending for the scheduler.
4. ``onSuccessUpdateEmail`` / ``onSuccessDestroyEmail`` (keys are submission ids or
   ``#creationId`` of submissions created by this call) become one implicit Email/set, whose
   response follows this one with the same method call id.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.logger import Logger

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import SET
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.email_submission import (
    CANCELED,
    CLAIM_TTL,
    DUE_INDEX,
    DUE_LIST,
    EMAIL_SUBMISSION_TYPE,
    PENDING,
    SubmissionCall,
    claim_name,
)
from stalwart_tx.jmap.mail.email_submission_send import REFUSED, SubmissionSender
from stalwart_tx.jmap.registry import Responses
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.references import resolve_id
from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.jmap.standard.set import SetComputation, SetOutcome, parse_set_request
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store.records import JSONObject

TYPE = EMAIL_SUBMISSION_TYPE
log = Logger()


async def _claim_stops(
    ctx: RequestContext, account_id: str, update: dict[str, Any], destroy: list[str]
) -> dict[str, float]:
    """Claim the current attempt of each submission the call may stop: a pending one it
    cancels, one with something left to send that it destroys. (A claim taken for a stop that
    then fails for another reason delays that attempt until the claim runs out.)"""
    canceling = [
        i for i in (
            resolve_id(ctx, key) for key, patch in update.items()
            if isinstance(patch, dict) and patch.get("undoStatus") == CANCELED
        ) if i
    ]
    destroying = [i for i in (resolve_id(ctx, key) for key in destroy) if i]
    ids = list(dict.fromkeys(canceling + destroying))
    if not ids:
        return {}
    scores = await ctx.store.indexes.index_scores(account_id, DUE_INDEX, ids)
    stored = await ctx.store.accounts.get(account_id, TYPE.name, list(scores))
    claimed: dict[str, float] = {}
    for submission_id, due in scores.items():
        value = stored.get(submission_id)
        if value is None or (submission_id not in destroying
                             and value.get("undoStatus") != PENDING):
            continue  # the call cannot stop it: no claim to hold up its sending
        if await ctx.store.claims.claim(account_id, claim_name(submission_id, due), CLAIM_TTL):
            claimed[submission_id] = due
    return claimed


async def submission_set(
    relay: RelayConfig | None, ctx: RequestContext, arguments: dict[str, Any]
) -> JSONObject | Responses:
    request = parse_set_request(TYPE, ctx, arguments)
    account_id = request.account_id
    now = float(ctx.reactor.seconds())
    claimed = await _claim_stops(ctx, account_id, request.update, request.destroy)
    if request.create and relay is not None:
        # listed before the write too: a process dying right after it leaves nothing unlisted
        await ctx.store.due.note_due(DUE_LIST, account_id, now)

    async def attempt() -> tuple[SetComputation, str, str]:
        objects = WorkingSet(ctx.store, account_id)
        call = SubmissionCall(
            ctx, TYPE, SET, account_id, arguments, request.extras, objects=objects,
            relay=relay, now=now, claimed=claimed,
        )
        old_state = await objects.state(TYPE.name)
        if request.if_in_state is not None and request.if_in_state != old_state:
            raise MethodError(
                "stateMismatch", f"ifInState is {request.if_in_state!r}, the state is {old_state!r}"
            )
        computation = SetComputation(call)
        await computation.create_all(request.create)
        destroys = computation.resolve_destroys(request.destroy)
        destroying = {i for i in destroys.values() if i is not None}
        await computation.update_all(request.update, destroying)
        await computation.destroy_all(destroys)
        await objects.finish()
        batch = objects.batch()
        if batch.is_empty():
            return computation, old_state, old_state
        result = await write_passing_turn(ctx, account_id, batch)
        return computation, old_state, result.new_states[TYPE.name]

    computation, old_state, new_state = await optimistically(ctx, attempt, account_id=account_id)
    call = computation.call
    assert isinstance(call, SubmissionCall)
    outcome = computation.outcome
    if call.due:
        await ctx.store.due.note_due(DUE_LIST, account_id, min(call.due.values()))
    ctx.created_ids.update(outcome.created_ids)

    if relay is not None:
        sender = SubmissionSender(ctx.store, ctx.reactor, relay)
        for creation_id, submission_id in list(outcome.created_ids.items()):
            if submission_id in call.held:
                continue
            try:
                delivery = await sender.deliver(account_id, submission_id, may_refuse=True)
            except CancelledError:
                raise
            except Exception:
                # stored and listed as due: the scheduler sends it once its attempt's claim
                # runs out; the client sees it created, pending
                log.failure("Sending submission {id} failed; left to the scheduler",
                            id=submission_id)
                continue
            if delivery.new_state is not None:
                new_state = delivery.new_state
            if delivery.outcome == REFUSED and delivery.error is not None:
                del outcome.created[creation_id]
                del outcome.created_ids[creation_id]
                ctx.created_ids.pop(creation_id, None)
                outcome.not_created[creation_id] = delivery.error
            else:
                outcome.created[creation_id].update(delivery.changed)

    response = await with_response_hook(call, {
        "accountId": account_id,
        "oldState": old_state,
        "newState": new_state,
        **outcome.response(),
    })
    follow_up = await _implicit_email_set(ctx, call, outcome, request.extras)
    if follow_up is None:
        return response
    return Responses(((TYPE.method_name(SET), response), follow_up))


def _succeeded(outcome: SetOutcome, key: str) -> str | None:
    """The submission a key of onSuccess* names, if the call created, updated or destroyed it."""
    if key.startswith("#"):
        return outcome.created_ids.get(key[1:])
    if key in outcome.updated or key in outcome.destroyed or key in outcome.created_ids.values():
        return key
    return None


async def _implicit_email_set(
    ctx: RequestContext, call: SubmissionCall, outcome: SetOutcome, extras: Any
) -> tuple[str, JSONObject] | None:
    update_email = extras.get("onSuccessUpdateEmail") or {}
    destroy_email = extras.get("onSuccessDestroyEmail") or []
    if not update_email and not destroy_email:
        return None
    updates: dict[str, Any] = {}
    for key, patch in update_email.items():
        submission_id = _succeeded(outcome, key)
        if submission_id is not None and submission_id in call.emails:
            updates[call.emails[submission_id]] = patch
    destroys: list[str] = []
    for key in destroy_email:
        submission_id = _succeeded(outcome, key)
        if submission_id is not None and submission_id in call.emails:
            destroys.append(call.emails[submission_id])
    arguments: JSONObject = {"accountId": call.account_id}
    if updates:
        arguments["update"] = updates
    if destroys:
        arguments["destroy"] = list(dict.fromkeys(destroys))
    from stalwart_tx.jmap.mail.email import METHODS as EMAIL_METHODS

    [email_set] = [spec for spec in EMAIL_METHODS if spec.name == "Email/set"]
    try:
        result = await email_set.handler(ctx, arguments)
    except MethodError as error:
        return "error", error.to_json()
    if not isinstance(result, dict):
        raise TypeError("Email/set answered with more than one response")
    return "Email/set", result


__all__ = ["submission_set"]
