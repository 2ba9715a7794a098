"""Plain values passed across the store interfaces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONObject = dict[str, Any]


@dataclass
class WriteBatch:
    """Object writes of one account that a store applies atomically, all or nothing.

    Values are whole JSON objects (the method layer computes them); a store never merges. Every
    write is checked before anything is applied: a create of an existing id raises ObjectExists,
    an update or destroy of a missing id raises ObjectNotFound, and a type listed in
    ``if_in_state`` whose state moved raises StateMismatch. An id appears at most once per type in
    a batch.

    Blob references ride along, atomic with the object writes: ``claim_blob`` records that an
    object (type, id) now references a blob of the account, ``release_blob`` that it no longer
    does. A claim of a blob the account does not hold raises BlobNotFound, with nothing applied.
    Releases are applied before claims, claiming twice or releasing what was never claimed
    changes nothing, and a blob whose last claim is released becomes unreferenced again (it
    expires later; see IBlobStore). ``is_empty`` speaks of object writes only: claims and
    releases are applied even in a batch without any.
    """

    creates: list[tuple[str, str, JSONObject]] = field(default_factory=list)
    updates: list[tuple[str, str, JSONObject]] = field(default_factory=list)
    destroys: list[tuple[str, str]] = field(default_factory=list)
    if_in_state: dict[str, str] = field(default_factory=dict)
    # (blob id, type name, object id): which object starts or stops referencing which blob
    blob_claims: list[tuple[str, str, str]] = field(default_factory=list)
    blob_releases: list[tuple[str, str, str]] = field(default_factory=list)

    def create(self, type_name: str, object_id: str, value: JSONObject) -> WriteBatch:
        self.creates.append((type_name, object_id, value))
        return self

    def update(self, type_name: str, object_id: str, value: JSONObject) -> WriteBatch:
        self.updates.append((type_name, object_id, value))
        return self

    def destroy(self, type_name: str, object_id: str) -> WriteBatch:
        self.destroys.append((type_name, object_id))
        return self

    def require_state(self, type_name: str, state: str) -> WriteBatch:
        self.if_in_state[type_name] = state
        return self

    def claim_blob(self, blob_id: str, type_name: str, object_id: str) -> WriteBatch:
        self.blob_claims.append((blob_id, type_name, object_id))
        return self

    def release_blob(self, blob_id: str, type_name: str, object_id: str) -> WriteBatch:
        self.blob_releases.append((blob_id, type_name, object_id))
        return self

    def is_empty(self) -> bool:
        return not (self.creates or self.updates or self.destroys)


@dataclass(frozen=True)
class WriteResult:
    """What an applied batch did.

    ``new_states`` has the state of every type the batch touched. ``modseqs`` gives each written
    object (type, id) the account modification sequence it was stamped with; every object change in
    an account gets a distinct, increasing modseq, which later serves as IMAP MODSEQ.
    """

    new_states: Mapping[str, str]
    modseqs: Mapping[tuple[str, str], int]
    account_modseq: int


@dataclass(frozen=True)
class Changes:
    """Answer of IChangeLog.changes_since, shaped like a JMAP /changes response.

    ``new_state`` is the state reached by applying exactly these changes; when ``has_more`` is true
    it is an intermediate state and asking again from it continues without skipping or repeating.
    """

    old_state: str
    new_state: str
    has_more: bool
    created: tuple[str, ...]
    updated: tuple[str, ...]
    destroyed: tuple[str, ...]


@dataclass(frozen=True)
class StateChange:
    """A notification that some types of one account have new states."""

    account_id: str
    changed: Mapping[str, str]


@dataclass(frozen=True)
class BlobInfo:
    blob_id: str
    size: int


@dataclass(frozen=True)
class Principal:
    """A user (or later, a group or resource) of the directory; its id is its JMAP account id."""

    id: str
    name: str
    kind: str = "individual"
    password_hash: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class TokenRecord:
    """An API token: only a hash of its secret is ever stored."""

    token_id: str
    principal_id: str
    secret_hash: str
    created_at: float
    label: str = ""
