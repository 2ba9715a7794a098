"""Large blobs over HTTP in bounded memory: a 20 MB upload and download through a real Redis, and a
client that stops reading does not make the server read the blob ahead of it."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater

from stalwart_tx.http.blobs import BlobHttp
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.blobs.conftest import StartHttp

MB = 1024 * 1024
SIZE = 20 * MB


def write_pattern(path: Path, size: int) -> str:
    """Write ``size`` bytes, no two MiB alike; return their SHA-256."""
    digest = hashlib.sha256()
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as out:
        for n in range(size // MB):
            piece = n.to_bytes(4, "big") + block[4:]
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


async def sleep(seconds: float) -> None:
    await deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_20_mb_upload_and_download_stay_in_bounded_memory(
    start_http: StartHttp, tmp_path: Path
) -> None:
    http = await start_http(store_kind="redis", limits=CoreLimits(maxSizeUpload=SIZE))
    source = tmp_path / "large.bin"
    digest = write_pattern(source, SIZE)

    tracemalloc.start()
    try:
        began = time.monotonic()
        with source.open("rb") as body:
            reply = await http.upload(body)  # treq streams a file in 64 KiB pieces
        upload_seconds = time.monotonic() - began
        _, upload_peak = tracemalloc.get_traced_memory()
        assert reply.code == 201, reply.body
        assert reply.json()["size"] == SIZE
        assert reply.json()["blobId"] == "B" + digest

        tracemalloc.reset_peak()
        began = time.monotonic()
        response = await treq.get(
            http.download_url(http.alice, "B" + digest), headers=http.auth(), unbuffered=True
        )
        received = hashlib.sha256()
        count = [0]

        def consume(piece: bytes) -> None:
            received.update(piece)
            count[0] += len(piece)

        await treq.collect(response, consume)
        download_seconds = time.monotonic() - began
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.code == 200
    assert count[0] == SIZE and received.hexdigest() == digest
    print(
        f"\n20 MiB upload: {upload_seconds:.2f} s, traced peak {upload_peak / MB:.2f} MiB; "
        f"download: {download_seconds:.2f} s, traced peak {download_peak / MB:.2f} MiB"
    )
    # client and server share this process: both sides together stay far below the blob
    assert upload_peak < SIZE / 8
    assert download_peak < SIZE / 8


class CountingBlobs:
    """The real blob store, counting the pieces the server reads."""

    def __init__(self, store: StoreBundle) -> None:
        self._blobs = store.blobs
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)

    async def get(self, *args: Any, **kwargs: Any) -> bytes:
        self.reads += 1
        data: bytes = await self._blobs.get(*args, **kwargs)
        return data


class StalledReader(Protocol):
    """Sends a GET, takes the first bytes, then stops reading until told to go on."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received = 0
        self.body = hashlib.sha256()
        self.header_done = False
        self.buffer = b""
        self.done: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.header_done:
            self.buffer += data
            if b"\r\n\r\n" not in self.buffer:
                return
            head, data = self.buffer.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200"), head
            self.header_done = True
            self.transport.pauseProducing()  # stall: the kernel buffers fill, then the server's
        self.received += len(data)
        self.body.update(data)

    def connectionLost(self, reason: Any) -> None:
        self.done.callback(None)


@pytest_twisted.ensureDeferred
async def test_a_stalled_client_does_not_make_the_server_read_ahead(
    start_http: StartHttp,
) -> None:
    counting: list[CountingBlobs] = []

    def counting_blob_http(store: Any, limits: CoreLimits) -> BlobHttp:
        def counting_store() -> StoreBundle:
            bundle: StoreBundle = store()
            if not counting:
                counting.append(CountingBlobs(bundle))
            return StoreBundle(bundle.accounts, bundle.changes, counting[0], bundle.notifier,
                               bundle.directory, bundle.indexes)  # type: ignore[arg-type]

        return BlobHttp(counting_store, limits, chunk_size=64 * 1024)

    http = await start_http(blobs=counting_blob_http)
    data = bytes(range(256)) * (128 * 1024)  # 32 MiB, 512 pieces of 64 KiB
    blob = (await http.store.blobs.put(http.alice, data)).blob_id
    path = f"/jmap/download/{http.alice}/{blob}/big.bin"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Authorization: Bearer {http.tokens['alice']}\r\n\r\n"
    ).encode()
    reader = StalledReader(request)
    port = int(http.base.rsplit(":", 1)[1])
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), reader)
    while not reader.header_done:
        await sleep(0.01)
    await sleep(0.3)
    stalled_at = counting[0].reads
    await sleep(0.3)
    assert counting[0].reads == stalled_at, "nothing more is read while the client reads nothing"
    assert stalled_at < 512 / 2, f"read {stalled_at} of 512 pieces ahead of a stalled client"
    print(f"\nstalled client: the server read {stalled_at} of 512 pieces of 64 KiB")
    assert reader.transport is not None
    reader.transport.resumeProducing()
    await reader.done
    assert reader.received == len(data)
    assert reader.body.hexdigest() == hashlib.sha256(data).hexdigest()
    assert counting[0].reads == 512
