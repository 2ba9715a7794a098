"""One Identity per address of the account's principal, made on the account's first Identity call.

Like the default mailboxes (``mailbox_defaults``): when the account has no Identity at all, one
store write conditional on the Identity state creates them, so of concurrent first requests (in
any processes) one writes and the others, refused with nothing applied, find them on retry. An
account left with no identity gets them back on its next Identity call, so it can always send as
its own addresses. Addresses given to the principal later get no identity of their own: the
user creates one (Identity/set accepts every address of ``addresses_of``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.mail.first_use import create_if_none, ensuring_first
from stalwart_tx.jmap.registry import JSONObject, MethodSpec
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
        return  # the usual case: one cheap read, no directory lookup
    addresses = sorted((await sendable_addresses(ctx, account_id)).values())
    await create_if_none(ctx, account_id, IDENTITY, [default_identity(a) for a in addresses])


def with_default_identities(specs: Iterable[MethodSpec]) -> list[MethodSpec]:
    """The methods, each making sure of the account's default identities before it runs."""
    return ensuring_first(ensure_default_identities, specs)
