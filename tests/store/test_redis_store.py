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
from stalwart_tx.store.errors import ObjectExists, StoreError
from stalwart_tx.store.memory import TRIM_CATCH_UP
from stalwart_tx.store.records import (
    Difference,
    Index,
    IndexPage,
    Intersection,
    Plan,
    ScoreRange,
    StateChange,
    TokenRecord,
    Union,
    WriteBatch,
)
from tests.redis_process import running_redis
from tests.store.conformance import (
    A,
    AccountStoreConformance,
    B,
    BlobStoreConformance,
    ClaimsConformance,
    DirectoryConformance,
    DueAccountsConformance,
    IndexStoreConformance,
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
    async def test_a_new_lua_interpreter_gets_its_collector_tuned(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        from stalwart_tx.store.redis.connection import LUA_GC_PAUSE

        def pause_now() -> int:
            # setpause answers the pause it replaces; put back what it found
            held = int(raw.eval("return collectgarbage('setpause', 200)", 0))
            raw.eval(f"return collectgarbage('setpause', {held})", 0)
            return held

        raw.script_flush()  # a new interpreter: Redis's own default
        assert pause_now() == 200
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        assert pause_now() == LUA_GC_PAUSE
        # scripts Redis knows already: nothing is sent again
        raw.eval("return collectgarbage('setpause', 150)", 0)
        await store.accounts.write(A, WriteBatch().create("Email", "e2", {}))
        assert pause_now() == 150

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


class TestRedisIndexStore(IndexStoreConformance):
    """Besides the contract: the keys the indexes leave in Redis, and what a query costs."""

    @staticmethod
    def account_keys(raw: redis_py.Redis, account: str = A) -> set[str]:
        return {k.decode() for k in raw.scan_iter(match=f"*{{a:{account}}}*", count=1000)}

    @staticmethod
    def command_calls(raw: redis_py.Redis) -> dict[str, int]:
        stats = raw.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    @pytest_twisted.ensureDeferred
    async def test_a_window_without_count_walks_lazily(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        # a mailbox of 3,000 and two postings of 1,000 (a word and its stem), like a text query
        batch = WriteBatch()
        for n in range(3000):
            member, score = f"e{n:04}", float(n // 3)  # runs of equal scores: ties by member
            batch.index_add("inbox", member, score)
            if n % 3 == 0:
                batch.index_add("word", member, score)
            if n % 3 == 0 or n % 7 == 0:
                batch.index_add("stem", member, score)
        await store.accounts.write(A, batch)
        plan: Plan = Intersection((Union((Index("word"), Index("stem"))), Index("inbox")))
        raw.config_resetstat()
        counted = await store.indexes.index_query(A, plan, descending=True, offset=7, limit=50)
        assert self.command_calls(raw).get("zunionstore") == 1
        raw.config_resetstat()
        lazy = await store.indexes.index_query(
            A, plan, descending=True, offset=7, limit=50, count=False
        )
        calls = self.command_calls(raw)
        assert "zunionstore" not in calls and "zinterstore" not in calls
        assert lazy.total is None and lazy.members == counted.members
        assert counted.total == len({n for n in range(3000) if n % 3 == 0 or n % 7 == 0})
        # a rare match in a big walk gives up within the budget and computes the whole result
        sparse: Plan = Intersection((Index("inbox"), Index("word"), ScoreRange("inbox", 0, 1)))
        page = await store.indexes.index_query(A, sparse, descending=True, limit=5, count=False)
        assert page.ids == ["e0000"] and page.total == 1

    @pytest_twisted.ensureDeferred
    async def test_intersections_within_intersections_walk_lazily_too(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        # an Email text condition comes as its postings within every email (email_query)
        batch = WriteBatch()
        for n in range(600):
            member, score = f"e{n:04}", float(n)
            batch.index_add("all", member, score)
            if n % 2 == 0:
                batch.index_add("inbox", member, score)
            if n % 3 == 0:
                batch.index_add("word", member, score)
            if n % 5 == 0:
                batch.index_add("stem", member, score)
        batch.index_add("word", "gone", 1000.0)  # a posting of an email no longer in "all"
        await store.accounts.write(A, batch)
        text: Plan = Intersection((Union((Index("word"), Index("stem"))), Index("all")))
        plan: Plan = Intersection((text, Index("inbox"), text))
        raw.config_resetstat()
        lazy = await store.indexes.index_query(A, plan, descending=True, limit=20, count=False)
        calls = self.command_calls(raw)
        assert "zunionstore" not in calls and "zinterstore" not in calls
        expected = [f"e{n:04}" for n in range(599, -1, -1)
                    if n % 2 == 0 and (n % 3 == 0 or n % 5 == 0)][:20]
        assert lazy.ids == expected
        counted = await store.indexes.index_query(A, plan, descending=True, limit=20)
        assert counted.ids == expected

    @pytest_twisted.ensureDeferred
    async def test_the_first_of_a_difference_is_found_without_computing_it(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        # a mailbox of 3,000 UIDs and a keyword most of them have: the first without it (as
        # SELECT's first unseen) is walked to, not computed as the whole difference
        batch = WriteBatch()
        for n in range(3000):
            batch.index_add("uids", f"e{n:04}", float(n + 1))
            if n not in (40, 41, 2999):
                batch.index_add("seen", f"e{n:04}", 1.0)
        await store.accounts.write(A, batch)
        plan: Plan = Difference(Index("uids"), Index("seen"))
        for descending, expected in ((False, ["e0040"]), (True, ["e2999"])):
            raw.config_resetstat()
            page = await store.indexes.index_query(
                A, plan, descending=descending, limit=1, count=False
            )
            assert "zdiffstore" not in self.command_calls(raw)
            assert page.ids == expected and page.total is None
        counted = await store.indexes.index_query(A, plan, limit=2)
        assert counted.ids == ["e0040", "e0041"] and counted.total == 3
        # past the walk's budget: the whole difference is computed, the answer the same
        batch = WriteBatch()
        for n in (40, 41):
            batch.index_add("seen", f"e{n:04}", 1.0)
        await store.accounts.write(A, batch)
        raw.config_resetstat()
        page = await store.indexes.index_query(A, plan, limit=1, count=False)
        assert page.ids == ["e2999"]
        assert self.command_calls(raw).get("zdiffstore") == 1

    @pytest_twisted.ensureDeferred
    async def test_keys_of_indexes_and_maps(self, store: StoreBundle, raw: redis_py.Redis) -> None:
        await store.accounts.write(
            A, WriteBatch().index_add("ix", "a", 0.1).index_add("ix", "b", 2)
            .map_set("m", "f", "v").index_add("gone", "a", 1)
        )
        await store.accounts.write(A, WriteBatch().index_remove("gone", "a"))
        base = f"stx:{{a:{A}}}:"
        assert raw.zrange(f"{base}ix:ix", 0, -1, withscores=True) == [(b"a", 0.1), (b"b", 2.0)]
        assert raw.hgetall(f"{base}map:m") == {b"f": b"v"}
        # the derived set lists exactly the index and map keys that exist
        assert raw.smembers(f"{base}derived") == {f"{base}ix:ix".encode(), f"{base}map:m".encode()}
        assert self.account_keys(raw) == {f"{base}ix:ix", f"{base}map:m", f"{base}derived"}
        await store.accounts.write(A, WriteBatch().index_remove("ix", "a").index_remove("ix", "b"))
        assert raw.smembers(f"{base}derived") == {f"{base}map:m".encode()}
        await store.accounts.write(A, WriteBatch().map_delete("m", "f"))
        assert self.account_keys(raw) == set()

    @pytest_twisted.ensureDeferred
    async def test_derived_writes_are_one_argument_and_the_derived_set_stays_exact(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        sent: list[list[Any]] = []
        original = store.accounts._redis.run_script  # type: ignore[attr-defined]

        async def run_script(script: Any, keys: list[str], args: list[Any]) -> Any:
            sent.append(args)
            return await original(script, keys, args)

        store.accounts._redis.run_script = run_script  # type: ignore[attr-defined]
        base = f"stx:{{a:{A}}}:"
        names = [f"t{n} {{x}}:\"é" for n in range(2000)]
        batch = WriteBatch().create("Email", "e", {})
        for e in range(10):
            batch.index_add_many(names, f"e{e}", e)
        batch.map_set("m", "e", "v").map_set("gone", "f", "v").index_add("gone", "e0", 1)
        try:
            await store.accounts.write(A, batch)
            # 20,000 index adds in one argument, and the key base in another (before the
            # counter writes, none here)
            assert sent[-1][-1] == ""
            assert len(sent[-1]) < 40
            assert sent[-1][-2] == base
            expected = {f"{base}ix:{n}" for n in [*names, "gone"]} | {
                f"{base}map:m", f"{base}map:gone"}
            assert {k.decode() for k in raw.smembers(f"{base}derived")} == expected
            assert raw.zcard(f"{base}ix:{names[0]}") == 10
            await store.accounts.write(
                A, WriteBatch().index_remove_many([*names[:1000], "gone"], "e0")
                .index_remove_many(names[:1000], "e1").map_delete("gone", "f")
                .map_delete("never", "f").index_remove("never", "a")
            )
            assert {k.decode() for k in raw.smembers(f"{base}derived")} == expected - {
                f"{base}ix:gone", f"{base}map:gone"}
            assert raw.zcard(f"{base}ix:{names[0]}") == 8
            assert raw.zcard(f"{base}ix:{names[-1]}") == 10
            # a write that fails a check applies none of them
            with pytest.raises(ObjectExists):
                await store.accounts.write(
                    A, WriteBatch().create("Email", "e", {}).index_add_many(names, "late", 1)
                    .index_remove_many(names, "e2").map_set("late", "f", "v")
                )
            assert raw.zcard(f"{base}ix:{names[0]}") == 8
            assert raw.zscore(f"{base}ix:{names[0]}", "late") is None
            assert not raw.exists(f"{base}map:late")
            # a batch without derived writes sends none
            await store.accounts.write(A, WriteBatch().create("Email", "f", {}))
            assert sent[-1][-3:] == ["", base, ""]
        finally:
            store.accounts._redis.run_script = original  # type: ignore[attr-defined]
        await store.accounts.destroy_account(A)
        assert self.account_keys(raw) == set()

    @pytest_twisted.ensureDeferred
    async def test_destroy_account_leaves_no_key_of_indexes_or_maps(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        for account in (A, B):
            batch = WriteBatch().create("Email", "e", {})
            for n in range(30):
                batch.index_add(f"ix {n} {{x}}", "m", n).map_set(f"map:{n}", "f", "v")
            await store.accounts.write(account, batch)
        await store.blobs.put(A, b"blob")
        assert len(self.account_keys(raw)) > 60
        await store.accounts.destroy_account(A)
        assert self.account_keys(raw) == set()
        assert len(self.account_keys(raw, B)) > 60

    @pytest_twisted.ensureDeferred
    async def test_destroy_account_retries_when_indexes_appear_meanwhile(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(A, WriteBatch().index_add("ix", "a", 1))
        original = store.accounts._redis.execute  # type: ignore[attr-defined]
        interfered = []

        async def execute(*args: object) -> Any:
            reply = await original(*args)
            if args[0] == "SMEMBERS" and str(args[1]).endswith(":derived") and not interfered:
                interfered.append(True)  # a write lands between the read and the script
                await store.accounts.write(A, WriteBatch().map_set("late", "f", "v"))
            return reply

        store.accounts._redis.execute = execute  # type: ignore[attr-defined]
        try:
            await store.accounts.destroy_account(A)
        finally:
            store.accounts._redis.execute = original  # type: ignore[attr-defined]
        assert interfered
        assert self.account_keys(raw) == set()

    @pytest_twisted.ensureDeferred
    async def test_queries_leave_no_scratch_key(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(
            A, WriteBatch().index_add("x", "a", 1).index_add("x", "b", 2).index_add("y", "b", 3)
        )
        before = self.account_keys(raw)
        plans: list[Plan] = [
            Union((Index("x"), Index("y"))), Intersection((Index("x"), ScoreRange("y", 0, 9))),
            Difference(ScoreRange("x", 0, None), Index("y")), Union((Index("none"), Index("no"))),
        ]
        for plan in plans:
            await store.indexes.index_query(A, plan, limit=1)
        assert self.account_keys(raw) == before

    @pytest_twisted.ensureDeferred
    async def test_a_failing_query_leaves_no_scratch_key(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        await store.accounts.write(A, WriteBatch().index_add("x", "a", 1))
        raw.set(f"stx:{{a:{A}}}:ix:broken", "not a sorted set")
        before = self.account_keys(raw)
        with pytest.raises(StoreError):
            await store.indexes.index_query(
                A, Intersection((Union((Index("x"), Index("x2"))), Index("broken")))
            )
        assert self.account_keys(raw) == before

    @pytest_twisted.ensureDeferred
    async def test_a_single_index_or_range_is_read_in_place(
        self, store: StoreBundle, raw: redis_py.Redis
    ) -> None:
        batch = WriteBatch()
        for n in range(2000):
            batch.index_add("big", f"m{n:04}", n)
        await store.accounts.write(A, batch)
        copying = ("zrangestore", "zunionstore", "zinterstore", "zdiffstore", "zrangebyscore")
        before = self.command_calls(raw)
        page = await store.indexes.index_query(A, Index("big"), descending=True, offset=10, limit=3)
        assert page == IndexPage((("m1989", 1989.0), ("m1988", 1988.0), ("m1987", 1987.0)), 2000)
        page = await store.indexes.index_query(A, ScoreRange("big", 100, 1000), offset=5, limit=2)
        assert page == IndexPage((("m0105", 105.0), ("m0106", 106.0)), 900)
        page = await store.indexes.index_query(
            A, ScoreRange("big", 100, 1000), descending=True, offset=5, limit=2
        )
        assert page == IndexPage((("m0994", 994.0), ("m0993", 993.0)), 900)
        # unions and intersections of one part, and empty parts, collapse to a read in place
        page = await store.indexes.index_query(
            A, Intersection((Union((Index("big"), Union(()))),)), limit=1
        )
        assert page == IndexPage((("m0000", 0.0),), 2000)
        after = self.command_calls(raw)
        assert all(after.get(c, 0) == before.get(c, 0) for c in copying)
        assert after.get("zrange", 0) > before.get("zrange", 0)


@pytest_twisted.ensureDeferred
async def test_scratch_keys_of_queries_are_not_persisted(tmp_path: Path) -> None:
    """A query's scratch writes stay out of the AOF (and so out of replication); the derived
    writes of a batch go in."""
    with running_redis(tmp_path, "--appendonly", "yes", "--appendfsync", "always") as socket:
        store = await open_redis_store(f"unix://{socket}", reactor, timeout=5.0)
        try:
            await store.accounts.write(
                A, WriteBatch().index_add("x", "a", 1).index_add("y", "a", 2)
            )
            page = await store.indexes.index_query(
                A, Difference(Union((Index("x"), Index("y"))), ScoreRange("x", 5, None))
            )
            assert page == IndexPage((("a", 2.0),), 1)
        finally:
            await store.close()
        logged = b"".join(p.read_bytes() for p in tmp_path.rglob("*.aof*") if p.is_file())
    assert b"ix:x" in logged
    for scratch in (b"tmp:", b"ZUNIONSTORE", b"ZRANGESTORE", b"ZDIFFSTORE"):
        assert scratch.upper() not in logged.upper()


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


class TestRedisDueAccounts(DueAccountsConformance):
    pass
