"""Reading and copying blob ranges in bounded pieces, so no caller holds a large blob whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.interfaces import IBlobStore, IBlobUpload
from stalwart_tx.store.records import BlobInfo

# Large enough that a 50 MB blob is a couple of hundred Redis round trips, small enough that a
# piece in flight never matters to memory.
CHUNK_SIZE = 256 * 1024


async def read_chunks(
    blobs: IBlobStore,
    account_id: str,
    blob_id: str,
    start: int,
    end: int,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[bytes]:
    """Bytes ``[start, end)`` of a blob the caller knows to be at least ``end`` long.

    Raises BlobNotFound if the blob disappears (or turns out shorter) part way through: a caller
    that already sent some bytes must then abandon what it was building.
    """
    position = start
    while position < end:
        want = min(chunk_size, end - position)
        piece = await blobs.get(account_id, blob_id, position, want)
        if len(piece) != want:
            raise BlobNotFound(blob_id)
        position += want
        yield piece


async def write_range(
    upload: IBlobUpload,
    blobs: IBlobStore,
    account_id: str,
    blob_id: str,
    start: int,
    end: int,
) -> None:
    """Append bytes ``[start, end)`` of a stored blob to ``upload``, a piece at a time."""
    async for piece in read_chunks(blobs, account_id, blob_id, start, end):
        await upload.write(piece)


async def copy_blob(
    blobs: IBlobStore, from_account: str, to_account: str, blob_id: str, size: int
) -> BlobInfo:
    """Store the blob of ``from_account`` in ``to_account`` too (unreferenced there)."""
    upload = await blobs.open_upload(to_account)
    try:
        await write_range(upload, blobs, from_account, blob_id, 0, size)
        return await upload.commit()
    except BaseException:
        await upload.abort()
        raise
