"""IAccountStore, IChangeLog and IIndexStore on Redis: one Lua script per write, publish included;
one per index query."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from stalwart_tx.store.errors import (
    BlobNotFound,
    CannotCalculateChanges,
    InvalidState,
    ObjectExists,
    ObjectNotFound,
    StateMismatch,
    StoreError,
    TooManyObjects,
)
from stalwart_tx.store.interfaces import IAccountStore, IChangeLog, IIndexStore
from stalwart_tx.store.memory import (
    DEFAULT_MAX_TOMBSTONES,
    TRIM_CATCH_UP,
    SecondsClock,
    check_mark,
    check_max_tombstones,
    decode_value,
    encode_value,
    is_blob_id,
    parse_state,
    referrer_key,
)
from stalwart_tx.store.records import (
    Changes,
    ChangesRequest,
    IndexPage,
    IndexRequest,
    JSONObject,
    MarkReading,
    MarkRequest,
    Plan,
    Snapshot,
    WriteBatch,
    WriteResult,
    check_name,
)
from stalwart_tx.store.redis import scripts
from stalwart_tx.store.redis.blobs import note_unreferenced_after_write
from stalwart_tx.store.redis.connection import RedisConnection, as_text, pairs
from stalwart_tx.store.redis.indexes import compile_query, parse_page, score_arg
from stalwart_tx.store.redis.keys import AccountKeys, account_keys, changes_channel
from stalwart_tx.store.redis.recent_blobs import RecentBlobs

# a state is checked against the account's modseq inside the script; here only its form
_ANY_MODSEQ = 2**63


def derived_payload(batch: WriteBatch) -> str:
    """The derived writes of the batch as the write script reads them: "" when there are none,
    else one JSON array of four lists of runs, each run some names and the items that go to
    each of those keys: index removes ``[names, member]``, map deletes ``[[name], field]``,
    index adds ``[names, score, member]`` (the score as exact decimal text), map sets
    ``[[name], field, value]``; and a fifth when there are index adds scored by a type's
    state after the batch, ``[names, member, type name]`` (applied last). The script applies
    a list run by run, name by name, in order (grouped into one command per key), so a later
    write of a member or field wins, as it would one by one."""
    if not batch.has_derived_writes():
        return ""
    payload: list[Any] = [
        batch.index_remove_runs,
        [((name,), field_name) for name, field_name in batch.map_deletes],
        [(names, score_arg(score), member) for names, member, score in batch.index_add_runs],
        [((name,), field_name, value) for name, field_name, value in batch.map_sets],
    ]
    if batch.state_scored_adds:
        payload.append(batch.state_scored_adds)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), check_circular=False)


@implementer(IAccountStore, IChangeLog, IIndexStore)
class RedisAccountStore:
    """Each type keeps at most ``max_tombstones`` tombstones: the write script drops the oldest
    and raises the floor, as MemoryAccountStore describes (docs/redis-schema.md, retention)."""

    def __init__(
        self, connection: RedisConnection, *, prefix: str = "stx:",
        clock: SecondsClock | None = None, max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
        recent_blobs: RecentBlobs | None = None,
    ) -> None:
        self._redis = connection
        self._prefix = prefix
        self.max_tombstones = check_max_tombstones(max_tombstones)
        self._channel = changes_channel(prefix)
        # stamps blobs whose last claim a write releases (see RedisBlobStore)
        self.clock: SecondsClock = clock if clock is not None else connection.reactor
        # the blob store's copies of blobs just put: a destroyed account's go with it
        self._recent_blobs = recent_blobs

    def _keys(self, account_id: str) -> AccountKeys:
        return account_keys(self._prefix, account_id)

    async def get(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> dict[str, JSONObject]:
        key = self._keys(account_id).objects(type_name)
        if ids is None:
            found = pairs(await self._redis.execute("HGETALL", key))
        else:
            ids = list(dict.fromkeys(ids))
            if not ids:
                return {}
            found = list(zip(ids, await self._redis.execute("HMGET", key, *ids), strict=True))
        return {as_text(i): decode_value(as_text(v)) for i, v in found if v is not None}

    async def get_with_state(
        self, account_id: str, type_name: str, ids: list[str] | None, at_most: int | None = None
    ) -> tuple[str, dict[str, JSONObject]]:
        keys = self._keys(account_id)
        if ids is not None:
            ids = list(dict.fromkeys(ids))
            mode: list[object] = ["ids", *ids]
        else:
            mode = ["all", -1 if at_most is None else at_most]
        reply = await self._redis.run_script(
            scripts.GET_WITH_STATE, [keys.states, keys.objects(type_name)], [type_name, *mode]
        )
        state = as_text(reply[0]) if reply[0] is not None else "0"
        if ids is None and len(reply) == 2:
            raise TooManyObjects(type_name, int(reply[1]))
        found = pairs(reply[1:]) if ids is None else zip(ids, reply[1:], strict=True)
        return state, {as_text(i): decode_value(as_text(v)) for i, v in found if v is not None}

    async def list_ids(self, account_id: str, type_name: str) -> list[str]:
        key = self._keys(account_id).objects(type_name)
        return [as_text(i) for i in await self._redis.execute("HKEYS", key)]

    async def write(self, account_id: str, batch: WriteBatch) -> WriteResult:
        keys = self._keys(account_id)
        types: dict[str, int] = {}

        def index(type_name: str) -> int:
            return types.setdefault(type_name, len(types) + 1)

        creates = [(index(t), i, encode_value(t, i, v)) for t, i, v in batch.creates]
        updates = [(index(t), i, encode_value(t, i, v)) for t, i, v in batch.updates]
        destroys = [(index(t), i) for t, i in batch.destroys]
        conditions = [(index(t), s) for t, s in batch.if_in_state.items()]
        unchanged = [(index(t), i, position) for t, i, position in batch.unchanged_since]
        for _, _, type_name in batch.state_scored_adds:
            index(type_name)  # its state is read after the batch
        adjusted = batch.adjusted()
        counter_writes = ""
        if adjusted or batch.counter_scored_adds or batch.map_conditions:
            counter_writes = json.dumps({
                "a": [[index(t), i, list(deltas.items())] for (t, i), deltas in adjusted.items()],
                "c": [[list(names), member, index(t), i, path, offset]
                      for names, member, t, i, path, offset in batch.counter_scored_adds],
                "m": [[name, f, False if v is None else v] for name, f, v in batch.map_conditions],
            }, ensure_ascii=False, separators=(",", ":"))

        args: list[Any] = [self._channel, account_id, len(types), *types]
        for group in (creates, updates, destroys, conditions, unchanged):
            args.append(len(group))
            for item in group:
                args.extend(item)
        script_keys = [keys.modseq, keys.states, keys.types, keys.floors]
        for type_name in types:
            script_keys.extend(keys.of_type(type_name))
        now = self.clock.seconds()
        self._add_blob_references(keys, batch, now, script_keys, args)
        args += [self.max_tombstones, TRIM_CATCH_UP]
        script_keys.append(keys.derived)
        args += [derived_payload(batch), keys.base, counter_writes]

        writing = self._redis.run_script(scripts.WRITE, script_keys, args)
        if batch.blob_releases:
            # a release may leave a blob unreferenced: the sweep must come to this account. Sent
            # with the write, not a round trip after it: the connection takes commands in the
            # order issued, so Redis applies it after the write's stamps (and after a refused
            # write it only makes the sweep look once for nothing)
            sent = Deferred.fromCoroutine(writing)
            noting = Deferred.fromCoroutine(
                note_unreferenced_after_write(self._redis, self._prefix, account_id, now)
            )
            try:
                raw = await sent
            finally:
                await noting
        else:
            raw = await writing
        reply = [as_text(v) for v in raw]
        if reply[0] == "mismatch":
            raise StateMismatch(reply[1], reply[2], reply[3])
        if reply[0] == "exists":
            raise ObjectExists(reply[1], reply[2])
        if reply[0] == "missing":
            raise ObjectNotFound(reply[1], reply[2])
        if reply[0] == "noblob":
            raise BlobNotFound(reply[1])
        if reply[0] != "ok":
            raise StoreError(f"unexpected reply of the write script: {reply[0]!r}")

        account_modseq = int(reply[1])
        states = dict(zip(types, reply[2:2 + len(types)], strict=True))
        before = dict(zip(types, reply[2 + len(types):], strict=True))
        written = [(t, i) for t, i, _ in batch.creates] + [(t, i) for t, i, _ in batch.updates]
        written += list(batch.destroys)
        written += list(adjusted)
        first = account_modseq - len(written) + 1
        modseqs = {item: first + n for n, item in enumerate(written)}
        touched = {t for t, _ in written}
        new_states = {t: s for t, s in states.items() if t in touched or t in batch.if_in_state}
        return WriteResult(new_states=new_states, modseqs=modseqs, account_modseq=account_modseq,
                           old_states={t: before[t] for t in new_states})

    @staticmethod
    def _add_blob_references(
        keys: AccountKeys, batch: WriteBatch, now: float, script_keys: list[str], args: list[Any]
    ) -> None:
        """The write script's blob part: now, claims, releases, and the keys they touch."""
        for blob_id, _, _ in batch.blob_claims:
            if not is_blob_id(blob_id):
                raise BlobNotFound(blob_id)  # no key is ever built from what is not a blob id
        releases = [r for r in batch.blob_releases if is_blob_id(r[0])]
        script_keys.append(keys.unreferenced)
        args.append(repr(now))
        for group in (batch.blob_claims, releases):
            args.append(len(group))
            for blob_id, type_name, object_id in group:
                args += [blob_id, referrer_key(type_name, object_id)]
                script_keys += [keys.blob(blob_id), keys.blob_refs(blob_id)]

    async def destroy_account(self, account_id: str) -> None:
        keys = self._keys(account_id)
        if self._recent_blobs is not None:
            self._recent_blobs.drop_account(account_id)
        # the script deletes exactly the keys named in the indexes, and refuses (so we read the
        # indexes again) if a concurrent write or upload changed them in between
        for _ in range(10):
            types = [as_text(t) for t in await self._redis.execute("SMEMBERS", keys.types)]
            blobs = [as_text(b) for b in await self._redis.execute("SMEMBERS", keys.blobs)]
            uploads = [
                as_text(u) for u in await self._redis.execute("ZRANGE", keys.uploads, 0, -1)
            ]
            derived = [as_text(d) for d in await self._redis.execute("SMEMBERS", keys.derived)]
            script_keys = keys.fixed()
            for type_name in types:
                script_keys.extend(keys.of_type(type_name))
            script_keys.extend(keys.blob(b) for b in blobs)
            script_keys.extend(keys.blob_refs(b) for b in blobs)
            script_keys.extend(keys.upload(u) for u in uploads)
            script_keys.extend(derived)
            args = [
                len(types), len(blobs), len(uploads), len(derived),
                *types, *blobs, *uploads, *derived,
            ]
            if await self._redis.run_script(scripts.DESTROY_ACCOUNT, script_keys, args) == 1:
                return
        raise StoreError(f"account {account_id!r} kept changing while it was being destroyed")

    async def index_query(
        self, account_id: str, plan: Plan, *, descending: bool = False, offset: int = 0,
        limit: int | None = None, count: bool = True,
    ) -> IndexPage:
        query = compile_query(
            plan, self._keys(account_id), descending=descending, offset=offset, limit=limit,
            count=count,
        )
        if query is None:
            return IndexPage(members=(), total=0)
        return parse_page(await self._redis.run_script(scripts.INDEX_QUERY, query.keys, query.args))

    async def snapshot(
        self, account_id: str, type_name: str, queries: list[IndexRequest],
        objects: tuple[str, list[str]] | None = None, changes: ChangesRequest | None = None,
        mark: MarkRequest | None = None,
    ) -> Snapshot:
        keys = self._keys(account_id)
        if changes is not None:
            since = parse_state(changes.since_state, _ANY_MODSEQ)
            if changes.max_changes is not None and changes.max_changes < 1:
                raise ValueError("max_changes must be positive")
            also = list(dict.fromkeys(changes.also_ids))
            index_key = keys.index(check_name(changes.index))
        compiled = [
            compile_query(q.plan, keys, descending=q.descending, offset=q.offset,
                          limit=q.limit, count=q.count)
            for q in queries
        ]
        ids = list(dict.fromkeys(objects[1])) if objects is not None else []
        objects_key = keys.objects(objects[0]) if objects is not None else keys.states
        script_keys = [keys.states, objects_key]
        args: list[Any] = [type_name, len(ids), *ids, sum(c is not None for c in compiled)]
        for query in compiled:
            if query is not None:
                script_keys += query.keys
                args += [len(query.keys), len(query.args), *query.args]
        if changes is not None:
            script_keys += [keys.modseq, keys.floors, keys.log(type_name), keys.born(type_name),
                            keys.dead(type_name), index_key]
            args += ["1", since.position, since.origin, since.snapshot, changes.max_changes or 0,
                     len(also), *also]
        elif mark is not None:
            args.append("0")
        if mark is not None:
            script_keys += [keys.map(check_name(mark.map)), keys.index(check_name(mark.index)),
                            keys.derived]
            args += ["1", mark.field, "1" if mark.claim else "0"]
        reply = await self._redis.run_script(scripts.SNAPSHOT, script_keys, args)
        state = as_text(reply[0]) if reply[0] is not None else "0"
        found = {
            i: decode_value(as_text(v)) for i, v in zip(ids, reply[1], strict=True) if v is not None
        }
        answers = iter(reply[2:])
        pages = tuple(
            IndexPage(members=(), total=0) if query is None else parse_page(next(answers))
            for query in compiled
        )
        reading: MarkReading | None = None
        if changes is None:
            if mark is not None:
                reading = _mark_reply(next(answers))
            return Snapshot(state, found, pages, mark=reading)
        changed = self._changes_reply(type_name, changes.since_state, next(answers))
        wanted = changes.ids_of(changed)
        _, modseqs, scores = _modseqs_reply(wanted, next(answers), with_scores=True)
        if mark is not None:
            reading = _mark_reply(next(answers))
        return Snapshot(state, found, pages, changed, modseqs, scores, reading)

    async def index_size(self, account_id: str, index: str) -> int:
        key = self._keys(account_id).index(check_name(index))
        return int(await self._redis.execute("ZCARD", key))

    async def index_scores(
        self, account_id: str, index: str, members: list[str]
    ) -> dict[str, float]:
        key = self._keys(account_id).index(check_name(index))
        wanted = list(dict.fromkeys(members))
        if not wanted:
            return {}
        scores = await self._redis.execute("ZMSCORE", key, *wanted)
        return {
            m: float(as_text(s)) for m, s in zip(wanted, scores, strict=True) if s is not None
        }

    async def map_get(self, account_id: str, name: str, fields: list[str]) -> dict[str, str]:
        key = self._keys(account_id).map(check_name(name))
        wanted = list(dict.fromkeys(fields))
        if not wanted:
            return {}
        values = await self._redis.execute("HMGET", key, *wanted)
        return {f: as_text(v) for f, v in zip(wanted, values, strict=True) if v is not None}

    async def map_get_at_state(
        self, account_id: str, type_name: str, name: str, fields: list[str]
    ) -> tuple[str, dict[str, str]]:
        keys = self._keys(account_id)
        key = keys.map(check_name(name))
        wanted = list(dict.fromkeys(fields))
        # the get_with_state script reads a state and fields of a hash: a map is one
        reply = await self._redis.run_script(
            scripts.GET_WITH_STATE, [keys.states, key], [type_name, "ids", *wanted]
        )
        state = as_text(reply[0]) if reply[0] is not None else "0"
        return state, {
            f: as_text(v) for f, v in zip(wanted, reply[1:], strict=True) if v is not None
        }

    async def map_raise(self, account_id: str, name: str, field: str, value: int) -> int:
        keys = self._keys(account_id)
        check_mark(value)
        if value == 0:
            found = await self.map_get(account_id, name, [field])
            return int(found.get(field, "0"))
        reply = await self._redis.run_script(
            scripts.MAP_RAISE, [keys.map(check_name(name)), keys.derived], [field, str(value)]
        )
        return int(as_text(reply))

    async def modseqs(self, account_id: str, type_name: str, ids: list[str]) -> dict[str, int]:
        keys = self._keys(account_id)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        reply = await self._redis.run_script(
            scripts.MODSEQS, [keys.log(type_name), keys.dead(type_name)], wanted
        )
        return {
            i: int(as_text(m)) for i, m in zip(wanted, reply, strict=True) if m is not None
        }

    async def state_and_modseqs(
        self, account_id: str, type_name: str, ids: list[str]
    ) -> tuple[str, dict[str, int]]:
        state, modseqs, _ = await self._modseqs_read(account_id, type_name, ids, None)
        return state, modseqs

    async def state_modseqs_and_scores(
        self, account_id: str, type_name: str, ids: list[str], index: str
    ) -> tuple[str, dict[str, int], dict[str, float]]:
        return await self._modseqs_read(account_id, type_name, ids, check_name(index))

    async def _modseqs_read(
        self, account_id: str, type_name: str, ids: list[str], index: str | None
    ) -> tuple[str, dict[str, int], dict[str, float]]:
        """The modseqs script with the states key (and the index's key, when given)."""
        keys = self._keys(account_id)
        wanted = list(dict.fromkeys(ids))
        script_keys = [keys.log(type_name), keys.dead(type_name), keys.states]
        if index is not None:
            script_keys.append(keys.index(index))
        reply = await self._redis.run_script(scripts.MODSEQS, script_keys, [type_name, *wanted])
        return _modseqs_reply(wanted, reply, with_scores=index is not None)

    async def current_state(self, account_id: str, type_name: str) -> str:
        state = await self._redis.execute("HGET", self._keys(account_id).states, type_name)
        return as_text(state) if state is not None else "0"

    async def shape_state(self, account_id: str, type_name: str) -> str:
        found = await self._redis.execute(
            "HGET", self._keys(account_id).states, scripts.SHAPE_FIELD + type_name
        )
        return as_text(found) if found is not None else "0"

    async def current_states(self, account_id: str, type_names: list[str]) -> dict[str, str]:
        names = list(dict.fromkeys(type_names))
        if not names:
            return {}
        states = await self._redis.execute("HMGET", self._keys(account_id).states, *names)
        return {t: as_text(s) if s is not None else "0" for t, s in zip(names, states, strict=True)}

    async def account_modseq(self, account_id: str) -> int:
        value = await self._redis.execute("GET", self._keys(account_id).modseq)
        return int(as_text(value)) if value is not None else 0

    async def changes_since(
        self, account_id: str, type_name: str, since_state: str, max_changes: int | None
    ) -> Changes:
        keys = self._keys(account_id)
        since = parse_state(since_state, _ANY_MODSEQ)
        if max_changes is not None and max_changes < 1:
            raise ValueError("max_changes must be positive")
        reply = await self._redis.run_script(
            scripts.CHANGES,
            [keys.modseq, keys.states, keys.floors, keys.log(type_name), keys.born(type_name),
             keys.dead(type_name)],
            [type_name, since.position, since.origin, since.snapshot, max_changes or 0],
        )
        return self._changes_reply(type_name, since_state, reply)

    @staticmethod
    def _changes_reply(type_name: str, since_state: str, reply: list[Any]) -> Changes:
        status = as_text(reply[0])
        if status == "invalid":
            raise InvalidState(f"not a state of this store: {since_state!r}")
        if status == "cannot":
            raise CannotCalculateChanges(
                f"{type_name}: the change log starts after state {since_state!r}"
            )
        _, new_state, has_more, created, updated, destroyed = reply
        return Changes(
            old_state=since_state,
            new_state=as_text(new_state),
            has_more=int(has_more) == 1,
            created=tuple(as_text(i) for i in created),
            updated=tuple(as_text(i) for i in updated),
            destroyed=tuple(as_text(i) for i in destroyed),
        )

    async def compact(self, account_id: str, type_name: str, keep_after_state: str) -> None:
        keys = self._keys(account_id)
        keep_after = parse_state(keep_after_state, _ANY_MODSEQ).position
        reply = await self._redis.run_script(
            scripts.COMPACT,
            [keys.modseq, keys.floors, keys.log(type_name), keys.born(type_name),
             keys.dead(type_name), keys.tombs(type_name)],
            [type_name, keep_after],
        )
        if as_text(reply) == "invalid":
            raise InvalidState(f"not a state of this store: {keep_after_state!r}")


def _modseqs_reply(
    wanted: list[str], reply: list[Any], *, with_scores: bool
) -> tuple[str, dict[str, int], dict[str, float]]:
    """The state, modseqs and (``with_scores``) index scores of a MODSEQS reply with the
    states key."""
    state = as_text(reply[0]) if reply[0] is not None else "0"
    count = len(wanted)
    modseqs = {
        i: int(as_text(m)) for i, m in zip(wanted, reply[1:count + 1], strict=True)
        if m is not None
    }
    scores = {
        i: float(as_text(s)) for i, s in zip(wanted, reply[count + 1:], strict=True)
        if s is not None
    } if with_scores else {}
    return state, modseqs, scores


def _mark_reply(reply: list[Any]) -> MarkReading:
    before, top, above = (int(as_text(v)) for v in reply)
    return MarkReading(before, top, above)
