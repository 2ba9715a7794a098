"""The blobs this process put in the last few seconds, to read back without a round trip.

An IMAP APPEND (and a JMAP upload followed by Email/import) stores a message and reads it back
at once to parse it: one more round trip, and the message's bytes across the socket again.
Blobs never change (their id is their digest), so a copy is exact for as long as the blob
exists, and one put moments ago cannot be gone yet except by a deletion: the sweep deletes only
blobs unreferenced for ``blob-expiry`` (at least an hour, RFC 8620 §6, against the seconds kept
here), and a delete in this process drops its copy. A copy that outlives a destroyed account
only lets a parse go ahead: the write that would claim the blob finds it gone and fails.

Bounded by age, by the size of one blob and by the total held, oldest dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

KEEP_SECONDS: Final = 10.0
MAX_BLOB: Final = 256 * 1024
MAX_TOTAL: Final = 8 * 1024 * 1024


class RecentBlobs:
    """Times are the blob store's clock (``now``), the one that stamps unreferenced blobs."""

    def __init__(self) -> None:
        # (account id, blob id) -> (put at, content), oldest first
        self._held: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._total = 0

    def put(self, account_id: str, blob_id: str, data: bytes, now: float) -> None:
        if len(data) > MAX_BLOB:
            return
        self.drop(account_id, blob_id)
        self._held[(account_id, blob_id)] = (now, data)
        self._total += len(data)
        self._trim(now)

    def get(self, account_id: str, blob_id: str, now: float) -> bytes | None:
        self._trim(now)
        found = self._held.get((account_id, blob_id))
        return found[1] if found is not None else None

    def drop(self, account_id: str, blob_id: str) -> None:
        found = self._held.pop((account_id, blob_id), None)
        if found is not None:
            self._total -= len(found[1])

    def drop_account(self, account_id: str) -> None:
        for key in [k for k in self._held if k[0] == account_id]:
            self.drop(*key)

    def _trim(self, now: float) -> None:
        oldest = now - KEEP_SECONDS
        while self._held:
            key, (put_at, data) = next(iter(self._held.items()))
            # a clock set back (tests do) makes the entries newer than now: those go too
            if oldest < put_at <= now and self._total <= MAX_TOTAL:
                break
            del self._held[key]
            self._total -= len(data)
