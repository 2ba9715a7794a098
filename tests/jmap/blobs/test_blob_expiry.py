"""Expiry of unreferenced blobs (RFC 8620 §6): the sweeper on a Clock over memory and real Redis
stores, the blob-expiry setting, and the sweeper in the assembled service."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import LogEvent, globalLogPublisher

from stalwart_tx.blob_sweeper import BlobSweeper
from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import BlobNotFound, StoreUnavailable
from stalwart_tx.store.records import WriteBatch
from stalwart_tx.store_service import StoreService
from tests.jmap.blobs.conftest import StartHttp, mail_references
from tests.store.conformance import clock_at, use_clock

HOUR = 3600.0
DAY = 24 * HOUR
A = "acct1"


async def exists(store: StoreBundle, account: str, blob_id: str) -> bool:
    try:
        await store.blobs.stat(account, blob_id)
    except BlobNotFound:
        return False
    return True


@pytest_twisted.ensureDeferred
async def test_unreferenced_blobs_expire_and_referenced_ones_stay(store: StoreBundle) -> None:
    clock = use_clock(store, clock_at(1_000_000))
    sweeper = BlobSweeper(lambda: store, clock, DAY)
    loose = (await store.blobs.put(A, b"uploaded, never used")).blob_id
    used = (await store.blobs.put(A, b"attached to an email")).blob_id
    await store.accounts.write(
        A, WriteBatch().create("Email", "e1", {"blobId": used}).claim_blob(used, "Email", "e1")
    )
    clock.advance(DAY - 1)
    assert await sweeper.sweep_once() == 0
    clock.advance(1)
    assert await sweeper.sweep_once() == 1
    assert not await exists(store, A, loose)
    assert await exists(store, A, used)
    # the last reference goes: the blob survives that write and a full expiry period after it
    await store.accounts.write(
        A, WriteBatch().destroy("Email", "e1").release_blob(used, "Email", "e1")
    )
    assert await sweeper.sweep_once() == 0
    clock.advance(DAY - 1)
    assert await sweeper.sweep_once() == 0
    clock.advance(1)
    assert await sweeper.sweep_once() == 1
    assert not await exists(store, A, used)


@pytest_twisted.ensureDeferred
async def test_each_run_does_bounded_work(store: StoreBundle) -> None:
    clock = use_clock(store, clock_at(0))
    for n in range(10):
        await store.blobs.put(f"account{n % 3}", b"blob %d" % n)
    clock.advance(HOUR)
    sweeper = BlobSweeper(lambda: store, clock, HOUR, batch_size=3, batches=2)
    assert [await sweeper.sweep_once() for _ in range(4)] == [6, 4, 0, 0]


@pytest_twisted.ensureDeferred
async def test_runs_every_interval_and_stops_cleanly(store: StoreBundle) -> None:
    clock = use_clock(store, clock_at(0))
    blob = (await store.blobs.put(A, b"x")).blob_id
    sweeper = BlobSweeper(lambda: store, clock, HOUR, interval=60)
    runs: list[int] = []
    real_sweep = sweeper.sweep_once

    async def counted() -> int:
        runs.append(await real_sweep())
        return runs[-1]

    sweeper.sweep_once = counted  # type: ignore[method-assign]
    sweeper.startService()
    assert runs == [], "the first run waits one interval"
    clock.advance(HOUR)
    while not runs:
        await deferLater(reactor, 0.01, lambda: None)
    assert runs == [1] and not await exists(store, A, blob)
    await sweeper.stopService()
    clock.advance(HOUR)
    await deferLater(reactor, 0.05, lambda: None)
    assert runs == [1]


@pytest_twisted.ensureDeferred
async def test_stop_waits_for_a_run_in_progress(store: StoreBundle) -> None:
    clock = Clock()
    gate: Deferred[None] = Deferred()
    finished: list[bool] = []
    sweeper = BlobSweeper(lambda: store, clock, HOUR, interval=60)

    async def slow_run() -> int:
        await gate
        finished.append(True)
        return 0

    sweeper.sweep_once = slow_run  # type: ignore[method-assign]
    sweeper.startService()
    clock.advance(60)
    stopped = sweeper.stopService()
    assert not stopped.called
    gate.callback(None)
    await stopped
    assert finished == [True]


@pytest_twisted.ensureDeferred
async def test_failures_are_logged_and_the_next_run_tries_again(store: StoreBundle) -> None:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        def unavailable() -> StoreBundle:
            raise StoreUnavailable("down")

        assert await BlobSweeper(unavailable, Clock(), HOUR).sweep_once() == 0

        class Broken:
            blobs: Any = None

        broken = Broken()

        class FailingBlobs:
            async def sweep_unreferenced(self, before: float, limit: int) -> int:
                raise RuntimeError("bug")

        broken.blobs = FailingBlobs()
        assert await BlobSweeper(lambda: broken, Clock(), HOUR).sweep_once() == 0  # type: ignore[arg-type,return-value]
    finally:
        globalLogPublisher.removeObserver(events.append)
    failures = [e for e in events if e.get("log_failure") is not None]
    assert len(failures) == 1
    assert failures[0]["log_failure"].check(RuntimeError)


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
@pytest_twisted.ensureDeferred
async def test_an_upload_expires_unless_an_object_claims_it(
    start_http: StartHttp, store_kind: str
) -> None:
    http = await start_http(store_kind=store_kind)
    clock = use_clock(http.store, clock_at(5_000_000))
    references = mail_references()
    kept = (await http.upload(b"attachment")).json()["blobId"]
    dropped = (await http.upload(b"abandoned draft")).json()["blobId"]
    batch = WriteBatch().create("Email", "e1", {"blobId": kept})
    await http.store.accounts.write(http.alice, references.add_claims(batch, {}))
    clock.advance(DAY)
    assert await BlobSweeper(lambda: http.store, clock, DAY).sweep_once() == 1
    assert (await http.get(http.download_url(http.alice, kept))).code == 200
    assert (await http.get(http.download_url(http.alice, dropped))).code == 404


def test_blob_expiry_setting() -> None:
    assert build_config({}).blob_expiry == DAY
    assert build_config({"blob-expiry": "7200"}).blob_expiry == 7200.0
    for bad in ("0", "-1", "59", "3599", "soon"):
        with pytest.raises(ConfigError, match="blob-expiry"):
            build_config({"blob-expiry": bad})


def test_make_service_runs_the_sweeper_after_the_store(redis_url: str) -> None:
    config = build_config({"redis": redis_url, "blob-expiry": 7200})
    children = list(makeService(config))
    kinds = [type(child) for child in children]
    sweeper = children[kinds.index(BlobSweeper)]
    assert isinstance(sweeper, BlobSweeper) and sweeper.expiry == 7200.0
    # started after the store, so stopped (in reverse) before the store closes
    assert kinds.index(StoreService) < kinds.index(BlobSweeper) < len(kinds) - 1
