"""The objects a /set (or /copy) computes with: store reads overlaid by the writes staged so far.

Every type the computation reads gets its state recorded *before* its first read, and the final
WriteBatch requires each of those states. So the batch applies only if nothing it was computed
from moved in between; otherwise the store raises StateMismatch and the method computes again
(optimistic concurrency, see ``stalwart_tx.jmap.standard.retry``).

A type registered with ``condition_per_object`` (Email: ten sessions of one account change
flags of different messages at once) is conditional on the objects read, each unchanged since
the state it was read at, rather than on the type's state: a change of another object of the
type does not make the computation start over. Anything that depends on more of the type than
the objects read (an index, a query, all of it) asks for the type's state with ``state``, which
makes that state a condition as before; reading all of it (``get_all``) does so too. What a
method reports as its oldState without being conditional on it comes from ``peek_state``.
A map read through ``map_get`` for a per-object type makes the fields read conditions (each
holding what it held), not the type's state.

A working set made with ``cached=True`` takes objects of a per-object type from the store
bundle's ``object_cache`` when it keeps all of those asked for, instead of reading them: each is
then a condition at the position it was kept at, as if read there. If the computation ends up
writing nothing, nothing confirmed them, so ``batch`` raises ``Unconfirmed`` (after dropping
them from the cache) and the computation runs again on objects read now.

Counters (``adjust``) are written without reading the object: a computation that only needs
to know an object exists, and to move some of its numbers (a mailbox's counts and UIDNEXT, a
quota's usage), reads it with ``peek`` (no condition) and adjusts; the store refuses the write
if the object is gone by then. Two such writers never conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from stalwart_tx.jmap.standard.retry import Unconfirmed
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.records import JSONObject, WriteBatch, json_copy, with_counters


class Finishing(Protocol):
    async def finish(self) -> None: ...


F = TypeVar("F", bound=Finishing)

_CREATE = "create"
_UPDATE = "update"
_DESTROY = "destroy"


@dataclass
class _Staged:
    action: str
    value: JSONObject | None


@dataclass(frozen=True)
class Savepoint:
    staged: dict[tuple[str, str], _Staged]
    forgotten: int
    derived: int
    adjusts: dict[tuple[str, str], dict[str, int]]


# types whose objects are conditions one by one (see the module docstring)
_PER_OBJECT: set[str] = set()


def condition_per_object(type_name: str) -> None:
    """Make computations conditional on the objects of ``type_name`` they read, one by one."""
    _PER_OBJECT.add(type_name)


class WorkingSet:
    """Objects of one account as they will be once the staged writes are applied.

    Values handed out are copies: change them freely, then stage them with ``update``.
    """

    def __init__(self, store: StoreBundle, account_id: str, *, cached: bool = False) -> None:
        self.store = store
        self.account_id = account_id
        self._cache = store.object_cache if cached else None
        # per type, the ids taken from the cache rather than read
        self._taken: dict[str, list[str]] = {}
        self._states: dict[str, str] = {}
        # per-object types: id -> the modseq it was read at; the first state seen of each
        self._read_at: dict[str, dict[str, int]] = {}
        self._seen: dict[str, str] = {}
        self._stored: dict[str, dict[str, JSONObject | None]] = {}
        self._complete: set[str] = set()
        self._staged: dict[tuple[str, str], _Staged] = {}
        self._forgotten: list[tuple[str, str]] = []  # created, then destroyed: never stored
        # index and map writes, each staged on a batch of its own (see stage_derived)
        self._derived: list[WriteBatch] = []
        self._attached: dict[str, Finishing] = {}
        # counter deltas of objects not otherwise staged: (type, id) -> path -> delta (each
        # dict replaced, never changed, so a savepoint's shallow copy holds)
        self._adjusts: dict[tuple[str, str], dict[str, int]] = {}
        # what ``peek`` read, apart from what the conditions cover
        self._peeked: dict[str, dict[str, JSONObject | None]] = {}
        # map fields read for a per-object type: (map, field) -> the value read (None: absent)
        self._map_read: dict[tuple[str, str], str | None] = {}

    def _record_state(self, type_name: str, state: str) -> None:
        """Make ``state`` the type's condition unless an earlier one is: reads running side by
        side may each bring a state, and the earliest holds every read after it to account."""
        held = self._states.get(type_name)
        if held is None or int(state) < int(held):
            self._states[type_name] = state

    async def state(self, type_name: str) -> str:
        """The state of the type when this working set first looked at it."""
        if type_name not in self._states:
            self._record_state(type_name, await self.store.changes.current_state(
                self.account_id, type_name
            ))
        return self._states[type_name]

    async def map_get(self, type_name: str, name: str, fields: list[str]) -> dict[str, str]:
        """Fields of a map whose content depends on ``type_name`` (IIndexStore.map_get): the
        type's state, read with them when not known yet, is then a condition of the write."""
        indexes = self.store.indexes
        if type_name in _PER_OBJECT and type_name not in self._states:
            found = await indexes.map_get(self.account_id, name, fields)
            for field_name in fields:
                self._map_read.setdefault((name, field_name), found.get(field_name))
            return found
        if type_name in self._states:
            return await indexes.map_get(self.account_id, name, fields)
        state, found = await indexes.map_get_at_state(self.account_id, type_name, name, fields)
        self._record_state(type_name, state)
        return found

    async def peek_state(self, type_name: str) -> str:
        """The state of the type as this working set first saw it, without making it a
        condition of the write (for a per-object type; of any other it is one anyway)."""
        if type_name in self._states:
            return self._states[type_name]
        if type_name not in _PER_OBJECT:
            return await self.state(type_name)
        if type_name not in self._seen:
            self._seen[type_name] = await self.store.changes.current_state(
                self.account_id, type_name
            )
        return self._seen[type_name]

    async def read_states(self, *type_names: str, peek: tuple[str, ...] = ()) -> None:
        """Record the states of these types now, in one read, for a computation that is going
        to look at all of them (each would otherwise be one read of its own); those of
        ``peek`` too, as ``peek_state`` would, without making them conditions."""
        peeked = [t for t in peek if t in _PER_OBJECT and t not in self._states]
        wanted = [t for t in dict.fromkeys([*type_names, *(t for t in peek if t not in peeked)])
                  if t not in self._states]
        unseen = [t for t in peeked if t not in self._seen]
        if len(wanted) == 1 and not unseen:
            await self.state(wanted[0])
        elif wanted or unseen:
            found = await self.store.changes.current_states(self.account_id, wanted + unseen)
            for type_name in wanted:
                self._record_state(type_name, found[type_name])
            for type_name in unseen:
                self._seen.setdefault(type_name, found[type_name])

    async def get(self, type_name: str, ids: list[str]) -> dict[str, JSONObject]:
        """The objects of those ids that exist (staged writes included)."""
        return {i: json_copy(v) for i, v in (await self.view(type_name, ids)).items()}

    async def view(self, type_name: str, ids: list[str]) -> dict[str, JSONObject]:
        """``get`` without the copies, for a caller that only reads them: the values are the
        working set's own, and must not be changed."""
        await self.load(type_name, ids)
        result: dict[str, JSONObject] = {}
        for object_id in ids:
            value = self._current(type_name, object_id)
            if value is not None:
                result[object_id] = value
        return result

    async def load(self, type_name: str, ids: list[str]) -> None:
        """Read those objects now, in one read, for a computation that looks at them later."""
        stored = self._stored.setdefault(type_name, {})
        wanted = [
            i for i in dict.fromkeys(ids)
            if (type_name, i) not in self._staged and i not in stored
        ]
        if wanted and type_name not in self._complete:
            found = await self._read(type_name, wanted)
            for object_id in wanted:
                stored[object_id] = found.get(object_id)

    async def get_one(self, type_name: str, object_id: str) -> JSONObject | None:
        return (await self.get(type_name, [object_id])).get(object_id)

    async def get_all(self, type_name: str) -> dict[str, JSONObject]:
        """Every object of the type (staged writes included)."""
        if type_name not in self._complete:
            found = await self._read(type_name, None)
            stored = self._stored.setdefault(type_name, {})
            stored.update(found)
            for object_id, value in list(stored.items()):
                if value is not None and object_id not in found:
                    stored[object_id] = None
            self._complete.add(type_name)
        ids = set(self._stored.get(type_name, {}))
        ids.update(i for (t, i) in self._staged if t == type_name)
        return await self.get(type_name, sorted(ids))

    async def _read(self, type_name: str, ids: list[str] | None) -> dict[str, JSONObject]:
        """Objects from the store; the first read of a type records its state with it (of a
        per-object type, each read records the state its objects were read at)."""
        if type_name in self._states:
            return await self.store.accounts.get(self.account_id, type_name, ids)
        if self._cache is not None and ids is not None and type_name in _PER_OBJECT:
            kept = self._cache.take(self.account_id, type_name, ids)
            if kept is not None:
                return self._take(type_name, kept)
        state, found = await self.store.accounts.get_with_state(self.account_id, type_name, ids)
        if ids is None or type_name not in _PER_OBJECT:
            self._record_state(type_name, state)
            return found
        self._seen.setdefault(type_name, state)
        read_at = self._read_at.setdefault(type_name, {})
        position = int(state)
        for object_id in ids:
            read_at.setdefault(object_id, position)
        return found

    def _take(
        self, type_name: str, kept: dict[str, tuple[JSONObject, int]]
    ) -> dict[str, JSONObject]:
        """Objects from the cache, each a condition at the position it was kept at."""
        read_at = self._read_at.setdefault(type_name, {})
        for object_id, (_, position) in kept.items():
            read_at.setdefault(object_id, position)
        # what peek_state answers: no state is read, and nothing reports it without a write
        # that confirmed these objects (see batch)
        self._seen.setdefault(type_name, str(max(position for _, position in kept.values())))
        self._taken.setdefault(type_name, []).extend(kept)
        return {object_id: value for object_id, (value, _) in kept.items()}

    async def peek(self, type_name: str, ids: list[str]) -> dict[str, JSONObject]:
        """The objects of those ids that exist (staged writes included, adjusts not), read
        without making them conditions of the write: only to see that they exist, or for
        what no write of this computation depends on. The values are the working set's own,
        and must not be changed."""
        stored = self._stored.get(type_name, {})
        peeked = self._peeked.setdefault(type_name, {})
        wanted = [i for i in dict.fromkeys(ids) if (type_name, i) not in self._staged
                  and i not in stored and i not in peeked]
        if wanted:
            found = await self.store.accounts.get(self.account_id, type_name, wanted)
            for object_id in wanted:
                peeked[object_id] = found.get(object_id)
        result: dict[str, JSONObject] = {}
        for object_id in ids:
            if (type_name, object_id) in self._staged or object_id in stored:
                value = self._current(type_name, object_id)
            else:
                value = peeked.get(object_id)
            if value is not None:
                result[object_id] = value
        return result

    def is_staged(self, type_name: str, object_id: str) -> bool:
        """Whether the object is created, updated or destroyed by this computation."""
        return (type_name, object_id) in self._staged

    def is_condition(self, type_name: str) -> bool:
        """Whether the type's state is a condition of the write already."""
        return type_name in self._states

    def adjust(self, type_name: str, object_id: str, deltas: dict[str, int]) -> None:
        """Add each delta to the counter at its path (``WriteBatch.adjust``): into the staged
        value of an object created or updated here, else as an adjust of the stored object,
        which must exist when the write is applied. Nothing for an object destroyed here."""
        staged = self._staged.get((type_name, object_id))
        if staged is not None:
            if staged.value is not None:
                # a new value, not changed in place: a savepoint holds the one before
                value = with_counters(json_copy(staged.value), deltas)
                self._staged[(type_name, object_id)] = _Staged(staged.action, value)
            return
        held = dict(self._adjusts.get((type_name, object_id), {}))
        for path, delta in deltas.items():
            held[path] = held.get(path, 0) + delta
        self._adjusts[(type_name, object_id)] = held

    def pending_adjust(self, type_name: str, object_id: str, path: str) -> int:
        """The delta adjusts have staged at a counter of an object (0: none)."""
        return self._adjusts.get((type_name, object_id), {}).get(path, 0)

    async def exists(self, type_name: str, object_id: str) -> bool:
        return await self.get_one(type_name, object_id) is not None

    def is_known(self, type_name: str, object_id: str) -> bool:
        """Whether the id is taken as far as this working set has seen (no store read)."""
        return (type_name, object_id) in self._staged or (
            self._stored.get(type_name, {}).get(object_id) is not None
        )

    def _current(self, type_name: str, object_id: str) -> JSONObject | None:
        staged = self._staged.get((type_name, object_id))
        if staged is not None:
            return staged.value
        return self._stored.get(type_name, {}).get(object_id)

    def create(self, type_name: str, object_id: str, value: JSONObject) -> None:
        """Stage a new object; its id must not be in use (the caller checked with ``exists``)."""
        if self._current(type_name, object_id) is not None:
            raise ValueError(f"{type_name} {object_id!r} already exists")
        staged = self._staged.get((type_name, object_id))
        if staged is not None and staged.action == _DESTROY:
            # destroyed and created again in one batch: to the store that is one update
            self._staged[(type_name, object_id)] = _Staged(_UPDATE, json_copy(value))
        else:
            self._staged[(type_name, object_id)] = _Staged(_CREATE, json_copy(value))

    def update(self, type_name: str, object_id: str, value: JSONObject) -> None:
        """Stage the whole new value of an existing (or staged-created) object."""
        if self._current(type_name, object_id) is None:
            raise ValueError(f"{type_name} {object_id!r} does not exist")
        staged = self._staged.get((type_name, object_id))
        action = staged.action if staged is not None else _UPDATE
        value = json_copy(value)
        # an adjust staged before: the whole value now carries it (read as it was stored)
        pending = self._adjusts.pop((type_name, object_id), None)
        if pending:
            with_counters(value, pending)
        self._staged[(type_name, object_id)] = _Staged(action, value)

    def destroy(self, type_name: str, object_id: str) -> None:
        if self._current(type_name, object_id) is None:
            raise ValueError(f"{type_name} {object_id!r} does not exist")
        staged = self._staged.get((type_name, object_id))
        if staged is not None and staged.action == _CREATE:
            # created and destroyed in one batch: the store never needs to see it
            del self._staged[(type_name, object_id)]
            self._stored.setdefault(type_name, {})[object_id] = None
            self._forgotten.append((type_name, object_id))
        else:
            self._staged[(type_name, object_id)] = _Staged(_DESTROY, None)
            self._adjusts.pop((type_name, object_id), None)

    def stage_derived(self, write: Callable[[WriteBatch], object]) -> None:
        """Stage index or map writes (IIndexStore) to apply with the objects::

            objects.stage_derived(lambda b: b.index_add("Email:all", email_id, received))

        ``write`` is called once, now, on a batch of its own, so a bad name or score fails here
        (staging nothing); what it staged joins the final WriteBatch after the object writes, in
        staging order (``WriteBatch.extend``). So ``write`` only stages: it reads nothing of the
        batch it is given.
        """
        staged = WriteBatch()
        write(staged)
        self._derived.append(staged)

    def attached(self, key: str, make: Callable[[WorkingSet], F]) -> F:
        """The helper of this working set under ``key``, made by ``make(self)`` on first use.

        A type that accumulates writes over a whole computation (Email: mailbox counts, threads)
        keeps its state in such a helper; its ``finish`` runs in ``finish`` below, whichever
        method's computation (Email/set, Mailbox/set destroying emails...) used it.
        """
        helper = self._attached.get(key)
        if helper is None:
            helper = self._attached[key] = make(self)
        return helper  # type: ignore[return-value]

    async def finish(self) -> None:
        """Let every attached helper stage what it accumulated; call once, before ``batch``."""
        for helper in list(self._attached.values()):
            await helper.finish()

    def savepoint(self) -> Savepoint:
        """Where the staged writes are now, to go back to if an operation fails halfway."""
        return Savepoint(dict(self._staged), len(self._forgotten), len(self._derived),
                         dict(self._adjusts))

    def rollback(self, savepoint: Savepoint) -> None:
        """Drop every write staged since ``savepoint`` (e.g. by a hook that then refused)."""
        self._staged = dict(savepoint.staged)
        self._adjusts = dict(savepoint.adjusts)
        for type_name, object_id in self._forgotten[savepoint.forgotten:]:
            self._stored.get(type_name, {}).pop(object_id, None)
        del self._forgotten[savepoint.forgotten:]
        del self._derived[savepoint.derived:]

    def batch(self) -> WriteBatch:
        """One WriteBatch of every staged write, conditional on every state that was read.

        Raises ``Unconfirmed`` when it writes nothing but objects were taken from the cache."""
        batch = self._batch()
        if self._taken and batch.is_empty() and self._cache is not None:
            for type_name, object_ids in self._taken.items():
                self._cache.forget(self.account_id, type_name, object_ids)
            raise Unconfirmed("objects taken from the cache, and nothing written to confirm them")
        return batch

    def _batch(self) -> WriteBatch:
        batch = WriteBatch()
        for (type_name, object_id), staged in self._staged.items():
            if staged.action == _CREATE and staged.value is not None:
                batch.create(type_name, object_id, staged.value)
            elif staged.action == _UPDATE and staged.value is not None:
                batch.update(type_name, object_id, staged.value)
            elif staged.action == _DESTROY:
                batch.destroy(type_name, object_id)
        for (type_name, object_id), deltas in self._adjusts.items():
            for path, delta in deltas.items():
                if delta:
                    batch.adjust(type_name, object_id, path, delta)
        # the map fields a per-object type's computation read, as conditions
        by_map: dict[str, dict[str, str | None]] = {}
        for (name, field_name), value in self._map_read.items():
            by_map.setdefault(name, {})[field_name] = value
        for name, fields in by_map.items():
            batch.require_map_fields(name, fields)
        for type_name, state in self._states.items():
            batch.require_state(type_name, state)
        # kept beside a state recorded later: an object read before it may have changed between
        for type_name, read_at in self._read_at.items():
            by_position: dict[int, list[str]] = {}
            for object_id, position in read_at.items():
                by_position.setdefault(position, []).append(object_id)
            for position, object_ids in sorted(by_position.items()):
                batch.require_unchanged(type_name, object_ids, position)
        for derived in self._derived:
            batch.extend(derived)
        return batch
