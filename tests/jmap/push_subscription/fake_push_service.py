"""A local push service (RFC 8030 push resource) on a real loopback port, for delivery tests.

It records every request and answers each path from a script of status codes (201 once the
script is used up); it can also hang, never answering, to exercise timeouts.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twisted.internet import reactor, task
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

HANG = -1  # an answer that never comes


@dataclass
class Pushed:
    path: str  # path and query, exactly as requested
    headers: dict[str, list[str]]  # lowercased names
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self, keys: UserAgentKeys | None = None) -> Any:
        return json.loads(keys.decrypt(self.body) if keys is not None else self.body)


@dataclass
class UserAgentKeys:
    """What a browser's push subscription holds: an ECDH key pair and an auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def to_json(self) -> dict[str, str]:
        public = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> bytes:
        plaintext: bytes = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return plaintext


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakePushService(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Pushed] = []
        self.base = ""
        self._script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._hanging: list[Request] = []

    def url(self, path: str) -> str:
        return self.base + path

    def answer(self, path: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        """Answer the next requests to ``path`` with these statuses (and headers), in order."""
        self._script.setdefault(path, []).extend(
            a if isinstance(a, tuple) else (a, {}) for a in answers
        )

    def render_POST(self, request: Request) -> bytes | int:
        path = request.uri.decode()
        assert request.content is not None
        self.received.append(Pushed(
            path=path,
            headers={k.decode().lower(): [v.decode() for v in vs]
                     for k, vs in request.requestHeaders.getAllRawHeaders()},
            body=request.content.read(),
            at=reactor.seconds(),
        ))
        script = self._script.get(path)
        status, headers = script.pop(0) if script else (201, {})
        if status == HANG:
            self._hanging.append(request)
            return NOT_DONE_YET
        request.setResponseCode(status)
        for name, value in headers.items():
            request.setHeader(name, value)
        return b""

    def to(self, path: str) -> list[Pushed]:
        return [p for p in self.received if p.path == path]

    async def wait_for(
        self, check: Callable[[], bool], timeout: float = 5.0, what: str = "pushes"
    ) -> None:
        deadline = reactor.seconds() + timeout
        while not check():
            if reactor.seconds() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.received!r}")
            await task.deferLater(reactor, 0.005, lambda: None)

    async def pushes_to(self, path: str, count: int, timeout: float = 5.0) -> list[Pushed]:
        await self.wait_for(lambda: len(self.to(path)) >= count, timeout, f"{count} to {path}")
        return self.to(path)

    def release_hanging(self) -> None:
        for request in self._hanging:
            if not request.finished and not request._disconnected:
                request.setResponseCode(201)
                request.finish()
        self._hanging.clear()
