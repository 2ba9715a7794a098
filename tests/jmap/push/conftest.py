"""Push servers on real ports: in memory, or several "processes" sharing one real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from tests.jmap.push.harness import PushServer, Users, make_users, start_server

StartServer = Callable[..., Awaitable[PushServer]]


@pytest_twisted.async_yield_fixture
async def start_memory_server() -> AsyncIterator[StartServer]:
    """Start a server on a fresh in-memory store with alice and bob; options as start_server's."""
    servers: list[PushServer] = []

    async def start(**options: Any) -> PushServer:
        store = await open_memory_store()
        server = start_server(store, await make_users(store), **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest_twisted.async_yield_fixture
async def server(start_memory_server: StartServer) -> AsyncIterator[PushServer]:
    yield await start_memory_server()


@pytest_twisted.async_yield_fixture
async def redis_pair(redis_url: str) -> AsyncIterator[tuple[PushServer, PushServer]]:
    """Two servers, each with its own store bundle (own connections, own notifier) on one Redis,
    as two service processes would have."""
    stores: list[StoreBundle] = [
        await open_redis_store(redis_url, reactor) for _ in range(2)
    ]
    users: Users = await make_users(stores[0])
    servers = [start_server(store, users) for store in stores]
    yield servers[0], servers[1]
    for server in servers:
        await server.stop()
    for store in stores:
        await store.close()
