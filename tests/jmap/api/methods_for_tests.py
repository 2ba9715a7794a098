"""Methods registered only in tests: RFC-shaped data for reference chains, and misbehaviour."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from stalwart_tx.jmap import core_methods
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.references import UnknownCreationId, resolve_id
from stalwart_tx.jmap.registry import (
    CapabilitySpec,
    JSONObject,
    MethodRegistry,
    MethodSpec,
    Responses,
)

TEST = "urn:stalwart-tx:test"
# An account capability no account has: its methods must fail with accountNotSupportedByMethod.
LACKING = "urn:stalwart-tx:test:lacking"

# The mailbox of the RFC 8620 §3.7 example: Email/query finds these ids, newest first.
QUERY_IDS = ["msg1023", "msg223", "msg110", "msg93", "msg91", "msg38", "msg36", "msg33", "msg11",
             "msg1"]
THREADS = {
    "trd194": ["msg1020", "msg1021", "msg1023"],
    "trd114": ["msg201", "msg223"],
    "trd110": ["msg110"],
    "trd93": ["msg93"],
    "trd91": ["msg90", "msg91"],
    "trd38": ["msg38"],
    "trd36": ["msg36"],
    "trd33": ["msg33"],
    "trd11": ["msg11"],
    "trd1": ["msg1"],
}
EMAILS = {
    email_id: {
        "id": email_id,
        "threadId": thread_id,
        "from": [{"name": "Sender", "email": f"{email_id}@example.com"}],
        "subject": f"Subject of {email_id}",
        "receivedAt": f"2019-07-{int(email_id[3:]) % 28 + 1:02d}T10:00:00Z",
    }
    for thread_id, email_ids in THREADS.items()
    for email_id in email_ids
}


class Gate:
    """Test/wait calls park here until the test opens the gate."""

    def __init__(self) -> None:
        self.waiting: list[Deferred[None]] = []

    def open(self) -> None:
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            waiter.callback(None)


class ReadOnlyContext(RequestContext):
    def is_read_only(self, account_id: str) -> bool:
        return True


async def email_query(ctx: RequestContext, args: JSONObject) -> JSONObject:
    return {
        "accountId": args["accountId"], "queryState": "abcdefg", "canCalculateChanges": True,
        "position": 0, "total": 101, "ids": QUERY_IDS,
    }


async def email_get(ctx: RequestContext, args: JSONObject) -> JSONObject:
    properties = args.get("properties") or ["id", "threadId", "from", "subject", "receivedAt"]
    ids = args.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise MethodError.invalid_arguments('"ids" must be an array of Ids.')
    found = [i for i in ids if i in EMAILS]
    return {
        "accountId": args["accountId"], "state": "123456",
        "list": [{"id": i, **{p: EMAILS[i][p] for p in properties if p != "id"}} for i in found],
        "notFound": [i for i in ids if i not in EMAILS],
    }


async def thread_get(ctx: RequestContext, args: JSONObject) -> JSONObject:
    ids = args["ids"]
    return {
        "accountId": args["accountId"], "state": "123456",
        "list": [{"id": i, "emailIds": THREADS[i]} for i in ids if i in THREADS],
        "notFound": [i for i in ids if i not in THREADS],
    }


async def echo_in_account(ctx: RequestContext, args: JSONObject) -> JSONObject:
    return dict(args)


async def fail(ctx: RequestContext, args: JSONObject) -> JSONObject:
    raise RuntimeError("secret internal detail")


async def store_state(ctx: RequestContext, args: JSONObject) -> JSONObject:
    state = await ctx.store.changes.current_state(args["accountId"], "Widget")
    return {"accountId": args["accountId"], "state": state}


async def unencodable(ctx: RequestContext, args: JSONObject) -> JSONObject:
    return {"values": {1, 2}}


async def not_a_response(ctx: RequestContext, args: JSONObject) -> Any:
    return ["not", "an", "object"]


async def twice(ctx: RequestContext, args: JSONObject) -> Responses:
    return Responses((("Widget/copy", {"copied": True}), ("Widget/set", {"destroyed": ["w1"]})))


async def mutate_arguments(ctx: RequestContext, args: JSONObject) -> JSONObject:
    # A careless handler: it changes what it was given.
    args["ids"].append("added-by-handler")
    return {"ids": args["ids"]}


async def resolve(ctx: RequestContext, args: JSONObject) -> JSONObject:
    return {"id": resolve_id(ctx, args["id"])}


async def widget_set(ctx: RequestContext, args: JSONObject) -> JSONObject:
    """A minimal /set: creations get ids and land in createdIds; updates resolve #creationIds."""
    created: JSONObject = {}
    for creation_id in args.get("create") or {}:
        new_id = f"w{len(ctx.created_ids) + 1}-{creation_id}"
        ctx.created_ids[creation_id] = new_id
        created[creation_id] = {"id": new_id}
    updated: JSONObject = {}
    not_updated: JSONObject = {}
    for id_or_reference in args.get("update") or {}:
        try:
            updated[resolve_id(ctx, id_or_reference)] = None
        except UnknownCreationId:
            not_updated[id_or_reference] = SetError("notFound").to_json()
    return {
        "accountId": args["accountId"], "created": created or None, "updated": updated or None,
        "notUpdated": not_updated or None,
    }


def methods_for_tests(gate: Gate | None = None) -> list[MethodSpec]:
    async def wait(ctx: RequestContext, args: JSONObject) -> JSONObject:
        if gate is None:
            raise MethodError.server_fail("no gate")
        waiter: Deferred[None] = Deferred()
        gate.waiting.append(waiter)
        await waiter
        return {}

    plain = {
        "Test/fail": fail,
        "Test/unencodable": unencodable,
        "Test/notAResponse": not_a_response,
        "Widget/copy": twice,
        "Test/mutate": mutate_arguments,
        "Test/wait": wait,
        "Test/resolveId": resolve,
    }
    in_account = {
        "Email/query": email_query,
        "Email/get": email_get,
        "Thread/get": thread_get,
        "Test/echo": echo_in_account,
        "Test/storeState": store_state,
    }
    return [
        *(MethodSpec(n, TEST, h, takes_account=False) for n, h in plain.items()),
        *(MethodSpec(n, TEST, h) for n, h in in_account.items()),
        MethodSpec("Widget/set", TEST, widget_set, writes=True),
        MethodSpec("Lacking/get", LACKING, echo_in_account),
    ]


def registry_for_tests(limits: CoreLimits, gate: Gate | None = None) -> MethodRegistry:
    """Core (as the server has it) plus the test capabilities and methods above."""
    registry = default_registry(limits, modules=[core_methods])
    registry.add_capability(CapabilitySpec(TEST, lambda: {}, lambda account_id: {"test": True}))
    registry.add_capability(CapabilitySpec(LACKING, lambda: {}, lambda account_id: None))
    registry.add_methods(methods_for_tests(gate))
    return registry
