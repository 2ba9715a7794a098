"""``ImapEmail/expunge``: IMAP's EXPUNGE of some messages of one mailbox, decided in the write.

``{accountId, mailboxId, ids}``: of the emails ``ids`` (without ``ids``: those the mailbox's
and ``$deleted``'s indexes both hold when the call starts, at most maxObjectsInSet of them),
each that is still in the mailbox and still has ``$deleted`` when the write reads it leaves
the mailbox: an email in other mailboxes too just leaves this one (and loses
``$deleted``, which was meant for this mailbox's copy: RFC 3501 §6.4.7, a copy keeps the flags
it was copied with), one in no other is destroyed. Every change goes through Email/set's
computation (threads, counts, UIDs, expunge records, search postings), in one write
conditional on those emails as read, so an email another session undeleted or moved meanwhile
is left alone. Answers ``{accountId, oldState, newState, expunged}`` (the ids taken out), and
without ``ids`` ``hasMore``: whether more were found than one call takes (call again).
"""

from __future__ import annotations

from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import SET
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.email_model import DELETED, EMAIL, keyword_index, mailbox_index
from stalwart_tx.jmap.mail.imap_arguments import id_list, known_only, one_id
from stalwart_tx.jmap.registry import JSONObject
from stalwart_tx.jmap.standard.arguments import account_id as account_argument
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import Index, Intersection


async def imap_email_expunge(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    from stalwart_tx.jmap.mail.email import EMAIL_TYPE
    from stalwart_tx.jmap.mail.email_create import EmailSetComputation

    known_only(arguments, "mailboxId", "ids")
    account = account_argument(ctx, arguments)
    mailbox_id = str(one_id(arguments, "mailboxId"))
    given = id_list(arguments, "ids") if "ids" in arguments else None
    most = ctx.limits.maxObjectsInSet
    if given is not None and len(given) > most:
        raise MethodError.request_too_large(
            f"at most {most} emails per call, got {len(given)}"
        )
    wanted, more = given or [], False
    if given is None:
        # found here, before the account's write turn is taken (the turn is then held for the
        # write alone, and a conflict computes again from the same candidates, each checked as
        # the write reads it); computed whole (the store intersects from the smaller index),
        # not walked member by member through a mailbox of few deleted messages
        found = await ctx.store.indexes.index_query(account, Intersection((
            Index(mailbox_index(mailbox_id)), Index(keyword_index(DELETED)),
        )), limit=most + 1)
        wanted, more = found.ids[:most], len(found.ids) > most

    async def attempt() -> tuple[list[str], str, str]:
        objects = WorkingSet(ctx.store, account, cached=True)
        call = SetCall(ctx, EMAIL_TYPE, SET, account, arguments, {}, objects=objects)
        emails = await objects.view(EMAIL, wanted)  # read only: the changes go by patch
        old_state = await objects.peek_state(EMAIL)
        leaving: dict[str, Any] = {}
        destroying: list[str] = []
        for email_id in wanted:
            email = emails.get(email_id)
            if email is None:
                continue
            mailboxes = email.get("mailboxIds") or {}
            if mailbox_id not in mailboxes or DELETED not in (email.get("keywords") or {}):
                continue  # undeleted or moved since the query: not this EXPUNGE's
            if set(mailboxes) - {mailbox_id}:
                leaving[email_id] = {f"mailboxIds/{mailbox_id}": None, f"keywords/{DELETED}": None}
            else:
                destroying.append(email_id)
        computation = EmailSetComputation(call)
        await computation.update_all(leaving, set(destroying))
        await computation.destroy_all({i: i for i in destroying})
        outcome = computation.outcome
        if outcome.not_updated or outcome.not_destroyed:
            problem = next(iter({**outcome.not_updated, **outcome.not_destroyed}.values()))
            raise MethodError("serverFail", f"cannot expunge: {problem.to_json()}")
        await objects.finish()
        batch = objects.batch()
        done = [*leaving, *destroying]
        if batch.is_empty():
            return done, old_state, old_state
        result = await write_passing_turn(ctx, account, batch)
        return (done, result.old_states.get(EMAIL, old_state),
                result.new_states.get(EMAIL, old_state))

    expunged, old_state, new_state = await optimistically(ctx, attempt, account_id=account)
    answer: JSONObject = {"accountId": account, "oldState": old_state, "newState": new_state,
                          "expunged": expunged}
    if given is None:
        answer["hasMore"] = more
    return answer
