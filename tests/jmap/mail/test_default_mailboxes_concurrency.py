"""ensure_default_mailboxes raced from several store connections at once (as several service
processes sharing one Redis would), and on the memory store: one set of defaults, always."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.mailbox_defaults import DEFAULT_MAILBOXES, ensure_default_mailboxes
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store

ACCOUNT = "fresh"


def context(store: StoreBundle) -> RequestContext:
    return RequestContext(
        user=MailUser(principal_id=ACCOUNT, name="fresh"), store=store, limits=CoreLimits(),
        using=frozenset(), reactor=reactor,
    )


async def race(stores: list[StoreBundle], rounds: int) -> None:
    await gatherResults([
        ensureDeferred(ensure_default_mailboxes(context(stores[i % len(stores)]), ACCOUNT))
        for i in range(rounds)
    ])


async def roles(store: StoreBundle) -> list[str]:
    found = await store.accounts.get(ACCOUNT, "Mailbox", None)
    return sorted(mailbox["role"] for mailbox in found.values())


@pytest_twisted.ensureDeferred
async def test_concurrent_connections_to_one_redis_make_one_set(redis_url: str) -> None:
    stores = [await open_redis_store(redis_url, reactor, timeout=5.0) for _ in range(3)]
    try:
        await race(stores, 12)
        assert await roles(stores[0]) == sorted(role for _name, role in DEFAULT_MAILBOXES)
        state = await stores[0].changes.current_state(ACCOUNT, "Mailbox")
        await race(stores, 3)  # already there: nothing is written again
        assert await stores[1].changes.current_state(ACCOUNT, "Mailbox") == state
    finally:
        for store in stores:
            await store.close()


@pytest_twisted.ensureDeferred
async def test_concurrent_calls_on_the_memory_store_make_one_set() -> None:
    store = await open_memory_store()
    await race([store], 8)
    assert await roles(store) == sorted(role for _name, role in DEFAULT_MAILBOXES)
