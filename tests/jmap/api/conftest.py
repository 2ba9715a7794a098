"""An in-process JMAP HTTP server on a real port, with a store, a user and a chosen registry."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from stalwart_tx.auth import passwords
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.auth.tokens import new_token
from stalwart_tx.http.app import JMAPHttpApp
from stalwart_tx.http.site import DrainableSite
from stalwart_tx.jmap.api import ContextFactory
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.store.backend import StoreBundle, open_memory_store
from stalwart_tx.store.errors import StoreUnavailable
from tests.jmap.api.methods_for_tests import TEST, registry_for_tests

PUBLIC = "https://mail.example.org"


@pytest.fixture(autouse=True)
def cheap_hashes() -> Any:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    yield
    passwords.use_hasher(previous)


@dataclass
class Reply:
    code: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return str(self.headers.getRawHeaders("Content-Type", [""])[0])


@dataclass
class ApiServer:
    base: str
    app: JMAPHttpApp
    store: StoreBundle
    user_id: str
    token: str
    other_token: str
    other_user_id: str
    # While true the store callable raises StoreUnavailable, as StoreService does before opening.
    store_down: bool = False

    @property
    def api_url(self) -> str:
        return self.base + "/jmap/api/"

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def post(
        self,
        body: bytes | str | object,
        *,
        content_type: str | None = "application/json",
        token: str | None = None,
        url: str | None = None,
    ) -> Reply:
        """POST ``body`` (bytes or str as is, anything else as JSON) to the API URL."""
        if isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        headers = self.auth(token)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await treq.post(url or self.api_url, data=data, headers=headers)
        return Reply(response.code, response.headers, await response.content())

    async def call(
        self, *calls: list[Any], using: list[str] | None = None, **request: Any
    ) -> dict[str, Any]:
        """Send a request with ``calls``; assert it succeeded; return the Response object."""
        reply = await self.post(
            {"using": using if using is not None else [CORE, TEST], "methodCalls": list(calls),
             **request}
        )
        assert reply.code == 200, reply.body
        assert reply.content_type == "application/json; charset=utf-8"
        response: dict[str, Any] = reply.json()
        return response

    async def session(self) -> dict[str, Any]:
        response = await treq.get(self.base + "/.well-known/jmap", headers=self.auth())
        assert response.code == 200
        result: dict[str, Any] = json.loads(await response.content())
        return result




@dataclass
class MethodCaller:
    """One method call alone in a request to POST /jmap/api/, using ``USING``."""

    server: ApiServer
    USING: ClassVar[list[str]] = [CORE]

    @property
    def account(self) -> str:
        return self.server.user_id

    async def response(self, *calls: list[Any], **extra: Any) -> dict[str, Any]:
        return await self.server.call(*calls, using=self.USING, **extra)

    def defaults_account(self, method: str) -> bool:
        return True

    async def invoke(self, method: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
        """The call's one response (accountId defaults to the user's)."""
        if self.defaults_account(method):
            arguments.setdefault("accountId", self.account)
        response = await self.response([method, arguments, "c0"])
        [[name, result, call_id]] = response["methodResponses"]
        assert call_id == "c0"
        return name, result

    async def ok(self, method: str, **arguments: Any) -> dict[str, Any]:
        name, result = await self.invoke(method, **arguments)
        assert name == method, result
        return result

    async def error(self, method: str, error_type: str, **arguments: Any) -> dict[str, Any]:
        name, result = await self.invoke(method, **arguments)
        assert name == "error", result
        assert result["type"] == error_type, result
        return result


StartServer = Callable[..., Awaitable[ApiServer]]


@pytest_twisted.async_yield_fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start servers with a chosen registry, limits, context factory or store; stopped after."""
    ports: list[Any] = []

    async def start(
        *,
        limits: CoreLimits | None = None,
        registry: MethodRegistry | None = None,
        context_factory: ContextFactory = RequestContext,
        store: StoreBundle | None = None,
    ) -> ApiServer:
        limits = limits or CoreLimits()
        bundle = store or await open_memory_store()
        alice = await bundle.directory.create_principal(
            "alice", passwords.hash_password("wonderland")
        )
        bob = await bundle.directory.create_principal("bob", None)
        tokens = []
        for principal in (alice, bob):
            token, record = new_token(principal.id, "test", time.time())
            await bundle.directory.add_token(record)
            tokens.append(token)
        servers: list[ApiServer] = []

        def current_store() -> StoreBundle:
            if servers[0].store_down:
                raise StoreUnavailable("test outage")
            return bundle

        portal = build_portal(bundle.directory)
        app = JMAPHttpApp(
            lambda: portal, LoginRateLimiter(Clock()), PUBLIC, limits,
            registry=registry or registry_for_tests(limits), store=current_store,
            reactor=reactor, context_factory=context_factory,
        )
        port = reactor.listenTCP(0, DrainableSite(app.resource()), interface="127.0.0.1")
        ports.append(port)
        servers.append(ApiServer(
            f"http://127.0.0.1:{port.getHost().port}", app, bundle, alice.id, tokens[0],
            tokens[1], bob.id,
        ))
        return servers[0]

    yield start
    for port in ports:
        await maybeDeferred(port.stopListening)


@pytest_twisted.async_yield_fixture
async def server(start_server: StartServer) -> AsyncIterator[ApiServer]:
    """A server with default limits and the test registry."""
    yield await start_server()


def assert_problem(reply: Reply, error_type: str, status: int = 400, **extra: object) -> None:
    """An RFC 7807 problem with the JMAP request-level error type of RFC 8620 §3.6.1."""
    assert reply.code == status, reply.body
    assert reply.content_type == "application/problem+json"
    body = reply.json()
    assert body["type"] == "urn:ietf:params:jmap:error:" + error_type
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["title"], str) and body["title"]
    for name, value in extra.items():
        assert body[name] == value
    assert b"Traceback" not in reply.body
    assert reply.headers.getRawHeaders("Access-Control-Allow-Origin") == ["*"]


def error_of(response: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The error object of the method response at ``index``, asserting it is one."""
    name, arguments, _ = response["methodResponses"][index]
    assert name == "error", response["methodResponses"][index]
    assert isinstance(arguments, dict)
    return arguments
