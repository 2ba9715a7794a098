"""Plain values passed across the store interfaces."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSONObject = dict[str, Any]

_IMMUTABLE = (str, int, float, bool, type(None))


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value: what copy.deepcopy gives, several times faster on the
    dicts and lists JSON is made of (any other container is still deep-copied)."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else json_copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else json_copy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    import copy

    return copy.deepcopy(value)


@dataclass
class WriteBatch:
    """Object writes of one account that a store applies atomically, all or nothing.

    Values are whole JSON objects (the method layer computes them); a store never merges. Every
    write is checked before anything is applied: a create of an existing id raises ObjectExists,
    an update or destroy of a missing id raises ObjectNotFound, and a type listed in
    ``if_in_state`` whose state moved raises StateMismatch. An id appears at most once per type in
    a batch.

    A write computed from a few objects of a type, rather than from the whole type, can require
    just those to be as read: ``require_unchanged(type, ids, position)`` raises StateMismatch
    when one of them (created, updated or destroyed) changed after the modseq ``position`` (the
    state it was read at), or when the type's log no longer reaches back to ``position`` (its
    floor is above it). Other objects of the type may have changed meanwhile.

    Blob references ride along, atomic with the object writes: ``claim_blob`` records that an
    object (type, id) now references a blob of the account, ``release_blob`` that it no longer
    does. A claim of a blob the account does not hold raises BlobNotFound, with nothing applied.
    Releases are applied before claims, claiming twice or releasing what was never claimed
    changes nothing, and a blob whose last claim is released becomes unreferenced again (it
    expires later; see IBlobStore). ``is_empty`` speaks of object writes only: claims and
    releases are applied even in a batch without any.

    Counters ride along without conditions (``adjust``): ``adjust(type, id, path, delta)``
    adds ``delta`` to the integer at ``path`` (dotted keys, e.g. ``counts.totalEmails``) of an
    existing object, a missing number counting as 0 and missing objects on the way made; a
    counter never goes below 0 (a delta that would is applied as far as 0). It is
    an object change like an update (the object gets a modseq, the type's state moves, the
    change is logged and published) but needs no read of the object first, so two writers
    adjusting one object do not conflict; an adjust of a missing object raises
    ObjectNotFound. An adjusted id is not also created, updated or destroyed in the batch.
    A store keeps the deltas beside the stored value and hands out the sums; a later update
    (computed from what was handed out) replaces both. ``index_add_at_counter`` puts a member
    into an index with the score a counter of an object has before the batch's adjusts, plus
    an offset (numbers handed out by a counter: IMAP UIDs). ``require_map_fields`` makes the
    batch conditional on fields of a map holding what they held when read (None: absent):
    StateMismatch otherwise.

    Derived data rides along too (see IIndexStore): ``index_add`` puts a member with a score
    into a sorted index of the account (replacing its score if it is there); ``index_add_at_state``
    does the same with the score the state of a type has once the batch is applied (a modseq
    only the store knows, when the batch is not conditional on that state); ``index_remove``
    takes it out; ``map_set`` and ``map_delete`` do the same for string maps. They are applied
    in the same atomic step, removes and deletes before adds and sets; they move no state and
    leave no change-log entry (they are derived from the objects written beside them). Like
    claims, they are applied even in a batch without object writes, but only once every check
    of the batch passed. Names, members and fields are non-empty strings of at most
    ``MAX_INDEX_NAME`` characters, values strings, all valid Unicode (no lone surrogates),
    scores finite floats: anything else raises ValueError when it is staged (and a bulk
    method that raises stages none of its writes). ``index_add_many`` and
    ``index_remove_many`` stage one member into (or out of) many indexes at once, as a
    document's postings need: the same writes as one ``index_add`` per name, checked in bulk.
    """

    creates: list[tuple[str, str, JSONObject]] = field(default_factory=list)
    updates: list[tuple[str, str, JSONObject]] = field(default_factory=list)
    destroys: list[tuple[str, str]] = field(default_factory=list)
    if_in_state: dict[str, str] = field(default_factory=dict)
    # (type name, object id, modseq): the object unchanged since that modseq
    unchanged_since: list[tuple[str, str, int]] = field(default_factory=list)
    # (blob id, type name, object id): which object starts or stops referencing which blob
    blob_claims: list[tuple[str, str, str]] = field(default_factory=list)
    blob_releases: list[tuple[str, str, str]] = field(default_factory=list)
    # (index names, member, score) / (index names, member): one member into or out of some
    # indexes, as staged (index_adds and index_removes list them one by one)
    index_add_runs: list[tuple[Sequence[str], str, float]] = field(default_factory=list)
    index_remove_runs: list[tuple[Sequence[str], str]] = field(default_factory=list)
    # (map name, field, value) / (map name, field)
    map_sets: list[tuple[str, str, str]] = field(default_factory=list)
    map_deletes: list[tuple[str, str]] = field(default_factory=list)
    # (index names, member, type name): scored by that type's state after the batch
    state_scored_adds: list[tuple[Sequence[str], str, str]] = field(default_factory=list)
    # (type name, object id, counter path, delta)
    adjusts: list[tuple[str, str, str, int]] = field(default_factory=list)
    # (index names, member, type name, object id, counter path, offset)
    counter_scored_adds: list[tuple[Sequence[str], str, str, str, str, int]] = field(
        default_factory=list
    )
    # (map name, field, value it must hold; None: absent)
    map_conditions: list[tuple[str, str, str | None]] = field(default_factory=list)

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

    def require_unchanged(
        self, type_name: str, object_ids: Iterable[str], position: int
    ) -> WriteBatch:
        self.unchanged_since += [(type_name, i, position) for i in object_ids]
        return self

    def adjust(self, type_name: str, object_id: str, path: str, delta: int) -> WriteBatch:
        """Add ``delta`` to the counter at ``path`` of an existing object (see the class)."""
        self.adjusts.append((type_name, object_id, check_counter_path(path), _integer(delta)))
        return self

    def index_add_at_counter(
        self, index: str, member: str, type_name: str, object_id: str, path: str, offset: int
    ) -> WriteBatch:
        """``index_add`` scored by the counter at ``path`` of the object before the batch's
        adjusts, plus ``offset``."""
        self.counter_scored_adds.append((
            (check_name(index),), check_name(member), type_name, object_id,
            check_counter_path(path), _integer(offset),
        ))
        return self

    def require_map_fields(self, name: str, fields: Mapping[str, str | None]) -> WriteBatch:
        """Conditional on each field of the map holding that value (None: absent)."""
        check_name(name)
        self.map_conditions += [(name, check_name(f), v) for f, v in fields.items()]
        return self

    def claim_blob(self, blob_id: str, type_name: str, object_id: str) -> WriteBatch:
        self.blob_claims.append((blob_id, type_name, object_id))
        return self

    def release_blob(self, blob_id: str, type_name: str, object_id: str) -> WriteBatch:
        self.blob_releases.append((blob_id, type_name, object_id))
        return self

    def index_add(self, index: str, member: str, score: float) -> WriteBatch:
        self.index_add_runs.append(((check_name(index),), check_name(member), check_score(score)))
        return self

    def index_add_many(self, indexes: Iterable[str], member: str, score: float) -> WriteBatch:
        """``index_add(name, member, score)`` for each name, in order."""
        names = check_names(indexes)
        run = (names, check_name(member), check_score(score))
        if names:
            self.index_add_runs.append(run)
        return self

    def index_add_at_state(self, index: str, member: str, type_name: str) -> WriteBatch:
        """``index_add`` with the score ``type_name``'s state has once the batch is applied."""
        self.state_scored_adds.append(((check_name(index),), check_name(member), type_name))
        return self

    def index_remove(self, index: str, member: str) -> WriteBatch:
        self.index_remove_runs.append(((check_name(index),), check_name(member)))
        return self

    def index_remove_many(self, indexes: Iterable[str], member: str) -> WriteBatch:
        """``index_remove(name, member)`` for each name, in order."""
        names = check_names(indexes)
        run = (names, check_name(member))
        if names:
            self.index_remove_runs.append(run)
        return self

    @property
    def index_adds(self) -> list[tuple[str, str, float]]:
        """Every index add staged, (index name, member, score), in order."""
        return [(name, m, s) for names, m, s in self.index_add_runs for name in names]

    @property
    def index_removes(self) -> list[tuple[str, str]]:
        """Every index remove staged, (index name, member), in order."""
        return [(name, m) for names, m in self.index_remove_runs for name in names]

    def map_set(self, name: str, field_name: str, value: str) -> WriteBatch:
        if not isinstance(value, str) or not _is_unicode(value):
            raise ValueError(f"a map value is a valid Unicode string, not {value!r:.80}")
        self.map_sets.append((check_name(name), check_name(field_name), value))
        return self

    def map_delete(self, name: str, field_name: str) -> WriteBatch:
        self.map_deletes.append((check_name(name), check_name(field_name)))
        return self

    def extend(self, other: WriteBatch) -> WriteBatch:
        """Stage every write of ``other`` after those of this batch, as if staged here."""
        self.creates += other.creates
        self.updates += other.updates
        self.destroys += other.destroys
        self.if_in_state.update(other.if_in_state)
        self.unchanged_since += other.unchanged_since
        self.blob_claims += other.blob_claims
        self.blob_releases += other.blob_releases
        self.index_add_runs += other.index_add_runs
        self.index_remove_runs += other.index_remove_runs
        self.map_sets += other.map_sets
        self.map_deletes += other.map_deletes
        self.state_scored_adds += other.state_scored_adds
        self.adjusts += other.adjusts
        self.counter_scored_adds += other.counter_scored_adds
        self.map_conditions += other.map_conditions
        return self

    def is_empty(self) -> bool:
        return not (self.creates or self.updates or self.destroys or self.adjusts)

    def has_derived_writes(self) -> bool:
        return bool(
            self.index_add_runs or self.index_remove_runs or self.map_sets or self.map_deletes
            or self.state_scored_adds or self.counter_scored_adds
        )

    def adjusted(self) -> dict[tuple[str, str], dict[str, int]]:
        """The adjusts by object, in the order first adjusted: path -> summed delta."""
        found: dict[tuple[str, str], dict[str, int]] = {}
        for type_name, object_id, path, delta in self.adjusts:
            deltas = found.setdefault((type_name, object_id), {})
            deltas[path] = deltas.get(path, 0) + delta
        return found


def check_counter_path(path: str) -> str:
    """A counter path: dotted keys, none empty, no tab or newline (the stored form's
    separators)."""
    if not isinstance(path, str) or not path or "\t" in path or "\n" in path \
            or "" in path.split(".") or not _is_unicode(path) or len(path) > MAX_INDEX_NAME:
        raise ValueError(f"not a counter path: {path!r:.80}")
    return path


def _integer(value: int) -> int:
    if type(value) is not int or abs(value) > MAX_COUNTER:
        raise ValueError(f"a counter moves by an integer of at most 2^53, not {value!r:.80}")
    return value


# what a double holds exactly: counters are read and summed as numbers by every store
MAX_COUNTER = 2**53


def with_counters(value: JSONObject, deltas: Mapping[str, int]) -> JSONObject:
    """``value`` with each delta added at its counter path, none below 0 (in place;
    returned)."""
    for path, delta in deltas.items():
        *parents, leaf = path.split(".")
        node = value
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        current = node.get(leaf)
        node[leaf] = max(0, (current if type(current) is int else 0) + delta)
    return value


def counter_of(value: JSONObject, path: str) -> int:
    """The integer at a counter path of a value (0 where there is none)."""
    node: Any = value
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node if type(node) is int else 0


MAX_INDEX_NAME = 2048


def check_name(name: str) -> str:
    """An index or map name, member or field: a non-empty string of bounded length."""
    # the common case first: a plain ASCII str is valid Unicode without encoding it
    if type(name) is str and 0 < len(name) <= MAX_INDEX_NAME and (
        name.isascii() or _is_unicode(name)
    ):
        return name
    if not isinstance(name, str) or not name or len(name) > MAX_INDEX_NAME \
            or not _is_unicode(name):
        raise ValueError(f"not a valid index/map name, member or field: {name!r:.80}")
    return name


def check_names(names: Iterable[str]) -> list[str]:
    """``check_name`` of each name, in bulk: the names as a list, or ValueError for the first
    bad one."""
    checked = list(names)
    if not checked:
        return checked
    try:
        joined = "".join(checked)  # TypeError when one is not a str
    except TypeError:
        joined = None
    # a lone surrogate stays lone in the joined text (str never pairs surrogates up)
    if joined is None or min(map(len, checked)) == 0 \
            or max(map(len, checked)) > MAX_INDEX_NAME \
            or not (joined.isascii() or _is_unicode(joined)):
        for name in checked:
            check_name(name)
    return checked


def _is_unicode(text: str) -> bool:
    """Whether the text has a UTF-8 form (no lone surrogates), as every store needs."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_score(score: float) -> float:
    # the common case first: x - x is 0.0 exactly for every finite float (NaN for inf and NaN)
    if type(score) is float and score - score == 0.0:
        return score
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ValueError(f"an index score is a finite number, not {score!r}")
    return float(score)


# A plan: which members of the account's sorted indexes a query wants (IIndexStore.index_query).
# Every result member carries a score, which orders the results.


@dataclass(frozen=True)
class Index:
    """Every member of the index, with its score there (no members when it does not exist)."""

    name: str


@dataclass(frozen=True)
class ScoreRange:
    """Members of the index with ``at_least <= score < below`` (None: unbounded that side)."""

    index: str
    at_least: float | None = None
    below: float | None = None


@dataclass(frozen=True)
class Intersection:
    """Members in every part, with their score in the first part. At least one part."""

    parts: tuple[Plan, ...]


@dataclass(frozen=True)
class Union:
    """Members in any part, with the highest of their scores in the parts. No parts: nothing."""

    parts: tuple[Plan, ...]


@dataclass(frozen=True)
class Difference:
    """Members of ``base`` that are not in ``excluded``, with their score in ``base``."""

    base: Plan
    excluded: Plan


Plan = Index | ScoreRange | Intersection | Union | Difference

# A plan may name this many leaves (Index, ScoreRange) and nest this deep at most: a bigger one
# raises ValueError before anything runs.
MAX_PLAN_LEAVES = 512
MAX_PLAN_DEPTH = 16


def check_plan(plan: Plan) -> Plan:
    """The plan itself, or ValueError when it is malformed or too big."""
    leaves = 0

    def visit(node: Plan, depth: int) -> None:
        nonlocal leaves
        if depth > MAX_PLAN_DEPTH:
            raise ValueError(f"a plan nests at most {MAX_PLAN_DEPTH} deep")
        if isinstance(node, Index):
            check_name(node.name)
            leaves += 1
        elif isinstance(node, ScoreRange):
            check_name(node.index)
            for bound in (node.at_least, node.below):
                if bound is not None:
                    check_score(bound)
            leaves += 1
        elif isinstance(node, Intersection | Union):
            if isinstance(node, Intersection) and not node.parts:
                raise ValueError("an Intersection has at least one part")
            for part in node.parts:
                visit(part, depth + 1)
        elif isinstance(node, Difference):
            visit(node.base, depth + 1)
            visit(node.excluded, depth + 1)
        else:
            raise ValueError(f"not a plan: {node!r:.80}")
        if leaves > MAX_PLAN_LEAVES:
            raise ValueError(f"a plan names at most {MAX_PLAN_LEAVES} indexes")

    visit(plan, 0)
    return plan


@dataclass(frozen=True)
class IndexPage:
    """A window of a plan's results, (member, score) in order, and how many results in all
    (None when the query did not ask for the count and the store skipped counting)."""

    members: tuple[tuple[str, float], ...]
    total: int | None

    @property
    def ids(self) -> list[str]:
        return [member for member, _ in self.members]


@dataclass(frozen=True)
class IndexRequest:
    """One query of IIndexStore.snapshot, with index_query's window arguments."""

    plan: Plan
    descending: bool = False
    offset: int = 0
    limit: int | None = None
    count: bool = True


@dataclass(frozen=True)
class ChangesRequest:
    """What IIndexStore.snapshot reads of the type's change log beside the rest: the changes
    since ``since_state`` (at most ``max_changes``, None: all), and for each object they list
    as created or updated, and each of ``also_ids``, its last-change modseq and its score in
    ``index`` (when it is live and in the index)."""

    since_state: str
    max_changes: int | None
    index: str
    also_ids: tuple[str, ...] = ()

    def ids_of(self, changes: Changes) -> list[str]:
        """The ids whose modseqs and scores are read: created, updated, then the further
        ones, each once."""
        return list(dict.fromkeys([*changes.created, *changes.updated, *self.also_ids]))


@dataclass(frozen=True)
class MarkRequest:
    """What IIndexStore.snapshot reads of a high-water mark (a map field that map_raise
    keeps) beside the rest: its value, and the top score of ``index`` and how many of its
    members score above the mark; with ``claim``, the mark then rises to that top score (if
    it is higher), as map_raise would raise it, in the same instant."""

    map: str
    field: str
    index: str
    claim: bool


@dataclass(frozen=True)
class MarkReading:
    """A MarkRequest's answer: the mark as it was (0 when unset), the index's top score then
    (0 when it is empty), and how many members scored above the mark."""

    before: int
    top: int
    above: int


@dataclass(frozen=True)
class Snapshot:
    """What IIndexStore.snapshot read at one instant: a type's state, objects (of the type
    asked for them), and one IndexPage per query, in order; with a ChangesRequest, the
    changes, and the modseqs and index scores it asked for (objects not live are left out of
    both, those live but not in the index out of ``scores``); with a MarkRequest, its
    reading."""

    state: str
    objects: Mapping[str, JSONObject]
    pages: tuple[IndexPage, ...]
    changes: Changes | None = None
    modseqs: Mapping[str, int] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    mark: MarkReading | None = None


@dataclass(frozen=True)
class WriteResult:
    """What an applied batch did.

    ``new_states`` has the state of every type the batch touched (or required a state of), and
    ``old_states`` the state each of those had just before the batch. ``modseqs`` gives each written
    object (type, id) the account modification sequence it was stamped with; every object change in
    an account gets a distinct, increasing modseq, which later serves as IMAP MODSEQ.
    """

    new_states: Mapping[str, str]
    modseqs: Mapping[tuple[str, str], int]
    account_modseq: int
    old_states: Mapping[str, str] = field(default_factory=dict)


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
