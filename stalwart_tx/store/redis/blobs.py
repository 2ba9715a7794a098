"""IBlobStore on Redis: content-addressed strings under the account's hash tag."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from twisted.internet.defer import DeferredLock
from zope.interface import implementer

from stalwart_tx.store.errors import BlobNotFound, StoreError
from stalwart_tx.store.interfaces import IBlobStore, IBlobUpload
from stalwart_tx.store.memory import blob_id_for, check_range
from stalwart_tx.store.records import BlobInfo
from stalwart_tx.store.redis import scripts
from stalwart_tx.store.redis.connection import RedisConnection, as_bytes
from stalwart_tx.store.redis.keys import AccountKeys

# ids are made here from a digest; anything else cannot name a blob (nor smuggle a key)
_BLOB_ID = re.compile(r"B[0-9a-f]{64}\Z")

DEFAULT_UPLOAD_TTL = 3600.0


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
            size = await self._store.redis.run_script(
                scripts.UPLOAD_COMMIT,
                [self._keys.upload(self._token), self._keys.blob(blob_id), self._keys.blobs,
                 self._keys.uploads],
                [blob_id, self._token, self.size],
            )
        finally:
            self._lock.release()
        if size != self.size:
            raise StoreError("the upload expired or was interrupted; start it again")
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
    def __init__(
        self,
        connection: RedisConnection,
        *,
        prefix: str = "stx:",
        upload_ttl: float = DEFAULT_UPLOAD_TTL,
    ) -> None:
        self.redis = connection
        self.reactor: Any = connection.reactor
        self.upload_ttl = upload_ttl
        self._prefix = prefix

    def _keys(self, account_id: str) -> AccountKeys:
        return AccountKeys(self._prefix, account_id)

    def _blob_key(self, account_id: str, blob_id: str) -> str:
        keys = self._keys(account_id)
        if not isinstance(blob_id, str) or not _BLOB_ID.match(blob_id):
            raise BlobNotFound(blob_id)
        return keys.blob(blob_id)

    async def put(self, account_id: str, data: bytes) -> BlobInfo:
        keys = self._keys(account_id)
        data = bytes(data)
        blob_id = blob_id_for(hashlib.sha256(data).hexdigest())
        size = await self.redis.run_script(
            scripts.BLOB_PUT, [keys.blob(blob_id), keys.blobs], [blob_id, data]
        )
        return BlobInfo(blob_id, size)

    async def open_upload(self, account_id: str) -> RedisBlobUpload:
        # nothing reaches Redis before the first chunk, so an unused upload costs nothing
        return RedisBlobUpload(self, self._keys(account_id))

    async def get(
        self, account_id: str, blob_id: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        check_range(offset, length)
        key = self._blob_key(account_id, blob_id)
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
        await self.redis.run_script(
            scripts.BLOB_DELETE, [key, self._keys(account_id).blobs], [blob_id]
        )
