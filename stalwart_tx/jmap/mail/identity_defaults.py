"""One Identity per address of the account's principal, made on the account's first Identity call.

Like the default mailboxes (``mailbox_defaults``): when the account has no Identity at all, one
store write conditional on the Identity state creates them, so of concurrent first requests (in
any processes) one writes and the others, refused with nothing applied, find them on retry. An
account left with no identity gets them back on its next Identity call, so it can always send as
its own addresses. Addresses given to the principal later get no identity of their own: the
user creates one (Identity/set accepts every address of ``addresses_of``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import random_id
from stalwart_tx.jmap.registry import Handler, JSONObject, MethodSpec, Responses
from stalwart_tx.jmap.standard.retry import optimistically
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.addresses import address_key

IDENTITY: Final = "Identity"


async def sendable_addresses(ctx: RequestContext, account_id: str) -> dict[str, str]:
    """The addresses the account may send as, by case-insensitive key.

    An account is its principal's own (IMailUser: account_id == principal_id). Aliases are set
    without checks, so one that is no ``local@domain`` (``postmaster``) is left out.
    """
    found: dict[str, str] = {}
    for address in await ctx.store.directory.addresses_of(account_id):
        try:
            found.setdefault(address_key(address), address)
        except ValueError:
            continue
    return found


def default_identity(address: str) -> JSONObject:
    return {
        "name": "", "email": address, "replyTo": None, "bcc": None, "textSignature": "",
        "htmlSignature": "", "mayDelete": True,
    }


async def ensure_default_identities(ctx: RequestContext, account_id: str) -> None:
    """Create the default identities if the account has none; safe under concurrency."""
    if await ctx.store.accounts.list_ids(account_id, IDENTITY):
        return  # the usual case: one cheap read
    addresses = sorted((await sendable_addresses(ctx, account_id)).values())
    if not addresses:
        return

    async def attempt() -> None:
        objects = WorkingSet(ctx.store, account_id)
        # reading through the working set makes the Identity state a precondition of the write
        if await objects.get_all(IDENTITY):
            return
        for address in addresses:
            objects.create(IDENTITY, random_id(), default_identity(address))
        await ctx.store.accounts.write(account_id, objects.batch())

    await optimistically(ctx, attempt)


def _ensuring(handler: Handler) -> Handler:
    async def handle(ctx: RequestContext, arguments: JSONObject) -> JSONObject | Responses:
        # the API layer has checked accountId already; a bad one is the method's to report
        account_id = arguments.get("accountId") if isinstance(arguments, dict) else None
        if isinstance(account_id, str) and account_id in ctx.account_ids():
            await ensure_default_identities(ctx, account_id)
        return await handler(ctx, arguments)

    return handle


def with_default_identities(specs: Iterable[MethodSpec]) -> list[MethodSpec]:
    """The methods, each making sure of the account's default identities before it runs."""
    return [dataclasses.replace(spec, handler=_ensuring(spec.handler)) for spec in specs]
