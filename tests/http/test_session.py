"""The JMAP session resource over real HTTP: Basic and Bearer, 401, 429, 503, CORS, errors."""

from __future__ import annotations

import json
import time
from base64 import b64encode
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from stalwart_tx.auth import passwords
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.auth.tokens import new_token
from stalwart_tx.http.app import JMAPHttpApp
from stalwart_tx.http.site import DrainableSite
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.memory_directory import MemoryDirectory

PUBLIC = "https://mail.example.org"


@pytest.fixture(autouse=True)
def cheap_hashes() -> Any:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    yield
    passwords.use_hasher(previous)


@dataclass
class Server:
    base: str
    directory: MemoryDirectory
    limiter_clock: Clock
    alice_id: str
    alice_token: str
    outage: list[bool]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


async def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
    response = await treq.request(method, url, headers=headers or {})
    body = await response.content()
    return response, body


@pytest_twisted.async_yield_fixture
async def server() -> AsyncIterator[Server]:
    directory = MemoryDirectory()
    alice = await directory.create_principal("alice", passwords.hash_password("wonderland"))
    token, record = new_token(alice.id, "test", time.time())
    await directory.add_token(record)
    portal = build_portal(directory)
    outage = [False]

    def current_portal() -> Portal:
        if outage[0]:
            raise StoreUnavailable("test outage")
        return portal

    clock = Clock()
    app = JMAPHttpApp(current_portal, LoginRateLimiter(clock), PUBLIC)
    port = reactor.listenTCP(0, DrainableSite(app.resource()), interface="127.0.0.1")
    try:
        yield Server(
            f"http://127.0.0.1:{port.getHost().port}", directory, clock, alice.id, token, outage
        )
    finally:
        await maybeDeferred(port.stopListening)


@pytest_twisted.ensureDeferred
async def test_session_with_basic_auth(server: Server) -> None:
    response, body = await get(server.base + "/.well-known/jmap", basic("alice", "wonderland"))
    assert response.code == 200
    assert response.headers.getRawHeaders("Content-Type")[0].startswith("application/json")
    session = json.loads(body)
    core = session["capabilities"]["urn:ietf:params:jmap:core"]
    for limit in ("maxSizeUpload", "maxConcurrentUpload", "maxSizeRequest",
                  "maxConcurrentRequests", "maxCallsInRequest", "maxObjectsInGet",
                  "maxObjectsInSet", "collationAlgorithms"):
        assert limit in core
    assert session["username"] == "alice"
    assert session["accounts"] == {
        server.alice_id: {
            "name": "alice", "isPersonal": True, "isReadOnly": False,
            "accountCapabilities": session["accounts"][server.alice_id]["accountCapabilities"],
        }
    }
    # every capability module adds its own; core is always there, and each is primary here
    capabilities = session["accounts"][server.alice_id]["accountCapabilities"]
    assert capabilities["urn:ietf:params:jmap:core"] == {}
    assert session["primaryAccounts"] == {uri: server.alice_id for uri in capabilities}
    assert session["apiUrl"] == PUBLIC + "/jmap/api/"
    assert session["downloadUrl"] == (
        PUBLIC + "/jmap/download/{accountId}/{blobId}/{name}?type={type}"
    )
    assert session["uploadUrl"] == PUBLIC + "/jmap/upload/{accountId}/"
    assert session["eventSourceUrl"] == (
        PUBLIC + "/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}"
    )
    assert isinstance(session["state"], str) and session["state"]
    assert response.headers.getRawHeaders("Access-Control-Allow-Origin") == ["*"]


@pytest_twisted.ensureDeferred
async def test_session_state_is_stable_and_alias_path_matches(server: Server) -> None:
    _, first = await get(server.base + "/.well-known/jmap", basic("alice", "wonderland"))
    _, second = await get(server.base + "/jmap/session", basic("ALICE", "wonderland"))
    assert json.loads(first) == json.loads(second)


@pytest_twisted.ensureDeferred
async def test_session_with_bearer_token_and_revocation(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.alice_token}"}
    response, body = await get(server.base + "/.well-known/jmap", headers)
    assert response.code == 200
    assert json.loads(body)["username"] == "alice"
    token_id = server.alice_token.split("_")[1]
    await server.directory.revoke_token(token_id)
    response, _ = await get(server.base + "/.well-known/jmap", headers)
    assert response.code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + b64encode(b"no-colon").decode()},
        {"Authorization": "Digest username=alice"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer stx_abc_def"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_unauthenticated_gets_401_with_both_challenges(
    server: Server, headers: dict[str, str]
) -> None:
    response, body = await get(server.base + "/.well-known/jmap", headers)
    assert response.code == 401
    challenges = response.headers.getRawHeaders("WWW-Authenticate")
    assert any(c.startswith("Basic ") for c in challenges)
    assert any(c.startswith("Bearer ") for c in challenges)
    problem = json.loads(body)
    assert problem["status"] == 401
    assert response.headers.getRawHeaders("Content-Type") == ["application/problem+json"]


@pytest_twisted.ensureDeferred
async def test_wrong_user_and_wrong_password_look_identical(server: Server) -> None:
    wrong_password = await get(server.base + "/.well-known/jmap", basic("alice", "nope"))
    wrong_user = await get(server.base + "/.well-known/jmap", basic("mallory", "nope"))
    assert wrong_password[0].code == wrong_user[0].code == 401
    assert wrong_password[1] == wrong_user[1]
    assert (wrong_password[0].headers.getRawHeaders("WWW-Authenticate")
            == wrong_user[0].headers.getRawHeaders("WWW-Authenticate"))


@pytest_twisted.ensureDeferred
async def test_failed_logins_are_rate_limited_with_retry_after(server: Server) -> None:
    url = server.base + "/.well-known/jmap"
    codes = []
    for _ in range(12):
        response, _ = await get(url, basic("alice", "guess"))
        codes.append(response.code)
    assert codes[0] == 401
    assert codes[-1] == 429
    response, body = await get(url, basic("alice", "wonderland"))
    assert response.code == 429, "a locked account stays locked even for the right password"
    retry_after = int(response.headers.getRawHeaders("Retry-After")[0])
    assert retry_after >= 1
    assert json.loads(body)["status"] == 429
    server.limiter_clock.advance(retry_after + 1)
    response, _ = await get(url, basic("alice", "wonderland"))
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_store_outage_gives_503_problem(server: Server) -> None:
    server.outage[0] = True
    response, body = await get(server.base + "/.well-known/jmap", basic("alice", "wonderland"))
    assert response.code == 503
    assert int(response.headers.getRawHeaders("Retry-After")[0]) > 0
    problem = json.loads(body)
    assert problem["status"] == 503 and problem["title"]
    server.outage[0] = False
    response, _ = await get(server.base + "/.well-known/jmap", basic("alice", "wonderland"))
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_cors_preflight(server: Server) -> None:
    response, body = await get(
        server.base + "/.well-known/jmap",
        {
            "Origin": "https://webmail.example.net",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        method="OPTIONS",
    )
    assert response.code == 204
    assert body == b""
    assert response.headers.getRawHeaders("Access-Control-Allow-Origin") == ["*"]
    assert "GET" in response.headers.getRawHeaders("Access-Control-Allow-Methods")[0]
    allowed = response.headers.getRawHeaders("Access-Control-Allow-Headers")[0].lower()
    assert "authorization" in allowed
    assert int(response.headers.getRawHeaders("Access-Control-Max-Age")[0]) > 0


@pytest_twisted.ensureDeferred
async def test_unknown_path_and_method_give_problem_json(server: Server) -> None:
    response, body = await get(server.base + "/no/such/thing", basic("alice", "wonderland"))
    assert response.code == 404
    assert json.loads(body)["status"] == 404
    response, body = await get(server.base + "/.well-known/jmap", method="DELETE")
    assert response.code == 405
    assert json.loads(body)["status"] == 405
    assert b"Traceback" not in body


@pytest_twisted.ensureDeferred
async def test_password_file_user_is_provisioned_on_first_login(tmp_path: Any) -> None:
    from stalwart_tx.auth.checkers import parse_auth_option

    password_file = tmp_path / "htpasswd"
    password_file.write_text(f"dora:{passwords.hash_password('explorer')}\n")
    directory = MemoryDirectory()
    portal = build_portal(directory, [parse_auth_option(f"file:{password_file}")],
                          auto_provision=True)
    app = JMAPHttpApp(lambda: portal, LoginRateLimiter(Clock()), PUBLIC)
    port = reactor.listenTCP(0, DrainableSite(app.resource()), interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/.well-known/jmap"
        response, body = await get(url, basic("dora", "explorer"))
        assert response.code == 200
        session = json.loads(body)
        dora = await directory.find_principal("dora")
        assert dora.password_hash is None, "the password file owns the password"
        assert list(session["accounts"]) == [dora.id]
        response, _ = await get(url, basic("dora", "wrong"))
        assert response.code == 401
        response, _ = await get(url, basic("eve", "explorer"))
        assert response.code == 401
        assert [p.name for p in await directory.list_principals()] == ["dora"]
    finally:
        await maybeDeferred(port.stopListening)
