"""Optimistic concurrency for the writing methods: compute, write conditionally, retry on conflict.

A /set reads what it needs, computes one WriteBatch and writes it on condition that every state
it read is unchanged. If another writer got in between, the store refuses the batch with nothing
applied, and the whole computation runs again on fresh data after a short random pause, so
concurrent writers spread out. A client therefore sees stateMismatch only for its own
``ifInState``, never for a race it did not ask to detect.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from twisted.internet.task import deferLater
from twisted.logger import Logger

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.store.errors import ObjectExists, ObjectNotFound, StateMismatch

log = Logger()

T = TypeVar("T")

ATTEMPTS = 12
FIRST_PAUSE = 0.002  # seconds; doubles with every attempt
LONGEST_PAUSE = 0.1


class Conflict(Exception):
    """Raised by a computation that found its own reads inconsistent: compute again."""


async def optimistically(ctx: RequestContext, compute: Callable[[], Awaitable[T]]) -> T:
    """``compute()`` until it finishes without a write conflict.

    After ATTEMPTS conflicts in a row the method fails with serverUnavailable: the data is
    changing too fast right now, and the RFC's advice for that error is to retry with backoff.
    """
    for attempt in range(ATTEMPTS):
        try:
            return await compute()
        except (StateMismatch, ObjectExists, ObjectNotFound, Conflict) as conflict:
            log.debug("write conflict, attempt {attempt}: {conflict}", attempt=attempt,
                      conflict=conflict)
        pause = random.uniform(0, min(LONGEST_PAUSE, FIRST_PAUSE * 2**attempt))
        await deferLater(ctx.reactor, pause, lambda: None)
    log.warn("gave up after {attempts} write conflicts in a row", attempts=ATTEMPTS)
    raise MethodError(
        "serverUnavailable", "The data is being changed concurrently; retry shortly."
    )
