"""Mailbox/queryChanges (RFC 8621 §2.4) for queries with sortAsTree or filterAsTree.

The generic /queryChanges re-places only the mailboxes that changed. Under the tree arguments
a mailbox's place and membership also depend on its ancestors (their names and sortOrders, and
whether they match), so this one removes and re-adds every descendant of an updated mailbox as
well. That is enough: a mailbox whose place moved either changed itself or has a changed
ancestor — in the old tree and in the new one alike, since the links below the nearest changed
ancestor did not change — and mailboxes none of whose ancestors changed keep their relative
order. ``upToId`` is ignored (allowed by RFC 8620 §5.6): tree results never depend only on
immutable properties.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import QUERY_CHANGES, DataType
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.mailbox_tree import descendants, mailbox_results, uses_tree, views_of
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.calls import QueryCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.query import parse_query_call
from stalwart_tx.jmap.standard.query_changes import KNOWN_ARGUMENTS
from stalwart_tx.jmap.standard.retry import Conflict, optimistically
from stalwart_tx.store.errors import CannotCalculateChanges
from stalwart_tx.store.records import Changes, JSONObject

Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[Any]]


def tree_aware(data_type: DataType, generic: Handler) -> Handler:
    """Mailbox/queryChanges: the generic method, or the tree one when the query is a tree."""

    async def handle(ctx: RequestContext, arguments: dict[str, Any]) -> Any:
        call = parse_query_call(data_type, ctx, arguments, QUERY_CHANGES, KNOWN_ARGUMENTS)
        if uses_tree(call):
            return await tree_query_changes(call, arguments)
        return await generic(ctx, arguments)

    return handle


async def tree_query_changes(call: QueryCall, arguments: dict[str, Any]) -> JSONObject:
    ctx, name = call.ctx, call.data_type.name
    since = args.required_string(arguments, "sinceQueryState")
    max_changes = args.optional_unsigned(arguments, "maxChanges")
    args.optional_string(arguments, "upToId")  # checked, then ignored (see the module's notes)
    calculate_total = args.boolean(arguments, "calculateTotal", False)

    async def read() -> tuple[Changes, dict[str, JSONObject]]:
        # the mailboxes must be exactly those at the new query state: re-read if a write lands
        before = await ctx.store.changes.current_state(call.account_id, name)
        try:
            changes = await ctx.store.changes.changes_since(call.account_id, name, since, None)
        except CannotCalculateChanges as error:
            raise MethodError(
                "cannotCalculateChanges", f"no changes can be given since {since!r}: {error}"
            ) from None
        stored = await ctx.store.accounts.get(call.account_id, name, None)
        after = await ctx.store.changes.current_state(call.account_id, name)
        if after != before:
            raise Conflict(f"{name} moved from {before} to {after} while reading")
        return changes, stored

    changes, stored = await optimistically(ctx, read)
    views = views_of(call, stored)
    ids = mailbox_results(call, views)
    index = {mailbox_id: position for position, mailbox_id in enumerate(ids)}
    moved = set(changes.updated) | descendants(views, changes.updated)
    removed = [*changes.updated, *changes.destroyed,
               *sorted(moved - set(changes.updated))]
    added = sorted(
        (index[mailbox_id], mailbox_id)
        for mailbox_id in moved | set(changes.created) if mailbox_id in index
    )
    if max_changes is not None and len(removed) + len(added) > max_changes:
        raise MethodError(
            "tooManyChanges",
            f"{len(removed) + len(added)} changes, more than maxChanges {max_changes}",
        )
    response: JSONObject = {
        "accountId": call.account_id,
        "oldQueryState": since,
        "newQueryState": changes.new_state,
        "removed": removed,
        "added": [{"id": mailbox_id, "index": position} for position, mailbox_id in added],
    }
    if calculate_total:
        response["total"] = len(ids)
    return await with_response_hook(call, response)
