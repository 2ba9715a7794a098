"""The seam between Quota and the code that stores mail: usage counters and limits.

An account has two Quota objects (RFC 9425), both of scope "account" and for type Email:

* ``storage`` (resourceType "octets"): the octets of every message of the account;
* ``messages`` (resourceType "count"): how many messages the account holds.

Usage (``used``) is kept *in* those objects, not beside them: a change of usage is an update
of the Quota object, so it lands in the same atomic write as the emails that cause it, moves
the Quota state, lists the quota in Quota/changes and is pushed, with nothing else to keep in
step. The Email code (Email/set, import, copy, delivery) does, in its own /set working set::

    error = await check_quota(objects, delta_octets=size, delta_messages=1)
    if error is not None:
        return error                       # overQuota: refuse before staging anything
    ...stage the Email...
    await stage_usage(objects, size, 1)    # and (-size, -1) when it destroys one

A write that grows a resource with a limit reads the Quota objects through the working set,
which makes their state a precondition of the write: two writers racing for the last octets
conflict, one computes again and is refused, so the hard limit holds exactly. Usage without a
limit is adjusted as a counter instead (no condition, so no conflicts between writers); a
limit set at the very instant of such a write may be passed by that one write. The
administrator's limits (``stage_limits``) move the same
state, so a write computed against an old limit is recomputed too.

The objects are created on first need (a limit set, or the first usage staged), both at once.
A resource without a limit reports ``hardLimit`` = ``UNLIMITED`` (2^53-1, the largest
UnsignedInt of RFC 8620 §1.3): the RFC makes hardLimit mandatory and has no "no limit" value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import JSONObject

QUOTA: Final = "Quota"
STORAGE: Final = "storage"
MESSAGES: Final = "messages"
RESOURCES: Final = (STORAGE, MESSAGES)
UNLIMITED: Final = 2**53 - 1
# Clients warn the user from here on (RFC 9425 warnLimit); a server policy, 90% of the limit.
WARN_PERCENT: Final = 90

_TEMPLATES: Final[Mapping[str, JSONObject]] = {
    STORAGE: {
        "resourceType": "octets",
        "name": "Mail storage",
        "description": "Octets of all the messages of the account",
    },
    MESSAGES: {
        "resourceType": "count",
        "name": "Mail messages",
        "description": "Number of messages in the account",
    },
}


def new_quota(resource: str) -> JSONObject:
    """The stored value of a quota never set: nothing used, no limit."""
    return {
        **_TEMPLATES[resource],
        "used": 0,
        "hardLimit": UNLIMITED,
        "warnLimit": None,
        "softLimit": None,
        "scope": "account",
        "types": ["Email"],
    }


def limit_of(quota: JSONObject) -> int | None:
    """The hard limit of a stored quota, None when it has none."""
    limit = int(quota["hardLimit"])
    return None if limit >= UNLIMITED else limit


async def _quotas(objects: WorkingSet) -> dict[str, JSONObject]:
    """Both quotas of the account, created in ``objects`` when missing."""
    found = await objects.get(QUOTA, list(RESOURCES))
    for resource in RESOURCES:
        if resource not in found:
            found[resource] = new_quota(resource)
            objects.create(QUOTA, resource, found[resource])
    return found


async def check_quota(
    objects: WorkingSet, delta_octets: int, delta_messages: int
) -> SetError | None:
    """``overQuota`` (RFC 8620 §5.3) if adding this much would pass a hard limit, else None.

    Only growth is checked: a write that frees space always passes, even over the limit (an
    administrator may lower a limit below the usage; the user must still be able to delete).
    Growth of a resource with a limit reads the quotas through ``objects``, so their state is
    a precondition of the write; without a limit there is nothing to check.
    """
    held = await objects.peek(QUOTA, list(RESOURCES))
    if not any(
        delta > 0 and resource in held and limit_of(held[resource]) is not None
        for resource, delta in ((STORAGE, delta_octets), (MESSAGES, delta_messages))
    ):
        return None
    found = await objects.get(QUOTA, list(RESOURCES))
    for resource, delta in ((STORAGE, delta_octets), (MESSAGES, delta_messages)):
        quota = found.get(resource)
        if quota is None or delta <= 0:
            continue
        limit = limit_of(quota)
        if limit is not None and quota["used"] + delta > limit:
            return set_errors.over_quota(
                f"{quota['name']}: {quota['used']} used + {delta} is over the limit of {limit}"
            )
    return None


async def stage_usage(objects: WorkingSet, delta_octets: int, delta_messages: int) -> None:
    """Stage a change of usage in ``objects`` (the caller's /set working set).

    Usage never goes below zero: a count that would is held at zero rather than refusing the
    delete that caused it, since a user must always be able to free space.

    Unless the quotas are conditions of the write already (a limit was checked) or do not
    exist yet, the usage is adjusted (``WorkingSet.adjust``): writers of one account then do
    not conflict over it. The deltas are exact, so the usage stays exact.
    """
    if not delta_octets and not delta_messages:
        return
    held = await objects.peek(QUOTA, list(RESOURCES))
    if not objects.is_condition(QUOTA) and all(r in held for r in RESOURCES):
        for resource, delta in ((STORAGE, delta_octets), (MESSAGES, delta_messages)):
            if delta:
                objects.adjust(QUOTA, resource, {"used": delta})
        return
    quotas = await _quotas(objects)
    for resource, delta in ((STORAGE, delta_octets), (MESSAGES, delta_messages)):
        if delta:
            quota = quotas[resource]
            quota["used"] = max(0, int(quota["used"]) + delta)
            objects.update(QUOTA, resource, quota)


async def stage_limits(objects: WorkingSet, limits: Mapping[str, int | None]) -> None:
    """Stage new hard limits by resource (None: no limit); resources left out keep theirs."""
    unknown = set(limits) - set(RESOURCES)
    if unknown or any(
        v is not None and (not isinstance(v, int) or not 0 <= v < UNLIMITED)
        for v in limits.values()
    ):
        raise ValueError(f"bad quota limits {dict(limits)!r}")
    quotas = await _quotas(objects)
    for resource, limit in limits.items():
        quota = quotas[resource]
        quota["hardLimit"] = UNLIMITED if limit is None else limit
        quota["warnLimit"] = None if limit is None else limit * WARN_PERCENT // 100
        objects.update(QUOTA, resource, quota)


async def usage_and_limits(objects: WorkingSet) -> dict[str, tuple[int, int | None]]:
    """(used, limit or None) by resource, for the administrator; zero and None when unset."""
    found = await objects.get(QUOTA, list(RESOURCES))
    return {
        resource: (int(found[resource]["used"]), limit_of(found[resource]))
        if resource in found else (0, None)
        for resource in RESOURCES
    }
