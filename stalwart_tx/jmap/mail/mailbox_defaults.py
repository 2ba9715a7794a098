"""The mailboxes every account starts with, made on the first use of the account by a mail method.

``ensure_default_mailboxes`` creates Inbox, Drafts, Sent, Trash, Junk and Archive (with their
roles) when the account has no Mailbox at all. The creation is one store write conditional on
the Mailbox state it read the emptiness at: of two concurrent first requests (in any processes)
one writes, the other's write is refused with nothing applied, and its retry finds the
mailboxes. An account left without any mailbox gets them back on its next mail call, so
delivery always finds an Inbox.

Every mail method goes through ``with_default_mailboxes``, which calls it before the method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import random_id
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX
from stalwart_tx.jmap.registry import Handler, JSONObject, MethodSpec, Responses
from stalwart_tx.jmap.standard.retry import optimistically
from stalwart_tx.jmap.standard.working_set import WorkingSet

# (name, role) in display order; sortOrder follows it, so every client lists them alike
DEFAULT_MAILBOXES: Final = (
    ("Inbox", "inbox"),
    ("Drafts", "drafts"),
    ("Sent", "sent"),
    ("Trash", "trash"),
    ("Junk", "junk"),
    ("Archive", "archive"),
)


def default_mailbox(name: str, role: str, position: int) -> JSONObject:
    return {
        "name": name, "parentId": None, "role": role, "sortOrder": (position + 1) * 10,
        "isSubscribed": True,
    }


async def ensure_default_mailboxes(ctx: RequestContext, account_id: str) -> None:
    """Create the default mailboxes if the account has none; safe under concurrency."""
    if await ctx.store.accounts.list_ids(account_id, MAILBOX):
        return  # the usual case: one cheap read

    async def attempt() -> None:
        objects = WorkingSet(ctx.store, account_id)
        # reading through the working set makes the Mailbox state a precondition of the write
        if await objects.get_all(MAILBOX):
            return
        for position, (name, role) in enumerate(DEFAULT_MAILBOXES):
            objects.create(MAILBOX, random_id(), default_mailbox(name, role, position))
        await ctx.store.accounts.write(account_id, objects.batch())

    await optimistically(ctx, attempt)


def _ensuring(handler: Handler) -> Handler:
    async def handle(ctx: RequestContext, arguments: JSONObject) -> JSONObject | Responses:
        # the API layer has checked accountId already; a bad one is the method's to report
        account_id = arguments.get("accountId") if isinstance(arguments, dict) else None
        if isinstance(account_id, str) and account_id in ctx.account_ids():
            await ensure_default_mailboxes(ctx, account_id)
        return await handler(ctx, arguments)

    return handle


def with_default_mailboxes(specs: Iterable[MethodSpec]) -> list[MethodSpec]:
    """The methods, each making sure of the account's default mailboxes before it runs."""
    return [dataclasses.replace(spec, handler=_ensuring(spec.handler)) for spec in specs]
