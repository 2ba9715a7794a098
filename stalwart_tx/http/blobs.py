"""Binary data over HTTP (RFC 8620 §6.1, §6.2): the upload and download endpoints.

Routes in ``http/app.py`` authenticate and call ``BlobHttp.upload`` / ``BlobHttp.download``;
errors are raised and become responses in app.py: RequestError ``limit`` (413 for
``maxSizeUpload``, 429 for ``maxConcurrentUpload``), werkzeug NotFound (404), StoreUnavailable
(503).

Choices where the RFC leaves room:

* **Accounts.** Only the user's own accounts can be uploaded to or downloaded from. Any other
  account id gets the same 404 as an unknown blob, so nothing tells whether it exists.
* **Upload bodies.** twisted.web hands a request to its resource once the whole body has arrived,
  spooled to an anonymous temporary file when it is over 100 KB, so it is never in memory. The
  upload checks ``Content-Length`` against ``maxSizeUpload`` before reading a byte, then reads the
  spool back in ``CHUNK_SIZE`` pieces straight into ``IBlobStore.open_upload``, counting, and stops
  at the limit (a chunked body has no length up front). Each read is one bounded call on a file
  that was just written (the page cache serves it); between pieces the reactor serves others
  while the store write is in flight. A thread hop per piece would cost more than the read.
  Refusing before the body reaches the disk would need a request factory that authenticates
  before the body arrives; the site does not have one.
* **Concurrency.** ``maxConcurrentUpload`` counts uploads being stored per user in this process.
* **Upload type.** The Content-Type header, when it is a valid media type; otherwise (or absent)
  ``application/octet-stream``.
* **Download type** from ``?type=`` when it is a valid media type, else
  ``application/octet-stream``; ``X-Content-Type-Options: nosniff`` and a sandboxing CSP keep a
  browser from running what it is told is HTML. ``Content-Disposition: attachment`` with the name
  as ``filename*`` (RFC 8187) and an ASCII ``filename`` fallback; control and format characters
  and path separators become ``_`` in both.
* **Ranges** (RFC 9110 §14): one byte range gives 206 with Content-Range; a range that starts past
  the end (or any range of an empty blob) gives 416 with ``Content-Range: bytes */size``; several
  ranges, a malformed header, or an ``If-Range`` that is not this blob's ETag are ignored and the
  whole blob is sent (200), as §14.2 allows. The ETag is the blob id; ``If-None-Match`` gets 304.
* **Streaming.** A download is read from the store ``CHUNK_SIZE`` at a time and written only when
  the connection has room (a push producer registered with the request), so a slow client costs
  one piece of memory, not the blob. If the client goes away the read stops.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable
from zope.interface import implementer

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.blob_chunks import CHUNK_SIZE, read_chunks
from stalwart_tx.http.cors import add_cors_headers
from stalwart_tx.http.problems import json_body
from stalwart_tx.jmap.concurrency import RequestConcurrencyLimiter
from stalwart_tx.jmap.errors import RequestError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import BlobNotFound, StoreUnavailable
from stalwart_tx.store.interfaces import IBlobUpload

DEFAULT_TYPE = "application/octet-stream"
# RFC 8620 §6.2: content behind a blob id never changes
CACHE_CONTROL = b"private, immutable, max-age=31536000"
NOT_FOUND = "There is no such blob in this account."

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
# RFC 9110 §8.3.1 media-type, ASCII only
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
# RFC 8187 attr-char beyond letters and digits
_ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"
# characters that must not reach a file name: controls, invisible formatting (a right-to-left
# override can disguise "gpj.exe" as "exe.jpg"), line separators, unpaired surrogates
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_RANGE = re.compile(r"(\d*)-(\d*)")

log = Logger()


def media_type_or_default(value: str | None) -> str:
    """``value`` when it is a syntactically valid media type, else application/octet-stream."""
    if value is not None:
        value = value.strip()
        if len(value) <= 255 and _MEDIA_TYPE.fullmatch(value):
            return value
    return DEFAULT_TYPE


def safe_file_name(name: str) -> str:
    cleaned = "".join(
        "_" if c in "/\\" or unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in name
    )
    return cleaned or "download"


def content_disposition(name: str) -> str:
    """``attachment`` with ``name`` as filename (RFC 6266), non-ASCII as filename* (RFC 8187)."""
    cleaned = safe_file_name(name)
    # the fallback is plain printable ASCII without quotes, backslashes or percent signs (some
    # browsers percent-decode filename=)
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in cleaned)
    value = f'attachment; filename="{fallback}"'
    if fallback != cleaned:
        value += "; filename*=UTF-8''" + quote(cleaned, safe=_ATTR_CHAR_PUNCTUATION)
    return value


class Unsatisfiable(Exception):
    """The one range asked for starts past the end of the blob."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` one byte range selects; None to send the whole blob.

    Raises Unsatisfiable for a well-formed single range no byte of the blob is in.
    """
    if header is None:
        return None
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in ranges.split(",") if s.strip()]
    if len(specs) != 1:
        return None  # several ranges (or none): we send the whole representation
    match = _RANGE.fullmatch(specs[0])
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable()
        return max(0, size - suffix), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid, so ignored (RFC 9110 §14.1.1)
    if start >= size:
        raise Unsatisfiable()
    end = size if last == "" else min(int(last) + 1, size)
    return start, end


def etag_of(blob_id: str) -> bytes:
    return b'"' + blob_id.encode("ascii") + b'"'


def _tags(header: bytes | None) -> list[bytes]:
    if header is None:
        return []
    return [t.strip().removeprefix(b"W/") for t in header.split(b",") if t.strip()]


@implementer(IPushProducer)
class _WriteGate:
    """Tells the download loop when the connection can take more (IPushProducer to the request)."""

    def __init__(self) -> None:
        self.paused = False
        self.stopped = False
        self._waiting: Deferred[None] | None = None

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def stopProducing(self) -> None:
        self.stopped = True
        self.resumeProducing()

    async def wait_for_room(self) -> None:
        if self.paused and not self.stopped:
            self._waiting = Deferred()
            await self._waiting


def store_not_configured() -> StoreBundle:
    raise StoreUnavailable("no store was given for blobs")


class BlobHttp:
    """The logic behind the upload and download routes.

    ``store`` is called per request and raises StoreUnavailable while the store is not open.
    """

    def __init__(
        self,
        store: Callable[[], StoreBundle] = store_not_configured,
        limits: CoreLimits | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.store = store
        self.limits = limits or CoreLimits()
        self.chunk_size = chunk_size
        self.uploads = RequestConcurrencyLimiter(
            self.limits.maxConcurrentUpload, "maxConcurrentUpload", "uploads"
        )

    @staticmethod
    def _check_account(user: IMailUser, account_id: str) -> None:
        if account_id != user.account_id:
            raise NotFound(NOT_FOUND)

    def _too_large(self) -> RequestError:
        return RequestError.limit(
            "maxSizeUpload", f"An upload may be at most {self.limits.maxSizeUpload} octets.",
            status=413,
        )

    async def upload(self, request: IRequest, user: IMailUser, account_id: str) -> bytes:
        """RFC 8620 §6.1: store the body as a blob; 201 with accountId, blobId, type, size."""
        add_cors_headers(request)
        self._check_account(user, account_id)
        declared = request.getHeader(b"Content-Length")
        if declared is not None and declared.strip().isdigit():
            if int(declared) > self.limits.maxSizeUpload:
                raise self._too_large()
        header = request.getHeader(b"Content-Type")
        media_type = media_type_or_default(header.decode("latin-1") if header else None)
        with self.uploads.slot(user.principal_id):
            blobs = self.store().blobs
            small = self._small_body(request)
            if small is not None:
                # one store call instead of a write per piece and a commit: most mail is small
                info = await blobs.put(account_id, small)
            else:
                upload = await blobs.open_upload(account_id)
                try:
                    await self._copy_body(request, upload)
                    info = await upload.commit()
                except BaseException:
                    await upload.abort()
                    raise
        return json_body(
            request,
            {"accountId": account_id, "blobId": info.blob_id, "type": media_type,
             "size": info.size},
            status=201,
        )

    def _small_body(self, request: IRequest) -> bytes | None:
        """The whole body when it is at most one piece (``chunk_size``), else None."""
        content = request.content
        if content is None:
            return b""
        content.seek(0)
        body: bytes = content.read(self.chunk_size + 1)
        if len(body) > min(self.chunk_size, self.limits.maxSizeUpload):
            return None  # streamed piece by piece, and the size checked as it goes
        return body

    async def _copy_body(self, request: IRequest, upload: IBlobUpload) -> None:
        content = request.content
        if content is None:
            return
        content.seek(0)
        received = 0
        while piece := content.read(self.chunk_size):
            received += len(piece)
            if received > self.limits.maxSizeUpload:
                raise self._too_large()
            await upload.write(piece)

    async def download(
        self, request: IRequest, user: IMailUser, account_id: str, blob_id: str, name: str
    ) -> bytes:
        """RFC 8620 §6.2: the blob's bytes (or one range of them), as type and name say."""
        add_cors_headers(request)
        self._check_account(user, account_id)
        blobs = self.store().blobs
        try:
            size = (await blobs.stat(account_id, blob_id)).size
        except BlobNotFound:
            raise NotFound(NOT_FOUND) from None
        etag = etag_of(blob_id)
        request.setHeader(b"ETag", etag)
        request.setHeader(b"Cache-Control", CACHE_CONTROL)
        request.setHeader(b"Accept-Ranges", b"bytes")
        if any(t in (etag, b"*") for t in _tags(request.getHeader(b"If-None-Match"))):
            request.setResponseCode(304)
            return b""
        start, end = self._selected_range(request, etag, size)
        arguments = request.args or {}
        media_type = media_type_or_default(
            arguments[b"type"][0].decode("utf-8", "replace") if b"type" in arguments else None
        )
        request.setHeader(b"Content-Type", media_type.encode("ascii"))
        request.setHeader(b"Content-Disposition", content_disposition(name).encode("ascii"))
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy", b"default-src 'none'; sandbox")
        request.setHeader(b"Content-Length", str(end - start).encode())
        if request.method == b"HEAD":
            return b""
        await self._stream(request, account_id, blob_id, start, end)
        return b""

    def _selected_range(self, request: IRequest, etag: bytes, size: int) -> tuple[int, int]:
        header = request.getHeader(b"Range")
        if_range = request.getHeader(b"If-Range")
        if header is None or (if_range is not None and if_range.strip() != etag):
            return 0, size
        try:
            selected = parse_range(header.decode("latin-1"), size)
        except Unsatisfiable:
            request.setHeader(b"Content-Range", f"bytes */{size}".encode())
            raise RequestedRangeNotSatisfiable(
                description=f"The blob has {size} octets; the range asked for is outside them.",
            ) from None
        if selected is None:
            return 0, size
        start, end = selected
        request.setResponseCode(206)
        request.setHeader(b"Content-Range", f"bytes {start}-{end - 1}/{size}".encode())
        return start, end

    async def _stream(
        self, request: IRequest, account_id: str, blob_id: str, start: int, end: int
    ) -> None:
        gate = _WriteGate()
        consumer = IConsumer(request)  # twisted.web's Request is the connection's consumer
        consumer.registerProducer(gate, True)
        try:
            async for piece in read_chunks(
                self.store().blobs, account_id, blob_id, start, end, self.chunk_size
            ):
                await gate.wait_for_room()
                if gate.stopped:
                    return
                request.write(piece)
        except BlobNotFound:
            # deleted while being sent (an expired blob): the headers are out, so all that is
            # left is to cut the connection rather than pretend the short body is whole
            log.warn("Blob {blob_id} vanished during its download", blob_id=blob_id)
            request.channel.transport.abortConnection()  # type: ignore[attr-defined]
        finally:
            consumer.unregisterProducer()

