"""Foo/copy (RFC 8620 §5.4): read originals in one account, create copies in another.

The three phases of §5.4 stay separate: read the originals (checking ``ifFromInState``), create
the copies in one atomic write (checking ``ifInState``, retried on a concurrent write like a
/set), then, with ``onSuccessDestroyOriginal``, an implicit Foo/set that destroys the copied
originals; its response follows the /copy response (the handler returns Responses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import COPY, SET, DataType
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.registry import Responses
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.references import resolve_id
from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.jmap.standard.set import SetComputation, set_objects
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import JSONObject

KNOWN_ARGUMENTS = (
    "fromAccountId", "ifFromInState", "accountId", "ifInState", "create",
    "onSuccessDestroyOriginal", "destroyFromIfInState",
)


async def copy(
    data_type: DataType,
    ctx: RequestContext,
    arguments: dict[str, Any],
    *,
    computation_class: Callable[[SetCall], SetComputation] = SetComputation,
) -> JSONObject | Responses:
    extras = args.check_known(arguments, KNOWN_ARGUMENTS, data_type, COPY)
    from_account_id = args.account_id(ctx, arguments, "fromAccountId")
    account_id = args.account_id(ctx, arguments)
    if from_account_id == account_id:
        raise MethodError.invalid_arguments("fromAccountId and accountId must differ")
    if_from_in_state = args.optional_string(arguments, "ifFromInState")
    if_in_state = args.optional_string(arguments, "ifInState")
    create = args.creations(arguments)
    if create is None:
        raise MethodError.invalid_arguments("'create' is required")
    destroy_original = args.boolean(arguments, "onSuccessDestroyOriginal", False)
    destroy_from_if_in_state = args.optional_string(arguments, "destroyFromIfInState")
    if len(create) > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(
            f"at most {ctx.limits.maxObjectsInSet} copies per call, got {len(create)}"
        )

    # phase 1: the originals
    from_state = await ctx.store.changes.current_state(from_account_id, data_type.name)
    if if_from_in_state is not None and if_from_in_state != from_state:
        raise MethodError(
            "stateMismatch", f"ifFromInState is {if_from_in_state!r}, the state is {from_state!r}"
        )
    sources: dict[str, str | None] = {}
    for creation_id, entry in create.items():
        source = entry.get("id") if isinstance(entry, dict) else None
        sources[creation_id] = resolve_id(ctx, source) if isinstance(source, str) else None
    wanted = [i for i in dict.fromkeys(sources.values()) if i is not None]
    originals = await ctx.store.accounts.get(from_account_id, data_type.name, wanted)

    # phase 2: the copies
    async def attempt() -> tuple[SetComputation, str, str]:
        objects = WorkingSet(ctx.store, account_id)
        call = SetCall(ctx, data_type, COPY, account_id, arguments, extras, objects=objects)
        old_state = await objects.state(data_type.name)
        if if_in_state is not None and if_in_state != old_state:
            raise MethodError(
                "stateMismatch", f"ifInState is {if_in_state!r}, the state is {old_state!r}"
            )
        computation = computation_class(call)
        for creation_id, entry in create.items():
            original = originals.get(sources[creation_id] or "")
            merged = _copy_of(data_type, entry, original)
            if isinstance(merged, SetError):
                computation.outcome.not_created[creation_id] = merged
            else:
                assert original is not None
                await computation.create_copy(creation_id, merged, original)
        await objects.finish()
        batch = objects.batch()
        if batch.is_empty():
            return computation, old_state, old_state
        result = await write_passing_turn(ctx, account_id, batch)
        return computation, old_state, result.new_states[data_type.name]

    computation, old_state, new_state = await optimistically(ctx, attempt, account_id=account_id)
    outcome = computation.outcome
    ctx.created_ids.update(outcome.created_ids)
    await computation.add_computed_to_created()
    response = await with_response_hook(computation.call, {
        "fromAccountId": from_account_id,
        "accountId": account_id,
        "oldState": old_state,
        "newState": new_state,
        "created": outcome.created or None,
        "notCreated": {k: e.to_json() for k, e in outcome.not_created.items()} or None,
    })
    if not destroy_original:
        return response

    # phase 3: destroy the originals of what was copied, as a Foo/set of its own
    copied = [sources[creation_id] for creation_id in outcome.created]
    follow_up = await _destroy_originals(
        data_type, ctx, from_account_id, [i for i in copied if i is not None],
        destroy_from_if_in_state,
    )
    return Responses(((data_type.method_name(COPY), response), follow_up))


def _copy_of(data_type: DataType, entry: Any, original: JSONObject | None) -> JSONObject | SetError:
    """What to create: the original's client-settable properties, overridden by the entry's."""
    if not isinstance(entry, dict):
        return set_errors.invalid_properties([], f"a {data_type.name} must be an object")
    if not isinstance(entry.get("id"), str):
        return set_errors.invalid_properties(["id"], "the id of the original is required")
    if original is None:
        return set_errors.not_found(f"no {data_type.name} {entry['id']!r} to copy")
    merged = {
        name: value for name, value in data_type.with_defaults(original).items()
        if name in data_type.properties and data_type.properties[name].client_settable
    }
    merged.update((name, value) for name, value in entry.items() if name != "id")
    return merged


async def _destroy_originals(
    data_type: DataType,
    ctx: RequestContext,
    from_account_id: str,
    ids: list[str],
    if_in_state: str | None,
) -> tuple[str, JSONObject]:
    name = data_type.method_name(SET)
    if ctx.is_read_only(from_account_id):
        return "error", MethodError.account_read_only().to_json()
    try:
        arguments: JSONObject = {"accountId": from_account_id, "destroy": ids}
        if if_in_state is not None:
            arguments["ifInState"] = if_in_state
        return name, await set_objects(data_type, ctx, arguments)
    except MethodError as error:
        return "error", error.to_json()
