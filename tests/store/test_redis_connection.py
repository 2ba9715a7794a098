"""The pool connection's request path against a real Redis: commands sent at once while nothing
waits before them, the rest in order behind them, and every reply paired with its own command,
also after a reply came too late and the connection was dropped for it; and its encoding of
commands and decoding of replies, the same as txredisapi's own."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import pytest_twisted
import txredisapi
from twisted.internet import defer, reactor, task

from stalwart_tx import send_now
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.redis.connection import RedisConnection, _PoolProtocol
from stalwart_tx.store.redis.unix_endpoint import PlainReadClient
from stalwart_tx.store.redis.url import parse_redis_url
from tests.redis_process import redis_command, running_redis
from tests.store.test_redis_availability import fails_in_time


def _gather(*calls: object) -> defer.Deferred[list[object]]:
    return defer.gatherResults(
        [defer.Deferred.fromCoroutine(c) for c in calls],  # type: ignore[arg-type]
        consumeErrors=True,
    )


@pytest_twisted.ensureDeferred
async def test_a_large_command_and_many_small_ones_keep_their_order(tmp_path: Path) -> None:
    # 8 MB cannot leave in one send: the rest must go out before the commands issued after it
    big = os.urandom(8 * 2**20)
    with running_redis(tmp_path / "redis") as path:
        connection = RedisConnection(parse_redis_url(f"unix://{path}"), reactor)
        try:
            await connection.execute("PING")
            calls = [connection.execute("SET", "big", big)]
            calls += [connection.execute("INCR", f"n{i % 7}") for i in range(300)]
            calls += [connection.execute("SET", f"k{i}", f"v{i}") for i in range(100)]
            answers = await _gather(*calls)
            assert answers[0] == "OK"
            counts = answers[1:301]
            for key in range(7):  # each key's INCRs answered 1, 2, 3, ... in the order sent
                mine = [counts[i] for i in range(300) if i % 7 == key]
                assert mine == list(range(1, len(mine) + 1))
            assert answers[301:] == ["OK"] * 100
            stored = await connection.execute("GET", "big")
            assert (stored.encode() if isinstance(stored, str) else stored) == big
            got = await _gather(*(connection.execute("GET", f"k{i}") for i in range(100)))
            assert got == [f"v{i}" for i in range(100)]
        finally:
            await connection.close()


@pytest_twisted.ensureDeferred
async def test_a_reply_too_late_is_never_taken_for_a_later_command(tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis") as path:
        connection = RedisConnection(
            parse_redis_url(f"unix://{path}"), reactor, timeout=0.5
        )
        try:
            await connection.execute("SET", "early", "early value")
            await connection.execute("SET", "late", "late value")
            # Redis stops answering for a while: the calls sent meanwhile time out
            info = redis_command(path, "INFO", "server").decode()
            pid = int(info.split("process_id:")[1].split()[0])
            os.kill(pid, signal.SIGSTOP)
            try:
                late = [connection.execute("GET", "early") for _ in range(3)]
                for call in late:
                    await fails_in_time(call, timeout=0.5)
            finally:
                os.kill(pid, signal.SIGCONT)
            # the answers to the timed-out calls arrive now; none may answer the next calls
            deadline = time.monotonic() + 5
            while True:
                try:
                    assert await connection.execute("GET", "late") == "late value"
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline, "Redis never came back"
            got = await _gather(*(connection.execute("GET", k) for k in ("late", "early") * 20))
            assert got == ["late value", "early value"] * 20
        finally:
            await connection.close()


@pytest_twisted.ensureDeferred
async def test_a_connection_keeps_one_timer_for_all_the_replies_it_awaits(tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis") as path:
        connection = RedisConnection(parse_redis_url(f"unix://{path}"), reactor)
        try:
            await connection.execute("PING")
            before = len(reactor.getDelayedCalls())
            calls = [defer.Deferred.fromCoroutine(connection.execute("INCR", "n"))
                     for _ in range(200)]
            # 200 replies awaited at once: one timer among them, not one each
            assert len(reactor.getDelayedCalls()) <= before + 1
            assert await defer.gatherResults(calls) == list(range(1, 201))
            assert len(reactor.getDelayedCalls()) <= before  # and none once all came
        finally:
            await connection.close()


@pytest_twisted.ensureDeferred
async def test_unix_connections_read_with_recv_and_see_the_server_go(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    with running_redis(directory) as path:
        connection = RedisConnection(parse_redis_url(f"unix://{path}"), reactor, timeout=1.0)
        try:
            await connection.execute("PING")
            pool = connection._handler._factory.pool
            # (the transport under the send-at-once wrapper)
            assert pool and all(isinstance(c.transport._transport, PlainReadClient) for c in pool)
            # a reply of many reads arrives whole
            value = os.urandom(3 * 2**20)
            await connection.execute("SET", "v", value)
            stored = await connection.execute("GET", "v")
            assert (stored.encode() if isinstance(stored, str) else stored) == value
        except BaseException:
            await connection.close()
            raise
    # the server is gone: the connections notice (a call fails instead of waiting forever)
    try:
        deadline = time.monotonic() + 5
        while any(c.connected for c in connection._handler._factory.pool):
            assert time.monotonic() < deadline, "a connection did not see the server go"
            await task.deferLater(reactor, 0.05, lambda: None)
        with pytest.raises(StoreUnavailable):
            await connection.execute("PING")
    finally:
        await connection.close()


@pytest.mark.parametrize("command", [
    ("SET", "k", "v"),
    ("EVALSHA", "abc", 2, "k1", b"\xff\x00", 0, -3, "ü€ 陈", "", b""),
    ("X", True, None, bytearray(b"ab"), 10**20, 3.0e-7),
])
def test_commands_are_the_bytes_txredisapi_would_send(command: tuple[object, ...]) -> None:
    library = txredisapi.RedisProtocol(charset="utf-8", convertNumbers=False)
    ours = _PoolProtocol(charset="utf-8", convertNumbers=False)
    expected = library._build_command(*command)
    if any(isinstance(arg, float) for arg in command):
        # a float goes as its shortest text where txredisapi wrote six decimals (3e-07 was
        # 0.000000); the rest is the same
        expected = library._build_command(
            *(repr(arg) if isinstance(arg, float) else arg for arg in command)
        )
    assert ours._build_command(*command) == expected


@pytest.mark.parametrize("value", [1.5, 3.0e-7, 1795962625.954237, -0.25, 1e300])
@pytest_twisted.ensureDeferred
async def test_a_float_argument_reaches_redis_exactly(redis_url: str, value: float) -> None:
    connection = RedisConnection(parse_redis_url(redis_url), reactor, timeout=5.0)
    try:
        await connection.execute("ZADD", "float-test", value, "m")
        assert float(await connection.execute("ZSCORE", "float-test", "m")) == value
    finally:
        await connection.execute("DEL", "float-test")
        await connection.close()


def test_a_lone_surrogate_is_refused_as_txredisapi_refuses_it() -> None:
    with pytest.raises(txredisapi.InvalidData):
        _PoolProtocol(charset="utf-8")._build_command("SET", "k", "\ud800")


@pytest.mark.parametrize("reply", [
    b"abc", b"\xff\xfe", [b"a", [b"\xc3\xa9", 5, None, b"\x80"], 1.5], 7, None,
])
def test_replies_decode_as_txredisapi_decodes_them(reply: object) -> None:
    library = txredisapi.RedisProtocol(charset="utf-8", convertNumbers=False)
    ours = _PoolProtocol(charset="utf-8", convertNumbers=False)
    assert repr(ours.tryConvertData(reply)) == repr(library.tryConvertData(reply))


@pytest_twisted.ensureDeferred
async def test_commands_issued_while_a_batch_is_open_leave_in_one_send(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the reads a method starts side by side, and the commands the replies of one read set off,
    # leave together: one send (and one read in Redis) instead of one each
    connection = RedisConnection(parse_redis_url(redis_url), reactor)
    try:
        await connection.execute("PING")
        sent: list[bytes] = []
        original = send_now.write

        def write(transport: object, data: bytes) -> None:
            sent.append(data)
            original(transport, data)

        monkeypatch.setattr(send_now, "write", write)
        # go on from a timer, not inside the batch the PING reply's handling holds open
        await task.deferLater(reactor, 0, lambda: None)
        send_now.open_batch()
        try:
            calls = [connection.execute("SET", f"b{i}", str(i)) for i in range(3)]
            gathered = _gather(*calls)
            send_now.open_batch()  # nested: only the outermost close sends
            calls = [connection.execute("INCR", "b0")]
            send_now.close_batch()
            assert sent == []
        finally:
            send_now.close_batch()
        assert len(sent) == 1 and sent[0].count(b"SET") == 3
        assert await gathered == ["OK"] * 3
        assert await _gather(*calls) == [1]
        # outside a batch each command leaves at once
        await task.deferLater(reactor, 0, lambda: None)
        sent.clear()
        reads = _gather(connection.execute("GET", "b1"), connection.execute("GET", "b2"))
        assert len(sent) == 2
        assert await reads == ["1", "2"]
    finally:
        await connection.close()
