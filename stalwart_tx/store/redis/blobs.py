"""IBlobStore on Redis: content-addressed strings under the account's hash tag.

Claims on a blob are a set of referrers ("Type/id") beside it, changed by the account store's
write script. Unreferenced blobs sit in the account's ``unreferenced`` sorted set, scored by when
they became so; accounts that may have any sit in one global sweep index (``blob_sweep_index``),
scored by their earliest stamp, so a sweep visits only accounts with something to expire.

The sweep index has a tag of its own, so it is updated after the account's script, not inside
it: writers add the account with ``ZADD LT`` after stamping a blob (``note_unreferenced``); the
sweep, after expiring an account's blobs, sets the account's score to its new earliest stamp (or
removes it) and then reads the account once more, restoring the entry if a writer stamped a blob
in between. Whatever the interleaving, an account with an unreferenced blob ends up indexed no
later than its earliest stamp. A process that dies between a write and its ``ZADD`` leaves that
blob unindexed until the account's next stamped blob re-adds the account.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from twisted.internet.defer import Deferred, DeferredLock
from twisted.logger import Logger
from zope.interface import implementer

from stalwart_tx.store.errors import BlobNotFound, StoreError
from stalwart_tx.store.interfaces import IBlobStore, IBlobUpload
from stalwart_tx.store.memory import (
    SecondsClock,
    blob_id_for,
    check_account_id,
    check_range,
    is_blob_id,
    parse_referrer,
)
from stalwart_tx.store.records import BlobInfo
from stalwart_tx.store.redis import scripts
from stalwart_tx.store.redis.connection import RedisConnection, as_bytes, as_text
from stalwart_tx.store.redis.keys import AccountKeys, account_keys, blob_sweep_index
from stalwart_tx.store.redis.recent_blobs import RecentBlobs

# ids are made here from a digest; anything else cannot name a blob (nor smuggle a key)

DEFAULT_UPLOAD_TTL = 3600.0

log = Logger()


async def note_unreferenced(
    redis: RedisConnection, prefix: str, account_id: str, since: float
) -> None:
    """List the account in the sweep index no later than ``since`` (after stamping a blob)."""
    await redis.execute("ZADD", blob_sweep_index(prefix), "LT", repr(since), account_id)


async def note_unreferenced_after_write(
    redis: RedisConnection, prefix: str, account_id: str, since: float
) -> None:
    """As note_unreferenced, for a write that is already applied: failing now would make its
    caller retry a done write, so a failure is logged (the account's next stamp indexes it)."""
    try:
        await note_unreferenced(redis, prefix, account_id, since)
    except StoreError as error:
        log.warn("Could not index account {account} for the blob sweep: {error}",
                 account=account_id, error=error)


@implementer(IBlobUpload)
class RedisBlobUpload:
    """Chunks go to a temporary key that expires unless written to; commit renames it."""

    def __init__(self, store: RedisBlobStore, keys: AccountKeys) -> None:
        self._store = store
        self._keys = keys
        self._token = secrets.token_hex(12)
        self._hash = hashlib.sha256()
        # chunks must reach Redis in the order they were hashed, even if a caller does not wait
        self._lock = DeferredLock()
        self._finished = False
        self.size = 0

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("this upload is already committed or aborted")

    async def write(self, chunk: bytes) -> None:
        self._check_open()
        if not chunk:
            return
        await self._lock.acquire()
        try:
            self._check_open()
            now = self._store.reactor.seconds()
            ttl = self._store.upload_ttl
            held = await self._store.redis.run_script(
                scripts.UPLOAD_APPEND,
                [self._keys.upload(self._token), self._keys.uploads],
                [bytes(chunk), int(ttl * 1000), self._token, repr(now + ttl), repr(now)],
            )
            self._hash.update(chunk)
            self.size += len(chunk)
            if held != self.size:
                await self._abandon()
                raise StoreError("the upload expired or was interrupted; start it again")
        finally:
            self._lock.release()

    async def commit(self) -> BlobInfo:
        self._check_open()
        await self._lock.acquire()
        try:
            self._check_open()
            self._finished = True
            blob_id = blob_id_for(self._hash.hexdigest())
            now = self._store.clock.seconds()
            size = await self._store.redis.run_script(
                scripts.UPLOAD_COMMIT,
                [self._keys.upload(self._token), self._keys.blob(blob_id), self._keys.blobs,
                 self._keys.uploads, self._keys.blob_refs(blob_id), self._keys.unreferenced],
                [blob_id, self._token, self.size, repr(now)],
            )
        finally:
            self._lock.release()
        if size != self.size:
            raise StoreError("the upload expired or was interrupted; start it again")
        await self._store.note_unreferenced(self._keys, now)
        return BlobInfo(blob_id, size)

    async def abort(self) -> None:
        if self._finished:
            return
        await self._lock.acquire()
        try:
            await self._abandon()
        finally:
            self._lock.release()

    async def _abandon(self) -> None:
        self._finished = True
        await self._store.redis.run_script(
            scripts.UPLOAD_ABORT, [self._keys.upload(self._token), self._keys.uploads],
            [self._token],
        )


@implementer(IBlobStore)
class RedisBlobStore:
    """Blobs in Redis; ``clock`` (the connection's reactor by default) stamps unreferenced ones."""

    def __init__(
        self,
        connection: RedisConnection,
        *,
        prefix: str = "stx:",
        upload_ttl: float = DEFAULT_UPLOAD_TTL,
        clock: SecondsClock | None = None,
        recent: RecentBlobs | None = None,
    ) -> None:
        self.redis = connection
        self.reactor: Any = connection.reactor
        self.clock: SecondsClock = clock if clock is not None else connection.reactor
        self.upload_ttl = upload_ttl
        self._prefix = prefix
        # shared with the account store of the same bundle, which forgets destroyed accounts
        self.recent = recent if recent is not None else RecentBlobs()

    def _keys(self, account_id: str) -> AccountKeys:
        return account_keys(self._prefix, account_id)

    def _blob_key(self, account_id: str, blob_id: str) -> str:
        keys = self._keys(account_id)
        if not is_blob_id(blob_id):
            raise BlobNotFound(blob_id)
        return keys.blob(blob_id)

    async def note_unreferenced(self, keys: AccountKeys, since: float) -> None:
        await note_unreferenced(self.redis, self._prefix, keys.account_id, since)

    async def put(self, account_id: str, data: bytes) -> BlobInfo:
        keys = self._keys(account_id)
        data = bytes(data)
        blob_id = blob_id_for(hashlib.sha256(data).hexdigest())
        now = self.clock.seconds()
        # the sweep index's ZADD goes with the put, not a round trip after it: the connection
        # takes the two in the order issued, so Redis still applies it after the stamp (and a
        # put that fails leaves the account listed early, which costs the sweep one look)
        putting = Deferred.fromCoroutine(self.redis.run_script(
            scripts.BLOB_PUT,
            [keys.blob(blob_id), keys.blobs, keys.blob_refs(blob_id), keys.unreferenced],
            [blob_id, data, repr(now)],
        ))
        noting = Deferred.fromCoroutine(self.note_unreferenced(keys, now))
        try:
            size = await putting
        finally:
            await noting
        self.recent.put(account_id, blob_id, data, now)
        return BlobInfo(blob_id, size)

    async def open_upload(self, account_id: str) -> RedisBlobUpload:
        # nothing reaches Redis before the first chunk, so an unused upload costs nothing
        return RedisBlobUpload(self, self._keys(account_id))

    async def get(
        self, account_id: str, blob_id: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        check_range(offset, length)
        key = self._blob_key(account_id, blob_id)
        held = self.recent.get(account_id, blob_id, self.clock.seconds())
        if held is not None:
            return held[offset:] if length is None else held[offset:offset + length]
        if length == 0:
            await self.stat(account_id, blob_id)
            return b""
        last = -1 if length is None else offset + length - 1
        reply = await self.redis.run_script(scripts.BLOB_GET, [key], [offset, last])
        if reply is None:
            raise BlobNotFound(blob_id)
        return as_bytes(reply[0])

    async def stat(self, account_id: str, blob_id: str) -> BlobInfo:
        key = self._blob_key(account_id, blob_id)
        size = await self.redis.run_script(scripts.BLOB_STAT, [key])
        if size < 0:
            raise BlobNotFound(blob_id)
        return BlobInfo(blob_id, size)

    async def delete(self, account_id: str, blob_id: str) -> None:
        try:
            key = self._blob_key(account_id, blob_id)
        except BlobNotFound:
            return
        self.recent.drop(account_id, blob_id)
        keys = self._keys(account_id)
        await self.redis.run_script(
            scripts.BLOB_DELETE,
            [key, keys.blobs, keys.blob_refs(blob_id), keys.unreferenced],
            [blob_id],
        )

    async def referrers(
        self, account_id: str, blob_ids: list[str]
    ) -> dict[str, set[tuple[str, str]]]:
        keys = self._keys(account_id)
        wanted = [b for b in dict.fromkeys(blob_ids) if is_blob_id(b)]
        if not wanted:
            return {}
        script_keys: list[str] = []
        for blob_id in wanted:
            script_keys += [keys.blob(blob_id), keys.blob_refs(blob_id)]
        reply = await self.redis.run_script(scripts.BLOB_REFERRERS, script_keys)
        return {
            blob_id: {parse_referrer(as_text(member)) for member in members}
            for blob_id, (stored, members) in zip(wanted, reply, strict=True)
            if int(stored) == 1
        }

    async def sweep_unreferenced(self, unreferenced_before: float, limit: int) -> int:
        index = blob_sweep_index(self._prefix)
        cutoff = repr(unreferenced_before)
        due = await self.redis.execute(
            "ZRANGEBYSCORE", index, "-inf", cutoff, "LIMIT", 0, max(limit, 0)
        )
        deleted = 0
        for account in (as_text(a) for a in due):
            if deleted >= limit:
                break
            try:
                check_account_id(account)
            except ValueError:
                await self.redis.execute("ZREM", index, account)  # not ours: a stray member
                continue
            deleted += await self._sweep_account(self._keys(account), cutoff, limit - deleted)
            await self._reindex(index, self._keys(account))
        return deleted

    async def _sweep_account(self, keys: AccountKeys, cutoff: str, limit: int) -> int:
        candidates = [
            as_text(b) for b in await self.redis.execute(
                "ZRANGEBYSCORE", keys.unreferenced, "-inf", cutoff, "LIMIT", 0, limit
            )
        ]
        # an id that could not name a blob is dropped from the index, never used in a key
        stray = [b for b in candidates if not is_blob_id(b)]
        if stray:
            await self.redis.execute("ZREM", keys.unreferenced, *stray)
        candidates = [b for b in candidates if is_blob_id(b)]
        if not candidates:
            return 0
        script_keys = [keys.unreferenced, keys.blobs]
        for blob_id in candidates:
            script_keys += [keys.blob(blob_id), keys.blob_refs(blob_id)]
        deleted: int = await self.redis.run_script(
            scripts.SWEEP_UNREFERENCED, script_keys, [cutoff, *candidates]
        )
        return deleted

    async def _reindex(self, index: str, keys: AccountKeys) -> None:
        """Score the account by its earliest stamp, or drop it; see the module docstring."""
        earliest = await self._earliest(keys)
        if earliest is None:
            await self.redis.execute("ZREM", index, keys.account_id)
        else:
            await self.redis.execute("ZADD", index, earliest, keys.account_id)
        # a writer may have stamped a blob and indexed the account just before we overwrote it
        again = await self._earliest(keys)
        if again is not None:
            await self.redis.execute("ZADD", index, "LT", again, keys.account_id)

    async def _earliest(self, keys: AccountKeys) -> str | None:
        first = await self.redis.execute("ZRANGE", keys.unreferenced, 0, 0, "WITHSCORES")
        return as_text(first[1]) if first else None
