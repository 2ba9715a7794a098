"""The blob methods on the real API layer, over a memory or a real Redis store.

``env`` runs requests through JMAPApi (dispatch, result references, creation ids, account checks)
for a user who may use two accounts: their own and ``SHARED`` (to copy blobs between). The mail
data types are not written yet, so a stand-in registers how "Email" objects reference blobs and
how "Mailbox" and "Thread" do through them, as the Email module will.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer

from stalwart_tx.auth import passwords
from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.auth.tokens import new_token
from stalwart_tx.http.app import JMAPHttpApp
from stalwart_tx.http.blobs import BlobHttp
from stalwart_tx.http.site import DrainableSite
from stalwart_tx.jmap import core_methods
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.blob_methods import blob_capability, make_methods
from stalwart_tx.jmap.blob_refs import BlobReferenceRegistry
from stalwart_tx.jmap.capabilities import BLOB, CORE, MAIL
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import CapabilitySpec, MethodRegistry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from stalwart_tx.store.records import JSONObject, WriteBatch

USER = "alice1"
SHARED = "shared1"


class TwoAccountContext(RequestContext):
    def account_ids(self) -> list[str]:
        return [self.user.account_id, SHARED]


def email_blob_ids(email: JSONObject) -> list[object]:
    return [email.get("blobId"), *(a.get("blobId") for a in email.get("attachments", []))]


def mail_references() -> BlobReferenceRegistry:
    references = BlobReferenceRegistry()
    references.register("Email", MAIL, email_blob_ids)
    references.register_derived(
        "Mailbox", MAIL, via="Email", ids=lambda email: email.get("mailboxIds", {})
    )
    references.register_derived(
        "Thread", MAIL, via="Email", ids=lambda email: [email.get("threadId")]
    )
    return references


def blob_registry(limits: CoreLimits, references: BlobReferenceRegistry) -> MethodRegistry:
    registry = MethodRegistry()
    registry.add_capability(core_methods.core_capability(limits))
    registry.add_capability(blob_capability(limits, references))
    # stands in for the mail capability, so requests may use it and Blob/lookup its types
    registry.add_capability(CapabilitySpec(MAIL, dict, lambda account_id: {}))
    registry.add_methods([*core_methods.METHODS, *make_methods(references)])
    return registry


async def open_store(kind: str, request: pytest.FixtureRequest) -> StoreBundle:
    if kind == "memory":
        return await open_memory_store()
    redis_url: str = request.getfixturevalue("redis_url")
    return await open_redis_store(redis_url, reactor, timeout=5.0)


@dataclass
class Env:
    store: StoreBundle
    api: JMAPApi
    user: MailUser
    references: BlobReferenceRegistry
    limits: CoreLimits

    @property
    def account(self) -> str:
        return self.user.account_id

    async def request(self, *calls: list[Any], using: list[str] | None = None) -> list[Any]:
        """The methodResponses of a request with ``calls`` (core, blob and mail used)."""
        response = await self.api.process_request(
            self.user, {"using": using or [CORE, BLOB, MAIL], "methodCalls": list(calls)}
        )
        # as the client sees them: each response a JSON array
        return [list(invocation) for invocation in response["methodResponses"]]

    async def call(self, name: str, arguments: JSONObject, **options: Any) -> JSONObject:
        """The arguments of the single response to one call of ``name`` (asserted not an error)."""
        [(response_name, result, call_id)] = await self.request(
            [name, {"accountId": self.account, **arguments}, "c0"], **options
        )
        assert (response_name, call_id) == (name, "c0"), result
        return result

    async def error(self, name: str, arguments: JSONObject, **options: Any) -> JSONObject:
        """The method error a single call of ``name`` gets."""
        [(response_name, result, _)] = await self.request([name, arguments, "c0"], **options)
        assert response_name == "error", result
        return result

    async def write_email(
        self, email_id: str, value: JSONObject, previous: JSONObject | None = None
    ) -> None:
        """What Email/set will do: write the object with its blob claims in one batch."""
        batch = WriteBatch()
        if previous is None:
            batch.create("Email", email_id, value)
        else:
            batch.update("Email", email_id, value)
        self.references.add_claims(
            batch, {("Email", email_id): previous} if previous is not None else {}
        )
        await self.store.accounts.write(self.account, batch)


async def make_env(store: StoreBundle, limits: CoreLimits | None = None) -> Env:
    limits = limits or CoreLimits()
    references = mail_references()
    api = JMAPApi(
        blob_registry(limits, references), limits, store=lambda: store, reactor=reactor,
        urls=SessionUrls.under("https://mail.example.org"), context_factory=TwoAccountContext,
    )
    return Env(store, api, MailUser(USER, "alice"), references, limits)


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StoreBundle]:
    bundle = await open_store(request.param, request)
    yield bundle
    await bundle.close()


@pytest_twisted.async_fixture
async def env(store: StoreBundle) -> Env:
    return await make_env(store)


# -- an HTTP server on a real port ------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_hashes() -> Any:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    yield
    passwords.use_hasher(previous)


@dataclass
class Reply:
    code: int
    headers: Headers
    body: bytes
    # the declared Content-Length (twisted's client keeps it apart from the other headers)
    length: int | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None


@dataclass
class HttpServer:
    base: str
    store: StoreBundle
    app: JMAPHttpApp
    alice: str
    bob: str
    tokens: dict[str, str]

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def upload_url(self, account_id: str) -> str:
        return f"{self.base}/jmap/upload/{account_id}/"

    def download_url(self, account_id: str, blob_id: str, name: str = "file.bin",
                     media_type: str | None = None) -> str:
        url = f"{self.base}/jmap/download/{account_id}/{blob_id}/{quote(name, safe='')}"
        return url if media_type is None else f"{url}?type={quote(media_type, safe='')}"

    async def upload(
        self, data: bytes | IBodyProducer, content_type: str | None = "application/octet-stream",
        *, user: str = "alice", account_id: str | None = None,
    ) -> Reply:
        headers = self.auth(user)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await treq.post(
            self.upload_url(account_id or getattr(self, user)), data=data, headers=headers
        )
        return await reply_of(response)

    async def get(self, url: str, headers: dict[str, str] | None = None, *,
                  user: str = "alice", method: str = "GET") -> Reply:
        response = await treq.request(method, url, headers={**self.auth(user), **(headers or {})})
        return await reply_of(response)

    async def api(self, *calls: list[Any]) -> list[Any]:
        response = await treq.post(
            self.base + "/jmap/api/", headers={**self.auth(), "Content-Type": "application/json"},
            data=json.dumps({"using": [CORE, BLOB], "methodCalls": list(calls)}).encode(),
        )
        assert response.code == 200
        responses: list[Any] = json.loads(await response.content())["methodResponses"]
        return responses


async def reply_of(response: Any) -> Reply:
    length = response.length if isinstance(response.length, int) else None
    return Reply(response.code, response.headers, await response.content(), length)


StartHttp = Callable[..., Awaitable[HttpServer]]


@pytest_twisted.async_yield_fixture
async def start_http(request: pytest.FixtureRequest) -> AsyncIterator[StartHttp]:
    """Start in-process servers (memory store unless told) with users alice and bob."""
    ports: list[Any] = []
    bundles: list[StoreBundle] = []

    async def start(
        *, store_kind: str = "memory", limits: CoreLimits | None = None,
        blobs: Callable[[Callable[[], StoreBundle], CoreLimits], BlobHttp] | None = None,
    ) -> HttpServer:
        limits = limits or CoreLimits()
        bundle = await open_store(store_kind, request)
        bundles.append(bundle)
        tokens: dict[str, str] = {}
        ids: dict[str, str] = {}
        for name in ("alice", "bob"):
            principal = await bundle.directory.create_principal(name, None)
            token, record = new_token(principal.id, "test", time.time())
            await bundle.directory.add_token(record)
            tokens[name], ids[name] = token, principal.id
        app = JMAPHttpApp(
            lambda: build_portal(bundle.directory), LoginRateLimiter(Clock()),
            "https://mail.example.org", limits, store=lambda: bundle, reactor=reactor,
            blobs=blobs(lambda: bundle, limits) if blobs is not None else None,
        )
        port = reactor.listenTCP(0, DrainableSite(app.resource()), interface="127.0.0.1")
        ports.append(port)
        return HttpServer(
            f"http://127.0.0.1:{port.getHost().port}", bundle, app, ids["alice"], ids["bob"],
            tokens,
        )

    yield start
    for port in ports:
        await maybeDeferred(port.stopListening)
    for bundle in bundles:
        await bundle.close()


@pytest_twisted.async_fixture
async def http(start_http: StartHttp) -> HttpServer:
    return await start_http()
