"""Foo/set (RFC 8620 §5.3): creates, then updates, then destroys, in one atomic write.

The computation runs against a WorkingSet (store reads overlaid by the staged writes), so a
later operation sees the earlier ones of the same call: an update of an object created by
``#creationId``, a destroy of an updated one. Everything staged goes to the store as one
WriteBatch conditional on every state read (see ``retry``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import SET, SINGLETON_ID, DataType, Property
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.patch import (
    REMOVE,
    InvalidPatch,
    PatchOperation,
    apply_patch,
    encode_pointer,
    parse_patch,
)
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.references import resolve_id, resolver
from stalwart_tx.jmap.standard.rendering import render
from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.jmap.standard.values import MapOf, UnresolvedReference, same_json
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import JSONObject, json_copy

KNOWN_ARGUMENTS = ("accountId", "ifInState", "create", "update", "destroy")

_ABSENT = object()


@dataclass
class SetOutcome:
    """What one computation of a /set decided, object by object."""

    created: dict[str, JSONObject] = field(default_factory=dict)
    not_created: dict[str, SetError] = field(default_factory=dict)
    updated: dict[str, JSONObject | None] = field(default_factory=dict)
    not_updated: dict[str, SetError] = field(default_factory=dict)
    destroyed: list[str] = field(default_factory=list)
    not_destroyed: dict[str, SetError] = field(default_factory=dict)
    created_ids: dict[str, str] = field(default_factory=dict)  # creation id → new id

    def response(self) -> JSONObject:
        def errors(found: dict[str, SetError]) -> dict[str, JSONObject] | None:
            return {key: error.to_json() for key, error in found.items()} or None

        return {
            "created": self.created or None,
            "updated": self.updated or None,
            "destroyed": self.destroyed or None,
            "notCreated": errors(self.not_created),
            "notUpdated": errors(self.not_updated),
            "notDestroyed": errors(self.not_destroyed),
        }


class _WaitFor(Exception):
    """A create refers to another create of the same call that has not been made yet."""


class SetComputation:
    """One attempt at a /set (or at the writing half of a /copy)."""

    def __init__(self, call: SetCall) -> None:
        self.call = call
        self.data_type = call.data_type
        self.objects = call.objects
        self.outcome = SetOutcome()

    # -- create ---------------------------------------------------------------------------

    async def create_all(self, creates: dict[str, Any]) -> None:
        """Every create, each one after the creates its ``#creationId`` references name."""
        pending = dict(creates)
        while pending:
            progressed = False
            for creation_id, given in list(pending.items()):
                waiting = frozenset(pending) - {creation_id}
                try:
                    await self.create(creation_id, given, waiting)
                except _WaitFor:
                    continue
                del pending[creation_id]
                progressed = True
            if not progressed:
                # a cycle of references: none can be made first, so each fails on its own
                for creation_id, given in pending.items():
                    await self.create(creation_id, given, frozenset())
                return

    async def create(
        self, creation_id: str, given: Any, waiting: frozenset[str] = frozenset()
    ) -> str | None:
        """Create one object from what the client gave; its new id, or None with a SetError."""
        savepoint = self.objects.savepoint()
        error = await self._create(creation_id, given, waiting)
        if error is not None:
            # a hook may have staged writes before it refused: none of them stands
            self.objects.rollback(savepoint)
            self.outcome.not_created[creation_id] = error
            return None
        return self.outcome.created_ids[creation_id]

    async def _create(
        self, creation_id: str, given: Any, waiting: frozenset[str]
    ) -> SetError | None:
        data_type = self.data_type
        if data_type.singleton:
            return set_errors.singleton(f"{data_type.name} has exactly one object")
        if not isinstance(given, dict):
            return set_errors.invalid_properties([], f"a {data_type.name} must be an object")
        refused = [
            name for name in given
            if name not in data_type.properties or not data_type.properties[name].client_settable
        ]
        if refused:
            return set_errors.invalid_properties(
                refused, "unknown or server-set properties: " + ", ".join(refused)
            )
        value: JSONObject = {}
        invalid: dict[str, str] = {}
        resolve = resolver(self.call.ctx, self.outcome.created_ids)
        for name, item in given.items():
            prop = data_type.properties[name]
            try:
                value[name] = prop.kind.resolve(item, resolve)
            except UnresolvedReference as unresolved:
                if unresolved.creation_id in waiting:
                    raise _WaitFor() from None
                invalid[name] = f"refers to {unresolved.reference}, which was not created"
                continue
            problem = prop.kind.problem(value[name])
            if problem is not None:
                invalid[name] = problem
        for name, prop in data_type.properties.items():
            if prop.required and name not in given:
                invalid[name] = "is required"
        if invalid:
            return _invalid(invalid)

        value = data_type.with_defaults(value)
        object_id = data_type.new_id()
        while self.objects.is_known(data_type.name, object_id):
            object_id = data_type.new_id()
        if data_type.on_create is not None:
            error = await data_type.on_create(self.call, object_id, value)
            if error is not None:
                return error
        self.objects.create(data_type.name, object_id, value)
        self.outcome.created_ids[creation_id] = object_id
        created: JSONObject = {"id": object_id}
        for name, item in value.items():
            if name not in given or not same_json(given[name], item):
                created[name] = item
        self.outcome.created[creation_id] = created
        return None

    async def create_copy(
        self, creation_id: str, merged: JSONObject, original: JSONObject
    ) -> str | None:
        """Foo/copy: create the copy ``merged`` (the original's client-settable properties with
        the entry's overrides); a type whose copies need more of the original (Email: its
        message) overrides this."""
        return await self.create(creation_id, merged)

    async def add_computed_to_created(self) -> None:
        """Computed properties of the created objects: server-set, so ``created`` shows them."""
        wanted = [n for n, p in self.data_type.properties.items() if p.computed]
        if not wanted or not self.outcome.created:
            return
        by_id = {
            self.outcome.created_ids[creation_id]: creation_id
            for creation_id in self.outcome.created
        }
        stored = await self.objects.get(self.data_type.name, list(by_id))
        rendered = await render(self.call, stored, wanted)
        for object_id, values in rendered.items():
            values.pop("id")
            self.outcome.created[by_id[object_id]].update(values)

    # -- update ---------------------------------------------------------------------------

    async def update_all(self, updates: dict[str, Any], destroying: set[str]) -> None:
        ctx, created_ids = self.call.ctx, self.outcome.created_ids
        resolved = {key: resolve_id(ctx, key, created_ids) for key in updates}
        await self.objects.load(self.data_type.name, [i for i in resolved.values() if i])
        for key, patch in updates.items():
            savepoint = self.objects.savepoint()
            error = await self._update(resolved[key], patch, destroying)
            if error is not None:
                self.objects.rollback(savepoint)
                self.outcome.not_updated[key] = error

    async def _update(
        self, object_id: str | None, patch: Any, destroying: set[str]
    ) -> SetError | None:
        data_type = self.data_type
        if object_id is None:
            return set_errors.not_found()
        # read, not copied: ``old`` is a new dict over it, and the patched value copies what
        # the patch touches (nothing below changes either in place)
        stored = (await self.objects.view(data_type.name, [object_id])).get(object_id)
        if stored is None and data_type.singleton and object_id == SINGLETON_ID:
            stored = data_type.default_object()  # the singleton exists before it is ever set
            exists_in_store = False
        else:
            exists_in_store = True
        if stored is None:
            return set_errors.not_found()
        if object_id in destroying:
            return set_errors.will_destroy("the same call destroys this object")
        if not isinstance(patch, dict):
            return set_errors.invalid_patch("a PatchObject must be an object")
        try:
            operations = parse_patch(patch)
        except InvalidPatch as bad_patch:
            return set_errors.invalid_patch(str(bad_patch))
        touched = list(dict.fromkeys(operation.property for operation in operations))
        unknown = [name for name in touched if name != "id" and name not in data_type.properties]
        if unknown:
            return set_errors.invalid_properties(
                unknown, "unknown properties: " + ", ".join(unknown)
            )

        old = data_type.with_defaults(stored)
        before: JSONObject = {"id": object_id, **old}
        computed = [name for name in touched if name in data_type.properties
                    and data_type.properties[name].computed]
        if computed:
            rendered = await render(self.call, {object_id: stored}, computed)
            before.update(rendered[object_id])
        canonical = _canonical_keys(data_type, operations)
        try:
            after = apply_patch(before, canonical, reset=lambda name: _reset(data_type, name))
            # what the client asked for, before the server's part (which replaces top-level
            # values of ``new``: the touched ones are copied here, the others shared)
            requested = {**after, **{n: json_copy(after[n]) for n in touched if n in after}} \
                if canonical == operations else apply_patch(
                    before, operations, reset=lambda name: _reset(data_type, name))
        except InvalidPatch as bad_patch:
            return set_errors.invalid_patch(str(bad_patch))

        invalid: dict[str, str] = {}
        resolve = resolver(self.call.ctx, self.outcome.created_ids)
        for name in touched:
            prop = data_type.properties.get(name)
            was, now = before.get(name, _ABSENT), after.get(name, _ABSENT)
            if prop is None or not prop.client_settable or prop.immutable:
                # §5.3: a server-set (or immutable) property may only be "set" to what it is
                if not (was is now or (was is not _ABSENT and now is not _ABSENT
                                       and same_json(was, now))):
                    invalid[name] = "cannot be changed"
                continue
            if now is _ABSENT:
                if prop.required:
                    invalid[name] = "is required"
                continue
            try:
                after[name] = prop.kind.resolve(now, resolve)
            except UnresolvedReference as unresolved:
                invalid[name] = f"refers to {unresolved.reference}, which was not created"
                continue
            problem = prop.kind.problem(after[name])
            if problem is not None:
                invalid[name] = problem
        if invalid:
            return _invalid(invalid)

        new = {name: item for name, item in after.items() if name in data_type.stored_properties}
        if data_type.on_update is not None:
            refused = await data_type.on_update(self.call, object_id, old, new)
            if refused is not None:
                return refused
        if same_json(new, old):
            pass  # nothing to write: the state stays where it is
        elif exists_in_store:
            self.objects.update(data_type.name, object_id, new)
        else:
            self.objects.create(data_type.name, object_id, new)
        changed = {
            name: item for name, item in new.items()
            if name not in requested or not same_json(requested[name], item)
        }
        self.outcome.updated[object_id] = changed or None
        return None

    # -- destroy --------------------------------------------------------------------------

    def resolve_destroys(self, destroy: list[str]) -> dict[str, str | None]:
        return {
            key: resolve_id(self.call.ctx, key, self.outcome.created_ids)
            for key in dict.fromkeys(destroy)  # an id listed twice is destroyed once
        }

    async def destroy_all(self, destroys: dict[str, str | None]) -> None:
        await self.objects.load(self.data_type.name, [i for i in destroys.values() if i])
        for key, object_id in destroys.items():
            savepoint = self.objects.savepoint()
            error = await self._destroy(object_id)
            if error is not None:
                self.objects.rollback(savepoint)
                self.outcome.not_destroyed[key] = error
            elif object_id is not None:
                self.outcome.destroyed.append(object_id)

    async def _destroy(self, object_id: str | None) -> SetError | None:
        data_type = self.data_type
        if data_type.singleton:
            return set_errors.singleton(f"the {data_type.name} cannot be destroyed")
        stored = None if object_id is None else await self.objects.get_one(
            data_type.name, object_id
        )
        if object_id is None or stored is None:
            return set_errors.not_found()
        if data_type.on_destroy is not None:
            error = await data_type.on_destroy(
                self.call, object_id, data_type.with_defaults(stored)
            )
            if error is not None:
                return error
        self.objects.destroy(data_type.name, object_id)
        return None


def _canonical_keys(
    data_type: DataType, operations: list[PatchOperation]
) -> list[PatchOperation]:
    """The operations with each key of a map property in its canonical form, where the map's
    keys have one (an Email's keywords are case-insensitive: ``keywords/$SEEN`` is
    ``keywords/$seen``, to add and to remove)."""
    result = []
    for operation in operations:
        prop = data_type.properties.get(operation.property)
        canonical = getattr(prop.kind.key, "canonical", None) if (
            prop is not None and isinstance(prop.kind, MapOf)
        ) else None
        if canonical is not None and len(operation.path) > 1:
            path = (operation.path[0], canonical(operation.path[1]), *operation.path[2:])
            if path != operation.path:
                operation = PatchOperation(encode_pointer(path), path, operation.value)
        result.append(operation)
    return result


def _reset(data_type: DataType, name: str) -> Any:
    prop: Property | None = data_type.properties.get(name)
    if prop is not None and prop.has_default:
        return json_copy(prop.default)
    return REMOVE


def _invalid(problems: dict[str, str]) -> SetError:
    return set_errors.invalid_properties(
        list(problems), "; ".join(f"{name} {problem}" for name, problem in problems.items())
    )


@dataclass(frozen=True)
class SetRequest:
    account_id: str
    if_in_state: str | None
    create: dict[str, Any]
    update: dict[str, Any]
    destroy: list[str]
    extras: dict[str, Any]


def parse_set_request(
    data_type: DataType, ctx: RequestContext, arguments: dict[str, Any]
) -> SetRequest:
    extras = args.check_known(arguments, KNOWN_ARGUMENTS, data_type, SET)
    account_id = args.account_id(ctx, arguments)
    request = SetRequest(
        account_id=account_id,
        if_in_state=args.optional_string(arguments, "ifInState"),
        create=args.creations(arguments) or {},
        update=args.optional_object(arguments, "update") or {},
        destroy=args.optional_strings(arguments, "destroy") or [],
        extras=extras,
    )
    count = len(request.create) + len(request.update) + len(request.destroy)
    if count > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(
            f"at most {ctx.limits.maxObjectsInSet} creates, updates and destroys per call,"
            f" got {count}"
        )
    return request


async def set_objects(
    data_type: DataType,
    ctx: RequestContext,
    arguments: dict[str, Any],
    *,
    computation_class: Callable[[SetCall], SetComputation] = SetComputation,
    take_turn: Callable[[SetRequest], bool] = lambda request: True,
) -> JSONObject:
    """``take_turn(request)``: whether the call waits for the account's other writers in this
    process (see ``retry.optimistically``); a type whose calls of some kind compute from a few
    objects of their own, conditional on just those, can let them run alongside."""
    request = parse_set_request(data_type, ctx, arguments)

    async def attempt() -> tuple[SetComputation, str, str]:
        objects = WorkingSet(ctx.store, request.account_id, cached=True)
        call = SetCall(
            ctx, data_type, SET, request.account_id, arguments, request.extras, objects=objects
        )
        known = [i for i in (*request.update, *request.destroy) if not i.startswith("#")]
        if known:
            # the objects to change are read anyway; read first, they come with the state (no
            # copies: each is read again where it is changed)
            await objects.load(data_type.name, known)
        if request.if_in_state is None:
            # of a per-object type, not a condition: oldState is then the state just before
            # the write, which may be newer (others changed other objects in between)
            old_state = await objects.peek_state(data_type.name)
        else:
            old_state = await objects.state(data_type.name)
            if request.if_in_state != old_state:
                raise MethodError(
                    "stateMismatch",
                    f"ifInState is {request.if_in_state!r}, the state is {old_state!r}",
                )
        computation = computation_class(call)
        await computation.create_all(request.create)
        destroys = computation.resolve_destroys(request.destroy)
        # a singleton is never destroyed, so an update of it is never willDestroy
        destroying = set() if data_type.singleton else {
            object_id for object_id in destroys.values() if object_id is not None
        }
        await computation.update_all(request.update, destroying)
        await computation.destroy_all(destroys)
        await objects.finish()
        batch = objects.batch()
        if batch.is_empty():
            return computation, old_state, old_state
        result = await write_passing_turn(ctx, request.account_id, batch)
        name = data_type.name
        return (computation, result.old_states.get(name, old_state),
                result.new_states.get(name, old_state))

    computation, old_state, new_state = await optimistically(
        ctx, attempt, account_id=request.account_id if take_turn(request) else None
    )
    ctx.created_ids.update(computation.outcome.created_ids)
    await computation.add_computed_to_created()
    response: JSONObject = {
        "accountId": request.account_id,
        "oldState": old_state,
        "newState": new_state,
        **computation.outcome.response(),
    }
    return await with_response_hook(computation.call, response)


__all__ = ["SetComputation", "SetOutcome", "set_objects"]
