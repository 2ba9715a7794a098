"""The one place that builds a store from configuration: in memory, or on Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.store.interfaces import (
    IAccountStore,
    IBlobStore,
    IChangeLog,
    IClaims,
    IDirectory,
    IDueAccounts,
    IIndexStore,
    INotifier,
)
from stalwart_tx.store.memory import DEFAULT_MAX_TOMBSTONES, check_max_tombstones
from stalwart_tx.store.object_cache import ObjectCache

Closer = Callable[[], Awaitable[None]]


def _process_local_due() -> IDueAccounts:
    from stalwart_tx.store.memory_due import MemoryDueAccounts

    return MemoryDueAccounts()


def _process_local_claims() -> IClaims:
    from stalwart_tx.store.memory import MemoryClaims

    return MemoryClaims()


@dataclass
class StoreBundle:
    """Every store interface of one backend, and how to let go of its connections."""

    accounts: IAccountStore
    changes: IChangeLog
    blobs: IBlobStore
    notifier: INotifier
    directory: IDirectory
    indexes: IIndexStore
    closers: list[Closer] = field(default_factory=list, repr=False)
    # a bundle built by hand (one process) may leave it out; open_redis_store shares it in Redis
    claims: IClaims = field(default_factory=_process_local_claims)
    # accounts with scheduled work (EmailSubmission sending), shared in Redis likewise
    due: IDueAccounts = field(default_factory=_process_local_due)
    # objects a computation may take instead of reading them (object_cache); None: read all
    object_cache: ObjectCache | None = None

    async def close(self) -> None:
        """Release connections; the stores must not be used afterwards. Safe to call twice."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            await close()


async def open_memory_store(*, max_tombstones: int = DEFAULT_MAX_TOMBSTONES) -> StoreBundle:
    """A fresh, empty store that lives in this process only.

    Each type of an account keeps at most ``max_tombstones`` records of destroyed objects: older
    ones are forgotten, and /changes from before them cannot be calculated.
    """
    from stalwart_tx.store.memory import (
        MemoryAccountStore,
        MemoryBlobStore,
        MemoryClaims,
        MemoryNotifier,
    )
    from stalwart_tx.store.memory_directory import MemoryDirectory
    from stalwart_tx.store.memory_due import MemoryDueAccounts

    notifier = MemoryNotifier()
    blobs = MemoryBlobStore()
    accounts = MemoryAccountStore(notifier, blobs=blobs, max_tombstones=max_tombstones)
    return StoreBundle(
        accounts=accounts,
        changes=accounts,
        blobs=blobs,
        notifier=notifier,
        directory=MemoryDirectory(),
        indexes=accounts,
        claims=MemoryClaims(),
        due=MemoryDueAccounts(),
    )


async def open_redis_store(
    url: str, reactor: Any, *, timeout: float = 5.0, prefix: str = "stx:",
    max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
) -> StoreBundle:
    """A store on the Redis server that ``url`` names.

    Raises ValueError at once for a malformed URL (or an unreadable TLS file it names), or a
    ``max_tombstones`` below 1. Returns without waiting for Redis: while it is unreachable every
    call fails with StoreUnavailable within ``timeout`` seconds, and calls succeed again as soon
    as it is back. ``max_tombstones`` is the retention of destroyed-object records per type, as
    in open_memory_store.
    """
    # imported here: txredisapi installs the global reactor when it is imported
    from stalwart_tx.store.redis import (
        RedisAccountStore,
        RedisBlobStore,
        RedisClaims,
        RedisConnection,
        RedisDirectory,
        RedisDueAccounts,
        RedisNotifier,
        parse_redis_url,
    )
    from stalwart_tx.store.redis.keys import check_prefix
    from stalwart_tx.store.redis.recent_blobs import RecentBlobs

    check_prefix(prefix)  # before connecting, so a bad value leaves nothing running
    check_max_tombstones(max_tombstones)
    connection = RedisConnection(parse_redis_url(url), reactor, timeout=timeout)
    recent = RecentBlobs()
    accounts = RedisAccountStore(connection, prefix=prefix, max_tombstones=max_tombstones,
                                 recent_blobs=recent)
    notifier = RedisNotifier(connection, prefix=prefix)
    return StoreBundle(
        accounts=accounts,
        changes=accounts,
        blobs=RedisBlobStore(connection, prefix=prefix, recent=recent),
        notifier=notifier,
        directory=RedisDirectory(connection, prefix=prefix),
        indexes=accounts,
        closers=[connection.close, notifier.close],
        claims=RedisClaims(connection, prefix=prefix),
        due=RedisDueAccounts(connection, prefix=prefix),
    )
