"""Which objects reference which blobs: the registry behind Blob/lookup and blob claims.

A data type whose objects keep blobs alive registers, once, how to find the blob ids in one of
its objects (a function of the object's JSON value):

    from stalwart_tx.jmap.blob_refs import BLOB_REFERENCES
    BLOB_REFERENCES.register("Email", MAIL, lambda email: [email.get("blobId")])

A type that references blobs only through another type's objects (RFC 9404 §4.3: a Mailbox
references the blobs of its Emails) registers how to get its ids from those objects:

    BLOB_REFERENCES.register_derived("Mailbox", MAIL, via="Email",
                                     ids=lambda email: email.get("mailboxIds", {}))
    BLOB_REFERENCES.register_derived("Thread", MAIL, via="Email",
                                     ids=lambda email: [email.get("threadId")])

Writes keep the store's claims in step, atomically with the objects, by adding claims and
releases to the WriteBatch just before writing it::

    batch = WriteBatch().create("Email", "e1", new).update("Email", "e2", changed)
    BLOB_REFERENCES.add_claims(batch, previous={("Email", "e2"): value_before})
    await ctx.store.accounts.write(account_id, batch)   # BlobNotFound: a claimed blob is gone

``previous`` holds the value before the write of every updated and destroyed object of a type
that references blobs (a destroy releases what its object held). The store raises BlobNotFound,
with nothing applied, when a claimed blob is not in the account; ``blob_not_found`` turns that
into the RFC 8621 SetError. Only ids of blobs the store holds may be returned by an extractor:
ids the server derives from other content (a part of a message) are not claimable.

Blob/lookup answers from the store's claims (IBlobStore.referrers), never by scanning objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject, WriteBatch

IdsOf = Callable[[JSONObject], Iterable[object]]


@dataclass(frozen=True)
class ReferencingType:
    """A type name Blob/lookup accepts, the capability that defines it, and how it refers."""

    type_name: str
    capability: str
    # direct: the blob ids in one object of this type
    blob_ids: IdsOf | None = None
    # derived: the type whose objects hold the blobs, and this type's ids in one of those
    via: str | None = None
    ids_via: IdsOf | None = None


class BlobReferenceRegistry:
    def __init__(self) -> None:
        self._types: dict[str, ReferencingType] = {}

    def register(self, type_name: str, capability: str, blob_ids: IdsOf) -> None:
        """Objects of ``type_name`` reference the blobs ``blob_ids(object)`` names."""
        self._add(ReferencingType(type_name, capability, blob_ids=blob_ids))

    def register_derived(self, type_name: str, capability: str, *, via: str, ids: IdsOf) -> None:
        """``type_name`` references what the ``via`` objects do; ``ids(via_object)`` are its ids."""
        self._add(ReferencingType(type_name, capability, via=via, ids_via=ids))

    def _add(self, entry: ReferencingType) -> None:
        if entry.type_name in self._types:
            raise ValueError(f"{entry.type_name} already declares its blob references")
        self._types[entry.type_name] = entry

    def get(self, type_name: str) -> ReferencingType | None:
        return self._types.get(type_name)

    def type_names(self) -> list[str]:
        """Every type Blob/lookup knows (the capability's ``supportedTypeNames``)."""
        return sorted(self._types)

    def blob_ids(self, type_name: str, value: JSONObject | None) -> set[str]:
        """The blob ids an object of ``type_name`` references (none for a type that refers by
        way of another, or for no object)."""
        entry = self._types.get(type_name)
        if value is None or entry is None or entry.blob_ids is None:
            return set()
        return _strings(entry.blob_ids(value))

    def ids_via(self, type_name: str, value: JSONObject) -> set[str]:
        """For a derived type, its ids found in one object of its ``via`` type."""
        entry = self._types.get(type_name)
        if entry is None or entry.ids_via is None:
            return set()
        return _strings(entry.ids_via(value))

    def track(
        self,
        batch: WriteBatch,
        type_name: str,
        object_id: str,
        before: JSONObject | None,
        after: JSONObject | None,
    ) -> None:
        """Claim what ``after`` references and ``before`` did not; release the reverse.

        ``before`` is None for a create, ``after`` None for a destroy.
        """
        old = self.blob_ids(type_name, before)
        new = self.blob_ids(type_name, after)
        for blob_id in sorted(old - new):
            batch.release_blob(blob_id, type_name, object_id)
        for blob_id in sorted(new - old):
            batch.claim_blob(blob_id, type_name, object_id)

    def add_claims(
        self, batch: WriteBatch, previous: Mapping[tuple[str, str], JSONObject]
    ) -> WriteBatch:
        """Add the claims and releases of every object write in ``batch``; see the module doc.

        Raises ValueError when an update or destroy of a type that references blobs has no
        ``previous`` value: its releases could not be known, and blobs would stay claimed forever.
        """
        for type_name, object_id, value in batch.creates:
            self.track(batch, type_name, object_id, None, value)
        for type_name, object_id, value in batch.updates:
            self.track(batch, type_name, object_id, self._before(previous, type_name, object_id),
                       value)
        for type_name, object_id in batch.destroys:
            self.track(batch, type_name, object_id, self._before(previous, type_name, object_id),
                       None)
        return batch

    def _before(
        self, previous: Mapping[tuple[str, str], JSONObject], type_name: str, object_id: str
    ) -> JSONObject | None:
        entry = self._types.get(type_name)
        if entry is None or entry.blob_ids is None:
            return None
        try:
            return previous[(type_name, object_id)]
        except KeyError:
            raise ValueError(
                f"{type_name} {object_id!r}: its value before the write is needed to release the "
                "blobs it referenced"
            ) from None


def _strings(found: Iterable[object]) -> set[str]:
    # an object in the middle of validation may hold anything where an id belongs
    return {item for item in found if isinstance(item, str) and item}


def blob_not_found(error: BlobNotFound) -> SetError:
    """The SetError of a write whose claimed blob is not there (RFC 8621 ``blobNotFound``)."""
    missing = error.args[0] if error.args else ""
    return SetError(
        "blobNotFound", f"The blob {missing!r} does not exist in this account.",
        extra={"notFound": [missing]},
    )


BLOB_REFERENCES = BlobReferenceRegistry()
"""The registry the server runs with; data type modules register with it when imported."""
