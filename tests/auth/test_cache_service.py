"""The credentials cache in the assembled service: Core/echo with HTTP Basic over a real port and a
real Redis, verifications counted on argon2 itself, with auth-cache-ttl at its default and at 0."""

from __future__ import annotations

import io
import json
from base64 import b64encode
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred

from stalwart_tx.admin.cli import build_parser, run
from stalwart_tx.auth import passwords
from stalwart_tx.config import build_config
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import open_redis_store
from tests.auth.test_cache import CountingHasher, hasher  # noqa: F401  (the fixture)
from tests.service_process import free_port

ECHO = json.dumps({"using": [CORE], "methodCalls": [["Core/echo", {"x": 1}, "c"]]}).encode()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


async def echo(base: str, user: str, password: str) -> int:
    response = await treq.post(base + "/jmap/api/", headers=basic(user, password), data=ECHO)
    body = await response.content()
    if response.code == 200:
        assert json.loads(body)["methodResponses"] == [["Core/echo", {"x": 1}, "c"]]
    return int(response.code)


async def passwd(redis_url: str, name: str, password: str) -> None:
    args = build_parser().parse_args(
        ["--redis", redis_url, "--timeout", "2", "user", "passwd", name, "--password", password]
    )
    await run(reactor, args, io.StringIO(), io.StringIO())


@pytest_twisted.async_yield_fixture(params=[None, "0"], ids=["default", "ttl0"])
async def service(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path, hasher: CountingHasher  # noqa: F811
) -> AsyncIterator[tuple[str, str, bool]]:
    admin = await open_redis_store(redis_url, reactor)
    try:
        await admin.directory.create_principal("alice", passwords.hash_password("wonderland"))
    finally:
        await admin.close()
    port = free_port()
    settings = {
        "data": str(tmp_path), "redis": redis_url, "jmap": f"tcp:{port}:interface=127.0.0.1",
    }
    if request.param is not None:
        settings["auth-cache-ttl"] = request.param
    service = makeService(build_config(settings), reactor)
    await maybeDeferred(service.startService)
    try:
        yield f"http://127.0.0.1:{port}", redis_url, request.param is None
    finally:
        await maybeDeferred(service.stopService)


@pytest_twisted.ensureDeferred
async def test_basic_auth_on_every_request(
    service: tuple[str, str, bool], hasher: CountingHasher  # noqa: F811
) -> None:
    base, redis_url, caching = service
    for _ in range(5):
        assert await echo(base, "alice", "wonderland") == 200
    assert hasher.verifications == (1 if caching else 5)

    before = hasher.verifications
    assert await echo(base, "alice", "wrong") == 401
    assert await echo(base, "nobody", "wonderland") == 401
    assert hasher.verifications == before + 2

    await passwd(redis_url, "alice", "looking-glass")
    before = hasher.verifications
    assert await echo(base, "alice", "wonderland") == 401
    assert await echo(base, "alice", "looking-glass") == 200
    assert await echo(base, "alice", "looking-glass") == 200
    assert hasher.verifications == before + (2 if caching else 3)
