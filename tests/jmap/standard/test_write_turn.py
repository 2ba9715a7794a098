"""The account's write turn in a process passes to the next writer once a write is issued, not
when it is answered: the store takes the account's commands in the order they are issued, so the
next writer reads after the write as if it had waited. A write that conflicts takes the turn
again for its next attempt."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest_twisted
from twisted.internet import defer, reactor

from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.store.errors import StateMismatch
from stalwart_tx.store.records import WriteBatch, WriteResult


class GatedAccounts:
    """A store whose writes are issued at once (logged) and answered when the test says."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.answers: list[tuple[str, defer.Deferred[None]]] = []

    async def write(self, account_id: str, batch: WriteBatch) -> WriteResult:
        name = batch.if_in_state["T"]
        self.log.append(f"{name} issued")
        gate: defer.Deferred[None] = defer.Deferred()
        self.answers.append((name, gate))
        await gate
        return WriteResult(new_states={}, modseqs={}, account_modseq=1)

    def answer(self, name: str, error: Exception | None = None) -> None:
        [gate] = [g for n, g in self.answers if n == name and not g.called]
        if error is None:
            gate.callback(None)
        else:
            gate.errback(error)


def writer(store: Any, log: list[str], name: str) -> defer.Deferred[WriteResult]:
    ctx: Any = SimpleNamespace(store=SimpleNamespace(accounts=store), reactor=reactor)

    async def compute() -> WriteResult:
        log.append(f"{name} computes")
        # the batch's only condition names the writer, so the store can tell them apart
        return await write_passing_turn(ctx, "A", WriteBatch().require_state("T", name))

    return defer.Deferred.fromCoroutine(optimistically(ctx, compute, account_id="A"))


@pytest_twisted.ensureDeferred
async def test_the_next_writer_computes_while_the_write_before_it_awaits_its_answer() -> None:
    log: list[str] = []
    store = GatedAccounts(log)
    a, b = writer(store, log, "a"), writer(store, log, "b")
    # a's write is on its way, unanswered: b already has the turn, computes and writes
    assert log == ["a computes", "a issued", "b computes", "b issued"]
    store.answer("b")
    store.answer("a")
    await defer.gatherResults([a, b])


@pytest_twisted.ensureDeferred
async def test_a_write_that_conflicts_takes_the_turn_again_for_its_next_attempt() -> None:
    log: list[str] = []
    store = GatedAccounts(log)
    a, b = writer(store, log, "a"), writer(store, log, "b")
    c = writer(store, log, "c")
    assert log == ["a computes", "a issued", "b computes", "b issued", "c computes", "c issued"]
    store.answer("a", StateMismatch("T", "a", "b"))
    # a pauses, then queues for the turn: nobody holds it now (c passed it on), so a computes
    # again and issues its second write
    deadline = reactor.seconds() + 2  # type: ignore[attr-defined]
    while log.count("a computes") < 2:
        assert reactor.seconds() < deadline  # type: ignore[attr-defined]
        await defer.Deferred.fromCoroutine(_tick())
    assert log[-2:] == ["a computes", "a issued"]
    for name in ("b", "c", "a"):
        store.answer(name)
    await defer.gatherResults([a, b, c])


async def _tick() -> None:
    from twisted.internet.task import deferLater

    await deferLater(reactor, 0.01, lambda: None)
