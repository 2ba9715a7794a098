"""The push hub on the in-memory store, with a Clock: one subscription, fan-out, coalescing."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.push_state import PushFeed, TypeFilter
from stalwart_tx.store.backend import StoreBundle, open_memory_store
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.memory import MemoryNotifier
from stalwart_tx.store.records import StateChange

Received = list[tuple[str, dict[str, str]]]


def collector() -> tuple[Received, object]:
    received: Received = []

    def receive(account: str, changed: Mapping[str, str]) -> None:
        received.append((account, dict(changed)))

    return received, receive


async def hub_on_memory() -> tuple[PushHub, StoreBundle, MemoryNotifier, Clock]:
    store = await open_memory_store()
    assert isinstance(store.notifier, MemoryNotifier)
    clock = Clock()
    return PushHub(lambda: store, clock, coalesce_window=0.1), store, store.notifier, clock


def change(account: str, **states: str) -> StateChange:
    return StateChange(account, states)


@pytest_twisted.ensureDeferred
async def test_subscribes_once_lazily_and_fans_out_by_account() -> None:
    hub, _, notifier, _ = await hub_on_memory()
    assert notifier.listener_count == 0, "nothing subscribes before the first client"
    a1, receive_a1 = collector()
    a2, receive_a2 = collector()
    b, receive_b = collector()
    await hub.attach(["a"], receive_a1)  # type: ignore[arg-type]
    await hub.attach(["a"], receive_a2)  # type: ignore[arg-type]
    await hub.attach(["b"], receive_b)  # type: ignore[arg-type]
    assert notifier.listener_count == 1
    notifier.deliver(change("a", Email="5"))
    notifier.deliver(change("c", Email="9"))  # nobody listens to c
    assert a1 == a2 == [("a", {"Email": "5"})]
    assert b == []


@pytest_twisted.ensureDeferred
async def test_bursts_are_coalesced_per_account_latest_state_wins() -> None:
    hub, _, notifier, clock = await hub_on_memory()
    received, receive = collector()
    await hub.attach(["a", "b"], receive)  # type: ignore[arg-type]
    notifier.deliver(change("a", Email="1"))
    assert received == [("a", {"Email": "1"})], "the first change of a quiet spell goes at once"
    for state in range(2, 50):
        notifier.deliver(change("a", Email=str(state)))
    notifier.deliver(change("a", Mailbox="7"))
    notifier.deliver(change("b", Thread="3"))  # b has its own window
    assert received[1:] == [("b", {"Thread": "3"})]
    clock.advance(0.1)
    assert received[2:] == [("a", {"Email": "49", "Mailbox": "7"})]
    clock.advance(0.1)  # the window that flush opened closes empty
    assert len(received) == 3
    clock.advance(1)
    notifier.deliver(change("a", Email="50"))
    assert received[3:] == [("a", {"Email": "50"})], "quiet again: no delay"


@pytest_twisted.ensureDeferred
async def test_detach_and_stop_clean_up() -> None:
    hub, _, notifier, clock = await hub_on_memory()
    received, receive = collector()
    attachment = await hub.attach(["a"], receive)  # type: ignore[arg-type]
    notifier.deliver(change("a", Email="1"))
    notifier.deliver(change("a", Email="2"))  # pending in the window
    attachment.detach()
    attachment.detach()  # twice is harmless
    assert hub.client_count == 0
    assert clock.getDelayedCalls() == [], "the window of a deserted account is cancelled"
    assert received == [("a", {"Email": "1"})]
    await hub.attach(["a"], receive)  # type: ignore[arg-type]
    await hub.stop()
    assert notifier.listener_count == 0 and hub.client_count == 0 and not hub.subscribed
    await hub.attach(["a"], receive)  # type: ignore[arg-type]
    assert notifier.listener_count == 1, "a later client subscribes again"


@pytest_twisted.ensureDeferred
async def test_a_failing_receiver_harms_no_other() -> None:
    hub, _, notifier, _ = await hub_on_memory()
    received, receive = collector()

    def broken(account: str, changed: Mapping[str, str]) -> None:
        raise RuntimeError("boom")

    await hub.attach(["a"], broken)
    await hub.attach(["a"], receive)  # type: ignore[arg-type]
    notifier.deliver(change("a", Email="1"))
    assert received == [("a", {"Email": "1"})]


@pytest_twisted.ensureDeferred
async def test_store_unavailable_propagates_and_a_later_attach_retries() -> None:
    store = await open_memory_store()
    down = [True]

    def current() -> StoreBundle:
        if down[0]:
            raise StoreUnavailable("not open")
        return store

    hub = PushHub(current, Clock())
    with pytest.raises(StoreUnavailable):
        await hub.attach(["a"], lambda account, changed: None)
    assert hub.client_count == 0
    down[0] = False
    await hub.attach(["a"], lambda account, changed: None)
    assert hub.subscribed


@pytest_twisted.ensureDeferred
async def test_follow_reads_states_and_catches_up_from_a_token() -> None:
    hub, store, notifier, _ = await hub_on_memory()
    hub.data_types = frozenset({"Email", "Mailbox"})
    from stalwart_tx.store.records import WriteBatch

    await store.accounts.write("a", WriteBatch().create("Email", "e1", {}))
    sent: list[tuple[dict[str, dict[str, str]], str]] = []
    feed = PushFeed(TypeFilter(None), lambda changed, token: sent.append((changed, token)))
    attachment, catch_up = await hub.follow(["a"], feed, None)
    assert catch_up == {}, "no token given: nothing to catch up on"
    feed.open(catch_up)
    assert sent == []
    token = feed.cursor.token()
    attachment.detach()
    result = await store.accounts.write("a", WriteBatch().create("Mailbox", "m1", {}))
    again = PushFeed(TypeFilter(None), lambda changed, token: sent.append((changed, token)))
    _, catch_up = await hub.follow(["a"], again, token)
    assert catch_up == {"a": {"Mailbox": result.new_states["Mailbox"]}}
    # a change delivered before the transport is ready goes out with the catch-up, as one
    notifier.deliver(change("a", Thread="42"))
    again.open(catch_up)
    assert [changed for changed, _ in sent] == [
        {"a": {"Mailbox": result.new_states["Mailbox"], "Thread": "42"}}
    ]
