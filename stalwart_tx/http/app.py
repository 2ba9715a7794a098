"""The JMAP HTTP endpoint: routes parse and authenticate, the JMAP layer answers.

Errors become responses here and nowhere else: 401 with both challenges, 429 with Retry-After when
the login limiter says so, 503 with Retry-After when the store is unreachable, and a problem JSON
body for every error, never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.cred.portal import Portal
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.portal import authenticate
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.http.authorization import CHALLENGES, parse_authorization
from stalwart_tx.http.cors import add_cors_headers, answer_preflight
from stalwart_tx.http.problems import json_body, problem
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.session import SessionAccount, SessionUrls, build_session
from stalwart_tx.store.errors import StoreUnavailable

UNAVAILABLE_RETRY_AFTER = 5


class NotAuthenticated(Exception):
    """The request carried no usable credentials."""


class JMAPHttpApp:
    app = Klein()
    log = Logger()

    def __init__(
        self,
        portal: Callable[[], Portal],
        limiter: LoginRateLimiter,
        public_url: str,
        limits: CoreLimits | None = None,
    ) -> None:
        self.portal = portal
        self.limiter = limiter
        self.urls = SessionUrls.under(public_url)
        self.limits = limits or CoreLimits()

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
        account = SessionAccount(account_id=user.account_id, name=user.name)
        session = build_session(
            username=user.name,
            accounts=[account],
            primary_account_id=user.account_id,
            urls=self.urls,
            limits=self.limits,
        )
        request.setHeader(b"Cache-Control", b"no-cache, no-store, must-revalidate")
        return json_body(request, session)

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
