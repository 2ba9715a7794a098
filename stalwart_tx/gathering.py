"""Awaiting several coroutines at once, the way asyncio.gather does, on Twisted Deferreds."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


async def gather(*calls: Coroutine[Any, Any, T]) -> list[T]:
    """The results of the calls, in order, run side by side. The first failure is raised as
    itself (not wrapped); the other calls still run to their end, their failures consumed.
    Cancelling the gather cancels every call.

    Counted here rather than with ``gatherResults``: its DeferredList cost two more callbacks
    and a tuple per call, and the IMAP bridge gathers in most commands."""
    if not calls:
        return []
    running = [Deferred.fromCoroutine(call) for call in calls]
    results: list[Any] = [None] * len(running)
    left = len(running)

    def cancel(_: Deferred[None]) -> None:
        for call in running:
            call.cancel()

    done: Deferred[None] = Deferred(cancel)

    def succeeded(result: Any, index: int) -> None:
        nonlocal left
        results[index] = result
        left -= 1
        if not left and not done.called:
            done.callback(None)

    def failed(failure: Failure) -> None:
        if not done.called:
            done.errback(failure)

    for index, call in enumerate(running):
        call.addCallbacks(succeeded, failed, callbackArgs=(index,))
    await done
    return results
