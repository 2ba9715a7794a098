"""Permissive CORS: JMAP clients run in browsers on other origins and send Authorization headers."""

from __future__ import annotations

from twisted.web.iweb import IRequest

ALLOWED_METHODS = b"GET, POST, OPTIONS"
ALLOWED_HEADERS = b"Authorization, Content-Type, Accept, Last-Event-ID, Cache-Control"
# Content-Range, ETag and Accept-Ranges: browser clients resuming a download must see them
EXPOSED_HEADERS = (
    b"Retry-After, WWW-Authenticate, Content-Disposition, Content-Length, Content-Range, ETag, "
    b"Accept-Ranges"
)
PREFLIGHT_MAX_AGE = b"86400"


def add_cors_headers(request: IRequest) -> None:
    # Credentials travel in the Authorization header, never in cookies: a wildcard origin is safe.
    request.setHeader(b"Access-Control-Allow-Origin", b"*")
    request.setHeader(b"Access-Control-Expose-Headers", EXPOSED_HEADERS)


def answer_preflight(request: IRequest) -> bytes:
    add_cors_headers(request)
    request.setResponseCode(204)
    request.setHeader(b"Access-Control-Allow-Methods", ALLOWED_METHODS)
    asked = request.getHeader(b"Access-Control-Request-Headers")
    request.setHeader(b"Access-Control-Allow-Headers", asked or ALLOWED_HEADERS)
    request.setHeader(b"Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
    return b""
