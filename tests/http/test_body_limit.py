"""Oversized request bodies are refused from their headers, before the server stores them."""

from __future__ import annotations

import json
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.web.resource import Resource
from twisted.web.server import Request

from stalwart_tx.http.site import DrainableSite


class Echo(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[int] = []

    def render_POST(self, request: Request) -> bytes:
        body = request.content.read()  # type: ignore[union-attr]
        self.bodies.append(len(body))
        return b"%d" % len(body)


def limit_for(path: bytes) -> int:
    return 1000 if path.startswith(b"/jmap/upload/") else 100


def exchange(port: int, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request (stopping early if the server closes) and return all it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
        return answer


@pytest.fixture
def served() -> object:
    resource = Echo()
    port = reactor.listenTCP(
        0, DrainableSite(resource, body_limit=limit_for), interface="127.0.0.1"
    )
    yield port.getHost().port, resource
    port.stopListening()


def problem_of(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"Connection: close" in head
    return dict(json.loads(body))


@pytest_twisted.ensureDeferred
async def test_declared_length_over_the_limit_is_refused_before_the_body(served: object) -> None:
    port, resource = served  # type: ignore[misc]
    head = (b"POST /jmap/api/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
            b"Content-Type: application/json\r\n\r\n")
    answer = await deferToThread(exchange, port, head, [b"x" * 65536] * 4)
    problem = problem_of(answer)
    assert problem["limit"] == "maxSizeRequest"
    assert problem["type"] == "urn:ietf:params:jmap:error:limit"
    assert resource.bodies == []


@pytest_twisted.ensureDeferred
async def test_chunked_body_is_cut_off_once_over_the_limit(served: object) -> None:
    port, resource = served  # type: ignore[misc]
    head = b"POST /jmap/upload/a1/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"400\r\n" + b"y" * 0x400 + b"\r\n"
    answer = await deferToThread(exchange, port, head, [chunk] * 50 + [b"0\r\n\r\n"])
    assert problem_of(answer)["limit"] == "maxSizeUpload"
    assert resource.bodies == []


@pytest_twisted.ensureDeferred
async def test_bodies_within_the_limit_pass(served: object) -> None:
    port, resource = served  # type: ignore[misc]
    head = (b"POST /jmap/upload/a1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            b"Connection: close\r\n\r\n")
    answer = await deferToThread(exchange, port, head, [b"z" * 1000])
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"1000")
    assert resource.bodies == [1000]

