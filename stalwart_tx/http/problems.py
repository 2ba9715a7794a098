"""RFC 7807 problem responses: the one place HTTP error bodies are written."""

from __future__ import annotations

import json

from twisted.web.iweb import IRequest

PROBLEM_TYPE = "application/problem+json"


def problem(
    request: IRequest, status: int, title: str, detail: str, type_uri: str = "about:blank",
    **extra: object,
) -> bytes:
    """Set the status and content type on ``request`` and return the problem body."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", PROBLEM_TYPE.encode())
    request.setHeader(b"Cache-Control", b"no-store")
    body = {"type": type_uri, "status": status, "title": title, "detail": detail, **extra}
    return with_length(request, json.dumps(body).encode())


def json_body(request: IRequest, value: object, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return with_length(request, json.dumps(value, separators=(",", ":")).encode())


def with_length(request: IRequest, body: bytes) -> bytes:
    # A known length spares clients chunked decoding and lets them reuse the connection sooner.
    request.setHeader(b"Content-Length", str(len(body)).encode())
    return body
