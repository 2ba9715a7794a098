"""RFC 9404 checked as an independent suite checks it: Blob/get ranges, encodings and digests,
Blob/upload combining every kind of data source, Blob/lookup of blobs it cannot see.

Digests are the base64 (not hex) of the hash of the selected octets; ``size`` is the whole
blob's; ``isTruncated`` is given when the range goes past the end, ``isEncodingProblem`` when
text was asked for and the octets are not UTF-8 (``data:asText`` then null).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.jmap.capabilities import BLOB, CORE, MAIL
from tests.jmap.api.conftest import start_server  # noqa: F401  (used by the emails fixture)
from tests.jmap.blobs.conftest import SHARED, Env
from tests.jmap.mail.conftest import Emails, emails, message  # noqa: F401  (fixture by name)

HASHES = {"sha": hashlib.sha1, "sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
DATA = b"0123456789abcdefghij"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digest(name: str, data: bytes) -> str:
    return b64(HASHES[name](data).digest())


async def put(env: Env, data: bytes, account: str | None = None) -> str:
    return (await env.store.blobs.put(account or env.account, data)).blob_id


async def entry(env: Env, blob: str, **arguments: Any) -> dict[str, Any]:
    [found] = (await env.call("Blob/get", {"ids": [blob], **arguments}))["list"]
    assert isinstance(found, dict)
    return found


# -- Blob/get ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_every_advertised_digest_is_base64_of_the_hash(env: Env) -> None:
    capability = env.api.session(env.user)["accounts"][env.account][  # type: ignore[index]
        "accountCapabilities"][BLOB]
    algorithms = capability["supportedDigestAlgorithms"]
    assert algorithms and set(algorithms) <= set(HASHES)
    blob = await put(env, DATA)
    found = await entry(env, blob, properties=[f"digest:{a}" for a in algorithms])
    assert found == {"id": blob, **{f"digest:{a}": digest(a, DATA) for a in algorithms}}


@pytest.mark.parametrize("name", ["digest:md5", "digest:sha-512x", "digest:", "digest"])
@pytest_twisted.ensureDeferred
async def test_a_digest_not_advertised_is_invalid_arguments(env: Env, name: str) -> None:
    capability = env.api.session(env.user)["accounts"][env.account][  # type: ignore[index]
        "accountCapabilities"][BLOB]
    assert name.removeprefix("digest:") not in capability["supportedDigestAlgorithms"]
    blob = await put(env, DATA)
    error = await env.error("Blob/get", {
        "accountId": env.account, "ids": [blob], "properties": ["size", name],
    })
    assert error["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_a_range_past_the_end_is_truncated_and_digests_what_is_returned(env: Env) -> None:
    blob = await put(env, DATA)
    found = await entry(env, blob, offset=15, length=10, properties=[
        "data:asText", "data:asBase64", "digest:sha", "digest:sha-256", "size",
    ])
    assert found == {
        "id": blob,
        "data:asText": "fghij",
        "data:asBase64": b64(b"fghij"),
        "digest:sha": digest("sha", b"fghij"),
        "digest:sha-256": digest("sha-256", b"fghij"),
        "size": 20,
        "isTruncated": True,
    }


@pytest_twisted.ensureDeferred
async def test_a_range_ending_exactly_at_the_end_is_not_truncated(env: Env) -> None:
    blob = await put(env, DATA)
    found = await entry(env, blob, offset=15, length=5, properties=["data", "size"])
    assert found == {"id": blob, "data:asText": "fghij", "size": 20}
    found = await entry(env, blob, offset=20, properties=["data", "digest:sha"])
    assert found == {"id": blob, "data:asText": "", "digest:sha": digest("sha", b"")}


@pytest_twisted.ensureDeferred
async def test_an_offset_past_the_end_without_length_is_truncated(env: Env) -> None:
    blob = await put(env, DATA)
    found = await entry(env, blob, offset=21, properties=["data:asBase64", "digest:sha-256"])
    assert found == {
        "id": blob, "data:asBase64": "", "digest:sha-256": digest("sha-256", b""),
        "isTruncated": True,
    }


@pytest_twisted.ensureDeferred
async def test_text_of_octets_that_are_not_utf8_is_null_with_an_encoding_problem(
    env: Env,
) -> None:
    data = b"ok \xff\xfe then \xc3"
    blob = await put(env, data)
    found = await entry(env, blob, properties=["data:asText", "size"])
    assert found == {"id": blob, "data:asText": None, "size": len(data), "isEncodingProblem": True}
    # "data" gives base64 instead, still flagging the problem
    found = await entry(env, blob, properties=["data"])
    assert found == {"id": blob, "data:asBase64": b64(data), "isEncodingProblem": True}
    # a range that is valid UTF-8 has none
    found = await entry(env, blob, offset=0, length=3, properties=["data:asText"])
    assert found == {"id": blob, "data:asText": "ok "}


@pytest_twisted.ensureDeferred
async def test_a_truncated_range_that_is_not_utf8_has_both_flags(env: Env) -> None:
    data = b"abc\xe2\x82"  # a three-octet character cut short at the end of the blob
    blob = await put(env, data)
    found = await entry(env, blob, offset=2, length=10, properties=["data:asText", "digest:sha"])
    assert found == {
        "id": blob, "data:asText": None, "digest:sha": digest("sha", b"c\xe2\x82"),
        "isEncodingProblem": True, "isTruncated": True,
    }


@pytest_twisted.ensureDeferred
async def test_data_and_data_as_base64_of_text_give_both_forms(env: Env) -> None:
    text = "naïve ☃"
    blob = await put(env, text.encode())
    found = await entry(env, blob, properties=["data", "data:asBase64"])
    assert found == {"id": blob, "data:asText": text, "data:asBase64": b64(text.encode())}


# -- Blob/upload ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_upload_combines_text_base64_a_stored_range_and_an_earlier_creation(
    env: Env,
) -> None:
    stored = await put(env, DATA)
    binary = bytes([0, 255, 128, 10])
    responses = await env.request(
        ["Blob/upload", {"accountId": env.account, "create": {
            "first": {"data": [{"data:asText": "head-"}], "type": "text/plain"},
            "all": {"data": [
                {"data:asText": "<"},
                {"data:asBase64": b64(binary)},
                {"blobId": stored, "offset": 10, "length": 5},
                {"blobId": "#first", "offset": 1, "length": 3},
                {"blobId": "#first"},
                {"blobId": stored, "offset": 18},
                {"blobId": stored, "length": 2},
                {"blobId": stored, "offset": 20, "length": 0},
            ], "type": "application/x-test"},
        }}, "u"],
        ["Blob/get", {"accountId": env.account, "ids": ["#all"],
                      "properties": ["data:asBase64", "digest:sha-256", "size"]}, "g"],
    )
    expected = b"<" + binary + b"abcde" + b"ead" + b"head-" + b"ij" + b"01"
    upload, get = responses
    assert upload[0] == "Blob/upload" and upload[1]["notCreated"] is None
    created = upload[1]["created"]
    assert created["first"]["size"] == 5 and created["first"]["type"] == "text/plain"
    assert created["all"]["size"] == len(expected)
    assert created["all"]["type"] == "application/x-test"
    assert get == ["Blob/get", {
        "accountId": env.account,
        "list": [{
            "id": created["all"]["id"],
            "data:asBase64": b64(expected),
            "digest:sha-256": digest("sha-256", expected),
            "size": len(expected),
        }],
        "notFound": [],
    }, "g"]
    assert await env.store.blobs.get(env.account, created["all"]["id"]) == expected


@pytest_twisted.ensureDeferred
async def test_upload_from_a_failed_creation_or_a_blob_of_another_account_fails(
    env: Env,
) -> None:
    elsewhere = await put(env, b"not yours", SHARED)
    result = await env.call("Blob/upload", {"create": {
        "bad": {"data": [{"data:asBase64": "!!"}]},
        "from-bad": {"data": [{"blobId": "#bad"}]},
        "from-elsewhere": {"data": [{"blobId": elsewhere}]},
        "fine": {"data": [{"data:asText": "fine"}]},
    }})
    assert result["created"] is not None and set(result["created"]) == {"fine"}
    assert set(result["notCreated"]) == {"bad", "from-bad", "from-elsewhere"}
    assert all("type" in error for error in result["notCreated"].values())


# -- Blob/lookup ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_lookup_of_an_unseen_or_missing_blob_gives_empty_arrays(env: Env) -> None:
    elsewhere = await put(env, b"in another account", SHARED)
    missing = "B" + hashlib.sha256(b"never stored").hexdigest()
    result = await env.call("Blob/lookup", {
        "typeNames": ["Email", "Mailbox"], "ids": [elsewhere, missing, "not-a-blob"],
    })
    assert result["list"] == [
        {"id": elsewhere, "matchedIds": {"Email": [], "Mailbox": []}},
        {"id": missing, "matchedIds": {"Email": [], "Mailbox": []}},
    ]
    # as in the RFC's example: an id no blob of this server could have is not found
    assert result["notFound"] == ["not-a-blob"]


# -- on the server's own registry, with real Emails ------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_imported_message_blob_is_got_and_looked_up(
    emails: Emails,  # noqa: F811  (the fixture imported above)
) -> None:
    session = await emails.server.session()
    capability = session["accounts"][emails.account]["accountCapabilities"][BLOB]
    assert {"Email", "Mailbox", "Thread"} <= set(capability["supportedTypeNames"])
    raw = message("lookup", message_id="l@x")
    created = await emails.import_raw(raw)
    inbox = await emails.inbox()
    [thread] = (await emails.ok("Email/get", ids=[created["id"]], properties=["threadId"]))[
        "list"
    ]
    response = await emails.server.call(
        ["Blob/get", {"accountId": emails.account, "ids": [created["blobId"]],
                      "properties": ["size", "digest:sha-256"]}, "g"],
        ["Blob/lookup", {"accountId": emails.account, "typeNames": ["Email", "Mailbox", "Thread"],
                         "ids": [created["blobId"]]}, "l"],
        using=[CORE, MAIL, BLOB],
    )
    get, lookup = response["methodResponses"]
    assert get == ["Blob/get", {
        "accountId": emails.account,
        "list": [{"id": created["blobId"], "size": len(raw),
                  "digest:sha-256": digest("sha-256", raw)}],
        "notFound": [],
    }, "g"]
    assert lookup == ["Blob/lookup", {
        "accountId": emails.account,
        "list": [{"id": created["blobId"], "matchedIds": {
            "Email": [created["id"]], "Mailbox": [inbox], "Thread": [thread["threadId"]],
        }}],
        "notFound": [],
    }, "l"]
    await emails.ok("Email/set", destroy=[created["id"]])
    response = await emails.server.call(
        ["Blob/lookup", {"accountId": emails.account, "typeNames": ["Email", "Thread"],
                         "ids": [created["blobId"]]}, "l"],
        using=[CORE, MAIL, BLOB],
    )
    [[name, result, _]] = response["methodResponses"]
    assert name == "Blob/lookup"
    # nothing references it now: empty arrays (or, while it is not kept, not found)
    assert result["list"] in (
        [{"id": created["blobId"], "matchedIds": {"Email": [], "Thread": []}}], []
    )
