"""Foo/get (RFC 8620 §5.1)."""

from __future__ import annotations

from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import GET, SINGLETON_ID, DataType
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.references import resolve_id
from stalwart_tx.jmap.standard.rendering import all_properties, render
from stalwart_tx.store.errors import TooManyObjects
from stalwart_tx.store.records import JSONObject

KNOWN_ARGUMENTS = ("accountId", "ids", "properties")


async def get(data_type: DataType, ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject:
    extras = args.check_known(arguments, KNOWN_ARGUMENTS, data_type, GET)
    account_id = args.account_id(ctx, arguments)
    requested_ids = args.optional_strings(arguments, "ids")
    requested_properties = args.optional_strings(arguments, "properties")
    call = MethodCall(ctx, data_type, GET, account_id, arguments, extras)

    if requested_ids is not None and len(requested_ids) > ctx.limits.maxObjectsInGet:
        raise MethodError.request_too_large(
            f"at most {ctx.limits.maxObjectsInGet} ids per call, got {len(requested_ids)}"
        )
    properties = _properties(call, requested_properties)
    if extras and data_type.compute is not None:
        # The type's own arguments (Email/get's bodyProperties...) are checked by its compute
        # hook; asked once with no objects here, a bad one is invalidArguments whatever the
        # ids find and whichever properties are asked for.
        await data_type.compute(call, {}, frozenset())

    # the state is read before the objects (or with them): a write in between makes the state
    # older than the data, so a later /changes repeats that change rather than missing it
    state: str | None = None
    stored: dict[str, JSONObject] = {}
    not_found: list[str] = []
    ids: list[str]
    if requested_ids is None:
        if data_type.singleton:
            ids = [SINGLETON_ID]
        else:
            try:
                state, stored = await ctx.store.accounts.get_with_state(
                    account_id, data_type.name, None, at_most=ctx.limits.maxObjectsInGet
                )
            except TooManyObjects as many:
                raise MethodError.request_too_large(
                    f"there are {many.count} objects, more than the "
                    f"{ctx.limits.maxObjectsInGet} one call returns; ask for them by id"
                ) from None
            ids = list(stored)
    else:
        ids = []
        for given in dict.fromkeys(requested_ids):  # an id asked for twice is answered once
            resolved = resolve_id(ctx, given)
            if resolved is None:
                not_found.append(given)
            else:
                ids.append(resolved)
        ids = list(dict.fromkeys(ids))

    lookup = [i for i in ids if not data_type.singleton or i == SINGLETON_ID]
    if state is None:
        state, stored = await ctx.store.accounts.get_with_state(
            account_id, data_type.name, lookup
        )
    if data_type.singleton and SINGLETON_ID in lookup and SINGLETON_ID not in stored:
        stored[SINGLETON_ID] = data_type.default_object()  # the singleton always exists
    rendered = await render(call, stored, properties)
    found = [rendered[i] for i in ids if i in rendered]
    not_found.extend(i for i in ids if i not in rendered)
    response: JSONObject = {
        "accountId": account_id,
        "state": state,
        "list": found,
        "notFound": not_found,
    }
    return await with_response_hook(call, response)


def _properties(call: MethodCall, requested: list[str] | None) -> list[str]:
    if requested is None:
        return all_properties(call)
    unknown = [name for name in requested if not call.data_type.is_property(name)]
    if unknown:
        raise MethodError.invalid_arguments(
            f"unknown {call.data_type.name} properties: {', '.join(unknown)}"
        )
    return ["id", *(name for name in dict.fromkeys(requested) if name != "id")]
