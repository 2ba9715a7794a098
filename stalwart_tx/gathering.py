"""Awaiting several coroutines at once, the way asyncio.gather does, on Twisted Deferreds."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, FirstError, gatherResults

T = TypeVar("T")


async def gather(*calls: Coroutine[Any, Any, T]) -> list[T]:
    """The results of the calls, in order, run side by side. The first failure is raised as
    itself (not wrapped); the other calls still run to their end, their failures consumed."""
    if not calls:
        return []
    try:
        results: list[T] = await gatherResults(
            [Deferred.fromCoroutine(call) for call in calls], consumeErrors=True
        )
    except FirstError as first:
        first.subFailure.raiseException()
    return results
