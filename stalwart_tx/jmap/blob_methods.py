"""Blob methods: Blob/copy (RFC 8620 §6.3) and urn:ietf:params:jmap:blob (RFC 9404 §4).

Blob/copy belongs to urn:ietf:params:jmap:core; Blob/upload, Blob/get and Blob/lookup to
urn:ietf:params:jmap:blob, whose account capability advertises ``maxSizeBlobSet`` (the core
``maxSizeUpload``), ``maxDataSources``, ``supportedTypeNames`` (the types registered in
``stalwart_tx.jmap.blob_refs``) and ``supportedDigestAlgorithms``.

Choices where the RFCs leave room, each visible in the tests:

* Blob/get needs ``ids`` (blobs cannot be listed: ``null`` is invalidArguments); an id given twice
  is answered once; ``#creationId`` ids are resolved (RFC 9404's examples use them). No ``state``
  is returned: blobs are immutable and have none.
* Blob/upload: a malformed data source, an unknown or out-of-range ``blobId`` source and bad
  base64 are ``invalidProperties`` naming the source (``data/2``); more than ``maxDataSources``
  sources too; a result over ``maxSizeBlobSet`` is ``tooLarge``. Without ``type`` the blob's type
  is ``application/octet-stream``.
* Blob/copy to the account the blob is already in copies nothing and answers the same id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stalwart_tx.blob_chunks import copy_blob, read_chunks, write_range
from stalwart_tx.jmap.blob_refs import BLOB_REFERENCES, BlobReferenceRegistry
from stalwart_tx.jmap.capabilities import BLOB, CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.references import UnknownCreationId, resolve_id
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec, RegistryOptions
from stalwart_tx.jmap.standard.arguments import creations
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.interfaces import IBlobUpload
from stalwart_tx.store.memory import is_blob_id
from stalwart_tx.store.records import BlobInfo

# RFC 9404 §4.1: servers MUST accept at least 64 data sources per creation
MAX_DATA_SOURCES = 64
DEFAULT_TYPE = "application/octet-stream"
# name in "digest:<name>" (RFC 3230 names, lowercased) -> hash constructor
DIGESTS: dict[str, Callable[[], Any]] = {"sha": hashlib.sha1, "sha-256": hashlib.sha256}
DATA_PROPERTIES = frozenset({"data", "data:asText", "data:asBase64"})
GET_PROPERTIES = DATA_PROPERTIES | {"id", "size"} | {f"digest:{name}" for name in DIGESTS}
# result flags: a client asking for them gets them when they apply, as always
FLAG_PROPERTIES = frozenset({"isEncodingProblem", "isTruncated"})
DEFAULT_GET_PROPERTIES = ["data", "size"]


def blob_capability(limits: CoreLimits, references: BlobReferenceRegistry) -> CapabilitySpec:
    def account_value(account_id: str) -> JSONObject:
        return {
            "maxSizeBlobSet": limits.maxSizeUpload,
            "maxDataSources": MAX_DATA_SOURCES,
            # read at each session: types register when their modules are imported
            "supportedTypeNames": references.type_names(),
            "supportedDigestAlgorithms": list(DIGESTS),
        }

    return CapabilitySpec(uri=BLOB, session_value=dict, account_value=account_value)


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    return [blob_capability(options.limits, BLOB_REFERENCES)]


# -- argument checks --------------------------------------------------------------------------


def _is_unsigned(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _string_list(arguments: JSONObject, name: str) -> list[str]:
    value = arguments.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MethodError.invalid_arguments(f'"{name}" must be an array of Strings.')
    return value


def _unsigned_argument(arguments: JSONObject, name: str) -> int | None:
    value = arguments.get(name)
    if value is not None and not _is_unsigned(value):
        raise MethodError.invalid_arguments(f'"{name}" must be an UnsignedInt or null.')
    return value


def _resolve(ctx: RequestContext, blob_id: str) -> str | None:
    """The blob id ``blob_id`` names (resolving ``#creationId``); None for an unknown creation."""
    try:
        return resolve_id(ctx, blob_id)
    except UnknownCreationId:
        return None


# -- Blob/copy --------------------------------------------------------------------------------


async def blob_copy(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """RFC 8620 §6.3: copy blobs from another account of the user into ``accountId``."""
    account_id: str = arguments["accountId"]
    from_account = arguments.get("fromAccountId")
    if not isinstance(from_account, str):
        raise MethodError.invalid_arguments('"fromAccountId" must be a String.')
    if from_account not in ctx.account_ids():
        raise MethodError.from_account_not_found()
    blob_ids = _string_list(arguments, "blobIds")
    if len(blob_ids) > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(
            f"At most {ctx.limits.maxObjectsInSet} blobs can be copied in one call."
        )
    blobs = ctx.store.blobs
    copied: dict[str, str] = {}
    not_copied: dict[str, JSONObject] = {}
    for blob_id in dict.fromkeys(blob_ids):
        source = _resolve(ctx, blob_id)
        try:
            if source is None:
                raise BlobNotFound(blob_id)
            info = await blobs.stat(from_account, source)
            if from_account != account_id:
                info = await copy_blob(blobs, from_account, account_id, source, info.size)
        except BlobNotFound:
            not_copied[blob_id] = SetError(
                "notFound", f"There is no blob {blob_id!r} in the account to copy from."
            ).to_json()
            continue
        copied[blob_id] = info.blob_id
    return {
        "fromAccountId": from_account,
        "accountId": account_id,
        "copied": copied or None,
        "notCopied": not_copied or None,
    }


# -- Blob/upload ------------------------------------------------------------------------------


class InvalidCreation(Exception):
    def __init__(self, error: SetError) -> None:
        super().__init__(error.description)
        self.error = error


def _invalid(path: str, description: str) -> InvalidCreation:
    return InvalidCreation(SetError("invalidProperties", description, properties=[path]))


@dataclass(frozen=True)
class Literal:
    data: bytes


@dataclass(frozen=True)
class BlobRange:
    blob_id: str
    start: int
    end: int


Source = Literal | BlobRange
SOURCE_KINDS = ("data:asText", "data:asBase64", "blobId")


async def _parse_source(ctx: RequestContext, account_id: str, path: str, item: object) -> Source:
    """One DataSourceObject (RFC 9404 §4.1), checked against the store for a blob range."""
    if not isinstance(item, dict):
        raise _invalid(path, "A data source must be an object.")
    kinds = [kind for kind in SOURCE_KINDS if kind in item]
    if len(kinds) != 1:
        raise _invalid(path, 'A data source has exactly one of "data:asText", "data:asBase64" '
                             'and "blobId".')
    kind = kinds[0]
    allowed = {"blobId", "offset", "length"} if kind == "blobId" else {kind}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise _invalid(f"{path}/{unknown[0]}", f"A {kind} source has no {unknown[0]!r}.")
    value = item[kind]
    if kind == "data:asText":
        if not isinstance(value, str):
            raise _invalid(f"{path}/{kind}", "data:asText must be a String.")
        try:
            return Literal(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise _invalid(f"{path}/{kind}", "data:asText is not valid Unicode.") from None
    if kind == "data:asBase64":
        if not isinstance(value, str):
            raise _invalid(f"{path}/{kind}", "data:asBase64 must be a String.")
        try:
            return Literal(base64.b64decode(value.encode("ascii"), validate=True))
        except (UnicodeEncodeError, binascii.Error):
            raise _invalid(f"{path}/{kind}", "data:asBase64 is not valid base64.") from None
    return await _parse_blob_range(ctx, account_id, path, item)


async def _parse_blob_range(
    ctx: RequestContext, account_id: str, path: str, item: JSONObject
) -> BlobRange:
    named = item["blobId"]
    offset = item.get("offset")
    length = item.get("length")
    if not isinstance(named, str):
        raise _invalid(f"{path}/blobId", "blobId must be an Id.")
    for name, number in (("offset", offset), ("length", length)):
        if number is not None and not _is_unsigned(number):
            raise _invalid(f"{path}/{name}", f"{name} must be an UnsignedInt or null.")
    blob_id = _resolve(ctx, named)
    try:
        if blob_id is None:
            raise BlobNotFound(named)
        size = (await ctx.store.blobs.stat(account_id, blob_id)).size
    except BlobNotFound:
        raise _invalid(f"{path}/blobId", f"There is no blob {named!r}.") from None
    start = offset or 0
    end = size if length is None else start + length
    if start > size or end > size:
        raise _invalid(path, f"The range {start}-{end} goes past the end of the blob ({size}).")
    return BlobRange(blob_id, start, end)


async def _store_sources(
    ctx: RequestContext, account_id: str, sources: list[Source]
) -> BlobInfo:
    upload: IBlobUpload = await ctx.store.blobs.open_upload(account_id)
    try:
        for source in sources:
            if isinstance(source, Literal):
                await upload.write(source.data)
            else:
                await write_range(
                    upload, ctx.store.blobs, account_id, source.blob_id, source.start, source.end
                )
        return await upload.commit()
    except BaseException:
        await upload.abort()
        raise


async def _create_blob(
    ctx: RequestContext, account_id: str, upload_object: object
) -> tuple[BlobInfo, str]:
    if not isinstance(upload_object, dict):
        raise InvalidCreation(SetError("invalidProperties", "An UploadObject must be an object."))
    unknown = sorted(set(upload_object) - {"data", "type"})
    if unknown:
        raise _invalid(unknown[0], f"An UploadObject has no {unknown[0]!r}.")
    media_type = upload_object.get("type")
    if media_type is not None and not isinstance(media_type, str):
        raise _invalid("type", "type must be a String or null.")
    data = upload_object.get("data")
    if not isinstance(data, list):
        raise _invalid("data", "data must be an array of data sources.")
    if len(data) > MAX_DATA_SOURCES:
        raise _invalid("data", f"At most {MAX_DATA_SOURCES} data sources are allowed.")
    sources = [
        await _parse_source(ctx, account_id, f"data/{index}", item)
        for index, item in enumerate(data)
    ]
    size = sum(
        len(s.data) if isinstance(s, Literal) else s.end - s.start for s in sources
    )
    if size > ctx.limits.maxSizeUpload:
        raise InvalidCreation(SetError(
            "tooLarge", f"The blob would be {size} octets; at most {ctx.limits.maxSizeUpload}."
        ))
    try:
        info = await _store_sources(ctx, account_id, sources)
    except BlobNotFound as gone:
        # a source blob expired between the check and the copy
        raise _invalid("data", f"The blob {gone.args[0]!r} is gone.") from None
    return info, media_type or DEFAULT_TYPE


async def blob_upload(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """RFC 9404 §4.1: create blobs from data in the request and from ranges of other blobs."""
    account_id: str = arguments["accountId"]
    create = creations(arguments) or {}
    if len(create) > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(
            f"At most {ctx.limits.maxObjectsInSet} blobs can be created in one call."
        )
    created: dict[str, JSONObject] = {}
    not_created: dict[str, JSONObject] = {}
    for creation_id, upload_object in create.items():
        try:
            info, media_type = await _create_blob(ctx, account_id, upload_object)
        except InvalidCreation as invalid:
            not_created[creation_id] = invalid.error.to_json()
            continue
        created[creation_id] = {"id": info.blob_id, "type": media_type, "size": info.size}
        # later sources (in this call too) and later calls may name it "#creationId"
        ctx.created_ids[creation_id] = info.blob_id
    return {
        "accountId": account_id,
        "created": created or None,
        "notCreated": not_created or None,
    }


# -- Blob/get ---------------------------------------------------------------------------------


def _get_properties(arguments: JSONObject) -> list[str]:
    if arguments.get("properties") is None:
        return DEFAULT_GET_PROPERTIES
    properties = _string_list(arguments, "properties")
    unknown = [p for p in properties if p not in GET_PROPERTIES | FLAG_PROPERTIES]
    if unknown:
        raise MethodError.invalid_arguments(f"Blob has no property {unknown[0]!r}.")
    return properties


async def _blob_entry(
    ctx: RequestContext,
    account_id: str,
    blob_id: str,
    size: int,
    properties: list[str],
    offset: int,
    length: int | None,
) -> JSONObject:
    start = min(offset, size)
    end = size if length is None else min(offset + length, size)
    truncated = offset > size or (length is not None and offset + length > size)
    hashes = {
        name: DIGESTS[name.removeprefix("digest:")]()
        for name in properties if name.startswith("digest:")
    }
    keep = any(p in DATA_PROPERTIES for p in properties)
    pieces: list[bytes] = []
    async for piece in read_chunks(ctx.store.blobs, account_id, blob_id, start, end):
        for digest in hashes.values():
            digest.update(piece)
        if keep:
            pieces.append(piece)
    data = b"".join(pieces)
    entry: JSONObject = {"id": blob_id}
    text: str | None = None
    if keep:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    for name in properties:
        if name == "size":
            entry["size"] = size
        elif name in hashes:
            entry[name] = base64.b64encode(hashes[name].digest()).decode("ascii")
        elif name == "data:asBase64" or (name == "data" and text is None):
            entry["data:asBase64"] = base64.b64encode(data).decode("ascii")
        elif name in ("data", "data:asText"):
            entry["data:asText"] = text
    if text is None and (set(properties) & {"data", "data:asText"}):
        entry["isEncodingProblem"] = True
    if truncated:
        entry["isTruncated"] = True
    return entry


async def blob_get(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """RFC 9404 §4.2: blob contents (as text or base64), digests and sizes, of a range."""
    account_id: str = arguments["accountId"]
    if arguments.get("ids") is None:
        raise MethodError.invalid_arguments('"ids" is required: blobs cannot be listed.')
    ids = _string_list(arguments, "ids")
    if len(ids) > ctx.limits.maxObjectsInGet:
        raise MethodError.request_too_large(
            f"At most {ctx.limits.maxObjectsInGet} blobs can be fetched in one call."
        )
    properties = _get_properties(arguments)
    offset = _unsigned_argument(arguments, "offset") or 0
    length = _unsigned_argument(arguments, "length")
    found: list[JSONObject] = []
    not_found: list[str] = []
    for named in dict.fromkeys(ids):
        blob_id = _resolve(ctx, named)
        try:
            if blob_id is None:
                raise BlobNotFound(named)
            size = (await ctx.store.blobs.stat(account_id, blob_id)).size
            found.append(
                await _blob_entry(ctx, account_id, blob_id, size, properties, offset, length)
            )
        except BlobNotFound:
            not_found.append(named)
    return {"accountId": account_id, "list": found, "notFound": not_found}


# -- Blob/lookup ------------------------------------------------------------------------------


class BlobMethods:
    """Blob/lookup answers from a BlobReferenceRegistry (the server's, or a test's own)."""

    def __init__(self, references: BlobReferenceRegistry) -> None:
        self.references = references

    async def lookup(self, ctx: RequestContext, arguments: JSONObject) -> JSONObject:
        """RFC 9404 §4.3: which objects of the given types reference each blob."""
        account_id: str = arguments["accountId"]
        type_names = _string_list(arguments, "typeNames")
        ids = _string_list(arguments, "ids")
        if len(ids) > ctx.limits.maxObjectsInGet:
            raise MethodError.request_too_large(
                f"At most {ctx.limits.maxObjectsInGet} blobs can be looked up in one call."
            )
        for type_name in type_names:
            entry = self.references.get(type_name)
            if entry is None or entry.capability not in ctx.using:
                raise MethodError(
                    "unknownDataType",
                    f"{type_name!r} is not a type that can reference blobs, or its capability "
                    "is not in the request's using.",
                )
        resolved = {named: _resolve(ctx, named) for named in dict.fromkeys(ids)}
        referrers = await ctx.store.blobs.referrers(
            account_id, [b for b in resolved.values() if b is not None]
        )
        via_objects = await self._via_objects(ctx, account_id, type_names, referrers)
        found: list[JSONObject] = []
        not_found: list[str] = []
        for named, blob_id in resolved.items():
            if blob_id is None or (blob_id not in referrers and not is_blob_id(blob_id)):
                not_found.append(named)  # no blob could have that id
                continue
            if blob_id not in referrers:
                # §4.3: a blob id this user cannot see, or one not stored at all, is answered
                # like an unreferenced blob of theirs, so the answer tells them nothing
                found.append({"id": blob_id, "matchedIds": {t: [] for t in type_names}})
                continue
            matched = {
                type_name: self._matched(type_name, referrers[blob_id], via_objects)
                for type_name in type_names
            }
            found.append({"id": blob_id, "matchedIds": matched})
        return {"accountId": account_id, "list": found, "notFound": not_found}

    async def _via_objects(
        self,
        ctx: RequestContext,
        account_id: str,
        type_names: list[str],
        referrers: dict[str, set[tuple[str, str]]],
    ) -> dict[tuple[str, str], JSONObject]:
        """The referring objects derived types need, read once per type."""
        wanted: dict[str, set[str]] = {}
        for type_name in type_names:
            entry = self.references.get(type_name)
            if entry is not None and entry.via is not None:
                wanted.setdefault(entry.via, set())
        for held in referrers.values():
            for type_name, object_id in held:
                if type_name in wanted:
                    wanted[type_name].add(object_id)
        objects: dict[tuple[str, str], JSONObject] = {}
        for type_name, object_ids in wanted.items():
            if object_ids:
                got = await ctx.store.accounts.get(account_id, type_name, sorted(object_ids))
                objects.update({(type_name, i): value for i, value in got.items()})
        return objects

    def _matched(
        self,
        type_name: str,
        held: set[tuple[str, str]],
        via_objects: dict[tuple[str, str], JSONObject],
    ) -> list[str]:
        entry = self.references.get(type_name)
        assert entry is not None
        if entry.via is None:
            return sorted(i for t, i in held if t == type_name)
        found: set[str] = set()
        for t, i in held:
            value = via_objects.get((t, i)) if t == entry.via else None
            if value is not None:
                found |= self.references.ids_via(type_name, value)
        return sorted(found)


def make_methods(references: BlobReferenceRegistry = BLOB_REFERENCES) -> list[MethodSpec]:
    lookup = BlobMethods(references).lookup
    return [
        MethodSpec(name="Blob/copy", capability=CORE, handler=blob_copy, writes=True),
        MethodSpec(name="Blob/upload", capability=BLOB, handler=blob_upload, writes=True),
        MethodSpec(name="Blob/get", capability=BLOB, handler=blob_get),
        MethodSpec(name="Blob/lookup", capability=BLOB, handler=lookup),
    ]


METHODS: list[MethodSpec] = make_methods()
