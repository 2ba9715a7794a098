"""RFC 8620 §6.1 upload and §6.2 download over real HTTP: round trips, accounts, limits, ranges,
names and types, and the blob methods working on what was uploaded."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.task import deferLater
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from stalwart_tx.http.blobs import BlobHttp
from stalwart_tx.jmap.capabilities import BLOB, CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import BlobNotFound, StoreUnavailable
from tests.jmap.blobs.conftest import HttpServer, StartHttp

EVERY_OCTET = bytes(range(256)) * 1024 + b"end"  # 256 KiB and a bit: spooled to a temp file
LIMIT = "urn:ietf:params:jmap:error:limit"


def blob_id_of(data: bytes) -> str:
    return "B" + hashlib.sha256(data).hexdigest()


@implementer(IBodyProducer)
class ChunkedBody:
    """A body of unknown length, so it goes as Transfer-Encoding: chunked."""

    length = UNKNOWN_LENGTH

    def __init__(self, data: bytes) -> None:
        self.data = data

    def startProducing(self, consumer: Any) -> Deferred[None]:
        for start in range(0, len(self.data), 65536):
            consumer.write(self.data[start:start + 65536])
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


# -- §6.1 upload ------------------------------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
@pytest_twisted.ensureDeferred
async def test_round_trip_of_every_octet_value(start_http: StartHttp, store_kind: str) -> None:
    http = await start_http(store_kind=store_kind)
    reply = await http.upload(EVERY_OCTET, "image/png")
    assert reply.code == 201
    assert reply.header("Content-Type") == "application/json; charset=utf-8"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    blob_id = blob_id_of(EVERY_OCTET)
    assert reply.json() == {
        "accountId": http.alice, "blobId": blob_id, "type": "image/png", "size": len(EVERY_OCTET),
    }
    got = await http.get(http.download_url(http.alice, blob_id, "pic.png", "image/png"))
    assert got.code == 200
    assert got.body == EVERY_OCTET
    assert got.header("Content-Type") == "image/png"
    assert got.length == len(EVERY_OCTET), "a known length, not chunked"
    assert got.header("Content-Disposition") == 'attachment; filename="pic.png"'
    assert got.header("Cache-Control") == "private, immutable, max-age=31536000"
    assert got.header("ETag") == f'"{blob_id}"'
    assert got.header("Accept-Ranges") == "bytes"
    assert got.header("X-Content-Type-Options") == "nosniff"
    assert got.header("Access-Control-Allow-Origin") == "*"
    assert "Content-Range" in (got.header("Access-Control-Expose-Headers") or "")
    # the same bytes again are the same blob; an empty body is a blob too
    assert (await http.upload(EVERY_OCTET, "text/plain")).json()["blobId"] == blob_id
    empty = await http.upload(b"")
    assert empty.code == 201 and empty.json()["size"] == 0
    got = await http.get(http.download_url(http.alice, empty.json()["blobId"]))
    assert (got.code, got.body) == (200, b"")


@pytest.mark.parametrize(("sent", "answered"), [
    ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ('multipart/mixed; boundary="a b"', 'multipart/mixed; boundary="a b"'),
    (None, "application/octet-stream"),
    ("", "application/octet-stream"),
    ("not a type", "application/octet-stream"),
    ("text/html\u00e9", "application/octet-stream"),
])
@pytest_twisted.ensureDeferred
async def test_upload_type_is_the_content_type(
    http: HttpServer, sent: str | None, answered: str
) -> None:
    reply = await http.upload(b"typed", sent)
    assert reply.code == 201
    assert reply.json()["type"] == answered


@pytest_twisted.ensureDeferred
async def test_a_chunked_upload_without_a_length(http: HttpServer) -> None:
    reply = await http.upload(ChunkedBody(EVERY_OCTET))
    assert reply.code == 201
    assert await http.store.blobs.get(http.alice, reply.json()["blobId"]) == EVERY_OCTET


@pytest_twisted.ensureDeferred
async def test_max_size_upload_by_length_and_while_reading(start_http: StartHttp) -> None:
    http = await start_http(limits=CoreLimits(maxSizeUpload=1000))
    assert (await http.upload(b"x" * 1000)).code == 201
    for body in (b"y" * 1001, ChunkedBody(b"z" * 200_000)):
        reply = await http.upload(body)
        assert reply.code == 413
        assert reply.header("Content-Type") == "application/problem+json"
        problem = reply.json()
        assert problem["type"] == LIMIT and problem["limit"] == "maxSizeUpload"
        assert problem["status"] == 413
    for data in (b"y" * 1001, b"z" * 200_000):
        with pytest.raises(BlobNotFound):
            await http.store.blobs.stat(http.alice, blob_id_of(data))


class GatedBlobs:
    """A real blob store whose uploads wait at a gate before they start (to hold them open)."""

    def __init__(self, store: StoreBundle) -> None:
        self._store = store
        self.gate: Deferred[None] = Deferred()
        self.waiting = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.blobs, name)

    async def open_upload(self, account_id: str) -> Any:
        self.waiting += 1
        await self.gate
        return await self._store.blobs.open_upload(account_id)

    async def put(self, account_id: str, data: bytes) -> Any:
        self.waiting += 1
        await self.gate
        return await self._store.blobs.put(account_id, data)


class RecordingBlobs:
    """A real blob store, recording how uploads reach it."""

    def __init__(self, store: StoreBundle) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.blobs, name)

    async def put(self, account_id: str, data: bytes) -> Any:
        self.calls.append(f"put {len(data)}")
        return await self._store.blobs.put(account_id, data)

    async def open_upload(self, account_id: str) -> Any:
        self.calls.append("open_upload")
        return await self._store.blobs.open_upload(account_id)


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
@pytest_twisted.ensureDeferred
async def test_a_body_of_one_piece_is_stored_in_one_call(
    start_http: StartHttp, store_kind: str
) -> None:
    recording: list[RecordingBlobs] = []

    def recording_blob_http(store: Any, limits: CoreLimits) -> BlobHttp:
        def recording_store() -> StoreBundle:
            bundle: StoreBundle = store()
            if not recording:
                recording.append(RecordingBlobs(bundle))
            return StoreBundle(bundle.accounts, bundle.changes, recording[0], bundle.notifier,
                               bundle.directory, bundle.indexes)  # type: ignore[arg-type]

        return BlobHttp(recording_store, limits, chunk_size=1000)

    http = await start_http(store_kind=store_kind, blobs=recording_blob_http)
    octets = bytes(range(256)) * 20
    # up to one piece in one call, whether its length was declared or not; more piece by piece
    for body in (b"", octets[:1000], ChunkedBody(octets[:700]), octets[:1001],
                 ChunkedBody(octets[:5000])):
        data = body.data if isinstance(body, ChunkedBody) else body
        reply = await http.upload(body)
        assert reply.code == 201 and reply.json()["blobId"] == blob_id_of(data)
        assert await http.store.blobs.get(http.alice, blob_id_of(data)) == data
    assert recording[0].calls == ["put 0", "put 1000", "put 700", "open_upload", "open_upload"]


@pytest_twisted.ensureDeferred
async def test_max_concurrent_upload_per_user(start_http: StartHttp) -> None:
    gated: list[GatedBlobs] = []

    def gated_blob_http(store: Any, limits: CoreLimits) -> BlobHttp:
        def gated_store() -> StoreBundle:
            bundle: StoreBundle = store()
            if not gated:
                gated.append(GatedBlobs(bundle))
            return StoreBundle(bundle.accounts, bundle.changes, gated[0], bundle.notifier,
                               bundle.directory, bundle.indexes)  # type: ignore[arg-type]

        return BlobHttp(gated_store, limits)

    http = await start_http(limits=CoreLimits(maxConcurrentUpload=2), blobs=gated_blob_http)
    first = Deferred.fromCoroutine(http.upload(b"one"))
    second = Deferred.fromCoroutine(http.upload(b"two"))
    while not gated or gated[0].waiting < 2:
        await deferLater(reactor, 0.01, lambda: None)
    third = await http.upload(b"three")
    assert third.code == 429
    assert third.json()["type"] == LIMIT and third.json()["limit"] == "maxConcurrentUpload"
    # another user is not held back by alice's uploads
    bob = Deferred.fromCoroutine(http.upload(b"bob's", user="bob"))
    while gated[0].waiting < 3:
        await deferLater(reactor, 0.01, lambda: None)
    gated[0].gate.callback(None)
    replies = await gatherResults([first, second, bob])
    assert [r.code for r in replies] == [201, 201, 201]
    assert (await http.upload(b"four")).code == 201, "finished uploads give their slots back"
    assert http.app.blobs.uploads.running(http.alice) == 0


@pytest_twisted.ensureDeferred
async def test_accounts_of_other_users(http: HttpServer) -> None:
    mine = (await http.upload(b"alice's secret")).json()["blobId"]
    theirs = (await http.upload(b"bob's secret", user="bob")).json()["blobId"]
    reply = await http.upload(b"into bob's account", account_id=http.bob)
    assert reply.code == 404 and reply.header("Content-Type") == "application/problem+json"
    with pytest.raises(BlobNotFound):
        await http.store.blobs.stat(http.bob, blob_id_of(b"into bob's account"))
    unknown = await http.get(http.download_url(http.alice, "B" + "0" * 64))
    other_account = await http.get(http.download_url(http.bob, theirs))
    not_in_this_account = await http.get(http.download_url(http.bob, mine), user="bob")
    nonsense = await http.get(http.download_url(http.alice, "../../etc"))
    for reply in (unknown, other_account, not_in_this_account, nonsense):
        assert reply.code == 404
        assert reply.body == unknown.body, "nothing tells an existing blob from a missing one"


@pytest_twisted.ensureDeferred
async def test_authentication_is_required(http: HttpServer) -> None:
    blob = (await http.upload(b"x")).json()["blobId"]
    for reply in (
        await http.get(http.download_url(http.alice, blob), {"Authorization": "Bearer nope"}),
        await http.get(http.upload_url(http.alice), {"Authorization": ""}, method="POST"),
    ):
        assert reply.code == 401
        assert reply.header("WWW-Authenticate")


@pytest_twisted.ensureDeferred
async def test_store_outage_is_503(start_http: StartHttp) -> None:
    def unavailable() -> StoreBundle:
        raise StoreUnavailable("down")

    http = await start_http(blobs=lambda store, limits: BlobHttp(unavailable, limits))
    for reply in (await http.upload(b"x"),
                  await http.get(http.download_url(http.alice, "B" + "1" * 64))):
        assert reply.code == 503
        assert reply.header("Retry-After")


# -- §6.2 download: ranges --------------------------------------------------------------------

DATA = bytes(range(100))


@pytest.mark.parametrize(("range_header", "code", "content_range", "body"), [
    ("bytes=0-9", 206, "bytes 0-9/100", DATA[:10]),
    ("bytes=90-", 206, "bytes 90-99/100", DATA[90:]),
    ("bytes=-5", 206, "bytes 95-99/100", DATA[95:]),
    ("bytes=-500", 206, "bytes 0-99/100", DATA),
    ("bytes=50-5000", 206, "bytes 50-99/100", DATA[50:]),
    ("bytes=99-99", 206, "bytes 99-99/100", DATA[99:]),
    ("BYTES = 1-1", 206, "bytes 1-1/100", DATA[1:2]),
    ("bytes=100-", 416, "bytes */100", None),
    ("bytes=-0", 416, "bytes */100", None),
    ("bytes=0-1,5-6", 200, None, DATA),
    ("bytes=5-2", 200, None, DATA),
    ("bytes=x-y", 200, None, DATA),
    ("bytes=-", 200, None, DATA),
    ("items=0-1", 200, None, DATA),
])
@pytest_twisted.ensureDeferred
async def test_ranges(
    http: HttpServer, range_header: str, code: int, content_range: str | None,
    body: bytes | None,
) -> None:
    blob = (await http.upload(DATA)).json()["blobId"]
    reply = await http.get(http.download_url(http.alice, blob), {"Range": range_header})
    assert reply.code == code
    assert reply.header("Content-Range") == content_range
    if body is not None:
        assert reply.body == body
        assert reply.length == len(body)
    else:
        assert reply.header("Content-Type") == "application/problem+json"
        assert reply.json()["status"] == 416


@pytest_twisted.ensureDeferred
async def test_conditional_requests_and_head(http: HttpServer) -> None:
    blob = (await http.upload(DATA)).json()["blobId"]
    url = http.download_url(http.alice, blob)
    etag = f'"{blob}"'
    reply = await http.get(url, {"Range": "bytes=0-0", "If-Range": etag})
    assert (reply.code, reply.body) == (206, DATA[:1])
    reply = await http.get(url, {"Range": "bytes=0-0", "If-Range": '"other"'})
    assert (reply.code, reply.body) == (200, DATA)
    for tag in (etag, f"W/{etag}", f'"x", {etag}', "*"):
        reply = await http.get(url, {"If-None-Match": tag})
        assert (reply.code, reply.body) == (304, b"")
        assert reply.header("ETag") == etag
    assert (await http.get(url, {"If-None-Match": '"x"'})).code == 200
    reply = await http.get(url, method="HEAD")
    assert (reply.code, reply.body) == (200, b"")
    assert reply.header("Content-Length") == "100"  # a HEAD answer keeps it among the headers
    empty = (await http.upload(b"")).json()["blobId"]
    reply = await http.get(http.download_url(http.alice, empty), {"Range": "bytes=0-"})
    assert (reply.code, reply.header("Content-Range")) == (416, "bytes */0")


# -- §6.2 download: names and types -----------------------------------------------------------


@pytest.mark.parametrize(("name", "disposition"), [
    ("report.pdf", 'attachment; filename="report.pdf"'),
    ('my "best" report.pdf', "attachment; filename=\"my _best_ report.pdf\"; "
                             "filename*=UTF-8''my%20%22best%22%20report.pdf"),
    ("résumé €.txt", "attachment; filename=\"r_sum_ _.txt\"; "
                     "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt"),
    ("a/b\\c.txt", 'attachment; filename="a_b_c.txt"'),
    ("100%.txt", "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt"),
    ("evil\u202egpj.exe", "attachment; filename=\"evil_gpj.exe\""),
    ("tab\there\x7f.txt", 'attachment; filename="tab_here_.txt"'),
])
@pytest_twisted.ensureDeferred
async def test_names_become_safe_content_disposition(
    http: HttpServer, name: str, disposition: str
) -> None:
    blob = (await http.upload(b"named")).json()["blobId"]
    reply = await http.get(http.download_url(http.alice, blob, name))
    assert reply.code == 200, reply.body
    assert reply.header("Content-Disposition") == disposition


@pytest_twisted.ensureDeferred
async def test_a_name_with_a_line_break_is_no_download_url(http: HttpServer) -> None:
    blob = (await http.upload(b"named")).json()["blobId"]
    reply = await http.get(http.download_url(http.alice, blob, "two\r\nlines.txt"))
    assert reply.code == 404
    assert reply.header("Content-Type") == "application/problem+json"


@pytest.mark.parametrize(("asked", "answered"), [
    ("text/plain", "text/plain"),
    ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    (None, "application/octet-stream"),
    ("", "application/octet-stream"),
    ("text", "application/octet-stream"),
    ("text/html\r\nX-Evil: 1", "application/octet-stream"),
    ("text/plain; charset", "application/octet-stream"),
    ("ímage/png", "application/octet-stream"),
])
@pytest_twisted.ensureDeferred
async def test_download_type(http: HttpServer, asked: str | None, answered: str) -> None:
    blob = (await http.upload(b"typed")).json()["blobId"]
    reply = await http.get(http.download_url(http.alice, blob, "f", asked))
    assert reply.code == 200
    assert reply.header("Content-Type") == answered
    assert reply.header("X-Evil") is None


# -- the blob methods on uploaded blobs -------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_upload_then_blob_get_and_blob_upload_then_download(http: HttpServer) -> None:
    uploaded = (await http.upload(b"over http")).json()["blobId"]
    [get_response, upload_response] = await http.api(
        ["Blob/get", {"accountId": http.alice, "ids": [uploaded]}, "g"],
        ["Blob/upload", {"accountId": http.alice, "create": {
            "c": {"data": [{"blobId": uploaded, "offset": 5}, {"data:asText": "!"}],
                  "type": "text/plain"},
        }}, "u"],
    )
    assert get_response[1]["list"] == [{"id": uploaded, "data:asText": "over http", "size": 9}]
    created = upload_response[1]["created"]["c"]
    reply = await http.get(http.download_url(http.alice, created["id"], "x.txt", created["type"]))
    assert (reply.code, reply.body, reply.header("Content-Type")) == (200, b"http!", "text/plain")
    session = await http.get(http.base + "/jmap/session")
    assert BLOB in session.json()["accounts"][http.alice]["accountCapabilities"]
    assert CORE in session.json()["capabilities"]
