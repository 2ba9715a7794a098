"""PushSubscription/get and PushSubscription/set (RFC 8620 §7.2.1, §7.2.2).

Push subscriptions belong to the authenticated user, not to an account: neither method takes an
``accountId`` (it is ignored if sent) or has states (``ifInState`` is refused, no
``oldState``/``newState``/``state`` is returned). They are stored in the user's own account, so
a user only ever sees and changes their own. ``url`` and ``keys`` are write-once and never read
back. Delivery, the PushVerification included, is the push delivery service's job
(``stalwart_tx.push.service``): it learns of every create through the store's notifications.
"""

from __future__ import annotations

from typing import Any

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.registry import JSONObject, MethodSpec
from stalwart_tx.jmap.standard.arguments import creations
from stalwart_tx.push.subscription import (
    PRIVATE,
    READABLE,
    TYPE_NAME,
    InvalidProperty,
    PushSubscription,
    clamp_expires,
    format_utc_date,
    live_subscriptions,
    new_subscription_id,
    new_verification_code,
    parse_device_client_id,
    parse_keys,
    parse_types,
    parse_url,
)
from stalwart_tx.store.errors import ObjectNotFound, StateMismatch
from stalwart_tx.store.records import WriteBatch

# A user's devices each hold one or two; more is a runaway client (RFC 8620 §8.7: abuse).
MAX_SUBSCRIPTIONS_PER_USER = 50
_CREATABLE = frozenset({"deviceClientId", "url", "keys", "verificationCode", "expires", "types"})
_IMMUTABLE = ("id", "deviceClientId", "url", "keys")
# rounds of read-check-write before an update that keeps colliding gives up
_UPDATE_ATTEMPTS = 5


def _id_list(arguments: JSONObject, name: str) -> list[str] | None:
    value = arguments.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise MethodError.invalid_arguments(f"{name} must be null or a list of ids")
    return value


def _object_map(arguments: JSONObject, name: str) -> dict[str, Any]:
    value = arguments.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MethodError.invalid_arguments(f"{name} must be null or an object")
    return value


def _resolve(ctx: RequestContext, object_id: str) -> str | None:
    """A real id for ``object_id``, which may be ``#creationId`` (RFC 8620 §5.3)."""
    if object_id.startswith("#"):
        return ctx.created_ids.get(object_id[1:])
    return object_id


class _ErrorList(Exception):
    """Every invalid property of one object, so the SetError can name them all (§5.3)."""

    def __init__(self, errors: list[InvalidProperty]) -> None:
        super().__init__("invalid properties")
        self.errors = errors


def _invalid(errors: list[InvalidProperty]) -> SetError:
    return SetError(
        "invalidProperties",
        description="; ".join(str(e) for e in errors),
        properties=list(dict.fromkeys(e.property for e in errors if e.property)),
    )


# -- PushSubscription/get ---------------------------------------------------------------------


async def get(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    ids = _id_list(arguments, "ids")
    properties = _id_list(arguments, "properties")
    if properties is not None:
        private = [p for p in properties if p in PRIVATE]
        if private:
            # §7.2.1: asking for url or keys explicitly MUST be rejected with "forbidden"
            raise MethodError.forbidden(f"{', '.join(private)} can never be read back")
        unknown = [p for p in properties if p not in READABLE]
        if unknown:
            raise MethodError.invalid_arguments(f"unknown properties: {', '.join(unknown)}")
    if ids is not None and len(ids) > ctx.limits.maxObjectsInGet:
        raise MethodError.request_too_large(f"at most {ctx.limits.maxObjectsInGet} ids")

    wanted = list(READABLE) if properties is None else ["id", *properties]
    resolved = {i: _resolve(ctx, i) for i in ids} if ids is not None else None
    found = await live_subscriptions(
        ctx.store.accounts, ctx.user.account_id, ctx.reactor.seconds(),
        None if resolved is None else [r for r in resolved.values() if r is not None],
    )
    if resolved is None:
        chosen = list(found.values())
        not_found: list[str] = []
    else:
        chosen = [found[r] for r in dict.fromkeys(resolved.values()) if r in found]
        not_found = [i for i, r in resolved.items() if r not in found]
    listed = [{p: s.readable()[p] for p in dict.fromkeys(wanted)} for s in chosen]
    return {"list": listed, "notFound": not_found}


# -- PushSubscription/set ---------------------------------------------------------------------


def _parse_create(value: object, now: float) -> tuple[PushSubscription, JSONObject]:
    """The new subscription, and the properties the server chose that ``created`` reports."""
    if not isinstance(value, dict):
        raise _ErrorList([InvalidProperty("", "a PushSubscription to create must be an object")])
    errors: list[InvalidProperty] = []

    def check(name: str, parse: Any, *args: Any) -> Any:
        try:
            return parse(value.get(name), *args)
        except InvalidProperty as error:
            errors.append(error)
            return None

    for name in sorted(set(value) - _CREATABLE):
        errors.append(InvalidProperty(
            name, "id is set by the server" if name == "id" else f"unknown property {name!r}"
        ))
    if value.get("verificationCode") is not None:
        # §7.2: it MUST be null or omitted on create; the server sends the code
        errors.append(InvalidProperty("verificationCode", "verificationCode must be null"))
    device_client_id = check("deviceClientId", parse_device_client_id)
    url = check("url", parse_url)
    keys = check("keys", parse_keys)
    types = check("types", parse_types)
    expires = check("expires", clamp_expires, now)
    if errors:
        raise _ErrorList(errors)
    subscription = PushSubscription(
        id=new_subscription_id(), device_client_id=device_client_id, url=url, keys=keys,
        expires=expires, types=types, server_verification_code=new_verification_code(),
    )
    # §5.3: created holds the id, what the server may have changed, and omitted defaults
    reported: JSONObject = {"id": subscription.id, "expires": format_utc_date(expires)}
    for name in ("keys", "types", "verificationCode"):
        if name not in value:
            reported[name] = None
    return subscription, reported


def _apply_patch(
    current: PushSubscription, patch: dict[str, Any], now: float
) -> tuple[PushSubscription, JSONObject]:
    """The updated subscription, and what ``updated`` reports (properties changed unasked)."""
    errors: list[InvalidProperty] = []
    changes: dict[str, Any] = {}
    reported: JSONObject = {}
    stored = current.to_json()
    for name, value in patch.items():
        try:
            if name == "verificationCode":
                candidate = current.with_changes(verification_code=value)
                if not isinstance(value, str) or not candidate.is_verified:
                    # §7.2.2: only the code the server pushed verifies the subscription
                    raise InvalidProperty(name, "verificationCode does not match the code sent")
                changes["verification_code"] = value
            elif name == "expires":
                changes["expires"] = clamp_expires(value, now)
                if value is None or format_utc_date(changes["expires"]) != value:
                    reported["expires"] = format_utc_date(changes["expires"])
            elif name == "types":
                changes["types"] = parse_types(value)
            elif name in _IMMUTABLE:
                if value != stored[name]:
                    raise InvalidProperty(name, f"{name} cannot be changed")
            else:
                raise InvalidProperty(name, f"unknown property {name!r}")
        except InvalidProperty as error:
            errors.append(error)
    if errors:
        raise _ErrorList(errors)
    return current.with_changes(**changes), reported


async def _update_one(
    ctx: RequestContext, object_id: str, patch: object
) -> JSONObject | SetError | None:
    if not isinstance(patch, dict):
        return SetError("invalidPatch", "a patch must be an object")
    if any("/" in path for path in patch):
        return SetError("invalidPatch", "PushSubscription properties are replaced whole")
    account = ctx.user.account_id
    for _ in range(_UPDATE_ATTEMPTS):
        state = await ctx.store.changes.current_state(account, TYPE_NAME)
        now = ctx.reactor.seconds()
        current = (await live_subscriptions(ctx.store.accounts, account, now, [object_id]))
        if object_id not in current:
            return SetError("notFound")
        try:
            updated, reported = _apply_patch(current[object_id], patch, now)
        except _ErrorList as error:
            return _invalid(error.errors)
        batch = WriteBatch().update(TYPE_NAME, object_id, updated.to_json())
        try:
            # the state check makes read-patch-write safe against a concurrent update
            await ctx.store.accounts.write(account, batch.require_state(TYPE_NAME, state))
        except StateMismatch:
            continue
        except ObjectNotFound:
            return SetError("notFound")
        return reported or None
    raise MethodError.server_fail("the push subscription kept changing; try again")


async def set_(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    if arguments.get("ifInState") is not None:
        raise MethodError.invalid_arguments("PushSubscription/set takes no ifInState (§7.2.2)")
    create = creations(arguments) or {}
    update = _object_map(arguments, "update")
    destroy = _id_list(arguments, "destroy") or []
    if len(create) + len(update) + len(destroy) > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(f"at most {ctx.limits.maxObjectsInSet} objects")
    account = ctx.user.account_id
    created: JSONObject = {}
    not_created: JSONObject = {}
    updated: JSONObject = {}
    not_updated: JSONObject = {}
    destroyed: list[str] = []
    not_destroyed: JSONObject = {}

    if create:
        existing = len(await ctx.store.accounts.list_ids(account, TYPE_NAME))
        for creation_id, value in create.items():
            try:
                subscription, reported = _parse_create(value, ctx.reactor.seconds())
            except _ErrorList as error:
                not_created[creation_id] = _invalid(error.errors).to_json()
                continue
            if existing >= MAX_SUBSCRIPTIONS_PER_USER:
                not_created[creation_id] = SetError(
                    "overQuota", f"at most {MAX_SUBSCRIPTIONS_PER_USER} push subscriptions"
                ).to_json()
                continue
            await ctx.store.accounts.write(
                account, WriteBatch().create(TYPE_NAME, subscription.id, subscription.to_json())
            )
            existing += 1
            ctx.created_ids[creation_id] = subscription.id
            created[creation_id] = reported

    for given_id, patch in update.items():
        object_id = _resolve(ctx, given_id)
        outcome = SetError("notFound") if object_id is None \
            else await _update_one(ctx, object_id, patch)
        if isinstance(outcome, SetError):
            not_updated[given_id] = outcome.to_json()
        else:
            updated[given_id] = outcome

    for given_id in destroy:
        object_id = _resolve(ctx, given_id)
        try:
            if object_id is None:
                raise ObjectNotFound(TYPE_NAME, given_id)
            await ctx.store.accounts.write(account, WriteBatch().destroy(TYPE_NAME, object_id))
        except ObjectNotFound:
            not_destroyed[given_id] = SetError("notFound").to_json()
        else:
            destroyed.append(given_id)

    return {
        "created": created or None,
        "updated": updated or None,
        "destroyed": destroyed or None,
        "notCreated": not_created or None,
        "notUpdated": not_updated or None,
        "notDestroyed": not_destroyed or None,
    }


# PushSubscription/set changes no account: "writes" (the account read-only check) does not apply.
METHODS: list[MethodSpec] = [
    MethodSpec(name="PushSubscription/get", capability=CORE, handler=get, takes_account=False),
    MethodSpec(name="PushSubscription/set", capability=CORE, handler=set_, takes_account=False),
]
