"""The JMAP HTTP endpoint: routes parse and authenticate, the JMAP layer answers.

Errors become responses here and nowhere else: 401 with both challenges, 429 with Retry-After when
the login limiter says so, 503 with Retry-After when the store is unreachable, and a problem JSON
body for every error, never a traceback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.cred.portal import Portal
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.exceptions import HTTPException, NotFound

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.portal import authenticate
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.http.authorization import CHALLENGES, parse_authorization
from stalwart_tx.http.blobs import BlobHttp
from stalwart_tx.http.cors import add_cors_headers, answer_preflight
from stalwart_tx.http.eventsource import EventStreams
from stalwart_tx.http.problems import json_body, problem, with_length
from stalwart_tx.http.websocket import JMAPWebSockets
from stalwart_tx.jmap.api import ContextFactory, JMAPApi
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import RequestError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable

UNAVAILABLE_RETRY_AFTER = 5


class NotAuthenticated(Exception):
    """The request carried no usable credentials."""


def store_not_configured() -> StoreBundle:
    raise StoreUnavailable("no store was given to the HTTP app")


def is_json_content_type(header: bytes | None) -> bool:
    """A POST body we parse: ``application/json`` with any parameters, or no Content-Type at all.

    Some clients in the wild send none. Anything else (a form, text/plain) gets notJSON, which
    RFC 8620 §3.6.1 defines as "the content type of the request was not application/json or the
    request did not parse as I-JSON", rather than a guess at what it meant.
    """
    if header is None:
        return True
    media_type = header.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json"


class JMAPHttpApp:
    app = Klein()
    log = Logger()

    def __init__(
        self,
        portal: Callable[[], Portal],
        limiter: LoginRateLimiter,
        public_url: str,
        limits: CoreLimits | None = None,
        *,
        registry: MethodRegistry | None = None,
        store: Callable[[], StoreBundle] = store_not_configured,
        reactor: Any = None,
        context_factory: ContextFactory = RequestContext,
        event_streams: EventStreams | None = None,
        web_sockets: JMAPWebSockets | None = None,
        blobs: BlobHttp | None = None,
    ) -> None:
        # Push (RFC 8620 §7.3, RFC 8887); without them those routes answer 404.
        self.event_streams = event_streams
        self.web_sockets = web_sockets
        self.portal = portal
        self.limiter = limiter
        self.urls = SessionUrls.under(public_url)
        self.limits = limits or CoreLimits()
        # upload and download (RFC 8620 §6), on the same store as the API
        self.blobs = blobs or BlobHttp(store, self.limits)
        if reactor is None:
            from twisted.internet import reactor
        self.api = JMAPApi(
            registry or default_registry(self.limits, public_url=public_url),
            self.limits,
            store=store,
            reactor=reactor,
            urls=self.urls,
            context_factory=context_factory,
        )

    def resource(self) -> Any:
        return self.app.resource()

    async def _authenticated_user(self, request: IRequest) -> IMailUser:
        presented = parse_authorization(request.getHeader(b"Authorization"))
        if presented is None:
            raise NotAuthenticated()
        peer = request.getClientAddress()
        address = getattr(peer, "host", None) or "unix"
        return await authenticate(
            self.portal(), presented.credentials, self.limiter, presented.limit_key, address
        )

    @app.route("/", branch=True, methods=["OPTIONS"])
    def preflight(self, request: IRequest) -> bytes:
        return answer_preflight(request)

    @app.route("/.well-known/jmap", methods=["GET"])
    @app.route("/jmap/session", methods=["GET"])
    async def session(self, request: IRequest) -> bytes:
        add_cors_headers(request)
        user = await self._authenticated_user(request)
        session = self.api.session(user)
        request.setHeader(b"Cache-Control", b"no-cache, no-store, must-revalidate")
        return json_body(request, session)

    @app.route("/jmap/api", methods=["POST"])
    @app.route("/jmap/api/", methods=["POST"])
    async def api_request(self, request: IRequest) -> bytes:
        """RFC 8620 §3.1: a Request object in the POST body, the Response object back."""
        add_cors_headers(request)
        user = await self._authenticated_user(request)
        if not is_json_content_type(request.getHeader(b"Content-Type")):
            raise RequestError.not_json("The content type of the request must be application/json.")
        body = self._read_body(request)
        started = time.perf_counter()
        response = await self.api.process_body(user, body)
        payload = self.api.encode_response(response)
        # W3C Server-Timing: the time the method calls took here, for clients and benchmarks
        # to tell the server's part of a round trip from the network's
        elapsed_ms = (time.perf_counter() - started) * 1000
        request.setHeader(b"Server-Timing", b"api;dur=%.2f" % elapsed_ms)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        return with_length(request, payload)

    def _read_body(self, request: IRequest) -> bytes:
        """The body, refusing one over maxSizeRequest by its Content-Length before reading it.

        A chunked body has no length up front: at most one byte past the limit is read.
        twisted.web has spooled the body to a temporary file by now, so none of this is memory.
        """
        declared = request.getHeader(b"Content-Length")
        if declared is not None and declared.strip().isdigit():
            self.api.check_size(int(declared))
        content = request.content
        if content is None:
            return b""
        content.seek(0)
        body: bytes = content.read(self.limits.maxSizeRequest + 1)
        self.api.check_size(len(body))
        return body

    @app.route("/jmap/eventsource/", methods=["GET"])
    async def eventsource(self, request: IRequest) -> bytes:
        if self.event_streams is None:
            raise NotFound()
        user = await self._authenticated_user(request)
        return await self.event_streams.serve(request, user)

    @app.route("/jmap/ws/", methods=["GET"])
    async def websocket(self, request: IRequest) -> IResource:
        if self.web_sockets is None:
            raise NotFound()
        user = await self._authenticated_user(request)
        return self.web_sockets.upgrade(request, user, self.api)

    @app.route("/jmap/upload/<account_id>", methods=["POST"])
    @app.route("/jmap/upload/<account_id>/", methods=["POST"])
    async def upload(self, request: IRequest, account_id: str) -> bytes:
        user = await self._authenticated_user(request)
        return await self.blobs.upload(request, user, account_id)

    @app.route("/jmap/download/<account_id>/<blob_id>/<path:name>", methods=["GET"])
    async def download(self, request: IRequest, account_id: str, blob_id: str, name: str) -> bytes:
        user = await self._authenticated_user(request)
        return await self.blobs.download(request, user, account_id, blob_id, name)

    @app.handle_errors(NotAuthenticated, AuthenticationFailed)
    def unauthorized(self, request: IRequest, failure: Failure) -> bytes:
        add_cors_headers(request)
        for challenge in CHALLENGES:
            request.responseHeaders.addRawHeader(b"WWW-Authenticate", challenge)
        detail = (
            "Authentication required."
            if failure.check(NotAuthenticated)
            else "The user name, password or token is not valid."
        )
        return problem(request, 401, "Unauthorized", detail)

    @app.handle_errors(RateLimited)
    def rate_limited(self, request: IRequest, failure: Failure) -> bytes:
        add_cors_headers(request)
        error = failure.value
        assert isinstance(error, RateLimited)
        retry_after = max(1, math.ceil(error.retry_after))
        request.setHeader(b"Retry-After", str(retry_after).encode())
        return problem(
            request, 429, "Too Many Requests",
            f"Too many failed logins; retry after {retry_after} seconds.",
            "urn:ietf:params:jmap:error:limit",
        )

    @app.handle_errors(StoreUnavailable)
    def unavailable(self, request: IRequest, failure: Failure) -> bytes:
        add_cors_headers(request)
        request.setHeader(b"Retry-After", str(UNAVAILABLE_RETRY_AFTER).encode())
        return problem(
            request, 503, "Service Unavailable",
            "The mail store is temporarily unreachable; retry shortly.",
        )

    @app.handle_errors(RequestError)
    def request_error(self, request: IRequest, failure: Failure) -> bytes:
        """RFC 8620 §3.6.1: request-level errors are problem JSON with the JMAP error type."""
        add_cors_headers(request)
        error = failure.value
        assert isinstance(error, RequestError)
        return problem(
            request, error.status, RESPONSES.get(error.status, b"Error").decode(), error.detail,
            error.type, **error.extra,
        )

    @app.handle_errors(HTTPException)
    def http_error(self, request: IRequest, failure: Failure) -> bytes:
        add_cors_headers(request)
        error = failure.value
        assert isinstance(error, HTTPException)
        code = error.code or 500
        allowed: list[str] = getattr(error, "valid_methods", None) or []
        if code == 405 and set(allowed) <= {"OPTIONS"}:
            # Only the catch-all preflight route matched: the path itself does not exist.
            return problem(request, 404, "Not Found", "There is no resource at this path.")
        if code == 405:
            request.setHeader(b"Allow", ", ".join(allowed).encode())
        return problem(request, code, error.name, str(error.description or error.name))

    @app.handle_errors(Exception)
    def server_error(self, request: IRequest, failure: Failure) -> bytes:
        self.log.failure("Unhandled error answering {uri}", failure, uri=request.uri)
        add_cors_headers(request)
        return problem(request, 500, "Internal Server Error", "The server failed; it was logged.")
