"""RFC 8620 §3.1 (POST to apiUrl), §3.3 (the Request object) and the §3.6.1 errors notJSON and
notRequest; Content-Type handling and the nesting limit of our JSON parser."""

from __future__ import annotations

import json
import time
from base64 import b64encode
from typing import Any

import pytest
import pytest_twisted
import treq

from stalwart_tx.jmap.api import MAX_JSON_DEPTH
from stalwart_tx.jmap.capabilities import CORE
from tests.jmap.api.conftest import ApiServer, assert_problem

ECHO = {"using": [CORE], "methodCalls": [["Core/echo", {"a": 1}, "c0"]]}


@pytest_twisted.ensureDeferred
async def test_post_with_and_without_trailing_slash(server: ApiServer) -> None:
    for url in (server.base + "/jmap/api/", server.base + "/jmap/api"):
        reply = await server.post(ECHO, url=url)
        assert reply.code == 200
        assert reply.json()["methodResponses"] == [["Core/echo", {"a": 1}, "c0"]]
        assert reply.headers.getRawHeaders("Access-Control-Allow-Origin") == ["*"]


@pytest_twisted.ensureDeferred
async def test_empty_method_calls_is_a_valid_request(server: ApiServer) -> None:
    response = await server.call()
    assert response["methodResponses"] == []


@pytest_twisted.ensureDeferred
async def test_api_needs_authentication_like_the_session(server: ApiServer) -> None:
    response = await treq.post(server.api_url, data=json.dumps(ECHO).encode(),
                               headers={"Content-Type": "application/json"})
    assert response.code == 401
    assert response.headers.getRawHeaders("WWW-Authenticate")
    response = await treq.post(server.api_url, data=json.dumps(ECHO).encode(),
                               headers={"Authorization": "Bearer stx_bad_token"})
    assert response.code == 401
    basic = "Basic " + b64encode(b"alice:wonderland").decode()
    response = await treq.post(server.api_url, data=json.dumps(ECHO).encode(),
                               headers={"Authorization": basic})
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_other_http_methods_on_the_api_url_get_405(server: ApiServer) -> None:
    response = await treq.get(server.api_url, headers=server.auth())
    assert response.code == 405
    assert "POST" in response.headers.getRawHeaders("Allow")[0]
    assert json.loads(await response.content())["status"] == 405


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
@pytest_twisted.ensureDeferred
async def test_json_or_missing_content_type_is_accepted(
    server: ApiServer, content_type: str | None
) -> None:
    reply = await server.post(ECHO, content_type=content_type)
    assert reply.code == 200, reply.body


@pytest.mark.parametrize(
    "content_type",
    # (multipart/form-data is not here: twisted.web itself answers 400 to a body that is not
    # valid multipart before any route runs.)
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json"],
)
@pytest_twisted.ensureDeferred
async def test_other_content_types_are_not_json(server: ApiServer, content_type: str) -> None:
    # RFC 8620 §3.6.1 notJSON: "The content type of the request was not application/json ..."
    assert_problem(await server.post(ECHO, content_type=content_type), "notJSON")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b'{"using": [], "methodCalls": []} trailing',
        b"\xff\xfe{}",
        b'{"using": ["\xc0\xaf"], "methodCalls": []}',  # overlong UTF-8
        b"\xef\xbb\xbf{}",  # a byte order mark is not part of JSON text
        b'{"using": [], "methodCalls": [], "x": NaN}',
        b'{"using": [], "methodCalls": [], "x": -Infinity}',
        b'{"using": [], "methodCalls": [], "x": 1e400}',
        b'{"using": [], "methodCalls": [], "x": ' + b"9" * 5000 + b"}",
        b'{"using": [], "using": [], "methodCalls": []}',
        b'{"using": ["\\ud800"], "methodCalls": []}',
        b'{"using": [], "methodCalls": [["Core/echo", {"\\udc00": 1}, "c"]]}',
        b"{'using': [], 'methodCalls': []}",
    ],
)
@pytest_twisted.ensureDeferred
async def test_not_json(server: ApiServer, body: bytes) -> None:
    assert_problem(await server.post(body), "notJSON")


@pytest_twisted.ensureDeferred
async def test_paired_surrogate_escapes_are_fine(server: ApiServer) -> None:
    body = (b'{"using": ["' + CORE.encode()
            + b'"], "methodCalls": [["Core/echo", {"e": "\\ud83d\\ude00"}, "c"]]}')
    reply = await server.post(body)
    assert reply.code == 200
    assert reply.json()["methodResponses"][0][1] == {"e": "\U0001f600"}


@pytest.mark.parametrize(
    "request_object",
    [
        [],
        "a string",
        42,
        None,
        {},
        {"methodCalls": []},
        {"using": [CORE]},
        {"using": CORE, "methodCalls": []},
        {"using": None, "methodCalls": []},
        {"using": [CORE, 7], "methodCalls": []},
        {"using": [CORE], "methodCalls": {}},
        {"using": [CORE], "methodCalls": None},
        {"using": [CORE], "methodCalls": ["Core/echo"]},
        {"using": [CORE], "methodCalls": [["Core/echo", {}]]},
        {"using": [CORE], "methodCalls": [["Core/echo", {}, "c", "extra"]]},
        {"using": [CORE], "methodCalls": [[1, {}, "c"]]},
        {"using": [CORE], "methodCalls": [["Core/echo", [], "c"]]},
        {"using": [CORE], "methodCalls": [["Core/echo", None, "c"]]},
        {"using": [CORE], "methodCalls": [["Core/echo", {}, 1]]},
        {"using": [CORE], "methodCalls": [["Core/echo", {}, "c"], "second"]},
        {"using": [CORE], "methodCalls": [], "createdIds": None},
        {"using": [CORE], "methodCalls": [], "createdIds": []},
        {"using": [CORE], "methodCalls": [], "createdIds": {"k1": 5}},
        {"using": [CORE], "methodCalls": [], "createdIds": {"k1": ""}},
        {"using": [CORE], "methodCalls": [], "createdIds": {"not an id": "x1"}},
        {"using": [CORE], "methodCalls": [], "createdIds": {"k1": "a" * 256}},
    ],
)
@pytest_twisted.ensureDeferred
async def test_not_request(server: ApiServer, request_object: Any) -> None:
    assert_problem(await server.post(json.dumps(request_object)), "notRequest")


@pytest_twisted.ensureDeferred
async def test_properties_beyond_the_request_type_are_ignored(server: ApiServer) -> None:
    # RFC 8887 WebSocket requests add "@type" and "id"; the same parser serves both.
    response = await server.call(["Core/echo", {}, "c"], using=[CORE], **{"@type": "Request",
                                                                          "id": "r1"})
    assert response["methodResponses"] == [["Core/echo", {}, "c"]]
    assert "id" not in response and "@type" not in response


def nested_request(depth: int) -> bytes:
    """An echo request whose JSON nests exactly ``depth`` levels deep."""
    # object → methodCalls array → invocation array → arguments object: four levels.
    value = "[" * (depth - 4) + "]" * (depth - 4)
    calls = f'[["Core/echo", {{"v": {value}}}, "c"]]'
    return f'{{"using": ["{CORE}"], "methodCalls": {calls}}}'.encode()


@pytest_twisted.ensureDeferred
async def test_nesting_up_to_the_limit_is_accepted(server: ApiServer) -> None:
    reply = await server.post(nested_request(MAX_JSON_DEPTH))
    assert reply.code == 200
    value = reply.json()["methodResponses"][0][1]["v"]
    depth = 0
    while value != []:
        value = value[0]
        depth += 1
    assert depth == MAX_JSON_DEPTH - 5


@pytest_twisted.ensureDeferred
async def test_nesting_beyond_the_limit_is_refused(server: ApiServer) -> None:
    assert_problem(await server.post(nested_request(MAX_JSON_DEPTH + 1)), "notJSON")
    objects = '{"a":' * 70 + "1" + "}" * 70
    assert_problem(await server.post(objects), "notJSON")


@pytest_twisted.ensureDeferred
async def test_brackets_inside_strings_do_not_count(server: ApiServer) -> None:
    tricky = '[[[[{{{{ \\" [[[[ \\\\' * 40
    response = await server.call(["Core/echo", {"s": tricky}, "c"], using=[CORE])
    assert response["methodResponses"][0][1] == {"s": tricky}


@pytest_twisted.ensureDeferred
async def test_hostile_nesting_is_refused_quickly(server: ApiServer) -> None:
    started = time.monotonic()
    assert_problem(await server.post(b"[" * 5_000_000), "notJSON")
    assert_problem(await server.post(b"[" * 2_000_000 + b"]" * 2_000_000), "notJSON")
    assert_problem(await server.post(b'{"a":' * 1_000_000), "notJSON")
    assert time.monotonic() - started < 3
