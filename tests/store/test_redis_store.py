"""The conformance tests against the Redis backend on a real redis-server, plus Redis specifics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import redis as redis_py
from twisted.internet import reactor

from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import StoreError
from stalwart_tx.store.memory import TRIM_CATCH_UP
from stalwart_tx.store.records import StateChange, TokenRecord, WriteBatch
from tests.store.conformance import (
    A,
    AccountStoreConformance,
    BlobStoreConformance,
    ClaimsConformance,
    DirectoryConformance,
    NotifierConformance,
    Recorder,
    StoreFactory,
    assert_floor,
    eventually,
)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis_py.Redis]:
    """A plain blocking client, to look at the keys the store leaves behind."""
    client = redis_py.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    yield client
    client.close()


@pytest_twisted.async_yield_fixture
async def store(redis_url: str) -> AsyncIterator[StoreBundle]:
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    yield bundle
    await bundle.close()


@pytest_twisted.async_yield_fixture
async def peer_store(redis_url: str) -> AsyncIterator[StoreBundle]:
    """A second, independent store on the same Redis, as another process would open it."""
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    yield bundle
    await bundle.close()


@pytest_twisted.async_yield_fixture
async def open_store(redis_url: str) -> AsyncIterator[StoreFactory]:
    """Stores of one space share a key prefix, so they share their data."""
    opened: list[StoreBundle] = []

    async def open_in(max_tombstones: int, space: str = "trim") -> StoreBundle:
        bundle = await open_redis_store(
            redis_url, reactor, timeout=5.0, prefix=f"{space}:", max_tombstones=max_tombstones
        )
        opened.append(bundle)
        return bundle

    yield open_in
    for bundle in opened:
        await bundle.close()


class TestRedisAccountStore(AccountStoreConformance):
    @pytest_twisted.ensureDeferred
    async def test_destroy_account_leaves_no_key(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e", {}).create("M", "m", {}))
        await store.accounts.write(A, WriteBatch().destroy("M", "m").update("Email", "e", {}))
        await store.changes.compact(A, "M", "2")
        await store.blobs.put(A, b"blob")
        upload = await store.blobs.open_upload(A)
        await upload.write(b"half")  # in flight, never committed
        await store.accounts.write("other", WriteBatch().create("Email", "e", {}))
        assert raw.scan(0, match="*{a:acct1}*", count=1000)[1]
        await store.accounts.destroy_account(A)
        assert list(raw.scan_iter(match="*{a:acct1}*", count=1000)) == []
        assert list(raw.scan_iter(match="*{a:other}*", count=1000))

    @pytest_twisted.ensureDeferred
    async def test_every_key_is_prefixed_and_tagged(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e", {}).create("M", "m", {}))
        await store.accounts.write(A, WriteBatch().destroy("M", "m"))
        await store.blobs.put(A, b"x")
        principal = await store.directory.create_principal("alice", "h")
        await store.directory.add_token(TokenRecord("t", principal.id, "h", 1.0))
        await store.directory.set_alias("a@x", [principal.id])
        await store.directory.add_domain("x")
        keys = [k.decode() for k in raw.scan_iter(count=1000)]
        assert keys
        for key in keys:
            assert key.startswith(("stx:{a:acct1}:", "stx:{dir}:", "stx:{blobsweep}:")), key

    @pytest_twisted.ensureDeferred
    async def test_prefixes_keep_stores_apart(self, redis_url: str) -> None:
        one = await open_redis_store(redis_url, reactor, prefix="one:")
        two = await open_redis_store(redis_url, reactor, prefix="two:")
        try:
            heard = Recorder()
            subscription = await two.notifier.subscribe(heard)
            await one.accounts.write(A, WriteBatch().create("Email", "e", {}))
            assert await two.accounts.get(A, "Email", None) == {}
            await two.accounts.write(A, WriteBatch().create("Email", "f", {}))
            await eventually(lambda: bool(heard.changes))
            assert heard.changes == [StateChange(A, {"Email": "1"})]
            await subscription.cancel()
        finally:
            await one.close()
            await two.close()
        with pytest.raises(ValueError):
            await open_redis_store(redis_url, reactor, prefix="{x}:")

    @pytest_twisted.ensureDeferred
    async def test_scripts_are_reloaded_after_script_flush(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        raw.script_flush()
        result = await store.accounts.write(A, WriteBatch().create("Email", "e2", {}))
        assert result.account_modseq == 2

    @pytest_twisted.ensureDeferred
    async def test_published_message_format(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        pubsub = raw.pubsub()
        pubsub.subscribe("stx:changes")
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"
        await store.accounts.write(A, WriteBatch().create("Email", "e/1", {}))
        message = pubsub.get_message(timeout=2)
        pubsub.close()
        assert json.loads(message["data"]) == {"account": A, "changed": {"Email": "1"}}


class TestRedisRetention:
    """What retention leaves in Redis: the type's keys hold exactly what the log still needs."""

    @staticmethod
    def type_keys(raw: redis_py.Redis, prefix: str, type_name: str) -> dict[str, Any]:
        base = f"{prefix}{{a:{A}}}:"
        return {
            "log": {k.decode(): int(v) for k, v in raw.zrange(f"{base}log:{type_name}", 0, -1,
                                                              withscores=True)},
            "born": {k.decode() for k in raw.hkeys(f"{base}born:{type_name}")},
            "dead": {k.decode() for k in raw.smembers(f"{base}dead:{type_name}")},
            "tomb": {k.decode(): int(v) for k, v in raw.zrange(f"{base}tomb:{type_name}", 0, -1,
                                                               withscores=True)},
            "floor": int(raw.hget(f"{base}floors", type_name) or 0),
        }

    @pytest_twisted.ensureDeferred
    async def test_dropped_tombstones_leave_every_key(
        self, open_store: StoreFactory, raw: redis_py.Redis
    ) -> None:
        store = await open_store(3, "trim")
        batch = WriteBatch()
        for i in range(10):
            batch.create("T", f"o{i}", {})
        await store.accounts.write(A, batch)  # o0..o9 at 1..10
        for group in (["o0"], ["o1", "o2", "o3"], ["o4"], ["o5", "o6"]):
            destroy = WriteBatch()
            for name in group:
                destroy.destroy("T", name)
            await store.accounts.write(A, destroy)  # o0..o6 at 11..17
        await store.accounts.write(A, WriteBatch().update("T", "o7", {"v": 1}))  # 18
        keys = self.type_keys(raw, "trim:", "T")
        assert keys["tomb"] == {"o4": 15, "o5": 16, "o6": 17}
        assert keys["dead"] == set(keys["tomb"])
        live = {"o7": 18, "o8": 9, "o9": 10}
        assert keys["log"] == {**live, **keys["tomb"]}
        assert keys["born"] == set(keys["log"])
        assert keys["floor"] == 14
        await assert_floor(store, A, "T", 14)
        # a re-created id leaves the tombstones at once
        await store.accounts.write(A, WriteBatch().create("T", "o5", {}))
        assert set(self.type_keys(raw, "trim:", "T")["tomb"]) == {"o4", "o6"}

    @pytest_twisted.ensureDeferred
    async def test_a_lowered_limit_is_reached_at_a_bounded_cost_per_write(
        self, open_store: StoreFactory, raw: redis_py.Redis
    ) -> None:
        generous = await open_store(200, "lim")
        batch = WriteBatch()
        for i in range(160):
            batch.create("T", f"o{i}", {})
        await generous.accounts.write(A, batch)
        for start in range(0, 150, 10):
            destroy = WriteBatch()
            for i in range(start, start + 10):
                destroy.destroy("T", f"o{i}")
            await generous.accounts.write(A, destroy)
        assert len(self.type_keys(raw, "lim:", "T")["tomb"]) == 150
        strict = await open_store(10, "lim")  # as after a restart with a lower setting
        held = 150
        for i in range(150, 156):
            await strict.accounts.write(A, WriteBatch().destroy("T", f"o{i}"))
            # a write that destroyed one drops at most 1 + TRIM_CATCH_UP
            held = max(10, held + 1 - (1 + TRIM_CATCH_UP))
            keys = self.type_keys(raw, "lim:", "T")
            assert len(keys["tomb"]) == held
            assert keys["floor"] == min(keys["tomb"].values()) - 1
            await assert_floor(strict, A, "T", keys["floor"])
        assert held == 10


class TestRedisBlobStore(BlobStoreConformance):
    @pytest_twisted.ensureDeferred
    async def test_upload_key_expires(self, store: StoreBundle, raw: redis_py.Redis) -> None:
        upload = await store.blobs.open_upload(A)
        await upload.write(b"part")
        temp = [k for k in raw.scan_iter(match="*upload:*") if b"uploads" not in k]
        assert len(temp) == 1
        assert 0 < raw.pttl(temp[0]) <= 3600 * 1000
        raw.delete(temp[0])  # as if it had expired
        with pytest.raises(StoreError) as raised:
            await upload.write(b"more")
        assert "start it again" in str(raised.value)


class TestRedisNotifier(NotifierConformance):
    pass


class TestRedisClaims(ClaimsConformance):
    pass


class TestRedisDirectory(DirectoryConformance):
    pass


def test_no_module_outside_the_redis_package_imports_txredisapi() -> None:
    root = Path(__file__).resolve().parents[2] / "stalwart_tx"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "txredisapi" in path.read_text() and path.parent.name != "redis"
        and "import txredisapi" in path.read_text()
    ]
    assert offenders == []
