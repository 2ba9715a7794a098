"""gather: coroutines side by side, results in order, the first failure raised as itself."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from stalwart_tx.gathering import gather


async def after(seconds: float, value: int, log: list[int]) -> int:
    await task.deferLater(reactor, seconds, lambda: None)
    log.append(value)
    return value


@pytest_twisted.ensureDeferred
async def test_results_come_in_call_order_while_the_calls_run_side_by_side() -> None:
    log: list[int] = []
    results = await gather(after(0.05, 1, log), after(0.0, 2, log), after(0.02, 3, log))
    assert results == [1, 2, 3]
    assert log == [2, 3, 1]  # finished in order of their delays: they ran at once


@pytest_twisted.ensureDeferred
async def test_the_first_failure_is_raised_unwrapped_and_the_others_finish() -> None:
    log: list[int] = []

    async def failing() -> int:
        await task.deferLater(reactor, 0.01, lambda: None)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await gather(after(0.03, 1, log), failing())
    await task.deferLater(reactor, 0.05, lambda: None)
    assert log == [1]


@pytest_twisted.ensureDeferred
async def test_nothing_to_gather_is_an_empty_list() -> None:
    assert await gather() == []


@pytest_twisted.ensureDeferred
async def test_cancelling_the_gather_cancels_every_call() -> None:
    from twisted.internet.defer import CancelledError, Deferred

    waiting: list[Deferred[None]] = [Deferred(), Deferred()]

    async def wait(index: int) -> None:
        await waiting[index]

    gathering = Deferred.fromCoroutine(gather(wait(0), wait(1)))
    gathering.cancel()
    with pytest.raises(CancelledError):
        await gathering
    assert all(d.called for d in waiting)  # each call's wait was cancelled too


@pytest_twisted.ensureDeferred
async def test_calls_done_at_once_give_their_results() -> None:
    async def now(value: int) -> int:
        return value

    assert await gather(now(1), now(2)) == [1, 2]
