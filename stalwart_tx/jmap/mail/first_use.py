"""Objects an account starts with, made on its first use: the mechanism shared by every type.

When the account has no object of the type at all, one store write conditional on the type's
state creates the defaults: of concurrent first requests (in any processes) one writes, the
others' writes are refused with nothing applied, and their retries find the objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import random_id
from stalwart_tx.jmap.registry import Handler, JSONObject, MethodSpec, Responses
from stalwart_tx.jmap.standard.retry import optimistically
from stalwart_tx.jmap.standard.working_set import WorkingSet

Ensure = Callable[[RequestContext, str], Awaitable[None]]


async def create_if_none(
    ctx: RequestContext, account_id: str, type_name: str, defaults: list[JSONObject],
    created: Callable[[WorkingSet, str], None] | None = None,
) -> None:
    """Create ``defaults`` as objects of ``type_name`` if the account has none of that type;
    ``created(objects, id)`` is told of each, to stage what comes with it."""
    if not defaults or await ctx.store.accounts.list_ids(account_id, type_name):
        return  # the usual case: one cheap read

    async def attempt() -> None:
        objects = WorkingSet(ctx.store, account_id)
        # reading through the working set makes the type's state a precondition of the write
        if await objects.get_all(type_name):
            return
        for value in defaults:
            object_id = random_id()
            objects.create(type_name, object_id, value)
            if created is not None:
                created(objects, object_id)
        await objects.finish()
        await ctx.store.accounts.write(account_id, objects.batch())

    await optimistically(ctx, attempt, account_id=account_id)


def ensuring_first(ensure: Ensure, specs: Iterable[MethodSpec]) -> list[MethodSpec]:
    """The methods, each running ``ensure`` for its account before it runs."""

    def wrap(handler: Handler) -> Handler:
        async def handle(ctx: RequestContext, arguments: JSONObject) -> JSONObject | Responses:
            # the API layer has checked accountId already; a bad one is the method's to report
            account_id = arguments.get("accountId") if isinstance(arguments, dict) else None
            if (
                isinstance(account_id, str)
                and account_id in ctx.account_ids()
                and (ensure, account_id) not in ctx.ensured
            ):
                await ensure(ctx, account_id)
                # once per request: the calls after it in the same request need not look again
                ctx.ensured.add((ensure, account_id))
            return await handler(ctx, arguments)

        return handle

    return [dataclasses.replace(spec, handler=wrap(spec.handler)) for spec in specs]
