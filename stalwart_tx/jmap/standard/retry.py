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

from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.task import deferLater
from twisted.logger import Logger

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.store.errors import ObjectExists, ObjectNotFound, StateMismatch
from stalwart_tx.store.records import WriteBatch, WriteResult

log = Logger()

T = TypeVar("T")

# Two IMAP processes appending to one busy account lost about half their attempts to the
# other's writes (every write moves the Email state they are conditioned on): 12 attempts gave
# up on about one APPEND in 10,000 in the IMAP benchmark; 20 make that about 500 times rarer,
# and cost at most about a second more of pauses (LONGEST_PAUSE each past the sixth)
ATTEMPTS = 20
FIRST_PAUSE = 0.002  # seconds; doubles with every attempt
LONGEST_PAUSE = 0.1


class Conflict(Exception):
    """Raised by a computation that found its own reads inconsistent: compute again."""


class Unconfirmed(Conflict):
    """Raised by a computation that took kept objects and wrote nothing, so no write confirmed
    them (``WorkingSet.batch``): compute again at once, reading them."""


class _AccountQueues:
    """One DeferredLock per account with writers waiting, dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[str, DeferredLock] = {}

    async def acquire(self, account_id: str) -> DeferredLock:
        lock = self._locks.setdefault(account_id, DeferredLock())
        await lock.acquire()
        return lock

    def release(self, account_id: str, lock: DeferredLock) -> None:
        lock.release()
        if not lock.locked and not lock.waiting and self._locks.get(account_id) is lock:
            del self._locks[account_id]


# Writers of one account in this process take turns: each computes on what the one before
# wrote, instead of all computing at once and all but one conflicting and starting over (a batch
# import computes for hundreds of milliseconds). Other processes still race optimistically.
_WRITERS = _AccountQueues()


class _Turn:
    """The account's write turn as one computation holds it: taken before each attempt, passed
    on once the attempt's write is on its way (``write_passing_turn``) or when it ends."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.lock: DeferredLock | None = None

    async def take(self) -> None:
        if self.lock is None:
            self.lock = await _WRITERS.acquire(self.account_id)

    def pass_on(self) -> None:
        if self.lock is not None:
            lock, self.lock = self.lock, None
            _WRITERS.release(self.account_id, lock)



async def optimistically(
    ctx: RequestContext, compute: Callable[[], Awaitable[T]], *, account_id: str | None = None
) -> T:
    """``compute()`` until it finishes without a write conflict.

    With ``account_id``, writers of that account in this process run one at a time (see
    ``_WRITERS``); a computation must then not itself wait for another write of the account.
    After ATTEMPTS conflicts in a row the method fails with serverUnavailable: the data is
    changing too fast right now, and the RFC's advice for that error is to retry with backoff.
    """
    if account_id is None:
        return await _optimistically(ctx, compute, None)
    # a request runs its calls one at a time: the context holds its computation's turn
    turn = ctx.write_turn = _Turn(account_id)
    try:
        return await _optimistically(ctx, compute, turn)
    finally:
        turn.pass_on()
        ctx.write_turn = None


async def write_passing_turn(
    ctx: RequestContext, account_id: str, batch: WriteBatch
) -> WriteResult:
    """``ctx.store.accounts.write``, passing the account's write turn to the next writer of
    this process as soon as the write is issued rather than when it is answered: a store takes
    an account's commands in the order they are issued (``IAccountStore.write``), so whatever
    the next writer reads comes after this write, as if it had waited for the answer. If the
    write conflicts, the next attempt takes the turn again."""
    pending = Deferred.fromCoroutine(ctx.store.accounts.write(account_id, batch))
    turn = ctx.write_turn
    if isinstance(turn, _Turn) and turn.account_id == account_id:
        turn.pass_on()
    return await pending


async def _optimistically(
    ctx: RequestContext, compute: Callable[[], Awaitable[T]], turn: _Turn | None
) -> T:
    for attempt in range(ATTEMPTS):
        if turn is not None:
            await turn.take()
        try:
            return await compute()
        except Unconfirmed:
            continue  # no write was refused: nobody to make room for
        except (StateMismatch, ObjectExists, ObjectNotFound, Conflict) as conflict:
            log.debug("write conflict, attempt {attempt}: {conflict}", attempt=attempt,
                      conflict=conflict)
        pause = random.uniform(0, min(LONGEST_PAUSE, FIRST_PAUSE * 2**attempt))
        await deferLater(ctx.reactor, pause, lambda: None)
    log.warn("gave up after {attempts} write conflicts in a row", attempts=ATTEMPTS)
    raise MethodError(
        "serverUnavailable", "The data is being changed concurrently; retry shortly."
    )
