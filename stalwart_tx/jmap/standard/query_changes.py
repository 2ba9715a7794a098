"""Foo/queryChanges (RFC 8620 §5.6), computed from the change log and the current results.

``removed`` is every object changed or destroyed since the old query state (the RFC allows
extra ids; a changed object may have moved, so it must be re-added anyway), and ``added`` is
those of the changed or created objects that are in the results now, with their index.
"""

from __future__ import annotations

from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import QUERY_CHANGES, DataType
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.calls import QueryCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.query import engine_of, parse_query_call
from stalwart_tx.jmap.standard.references import resolve_id
from stalwart_tx.jmap.standard.retry import Conflict, optimistically
from stalwart_tx.store.errors import CannotCalculateChanges
from stalwart_tx.store.records import Changes, JSONObject

KNOWN_ARGUMENTS = (
    "accountId", "filter", "sort", "sinceQueryState", "maxChanges", "upToId", "calculateTotal",
)


def _immutable(call: QueryCall) -> bool:
    """Whether the results depend only on properties that never change (§5.6 upToId)."""
    return (call.filter is None or call.filter.immutable) and all(
        comparator.immutable for comparator in call.sort
    )


async def query_changes(
    data_type: DataType, ctx: RequestContext, arguments: dict[str, Any]
) -> JSONObject:
    call = parse_query_call(data_type, ctx, arguments, QUERY_CHANGES, KNOWN_ARGUMENTS)
    since = args.required_string(arguments, "sinceQueryState")
    max_changes = args.optional_unsigned(arguments, "maxChanges")
    up_to_id = args.optional_string(arguments, "upToId")
    calculate_total = args.boolean(arguments, "calculateTotal", False)

    async def read() -> tuple[Changes, list[str], set[str]]:
        # the results must be exactly those at the new query state, or the client's indexes
        # would be off: if a write lands while we read, read again
        before = await ctx.store.changes.current_state(call.account_id, data_type.name)
        try:
            changes = await ctx.store.changes.changes_since(
                call.account_id, data_type.name, since, None
            )
        except CannotCalculateChanges as error:
            raise MethodError(
                "cannotCalculateChanges", f"no changes can be given since {since!r}: {error}"
            ) from None
        ids = await engine_of(data_type)(call)
        moved_along = (
            await data_type.moved_along(call, changes.updated)
            if data_type.moved_along is not None else set()
        )
        after = await ctx.store.changes.current_state(call.account_id, data_type.name)
        if after != before:
            raise Conflict(f"{data_type.name} moved from {before} to {after} while reading")
        return changes, ids, moved_along - set(changes.updated) - set(changes.created)

    changes, ids, moved_along = await optimistically(ctx, read)
    index = {object_id: position for position, object_id in enumerate(ids)}
    # objects moved along by others' changes are removed and re-added like changed ones
    removed = [*changes.updated, *changes.destroyed, *sorted(moved_along)]
    added = sorted(
        (index[object_id], object_id)
        for object_id in (*changes.created, *changes.updated, *moved_along)
        if object_id in index
    )
    if up_to_id is not None and _immutable(call) and not moved_along:
        last = index.get(resolve_id(ctx, up_to_id) or "")
        if last is not None:  # the client caches nothing past upToId
            added = [(position, object_id) for position, object_id in added if position <= last]
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
        "added": [{"id": object_id, "index": position} for position, object_id in added],
    }
    if calculate_total:
        response["total"] = len(ids)
    return await with_response_hook(call, response)
