"""RFC 9404 §4.1 Blob/upload: its examples, data sources, creation references, limits, errors."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.jmap.blob_methods import MAX_DATA_SOURCES
from stalwart_tx.jmap.capabilities import BLOB, CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.blobs.conftest import Env, make_env

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABAQMAAAAl21bKAAAAA1BMVEX/AAAZ4gk3AAAAAXRSTlN/gFy0ywAAAApJREFU"
    "eJxjYgAAAAYAAzY3fKgAAAAASUVORK5CYII="
)
FOX = "The quick brown fox jumped over the lazy dog."


def blob_id_of(data: bytes) -> str:
    return "B" + hashlib.sha256(data).hexdigest()


@pytest_twisted.ensureDeferred
async def test_simple_example(env: Env) -> None:
    result = await env.call("Blob/upload", {
        "create": {"1": {"data": [{"data:asBase64": PNG}], "type": "image/png"}},
    })
    png = base64.b64decode(PNG)
    assert result == {
        "accountId": env.account,
        "created": {"1": {"id": blob_id_of(png), "type": "image/png", "size": 95}},
        "notCreated": None,
    }
    assert await env.store.blobs.get(env.account, blob_id_of(png)) == png


@pytest_twisted.ensureDeferred
async def test_complex_example_catenates_sources_and_creation_references(env: Env) -> None:
    responses = await env.request(
        ["Blob/upload", {"accountId": env.account, "create": {
            "b4": {"data": [{"data:asText": FOX}]},
        }}, "S4"],
        ["Blob/upload", {"accountId": env.account, "create": {
            "cat": {"data": [
                {"data:asText": "How"},
                {"blobId": "#b4", "length": 7, "offset": 3},
                {"data:asText": "was t"},
                {"blobId": "#b4", "length": 1, "offset": 1},
                {"data:asBase64": "YXQ/"},
            ]},
        }}, "CAT"],
        ["Blob/get", {"accountId": env.account, "properties": ["data:asText", "size"],
                      "ids": ["#cat"]}, "G4"],
    )
    cat_id = blob_id_of(b"How quick was that?")
    assert responses == [
        ["Blob/upload", {
            "accountId": env.account,
            "created": {"b4": {"id": blob_id_of(FOX.encode()), "size": 45,
                               "type": "application/octet-stream"}},
            "notCreated": None,
        }, "S4"],
        ["Blob/upload", {
            "accountId": env.account,
            "created": {"cat": {"id": cat_id, "size": 19, "type": "application/octet-stream"}},
            "notCreated": None,
        }, "CAT"],
        ["Blob/get", {
            "accountId": env.account,
            "list": [{"id": cat_id, "data:asText": "How quick was that?", "size": 19}],
            "notFound": [],
        }, "G4"],
    ]


@pytest_twisted.ensureDeferred
async def test_sources_may_name_creations_earlier_in_the_same_call(env: Env) -> None:
    result = await env.call("Blob/upload", {"create": {
        "a": {"data": [{"data:asText": "abc"}]},
        "b": {"data": [{"blobId": "#a"}, {"blobId": "#a", "offset": 1}, {"data:asText": ""}]},
        "empty": {"data": []},
    }})
    assert result["notCreated"] is None
    assert result["created"]["b"] == {
        "id": blob_id_of(b"abcbc"), "type": "application/octet-stream", "size": 5,
    }
    assert result["created"]["empty"]["size"] == 0
    assert await env.store.blobs.get(env.account, blob_id_of(b"abcbc")) == b"abcbc"


@pytest_twisted.ensureDeferred
async def test_every_octet_value_survives_base64(env: Env) -> None:
    data = bytes(range(256)) * 3
    result = await env.call("Blob/upload", {"create": {
        "all": {"data": [{"data:asBase64": base64.b64encode(data).decode()}], "type": "x/y"},
    }})
    assert result["created"]["all"]["size"] == len(data)
    assert await env.store.blobs.get(env.account, blob_id_of(data)) == data


@pytest.mark.parametrize(("source", "path"), [
    ("not an object", "data/1"),
    ({}, "data/1"),
    ({"data:asText": "a", "data:asBase64": "YQ=="}, "data/1"),
    ({"data:asText": "a", "blobId": "x"}, "data/1"),
    ({"data:asText": 7}, "data/1/data:asText"),
    ({"data:asText": "a", "offset": 0}, "data/1/offset"),
    ({"data:asText": "a", "extra": 1}, "data/1/extra"),
    ({"data:asBase64": "abc"}, "data/1/data:asBase64"),
    ({"data:asBase64": "YW Jj"}, "data/1/data:asBase64"),
    ({"data:asBase64": "YWJj\n"}, "data/1/data:asBase64"),
    ({"data:asBase64": "YW=Jj"}, "data/1/data:asBase64"),
    ({"data:asBase64": "ÿÿÿÿ"}, "data/1/data:asBase64"),
    ({"data:asBase64": None}, "data/1/data:asBase64"),
    ({"blobId": 5}, "data/1/blobId"),
    ({"blobId": "B" + "0" * 64}, "data/1/blobId"),
    ({"blobId": "not-a-blob"}, "data/1/blobId"),
    ({"blobId": "#nowhere"}, "data/1/blobId"),
    ({"blobId": "#base", "offset": -1}, "data/1/offset"),
    ({"blobId": "#base", "offset": 1.5}, "data/1/offset"),
    ({"blobId": "#base", "length": True}, "data/1/length"),
    ({"blobId": "#base", "offset": 4}, "data/1"),
    ({"blobId": "#base", "offset": 2, "length": 2}, "data/1"),
    ({"blobId": "#base", "length": 4}, "data/1"),
])
@pytest_twisted.ensureDeferred
async def test_invalid_sources_fail_only_their_creation(
    env: Env, source: Any, path: str
) -> None:
    result = await env.call("Blob/upload", {"create": {
        "base": {"data": [{"data:asText": "abc"}]},
        "bad": {"data": [{"data:asText": "fine"}, source]},
        "good": {"data": [{"data:asText": "fine"}]},
    }})
    assert set(result["created"]) == {"base", "good"}
    error = result["notCreated"]["bad"]
    assert error["type"] == "invalidProperties"
    assert error["properties"] == [path]
    assert error["description"]


@pytest.mark.parametrize(("upload_object", "path"), [
    ([], None),
    ({"data": "abc"}, "data"),
    ({}, "data"),
    ({"data": [], "type": 5}, "type"),
    ({"data": [], "name": "x"}, "name"),
    ({"data": [{"data:asText": "x"}] * (MAX_DATA_SOURCES + 1)}, "data"),
])
@pytest_twisted.ensureDeferred
async def test_invalid_upload_objects(env: Env, upload_object: Any, path: str | None) -> None:
    result = await env.call("Blob/upload", {"create": {"bad": upload_object}})
    assert result["created"] is None
    error = result["notCreated"]["bad"]
    assert error["type"] == "invalidProperties"
    assert error.get("properties") == ([path] if path else None)


@pytest_twisted.ensureDeferred
async def test_the_most_sources_allowed(env: Env) -> None:
    result = await env.call("Blob/upload", {"create": {
        "many": {"data": [{"data:asText": "x"}] * MAX_DATA_SOURCES},
    }})
    assert result["created"]["many"]["size"] == MAX_DATA_SOURCES


@pytest_twisted.ensureDeferred
async def test_size_over_max_size_blob_set_is_too_large(store: StoreBundle) -> None:
    env = await make_env(store, CoreLimits(maxSizeUpload=10))
    session = env.api.session(env.user)
    capability = session["accounts"][env.account]["accountCapabilities"][BLOB]  # type: ignore[index]
    assert capability["maxSizeBlobSet"] == 10
    result = await env.call("Blob/upload", {"create": {
        "ten": {"data": [{"data:asText": "12345"}, {"data:asBase64": "YWJjZGU="}]},
        "eleven": {"data": [{"data:asText": "12345"}, {"blobId": "#ten", "offset": 4}]},
    }})
    assert result["created"]["ten"]["size"] == 10
    assert result["notCreated"]["eleven"]["type"] == "tooLarge"


@pytest_twisted.ensureDeferred
async def test_method_level_errors(store: StoreBundle) -> None:
    env = await make_env(store, CoreLimits(maxObjectsInSet=2))
    assert (await env.error("Blob/upload", {"accountId": env.account, "create": []}))["type"] == (
        "invalidArguments"
    )
    too_many = {str(n): {"data": []} for n in range(3)}
    error = await env.error("Blob/upload", {"accountId": env.account, "create": too_many})
    assert error["type"] == "requestTooLarge"
    error = await env.error("Blob/upload", {"accountId": "someone-else", "create": {}})
    assert error["type"] == "accountNotFound"
    # without urn:ietf:params:jmap:blob in "using", the method does not exist for the client
    error = await env.error("Blob/upload", {"accountId": env.account}, using=[CORE])
    assert error["type"] == "unknownMethod"
    assert await env.call("Blob/upload", {"create": None}) == {
        "accountId": env.account, "created": None, "notCreated": None,
    }


@pytest_twisted.ensureDeferred
async def test_created_blobs_start_unreferenced(env: Env) -> None:
    result = await env.call("Blob/upload", {"create": {"x": {"data": [{"data:asText": "x"}]}}})
    blob_id = result["created"]["x"]["id"]
    assert await env.store.blobs.referrers(env.account, [blob_id]) == {blob_id: set()}
