"""In-memory account store, change log, blob store and notifier.

Real code, not a test helper: it backs single-process deployments and tests of the layers above,
and the conformance tests hold it to exactly the behaviour of the Redis store. The state tokens,
value checks and blob ids defined here are the ones the Redis store uses too.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from inspect import iscoroutine
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from stalwart_tx.store.errors import (
    BlobNotFound,
    CannotCalculateChanges,
    InvalidState,
    ObjectExists,
    ObjectNotFound,
    StateMismatch,
    TooManyObjects,
)
from stalwart_tx.store.interfaces import (
    IAccountStore,
    IBlobStore,
    IBlobUpload,
    IChangeLog,
    IClaims,
    IIndexStore,
    INotifier,
    ISubscription,
)
from stalwart_tx.store.memory_indexes import DerivedData
from stalwart_tx.store.records import (
    BlobInfo,
    Changes,
    ChangesRequest,
    IndexPage,
    IndexRequest,
    JSONObject,
    MarkReading,
    MarkRequest,
    Plan,
    Snapshot,
    StateChange,
    WriteBatch,
    WriteResult,
    check_name,
    counter_of,
    with_counters,
)

log = Logger()

Listener = Callable[[StateChange], object]


# -- notifier ---------------------------------------------------------------------------------


@implementer(ISubscription)
class _Subscription:
    def __init__(self, listeners: list[Listener], listener: Listener) -> None:
        self._listeners = listeners
        self._listener = listener

    async def cancel(self) -> None:
        # identity, not equality: the same bound method may be subscribed twice
        for index, candidate in enumerate(self._listeners):
            if candidate is self._listener:
                del self._listeners[index]
                return


@implementer(INotifier)
class MemoryNotifier:
    """In-process fan-out; also the local delivery half of the Redis notifier."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def publish(self, change: StateChange) -> None:
        self.deliver(change)

    async def subscribe(self, listener: Listener) -> _Subscription:
        return self.add_listener(listener)

    def add_listener(self, listener: Listener) -> _Subscription:
        self._listeners.append(listener)
        return _Subscription(self._listeners, listener)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def deliver(self, change: StateChange) -> None:
        """Call every listener; one that raises (now or later, if it is async) harms no other."""
        for listener in list(self._listeners):
            try:
                outcome = listener(change)
            except Exception:
                log.failure("state change listener {listener!r} failed", listener=listener)
                continue
            _watch_outcome(listener, outcome)


def _watch_outcome(listener: Listener, outcome: object) -> None:
    if iscoroutine(outcome):
        outcome = Deferred.fromCoroutine(outcome)
    if isinstance(outcome, Deferred):
        outcome.addErrback(
            lambda failure: log.failure(
                "state change listener {listener!r} failed", failure, listener=listener
            )
        )


# -- account store and change log -------------------------------------------------------------


def check_account_id(account_id: str) -> None:
    # the Redis store puts the id inside a hash tag; braces would move the tag
    if not account_id or "{" in account_id or "}" in account_id:
        raise ValueError(f"invalid account id {account_id!r}")


def encode_value(type_name: str, object_id: str, value: JSONObject) -> str:
    if not isinstance(value, dict):
        raise ValueError(f"{type_name} {object_id!r}: a value must be a JSON object")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# The stored form of an object: its JSON text, then one line per counter adjusted since the
# value was last written whole, "path<TAB>delta" (JSON text never holds a raw newline). The
# Redis write script appends and sums those lines without parsing the JSON.
def _split_form(text: str) -> tuple[str, dict[str, int]]:
    """A stored form's JSON text, and its counter deltas by path (summed, in first order)."""
    head, *lines = text.split("\n")
    deltas: dict[str, int] = {}
    for line in lines:
        path, _, delta = line.partition("\t")
        deltas[path] = deltas.get(path, 0) + int(delta)
    return head, deltas


def decode_value(text: str) -> JSONObject:
    """The value a stored form stands for: the JSON with every counter delta added."""
    if "\n" not in text:
        return json.loads(text)  # type: ignore[no-any-return]
    head, deltas = _split_form(text)
    return with_counters(json.loads(head), deltas)


def adjusted_text(text: str, deltas: Mapping[str, int]) -> str:
    """The stored form with ``deltas`` added to its counter lines (one line per path), none
    taking its counter below 0."""
    head, held = _split_form(text)
    base: JSONObject | None = None
    for path, delta in deltas.items():
        held[path] = held.get(path, 0) + delta
        if delta < 0:
            base = json.loads(head) if base is None else base
            held[path] = max(held[path], -counter_of(base, path))
    return "\n".join([head, *(f"{path}\t{delta}" for path, delta in held.items())])


def _parse_modseq(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or str(int(text)) != text:
        return None
    return int(text)


@dataclass(frozen=True)
class Position:
    """Where a state token says a client is in the account's change sequence.

    A state is the decimal modseq of the account's change it follows. An intermediate state of a
    paged answer (``"position:origin:snapshot"``) also names the state the paging began at and the
    account modseq when the page was made: an object created after ``origin`` whose last change
    is older than ``snapshot`` cannot have been in an earlier page, so it is still reported as
    created (or not at all, if destroyed) and the pages add up to exactly the one-shot answer.
    """

    position: int
    origin: int
    snapshot: int

    def is_new(self, born: int, last: int) -> bool:
        """Whether the client at this position never saw the object."""
        return born > self.position or (born > self.origin and last <= self.snapshot)

    def after(self, position: int, snapshot: int) -> str:
        """The intermediate state at ``position`` of a paging that began where this one did."""
        return f"{position}:{self.origin}:{snapshot}"


def parse_state(state: str, counter: int) -> Position:
    """The Position a state token stands for; InvalidState for one this store never issued."""
    parts = [_parse_modseq(p) for p in state.split(":")] if isinstance(state, str) else []
    if len(parts) == 1 and parts[0] is not None and parts[0] <= counter:
        return Position(parts[0], parts[0], parts[0])
    if len(parts) == 3 and None not in parts:
        position, origin, snapshot = (p for p in parts if p is not None)
        if origin < position <= snapshot <= counter:
            return Position(position, origin, snapshot)
    raise InvalidState(f"not a state of this store: {state!r}")


@dataclass
class _Entry:
    """The change-log record of one object: its last change, its creation, whether it is gone."""

    last: int
    born: int
    destroyed: bool = False


@dataclass
class _TypeData:
    objects: dict[str, str] = field(default_factory=dict)
    log: dict[str, _Entry] = field(default_factory=dict)
    # the destroyed objects still in the log, oldest destroy first (destroys come in modseq
    # order, and a re-created id leaves), so the oldest is dropped in O(1)
    tombs: OrderedDict[str, int] = field(default_factory=OrderedDict)
    state: int = 0
    floor: int = 0
    # the modseq of the last create, update or destroy (IChangeLog.shape_state)
    shape: int = 0

    def forget_oldest_tombstones(self, count: int) -> None:
        """Drop the ``count`` oldest tombstones and raise the floor to the newest one dropped."""
        newest = 0
        for _ in range(min(count, len(self.tombs))):
            object_id, newest = self.tombs.popitem(last=False)
            del self.log[object_id]
        self.floor = max(self.floor, newest)


@dataclass
class _Account:
    modseq: int = 0
    types: dict[str, _TypeData] = field(default_factory=dict)
    derived: DerivedData = field(default_factory=DerivedData)

    def type(self, type_name: str) -> _TypeData:
        return self.types.setdefault(type_name, _TypeData())

    def state(self, type_name: str) -> str:
        data = self.types.get(type_name)
        return str(data.state) if data is not None else "0"


DEFAULT_MAX_TOMBSTONES = 10_000
# how many tombstones a write may drop beyond those it added: lets a log that is over the limit
# (the limit was lowered) shrink back to it over later writes, at a bounded cost for each
TRIM_CATCH_UP = 64


def check_max_tombstones(max_tombstones: int) -> int:
    if isinstance(max_tombstones, bool) or not isinstance(max_tombstones, int) \
            or max_tombstones < 1:
        raise ValueError(f"max_tombstones must be a positive integer, not {max_tombstones!r}")
    return max_tombstones


def tombstones_to_drop(held: int, added: int, max_tombstones: int) -> int:
    """How many of its oldest tombstones a type drops in a write that destroyed ``added`` of it.

    Those over ``max_tombstones``, but never more than ``added + TRIM_CATCH_UP``: the work of a
    write stays proportional to the write.
    """
    return max(0, min(held - max_tombstones, added + TRIM_CATCH_UP))


def check_mark(value: int) -> int:
    """ValueError unless ``value`` is a map_raise value: an integer in 0..2**53 - 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise ValueError(f"a raised mark is an integer in 0..2**53 - 1, not {value!r}")
    return value


@implementer(IAccountStore, IChangeLog, IIndexStore)
class MemoryAccountStore:
    """Objects, change log, indexes and maps of every account in dicts; writes publish through
    ``notifier``.

    ``blobs``, when given, is the blob store whose blobs destroy_account removes as well, and the
    one whose blobs a WriteBatch claims and releases (without it, every claim is BlobNotFound).

    Retention: each type keeps at most ``max_tombstones`` records of destroyed objects. The write
    that destroys more drops the oldest of them (lowest modseq) and raises the type's floor to the
    newest one dropped, so changes_since answers exactly from every state at or above the floor
    and raises CannotCalculateChanges below it. Live objects are never dropped from the log.
    """

    def __init__(
        self, notifier: INotifier | None = None, *, blobs: MemoryBlobStore | None = None,
        max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
    ) -> None:
        self.notifier: INotifier = notifier if notifier is not None else MemoryNotifier()
        self._blobs = blobs
        self.max_tombstones = check_max_tombstones(max_tombstones)
        self._accounts: dict[str, _Account] = {}

    def _account(self, account_id: str) -> _Account:
        check_account_id(account_id)
        return self._accounts.get(account_id) or _Account()

    async def get(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> dict[str, JSONObject]:
        data = self._account(account_id).types.get(type_name)
        if data is None:
            return {}
        wanted: Iterable[str] = data.objects if ids is None else ids
        return {i: decode_value(data.objects[i]) for i in wanted if i in data.objects}

    async def get_with_state(
        self, account_id: str, type_name: str, ids: list[str] | None, at_most: int | None = None
    ) -> tuple[str, dict[str, JSONObject]]:
        # no await in between: nothing else runs while both are read
        state = self._account(account_id).state(type_name)
        data = self._account(account_id).types.get(type_name)
        if data is None:
            return state, {}
        if ids is None and at_most is not None and len(data.objects) > at_most:
            raise TooManyObjects(type_name, len(data.objects))
        wanted: Iterable[str] = data.objects if ids is None else ids
        return state, {i: decode_value(data.objects[i]) for i in wanted if i in data.objects}

    async def list_ids(self, account_id: str, type_name: str) -> list[str]:
        data = self._account(account_id).types.get(type_name)
        return list(data.objects) if data is not None else []

    async def write(self, account_id: str, batch: WriteBatch) -> WriteResult:
        account = self._account(account_id)
        creates = [(t, i, encode_value(t, i, v)) for t, i, v in batch.creates]
        updates = [(t, i, encode_value(t, i, v)) for t, i, v in batch.updates]

        # everything is checked before anything is applied, in the same order as the Redis script
        for type_name, expected in batch.if_in_state.items():
            actual = account.state(type_name)
            if actual != expected:
                raise StateMismatch(type_name, expected, actual)
        for type_name, object_id, position in batch.unchanged_since:
            data = account.type(type_name)
            entry = data.log.get(object_id)
            last = data.floor if data.floor > position else entry.last if entry else 0
            if last > position:
                raise StateMismatch(type_name, str(position), str(last))
        for type_name, object_id, _ in creates:
            if object_id in account.type(type_name).objects:
                raise ObjectExists(type_name, object_id)
        for type_name, object_id, _ in updates:
            if object_id not in account.type(type_name).objects:
                raise ObjectNotFound(type_name, object_id)
        for type_name, object_id in batch.destroys:
            if object_id not in account.type(type_name).objects:
                raise ObjectNotFound(type_name, object_id)
        adjusted = batch.adjusted()
        for type_name, object_id in adjusted:
            if object_id not in account.type(type_name).objects:
                raise ObjectNotFound(type_name, object_id)
        for name, field_name, wanted in batch.map_conditions:
            field_value = account.derived.maps.get(name, {}).get(field_name)
            if field_value != wanted:
                raise StateMismatch(f"map:{name}", str(wanted), str(field_value))
        counter_scores = []
        for names, member, type_name, object_id, path, offset in batch.counter_scored_adds:
            text = account.type(type_name).objects.get(object_id)
            if text is None:
                raise ObjectNotFound(type_name, object_id)
            counter_scores.append((names, member, counter_of(decode_value(text), path) + offset))
        for blob_id, _, _ in batch.blob_claims:
            if self._blobs is None or not self._blobs.holds(account_id, blob_id):
                raise BlobNotFound(blob_id)

        if self._blobs is not None:
            self._blobs.apply_references(account_id, batch.blob_claims, batch.blob_releases)
        if batch.has_derived_writes():
            account.derived.apply(batch)
            self._accounts[account_id] = account
        if counter_scores:
            scored = WriteBatch()
            for names, member, score in counter_scores:
                scored.index_add_many(names, member, float(score))
            account.derived.apply(scored)
        listed = [*batch.if_in_state, *(t for t, _, _ in creates), *(t for t, _, _ in updates),
                  *(t for t, _ in batch.destroys), *(t for t, _ in adjusted)]
        old_states = {t: account.state(t) for t in listed}
        if batch.is_empty():
            self._add_state_scored(account, batch)
            return WriteResult(
                new_states={t: account.state(t) for t in batch.if_in_state},
                modseqs={},
                account_modseq=account.modseq,
                old_states={t: old_states[t] for t in batch.if_in_state},
            )

        self._accounts[account_id] = account
        modseqs: dict[tuple[str, str], int] = {}
        touched: dict[str, str] = {}

        def stamp(type_name: str, object_id: str) -> tuple[_TypeData, int]:
            account.modseq += 1
            data = account.type(type_name)
            data.state = account.modseq
            modseqs[(type_name, object_id)] = account.modseq
            touched[type_name] = str(account.modseq)
            return data, account.modseq

        for type_name, object_id, text in creates:
            data, modseq = stamp(type_name, object_id)
            data.shape = modseq
            data.objects[object_id] = text
            data.log[object_id] = _Entry(last=modseq, born=modseq)
            data.tombs.pop(object_id, None)
        for type_name, object_id, text in updates:
            data, modseq = stamp(type_name, object_id)
            data.shape = modseq
            data.objects[object_id] = text
            data.log[object_id].last = modseq
        destroyed: dict[str, int] = {}
        for type_name, object_id in batch.destroys:
            data, modseq = stamp(type_name, object_id)
            data.shape = modseq
            del data.objects[object_id]
            entry = data.log[object_id]
            entry.last = modseq
            entry.destroyed = True
            data.tombs[object_id] = modseq
            destroyed[type_name] = destroyed.get(type_name, 0) + 1
        for (type_name, object_id), deltas in adjusted.items():
            data, modseq = stamp(type_name, object_id)
            data.objects[object_id] = adjusted_text(data.objects[object_id], deltas)
            data.log[object_id].last = modseq
        # retention, in the same step as the destroys that push a type over its limit
        for type_name, added in destroyed.items():
            data = account.type(type_name)
            data.forget_oldest_tombstones(
                tombstones_to_drop(len(data.tombs), added, self.max_tombstones)
            )

        self._add_state_scored(account, batch)
        new_states = {t: account.state(t) for t in batch.if_in_state}
        new_states.update(touched)
        result = WriteResult(new_states=new_states, modseqs=modseqs, account_modseq=account.modseq,
                             old_states={t: old_states[t] for t in new_states})
        await self.notifier.publish(StateChange(account_id, dict(touched)))
        return result

    @staticmethod
    def _add_state_scored(account: _Account, batch: WriteBatch) -> None:
        """The index adds scored by a type's state after the batch, after its other writes."""
        if batch.state_scored_adds:
            scored = WriteBatch()
            for names, member, type_name in batch.state_scored_adds:
                scored.index_add_many(names, member, float(account.state(type_name)))
            account.derived.apply(scored)

    async def destroy_account(self, account_id: str) -> None:
        check_account_id(account_id)
        self._accounts.pop(account_id, None)
        if self._blobs is not None:
            self._blobs.drop_account(account_id)

    async def index_query(
        self, account_id: str, plan: Plan, *, descending: bool = False, offset: int = 0,
        limit: int | None = None, count: bool = True,
    ) -> IndexPage:
        return self._account(account_id).derived.query(
            plan, descending=descending, offset=offset, limit=limit
        )

    async def snapshot(
        self, account_id: str, type_name: str, queries: list[IndexRequest],
        objects: tuple[str, list[str]] | None = None, changes: ChangesRequest | None = None,
        mark: MarkRequest | None = None,
    ) -> Snapshot:
        # nothing awaited here suspends: nothing else runs while all of it is read
        account = self._account(account_id)
        changed: Changes | None = None
        modseqs: dict[str, int] = {}
        scores: dict[str, float] = {}
        if changes is not None:
            check_name(changes.index)
            changed = await self.changes_since(
                account_id, type_name, changes.since_state, changes.max_changes
            )
            modseqs = await self.modseqs(account_id, type_name, changes.ids_of(changed))
            scores = await self.index_scores(account_id, changes.index, list(modseqs))
        pages = tuple(
            account.derived.query(q.plan, descending=q.descending, offset=q.offset, limit=q.limit)
            for q in queries
        )
        found: dict[str, JSONObject] = {}
        if objects is not None:
            data = account.types.get(objects[0])
            if data is not None:
                found = {i: decode_value(data.objects[i]) for i in objects[1] if i in data.objects}
        reading = None if mark is None else await self._read_mark(account_id, mark)
        return Snapshot(account.state(type_name), found, pages, changed, modseqs, scores, reading)

    async def _read_mark(self, account_id: str, mark: MarkRequest) -> MarkReading:
        check_name(mark.map)
        scores = self._account(account_id).derived.indexes.get(check_name(mark.index), {})
        before = int(self._account(account_id).derived.maps.get(mark.map, {}).get(mark.field, "0"))
        top = int(max(scores.values(), default=0))
        if mark.claim and top > before:
            await self.map_raise(account_id, mark.map, mark.field, top)
        return MarkReading(before, top, sum(1 for s in scores.values() if s > before))

    async def index_size(self, account_id: str, index: str) -> int:
        check_name(index)
        return len(self._account(account_id).derived.indexes.get(index, {}))

    async def index_scores(
        self, account_id: str, index: str, members: list[str]
    ) -> dict[str, float]:
        check_name(index)
        held = self._account(account_id).derived.indexes.get(index, {})
        return {m: held[m] for m in members if m in held}

    async def map_get(self, account_id: str, name: str, fields: list[str]) -> dict[str, str]:
        check_name(name)
        held = self._account(account_id).derived.maps.get(name, {})
        return {f: held[f] for f in fields if f in held}

    async def map_get_at_state(
        self, account_id: str, type_name: str, name: str, fields: list[str]
    ) -> tuple[str, dict[str, str]]:
        # nothing awaited here suspends: the state and the fields are of one instant
        return (self._account(account_id).state(type_name),
                await self.map_get(account_id, name, fields))

    async def map_raise(self, account_id: str, name: str, field: str, value: int) -> int:
        check_name(name)
        check_mark(value)
        check_account_id(account_id)
        maps = self._accounts.setdefault(account_id, _Account()).derived.maps
        previous = int(maps.get(name, {}).get(field, "0"))
        if value > previous:
            maps.setdefault(name, {})[field] = str(value)
        return previous

    async def modseqs(self, account_id: str, type_name: str, ids: list[str]) -> dict[str, int]:
        data = self._account(account_id).types.get(type_name)
        if data is None:
            return {}
        return {
            i: data.log[i].last for i in ids
            if i in data.objects and i in data.log and not data.log[i].destroyed
        }

    async def state_and_modseqs(
        self, account_id: str, type_name: str, ids: list[str]
    ) -> tuple[str, dict[str, int]]:
        return (self._account(account_id).state(type_name),
                await self.modseqs(account_id, type_name, ids))

    async def state_modseqs_and_scores(
        self, account_id: str, type_name: str, ids: list[str], index: str
    ) -> tuple[str, dict[str, int], dict[str, float]]:
        state, modseqs = await self.state_and_modseqs(account_id, type_name, ids)
        return state, modseqs, await self.index_scores(account_id, index, ids)

    async def current_state(self, account_id: str, type_name: str) -> str:
        return self._account(account_id).state(type_name)

    async def shape_state(self, account_id: str, type_name: str) -> str:
        data = self._account(account_id).types.get(type_name)
        return str(data.shape) if data is not None else "0"

    async def current_states(self, account_id: str, type_names: list[str]) -> dict[str, str]:
        account = self._account(account_id)
        return {t: account.state(t) for t in type_names}

    async def account_modseq(self, account_id: str) -> int:
        return self._account(account_id).modseq

    async def changes_since(
        self, account_id: str, type_name: str, since_state: str, max_changes: int | None
    ) -> Changes:
        account = self._account(account_id)
        since = parse_state(since_state, account.modseq)
        if max_changes is not None and max_changes < 1:
            raise ValueError("max_changes must be positive")
        data = account.types.get(type_name) or _TypeData()
        if since.position < data.floor:
            raise CannotCalculateChanges(
                f"{type_name}: the change log starts after state {since_state!r}"
            )
        pending = sorted(
            ((entry.last, object_id, entry) for object_id, entry in data.log.items()
             if entry.last > since.position),
            key=lambda item: item[0],
        )
        has_more = max_changes is not None and len(pending) > max_changes
        examined = pending[:max_changes] if has_more else pending
        created: list[str] = []
        updated: list[str] = []
        destroyed: list[str] = []
        for _, object_id, entry in examined:
            if since.is_new(entry.born, entry.last):
                if not entry.destroyed:
                    created.append(object_id)
            elif entry.destroyed:
                destroyed.append(object_id)
            else:
                updated.append(object_id)
        # a page ends exactly at its last examined change; the last page at the newest state
        new_state = (
            since.after(examined[-1][0], account.modseq) if has_more
            else str(max(since.position, data.state))
        )
        return Changes(
            old_state=since_state,
            new_state=new_state,
            has_more=has_more,
            created=tuple(created),
            updated=tuple(updated),
            destroyed=tuple(destroyed),
        )

    async def compact(self, account_id: str, type_name: str, keep_after_state: str) -> None:
        account = self._account(account_id)
        keep_after = parse_state(keep_after_state, account.modseq).position
        existing = account.types.get(type_name)
        if keep_after <= (existing.floor if existing is not None else 0):
            return
        # keep_after > 0 is a modseq this account handed out, so the account is stored
        data = account.type(type_name)
        older = 0
        for modseq in data.tombs.values():
            if modseq > keep_after:
                break
            older += 1
        data.forget_oldest_tombstones(older)
        data.floor = max(data.floor, keep_after)


# -- blobs ------------------------------------------------------------------------------------


def blob_id_for(digest: str) -> str:
    """The blob id of content whose SHA-256 hex digest is ``digest``."""
    return "B" + digest


_BLOB_ID = re.compile(r"B[0-9a-f]{64}\Z")


def is_blob_id(blob_id: object) -> bool:
    """Whether ``blob_id`` has the form of the ids ``blob_id_for`` gives (whether or not such a
    blob is stored)."""
    return isinstance(blob_id, str) and _BLOB_ID.match(blob_id) is not None


def check_range(offset: int, length: int | None) -> None:
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")


class SecondsClock(Protocol):
    """What a blob store needs of a clock: a reactor, or twisted.internet.task.Clock in tests."""

    def seconds(self) -> float: ...


class WallClock:
    def seconds(self) -> float:
        return time.time()


def referrer_key(type_name: str, object_id: str) -> str:
    """How a claim names the object that holds it (as a Redis set member, too)."""
    if not type_name or "/" in type_name:
        raise ValueError(f"invalid type name {type_name!r}")
    return f"{type_name}/{object_id}"


def parse_referrer(key: str) -> tuple[str, str]:
    type_name, _, object_id = key.partition("/")
    return type_name, object_id


@implementer(IBlobUpload)
class MemoryBlobUpload:
    def __init__(self, commit: Callable[[str, bytes], BlobInfo]) -> None:
        self._commit = commit
        self._chunks: list[bytes] = []
        self._hash = hashlib.sha256()
        self._finished = False
        self.size = 0

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("this upload is already committed or aborted")

    async def write(self, chunk: bytes) -> None:
        self._check_open()
        self._chunks.append(bytes(chunk))
        self._hash.update(chunk)
        self.size += len(chunk)

    async def commit(self) -> BlobInfo:
        self._check_open()
        self._finished = True
        data, self._chunks = b"".join(self._chunks), []
        return self._commit(blob_id_for(self._hash.hexdigest()), data)

    async def abort(self) -> None:
        self._finished = True
        self._chunks = []


@implementer(IBlobStore)
class MemoryBlobStore:
    """Blobs in dicts, with the claims on them and the index the sweep works from.

    ``clock`` stamps blobs as they become unreferenced (the wall clock when not given).
    """

    def __init__(self, clock: SecondsClock | None = None) -> None:
        self.clock: SecondsClock = clock if clock is not None else WallClock()
        self._blobs: dict[str, dict[str, bytes]] = {}
        self._referrers: dict[str, dict[str, set[str]]] = {}
        # account -> blob -> when it became unreferenced
        self._unreferenced: dict[str, dict[str, float]] = {}
        # account -> earliest of those times: the sweep visits only accounts listed here
        self._sweep_index: dict[str, float] = {}

    def _store(self, account_id: str, blob_id: str, data: bytes) -> BlobInfo:
        self._blobs.setdefault(account_id, {}).setdefault(blob_id, data)
        if not self._referrers.get(account_id, {}).get(blob_id):
            self._mark_unreferenced(account_id, blob_id)
        return BlobInfo(blob_id, len(data))

    def _mark_unreferenced(self, account_id: str, blob_id: str) -> None:
        now = self.clock.seconds()
        self._unreferenced.setdefault(account_id, {})[blob_id] = now
        self._sweep_index[account_id] = min(self._sweep_index.get(account_id, now), now)

    def _find(self, account_id: str, blob_id: str) -> bytes:
        check_account_id(account_id)
        try:
            return self._blobs[account_id][blob_id]
        except KeyError:
            raise BlobNotFound(blob_id) from None

    def holds(self, account_id: str, blob_id: str) -> bool:
        return blob_id in self._blobs.get(account_id, {})

    def apply_references(
        self,
        account_id: str,
        claims: Iterable[tuple[str, str, str]],
        releases: Iterable[tuple[str, str, str]],
    ) -> None:
        """Apply a WriteBatch's releases, then its claims (the caller checked the claims)."""
        referrers = self._referrers.setdefault(account_id, {})
        for blob_id, type_name, object_id in releases:
            held = referrers.get(blob_id)
            key = referrer_key(type_name, object_id)
            if held is None or key not in held:
                continue
            held.discard(key)
            if not held:
                del referrers[blob_id]
                if self.holds(account_id, blob_id):
                    self._mark_unreferenced(account_id, blob_id)
        for blob_id, type_name, object_id in claims:
            referrers.setdefault(blob_id, set()).add(referrer_key(type_name, object_id))
            self._unreferenced.get(account_id, {}).pop(blob_id, None)

    def drop_account(self, account_id: str) -> None:
        self._blobs.pop(account_id, None)
        self._referrers.pop(account_id, None)
        self._unreferenced.pop(account_id, None)
        self._sweep_index.pop(account_id, None)

    async def put(self, account_id: str, data: bytes) -> BlobInfo:
        check_account_id(account_id)
        data = bytes(data)
        return self._store(account_id, blob_id_for(hashlib.sha256(data).hexdigest()), data)

    async def open_upload(self, account_id: str) -> MemoryBlobUpload:
        check_account_id(account_id)
        return MemoryBlobUpload(lambda blob_id, data: self._store(account_id, blob_id, data))

    async def get(
        self, account_id: str, blob_id: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        check_range(offset, length)
        data = self._find(account_id, blob_id)
        return data[offset:] if length is None else data[offset:offset + length]

    async def stat(self, account_id: str, blob_id: str) -> BlobInfo:
        return BlobInfo(blob_id, len(self._find(account_id, blob_id)))

    async def delete(self, account_id: str, blob_id: str) -> None:
        check_account_id(account_id)
        self._blobs.get(account_id, {}).pop(blob_id, None)
        self._referrers.get(account_id, {}).pop(blob_id, None)
        self._unreferenced.get(account_id, {}).pop(blob_id, None)

    async def referrers(
        self, account_id: str, blob_ids: list[str]
    ) -> dict[str, set[tuple[str, str]]]:
        check_account_id(account_id)
        held = self._referrers.get(account_id, {})
        return {
            blob_id: {parse_referrer(key) for key in held.get(blob_id, ())}
            for blob_id in blob_ids
            if self.holds(account_id, blob_id)
        }

    async def sweep_unreferenced(self, unreferenced_before: float, limit: int) -> int:
        deleted = 0
        due = sorted(
            (since, account_id) for account_id, since in self._sweep_index.items()
            if since <= unreferenced_before
        )
        for _, account_id in due[:limit]:
            if deleted >= limit:
                break
            unreferenced = self._unreferenced.get(account_id, {})
            expired = sorted(
                (since, blob_id) for blob_id, since in unreferenced.items()
                if since <= unreferenced_before
            )
            for _, blob_id in expired[:limit - deleted]:
                del unreferenced[blob_id]
                self._blobs.get(account_id, {}).pop(blob_id, None)
                deleted += 1
            if unreferenced:
                self._sweep_index[account_id] = min(unreferenced.values())
            else:
                self._sweep_index.pop(account_id, None)
        return deleted


# -- claims -----------------------------------------------------------------------------------


def check_claim(account_id: str, name: str, ttl: float) -> None:
    check_account_id(account_id)
    if not isinstance(name, str) or not name:
        raise ValueError("a claim needs a non-empty name")
    if not ttl > 0:
        raise ValueError(f"a claim's ttl must be positive, not {ttl!r}")


@implementer(IClaims)
class MemoryClaims:
    """Claims of one process; ``clock`` gives seconds (the reactor's ``seconds`` in tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[tuple[str, str], float] = {}

    async def claim(self, account_id: str, name: str, ttl: float) -> bool:
        check_claim(account_id, name, ttl)
        now = self._clock()
        if len(self._until) > 1024:
            # expired claims are dropped now and then, so the dict never outgrows the live ones
            self._until = {k: v for k, v in self._until.items() if v > now}
        key = (account_id, name)
        if self._until.get(key, now) > now:
            return False
        self._until[key] = now + ttl
        return True

    async def held(self, account_id: str, name: str) -> bool:
        check_claim(account_id, name, 1.0)
        return self._until.get((account_id, name), 0.0) > self._clock()


__all__ = [
    "MemoryAccountStore",
    "MemoryBlobStore",
    "MemoryBlobUpload",
    "MemoryClaims",
    "MemoryNotifier",
]
