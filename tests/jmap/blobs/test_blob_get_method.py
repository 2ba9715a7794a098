"""RFC 9404 §4.2 Blob/get: its examples, ranges, encodings, digests and argument errors."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.blobs.conftest import Env, make_env

FOX = b"The quick brown fox jumped over the lazy dog."


async def put(env: Env, data: bytes) -> str:
    return (await env.store.blobs.put(env.account, data)).blob_id


@pytest_twisted.ensureDeferred
async def test_example_with_digest_and_not_found(env: Env) -> None:
    fox = await put(env, FOX)
    result = await env.call("Blob/get", {
        "ids": [fox, "not-a-blob"], "properties": ["data:asText", "digest:sha", "size"],
    })
    assert result == {
        "accountId": env.account,
        "list": [{
            "id": fox,
            "data:asText": "The quick brown fox jumped over the lazy dog.",
            "digest:sha": "wIVPufsDxBzOOALLDSIFKebu+U4=",
            "size": 45,
        }],
        "notFound": ["not-a-blob"],
    }


@pytest_twisted.ensureDeferred
async def test_example_of_a_range_digests_the_range_and_sizes_the_blob(env: Env) -> None:
    fox = await put(env, FOX)
    result = await env.call("Blob/get", {
        "ids": [fox], "properties": ["data:asText", "digest:sha", "digest:sha-256", "size"],
        "offset": 4, "length": 9,
    })
    assert result["list"] == [{
        "id": fox,
        "data:asText": "quick bro",
        "digest:sha": "QiRAPtfyX8K6tm1iOAtZ87Xj3Ww=",
        "digest:sha-256": "gdg9INW7lwHK6OQ9u0dwDz2ZY/gubi0En0xlFpKt0OA=",
        "size": 45,
    }]


@pytest.mark.parametrize(("offset", "length", "text", "truncated"), [
    (20, 100, "jumped over the lazy dog.", True),
    (20, 25, "jumped over the lazy dog.", False),
    (45, None, "", False),
    (45, 0, "", False),
    (46, None, "", True),
    (1000, 1, "", True),
    (0, 0, "", False),
    (None, None, FOX.decode(), False),
])
@pytest_twisted.ensureDeferred
async def test_ranges_and_truncation(
    env: Env, offset: int | None, length: int | None, text: str, truncated: bool
) -> None:
    fox = await put(env, FOX)
    [entry] = (await env.call("Blob/get", {
        "ids": [fox], "properties": ["data:asText", "size"], "offset": offset, "length": length,
    }))["list"]
    expected: dict[str, Any] = {"id": fox, "data:asText": text, "size": 45}
    if truncated:
        expected["isTruncated"] = True
    assert entry == expected


@pytest_twisted.ensureDeferred
async def test_default_properties_are_data_and_size(env: Env) -> None:
    fox = await put(env, FOX)
    assert (await env.call("Blob/get", {"ids": [fox]}))["list"] == [
        {"id": fox, "data:asText": FOX.decode(), "size": 45}
    ]


@pytest_twisted.ensureDeferred
async def test_octets_that_are_not_utf8(env: Env) -> None:
    data = bytes(range(256))
    blob = await put(env, data)
    encoded = base64.b64encode(data).decode()
    [entry] = (await env.call("Blob/get", {"ids": [blob]}))["list"]
    assert entry == {"id": blob, "data:asBase64": encoded, "isEncodingProblem": True, "size": 256}
    [entry] = (await env.call("Blob/get", {
        "ids": [blob], "properties": ["data:asText", "data:asBase64"],
    }))["list"]
    assert entry == {
        "id": blob, "data:asText": None, "data:asBase64": encoded, "isEncodingProblem": True,
    }
    # a base64 request alone has no encoding problem
    [entry] = (await env.call("Blob/get", {"ids": [blob], "properties": ["data:asBase64"]}))[
        "list"
    ]
    assert entry == {"id": blob, "data:asBase64": encoded}


@pytest_twisted.ensureDeferred
async def test_a_range_that_splits_a_character_is_an_encoding_problem(env: Env) -> None:
    blob = await put(env, "grüße".encode())
    [whole] = (await env.call("Blob/get", {"ids": [blob], "properties": ["data"]}))["list"]
    assert whole == {"id": blob, "data:asText": "grüße"}
    [split] = (await env.call("Blob/get", {
        "ids": [blob], "properties": ["data"], "offset": 0, "length": 3,
    }))["list"]
    assert split == {
        "id": blob, "data:asBase64": base64.b64encode(b"gr\xc3").decode(),
        "isEncodingProblem": True,
    }


@pytest_twisted.ensureDeferred
async def test_digests_of_a_large_blob_are_computed_piece_by_piece(env: Env) -> None:
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: several store reads
    blob = await put(env, data)
    [entry] = (await env.call("Blob/get", {
        "ids": [blob], "properties": ["digest:sha-256", "digest:sha", "size", "isTruncated"],
    }))["list"]
    assert entry == {
        "id": blob,
        "digest:sha-256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "digest:sha": base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "size": len(data),
    }


@pytest_twisted.ensureDeferred
async def test_creation_references_duplicates_and_other_accounts(env: Env) -> None:
    mine = await put(env, b"mine")
    theirs = (await env.store.blobs.put("someone", b"theirs")).blob_id
    responses = await env.request(
        ["Blob/upload", {"accountId": env.account,
                         "create": {"new": {"data": [{"data:asText": "new"}]}}}, "u"],
        ["Blob/get", {"accountId": env.account, "properties": ["size"],
                      "ids": ["#new", mine, mine, theirs, "#unknown"]}, "g"],
    )
    created = responses[0][1]["created"]["new"]["id"]
    assert responses[1][1] == {
        "accountId": env.account,
        "list": [{"id": created, "size": 3}, {"id": mine, "size": 4}],
        "notFound": [theirs, "#unknown"],
    }


@pytest.mark.parametrize("arguments", [
    {},
    {"ids": None},
    {"ids": "B"},
    {"ids": [1]},
    {"ids": [], "properties": ["name"]},
    {"ids": [], "properties": ["digest:md5"]},
    {"ids": [], "properties": "size"},
    {"ids": [], "offset": -1},
    {"ids": [], "offset": "1"},
    {"ids": [], "length": 1.5},
    {"ids": [], "length": False},
])
@pytest_twisted.ensureDeferred
async def test_invalid_arguments(env: Env, arguments: dict[str, Any]) -> None:
    error = await env.error("Blob/get", {"accountId": env.account, **arguments})
    assert error["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_too_many_ids(store: StoreBundle) -> None:
    env = await make_env(store, CoreLimits(maxObjectsInGet=2))
    error = await env.error("Blob/get", {"accountId": env.account, "ids": ["a", "b", "c"]})
    assert error["type"] == "requestTooLarge"
