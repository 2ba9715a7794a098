"""Foo/changes (RFC 8620 §5.2), straight from the store's change log."""

from __future__ import annotations

from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import CHANGES, DataType
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.store.errors import CannotCalculateChanges
from stalwart_tx.store.records import Changes, JSONObject

KNOWN_ARGUMENTS = ("accountId", "sinceState", "maxChanges")


async def changes(
    data_type: DataType, ctx: RequestContext, arguments: dict[str, Any]
) -> JSONObject:
    extras = args.check_known(arguments, KNOWN_ARGUMENTS, data_type, CHANGES)
    account_id = args.account_id(ctx, arguments)
    since_state = args.required_string(arguments, "sinceState")
    max_changes = args.optional_unsigned(arguments, "maxChanges")
    if max_changes == 0:
        raise MethodError.invalid_arguments("'maxChanges' must be greater than 0")
    call = MethodCall(ctx, data_type, CHANGES, account_id, arguments, extras)

    # the server may return fewer than asked, never more (§5.2): it caps a page at max_changes
    page_size = min(max_changes or data_type.max_changes, data_type.max_changes)
    try:
        found = await ctx.store.changes.changes_since(
            account_id, data_type.name, since_state, page_size
        )
    except CannotCalculateChanges as error:  # InvalidState too: a token we never issued
        raise MethodError(
            "cannotCalculateChanges", f"no changes can be given since {since_state!r}: {error}"
        ) from None
    response: JSONObject = {"accountId": account_id, **changes_fields(found)}
    return await with_response_hook(call, response)


def changes_fields(found: Changes) -> JSONObject:
    """A /changes response's fields for a page of the change log (RFC 8620 §5.2)."""
    return {
        "oldState": found.old_state,
        "newState": found.new_state,
        "hasMoreChanges": found.has_more,
        "created": list(found.created),
        "updated": list(found.updated),
        "destroyed": list(found.destroyed),
    }


async def updated_properties_unknown(call: MethodCall, response: JSONObject) -> JSONObject:
    """A response hook for types whose /changes has ``updatedProperties`` (Mailbox, RFC 8621
    §2.2): the change log cannot tell which properties changed, so it is always null."""
    return {"updatedProperties": None}
