"""The service that deletes blobs no object has referenced for ``blob-expiry`` seconds.

Uploads (RFC 8620 §6.1, RFC 9404 Blob/upload, Blob/copy) start unreferenced; a write that makes
an object reference a blob claims it, and one that drops the last reference makes it
unreferenced again (see IBlobStore and WriteBatch). Every ``interval`` seconds this service asks
the store to delete what has stayed unreferenced since ``expiry`` seconds ago, in at most
``batches`` batches of ``batch_size`` blobs, so one run's work is bounded however much is due;
the store finds due blobs through its index, never by scanning every account.

A run while the store is unreachable is skipped (the store logs the outage); any other failure is
logged and the next run tries again. Stopping waits for a run in progress, so the store is not
closed under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from stalwart_tx.periodic import PeriodicService
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable

DEFAULT_EXPIRY = 24 * 3600.0
DEFAULT_INTERVAL = 60.0
DEFAULT_BATCH_SIZE = 500
DEFAULT_BATCHES = 4


class BlobSweeper(PeriodicService):
    log = Logger()

    def __init__(
        self,
        store: Callable[[], StoreBundle],
        clock: Any,
        expiry: float = DEFAULT_EXPIRY,
        *,
        interval: float = DEFAULT_INTERVAL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batches: int = DEFAULT_BATCHES,
    ) -> None:
        super().__init__(clock, interval)
        self.store = store
        self.expiry = expiry
        self.batch_size = batch_size
        self.batches = batches

    async def run_once(self) -> int:
        return await self.sweep_once()

    async def sweep_once(self) -> int:
        """One bounded run; the number of blobs it deleted. Never raises."""
        cutoff = self.clock.seconds() - self.expiry
        deleted = 0
        try:
            blobs = self.store().blobs
            for _ in range(self.batches):
                count = await blobs.sweep_unreferenced(cutoff, self.batch_size)
                deleted += count
                if count < self.batch_size:
                    break
        except StoreUnavailable:
            return deleted
        except Exception:
            self.log.failure("Deleting expired unreferenced blobs failed; trying again later")
            return deleted
        if deleted:
            self.log.info("Deleted {count} unreferenced blobs older than {expiry:g} s",
                          count=deleted, expiry=self.expiry)
        return deleted
