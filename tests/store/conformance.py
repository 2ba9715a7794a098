"""One conformance mixin per store interface, run against every backend.

A module subclasses each mixin and provides the fixtures:
``store`` — a fresh, empty StoreBundle;
``peer_store`` — a second StoreBundle over the same data, as another process would open it
(the in-memory backend has no other process and hands out ``store`` itself);
``open_store`` — a StoreFactory, for stores with a given tombstone limit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor, task
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import implementer
from zope.interface.verify import verifyObject

from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import (
    BlobNotFound,
    CannotCalculateChanges,
    InvalidState,
    ObjectExists,
    ObjectNotFound,
    PrincipalExists,
    PrincipalNotFound,
    StateMismatch,
    TokenNotFound,
    TooManyObjects,
)
from stalwart_tx.store.interfaces import (
    IAccountStore,
    IBlobStore,
    IBlobUpload,
    IChangeLog,
    IClaims,
    IDirectory,
    IDueAccounts,
    IIndexStore,
    INotifier,
    ISubscription,
)
from stalwart_tx.store.records import (
    MAX_INDEX_NAME,
    MAX_PLAN_DEPTH,
    MAX_PLAN_LEAVES,
    Changes,
    ChangesRequest,
    Difference,
    Index,
    IndexPage,
    IndexRequest,
    Intersection,
    MarkReading,
    MarkRequest,
    Plan,
    ScoreRange,
    Snapshot,
    StateChange,
    TokenRecord,
    Union,
    WriteBatch,
    WriteResult,
)

A = "acct1"
B = "acct2"
T_ = TypeVar("T_")


class StoreFactory(Protocol):
    """Opens a store that keeps at most ``max_tombstones`` tombstones per type.

    Stores opened with the same ``space`` share their data, as processes sharing one Redis do
    (the in-memory backend hands out the one store of the space again, so it must be asked with
    the same limit); different spaces, and the ``store`` fixture, are independent. The fixture
    closes what it opened.
    """

    async def __call__(self, max_tombstones: int, space: str = "trim") -> StoreBundle: ...


def examples(strategy: st.SearchStrategy[T_], count: int) -> list[T_]:
    """Inputs drawn by hypothesis, for a test that must await its calls (in the reactor, where
    hypothesis cannot wait)."""
    drawn: list[T_] = []

    @settings(max_examples=count, database=None, deadline=None)
    @given(strategy)
    def collect(example: T_) -> None:
        drawn.append(example)

    collect()
    return drawn


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds: notifications cross a real network in the Redis backend."""
    waited = 0.0
    while not check():
        if waited > timeout:
            raise AssertionError("condition not reached in time")
        await sleep(0.01)
        waited += 0.01


async def gather(*coroutines: Any) -> list[Any]:
    return await defer.gatherResults(
        [defer.Deferred.fromCoroutine(c) for c in coroutines], consumeErrors=True
    )


class Recorder:
    """A listener that remembers what it got."""

    def __init__(self) -> None:
        self.changes: list[StateChange] = []

    def __call__(self, change: StateChange) -> None:
        self.changes.append(change)


async def snapshot(store: StoreBundle, account: str, types: list[str]) -> Any:
    """Everything observable about an account, to prove a failed write changed nothing."""
    objects = {t: await store.accounts.get(account, t, None) for t in types}
    return (
        objects,
        await store.changes.current_states(account, types),
        await store.changes.account_modseq(account),
        {t: await store.changes.changes_since(account, t, "0", None) for t in types},
    )


async def page_through(
    store: StoreBundle, account: str, type_name: str, since: str, max_changes: int | None
) -> tuple[list[Changes], str]:
    pages = []
    state = since
    while True:
        page = await store.changes.changes_since(account, type_name, state, max_changes)
        pages.append(page)
        assert page.old_state == state
        state = page.new_state
        if max_changes is not None:
            assert len(page.created) + len(page.updated) + len(page.destroyed) <= max_changes
        if not page.has_more:
            return pages, state
        assert len(pages) < 1000


class AccountStoreConformance:
    """IAccountStore together with its IChangeLog."""

    def test_provides_interfaces(self, store: StoreBundle) -> None:
        assert verifyObject(IAccountStore, store.accounts)
        assert verifyObject(IChangeLog, store.changes)

    @pytest_twisted.ensureDeferred
    async def test_modseqs_of_live_objects(self, store: StoreBundle) -> None:
        log = store.changes
        assert await log.modseqs(A, "Foo", ["a"]) == {}
        first = await store.accounts.write(
            A, WriteBatch().create("Foo", "a", {"n": 1}).create("Foo", "b", {"n": 2})
        )
        after_create = await log.modseqs(A, "Foo", ["a", "b", "zz", "a"])
        assert set(after_create) == {"a", "b"}
        assert max(after_create.values()) == first.account_modseq
        assert len(set(after_create.values())) == 2
        second = await store.accounts.write(
            A, WriteBatch().update("Foo", "a", {"n": 3}).destroy("Foo", "b")
        )
        assert await log.modseqs(A, "Foo", ["a", "b"]) == {"a": second.account_modseq - 1}
        assert await log.modseqs(A, "Foo", []) == {}
        assert await log.modseqs(A, "Bar", ["a"]) == {}
        assert await log.modseqs("acct2", "Foo", ["a"]) == {}

    @pytest_twisted.ensureDeferred
    async def test_state_and_modseqs(self, store: StoreBundle) -> None:
        log = store.changes
        assert await log.state_and_modseqs(A, "Foo", ["a"]) == ("0", {})
        assert await log.state_and_modseqs(A, "Foo", []) == ("0", {})
        first = await store.accounts.write(
            A, WriteBatch().create("Foo", "a", {"n": 1}).create("Foo", "b", {"n": 2})
        )
        state, modseqs = await log.state_and_modseqs(A, "Foo", ["b", "zz", "a", "b"])
        assert state == first.new_states["Foo"] == await log.current_state(A, "Foo")
        assert modseqs == await log.modseqs(A, "Foo", ["a", "b"]) and set(modseqs) == {"a", "b"}
        await store.accounts.write(A, WriteBatch().destroy("Foo", "b"))
        state, modseqs = await log.state_and_modseqs(A, "Foo", ["a", "b"])
        assert state == await log.current_state(A, "Foo") != first.new_states["Foo"]
        assert modseqs == await log.modseqs(A, "Foo", ["a"]) and set(modseqs) == {"a"}
        # another type's write moves neither this type's state nor its modseqs
        await store.accounts.write(A, WriteBatch().create("Bar", "a", {}))
        assert await log.state_and_modseqs(A, "Foo", ["a", "b"]) == (state, modseqs)
        assert await log.state_and_modseqs("acct2", "Foo", ["a"]) == ("0", {})

    @pytest_twisted.ensureDeferred
    async def test_modseqs_of_many_objects(self, store: StoreBundle) -> None:
        # more ids than one slice of a store that reads them in slices
        batch = WriteBatch()
        for n in range(1200):
            batch.create("Foo", f"o{n}", {"n": n})
        await store.accounts.write(A, batch)
        destroyed = WriteBatch()
        for n in range(0, 1200, 7):
            destroyed.destroy("Foo", f"o{n}")
        await store.accounts.write(A, destroyed)
        asked = [f"o{n}" for n in range(2500)]
        found = await store.changes.modseqs(A, "Foo", asked)
        assert set(found) == {f"o{n}" for n in range(1200) if n % 7}
        assert await store.changes.modseqs(A, "Foo", asked[::-1]) == found
        assert len(set(found.values())) == len(found)  # each its own modseq
        assert await store.changes.state_and_modseqs(A, "Foo", asked) == (
            await store.changes.current_state(A, "Foo"), found)
        scored = WriteBatch()
        for n in range(0, 2500, 3):
            scored.index_add("ix", f"o{n}", n + 0.5)
        await store.accounts.write(A, scored)
        state, modseqs, scores = await store.changes.state_modseqs_and_scores(
            A, "Foo", asked, "ix"
        )
        assert (state, modseqs) == await store.changes.state_and_modseqs(A, "Foo", asked)
        assert scores == await store.indexes.index_scores(A, "ix", asked)
        assert len(scores) == len(range(0, 2500, 3))

    @pytest_twisted.ensureDeferred
    async def test_state_modseqs_and_scores(self, store: StoreBundle) -> None:
        log = store.changes
        assert await log.state_modseqs_and_scores(A, "Foo", ["a"], "ix") == ("0", {}, {})
        assert await log.state_modseqs_and_scores(A, "Foo", [], "ix") == ("0", {}, {})
        written = await store.accounts.write(
            A, WriteBatch().create("Foo", "a", {}).create("Foo", "b", {}).index_add("ix", "b", 7)
            .index_add("ix", "gone", 2.25)
        )
        state, modseqs, scores = await log.state_modseqs_and_scores(
            A, "Foo", ["b", "zz", "gone", "a", "b"], "ix"
        )
        assert state == written.new_states["Foo"]
        assert modseqs == await log.modseqs(A, "Foo", ["a", "b"]) and set(modseqs) == {"a", "b"}
        # an index member need not be a live object, and an object need not be in the index
        assert scores == {"b": 7.0, "gone": 2.25}
        assert all(type(s) is float for s in scores.values())
        assert await log.state_modseqs_and_scores(A, "Foo", ["a"], "none") == (
            state, {"a": modseqs["a"]}, {})

    @pytest_twisted.ensureDeferred
    async def test_get_with_state(self, store: StoreBundle) -> None:
        accounts, log = store.accounts, store.changes
        assert await accounts.get_with_state(A, "Foo", None) == ("0", {})
        assert await accounts.get_with_state(A, "Foo", ["a"]) == ("0", {})
        assert await accounts.get_with_state(A, "Foo", []) == ("0", {})
        await accounts.write(A, WriteBatch().create("Foo", "a", {"n": 1}).create("Foo", "b", {}))
        await accounts.write(A, WriteBatch().create("Bar", "a", {"other": True}))
        state = await log.current_state(A, "Foo")
        assert await accounts.get_with_state(A, "Foo", ["b", "zz", "a", "b"]) == (
            state, {"a": {"n": 1}, "b": {}})
        assert await accounts.get_with_state(A, "Foo", None) == (
            state, {"a": {"n": 1}, "b": {}})
        assert await accounts.get_with_state("acct2", "Foo", ["a"]) == ("0", {})
        # more ids than one slice of the script's reads
        many = [f"x{n}" for n in range(2500)]
        batch = WriteBatch()
        for n, object_id in enumerate(many):
            batch.create("Many", object_id, {"n": n})
        await accounts.write(A, batch)
        many_state, found = await accounts.get_with_state(A, "Many", [*many, "missing"])
        assert many_state == await log.current_state(A, "Many")
        assert found == {object_id: {"n": n} for n, object_id in enumerate(many)}
        # every object, unless there are more than the caller takes
        assert await accounts.get_with_state(A, "Foo", None, at_most=2) == (
            state, {"a": {"n": 1}, "b": {}})
        with pytest.raises(TooManyObjects) as raised:
            await accounts.get_with_state(A, "Foo", None, at_most=1)
        assert raised.value.count == 2 and raised.value.type_name == "Foo"
        assert await accounts.get_with_state(A, "Nothing", None, at_most=0) == ("0", {})
        assert (await accounts.get_with_state(A, "Foo", ["a"], at_most=0))[1] == {"a": {"n": 1}}
        # the state moves with the data it describes
        await accounts.write(A, WriteBatch().update("Foo", "a", {"n": 2}))
        later, objects = await accounts.get_with_state(A, "Foo", ["a"])
        assert later != state and later == await log.current_state(A, "Foo")
        assert objects == {"a": {"n": 2}}

    @pytest_twisted.ensureDeferred
    async def test_empty_account(self, store: StoreBundle) -> None:
        assert await store.accounts.get(A, "Email", None) == {}
        assert await store.accounts.get(A, "Email", ["x"]) == {}
        assert await store.accounts.list_ids(A, "Email") == []
        assert await store.changes.current_state(A, "Email") == "0"
        assert await store.changes.current_states(A, ["Email", "Mailbox"]) == {
            "Email": "0", "Mailbox": "0"}
        assert await store.changes.account_modseq(A) == 0
        changes = await store.changes.changes_since(A, "Email", "0", None)
        assert changes == Changes("0", "0", False, (), (), ())

    @pytest_twisted.ensureDeferred
    async def test_atomic_write_across_types(self, store: StoreBundle) -> None:
        batch = (
            WriteBatch()
            .create("Mailbox", "m1", {"name": "Inbox"})
            .create("Email", "e1", {"subject": "one", "mailboxIds": {"m1": True}})
            .create("Email", "e2", {"subject": "two"})
        )
        result = await store.accounts.write(A, batch)
        assert dict(result.modseqs) == {
            ("Mailbox", "m1"): 1, ("Email", "e1"): 2, ("Email", "e2"): 3}
        assert dict(result.new_states) == {"Mailbox": "1", "Email": "3"}
        assert result.account_modseq == 3
        assert await store.accounts.get(A, "Email", None) == {
            "e1": {"subject": "one", "mailboxIds": {"m1": True}},
            "e2": {"subject": "two"},
        }
        assert await store.accounts.get(A, "Mailbox", ["m1", "zz"]) == {"m1": {"name": "Inbox"}}
        assert sorted(await store.accounts.list_ids(A, "Email")) == ["e1", "e2"]
        assert await store.changes.current_states(A, ["Mailbox", "Email", "Thread"]) == {
            "Mailbox": "1", "Email": "3", "Thread": "0"}
        assert await store.changes.account_modseq(A) == 3

    @pytest_twisted.ensureDeferred
    async def test_modseq_order_is_creates_updates_destroys(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("T", "a", {}).create("T", "b", {}))
        batch = WriteBatch().destroy("T", "a").update("T", "b", {"v": 1}).create("U", "c", {})
        result = await store.accounts.write(A, batch)
        assert dict(result.modseqs) == {("U", "c"): 3, ("T", "b"): 4, ("T", "a"): 5}
        assert dict(result.new_states) == {"U": "3", "T": "5"}
        assert result.account_modseq == 5
        assert await store.accounts.get(A, "T", None) == {"b": {"v": 1}}

    @pytest_twisted.ensureDeferred
    async def test_values_round_trip_as_copies(self, store: StoreBundle) -> None:
        value = {
            "text": "grüße \u2603 \"quoted\" / \\ \n",
            "big": 2**60, "neg": -7, "float": 1.5, "t": True, "f": False, "none": None,
            "list": [], "obj": {}, "nested": [{"a": [1, 2, {"b": []}]}],
            "numeric_string": "123",
        }
        await store.accounts.write(A, WriteBatch().create("T", "x", value))
        got = await store.accounts.get(A, "T", ["x"])
        assert got == {"x": value}
        got["x"]["text"] = "changed"
        assert (await store.accounts.get(A, "T", ["x"]))["x"]["text"] == value["text"]

    @pytest_twisted.ensureDeferred
    async def test_value_must_be_json_object(self, store: StoreBundle) -> None:
        with pytest.raises(ValueError):
            await store.accounts.write(
                A, WriteBatch().create("T", "ok", {}).create("T", "bad", [1])  # type: ignore[arg-type]
            )
        assert await store.accounts.get(A, "T", None) == {}
        assert await store.changes.account_modseq(A) == 0

    @pytest_twisted.ensureDeferred
    async def test_account_ids_that_would_break_the_key_space(self, store: StoreBundle) -> None:
        for bad in ("", "a{b", "a}b"):
            with pytest.raises(ValueError):
                await store.accounts.write(bad, WriteBatch().create("T", "x", {}))

    @pytest_twisted.ensureDeferred
    async def test_failed_writes_apply_nothing(self, store: StoreBundle) -> None:
        await store.accounts.write(
            A, WriteBatch().create("Mailbox", "m1", {"n": 1}).create("Email", "e1", {"n": 1})
        )
        before = await snapshot(store, A, ["Mailbox", "Email", "Thread"])
        recorder = Recorder()
        subscription = await store.notifier.subscribe(recorder)
        failing: list[tuple[WriteBatch, type[Exception]]] = [
            (WriteBatch().create("Thread", "t1", {}).create("Email", "e1", {}), ObjectExists),
            (WriteBatch().create("Thread", "t1", {}).update("Email", "nope", {}), ObjectNotFound),
            (WriteBatch().create("Thread", "t1", {}).destroy("Mailbox", "nope"), ObjectNotFound),
            (
                WriteBatch().create("Thread", "t1", {}).update("Email", "e1", {"n": 2})
                .require_state("Email", "1"),
                StateMismatch,
            ),
            (WriteBatch().require_state("Mailbox", "999"), StateMismatch),
        ]
        for batch, error in failing:
            with pytest.raises(error):
                await store.accounts.write(A, batch)
            assert await snapshot(store, A, ["Mailbox", "Email", "Thread"]) == before
        # a later good write is the first thing a subscriber hears of
        await store.accounts.write(A, WriteBatch().create("Thread", "t1", {}))
        await eventually(lambda: bool(recorder.changes))
        await sleep(0.05)
        assert recorder.changes == [StateChange(A, {"Thread": "3"})]
        await subscription.cancel()

    @pytest_twisted.ensureDeferred
    async def test_error_details(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        with pytest.raises(ObjectExists) as exists:
            await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        assert (exists.value.type_name, exists.value.object_id) == ("Email", "e1")
        with pytest.raises(ObjectNotFound) as missing:
            await store.accounts.write(A, WriteBatch().update("Email", "e9", {}))
        assert (missing.value.type_name, missing.value.object_id) == ("Email", "e9")
        with pytest.raises(StateMismatch) as mismatch:
            await store.accounts.write(
                A, WriteBatch().create("Email", "e2", {}).require_state("Email", "0")
            )
        assert (mismatch.value.type_name, mismatch.value.expected, mismatch.value.actual) == (
            "Email", "0", "1")
        # state is checked before objects
        with pytest.raises(StateMismatch):
            await store.accounts.write(
                A, WriteBatch().create("Email", "e1", {}).require_state("Email", "0")
            )

    @pytest_twisted.ensureDeferred
    async def test_conditional_write(self, store: StoreBundle) -> None:
        first = await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        result = await store.accounts.write(
            A,
            WriteBatch().update("Email", "e1", {"v": 2})
            .require_state("Email", first.new_states["Email"])
            .require_state("Mailbox", "0"),
        )
        assert dict(result.new_states) == {"Email": "2", "Mailbox": "0"}

    @pytest_twisted.ensureDeferred
    async def test_objects_unchanged_since_a_position(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("Email", "e1", {}).create("Email", "e2", {})
                .create("Email", "e3", {}))  # 1, 2, 3
        await w(A, WriteBatch().update("Email", "e2", {"v": 1}))  # 4
        # e1 and e3 are as they were at 3, and an id never used is unchanged too: the write
        # goes ahead though the type's state moved on
        result = await w(A, WriteBatch().update("Email", "e1", {"v": 1})
                         .require_unchanged("Email", ["e1", "e3", "never"], 3))  # 5
        assert dict(result.new_states) == {"Email": "5"}
        assert dict(result.old_states) == {"Email": "4"}, "the state just before the batch"
        assert await store.accounts.get(A, "Email", ["e1"]) == {"e1": {"v": 1}}
        # e2 changed after 3: refused, with the modseq of its change, nothing applied
        with pytest.raises(StateMismatch) as mismatch:
            await w(A, WriteBatch().update("Email", "e3", {"v": 9})
                    .require_unchanged("Email", ["e3", "e2"], 3))
        assert (mismatch.value.type_name, mismatch.value.expected, mismatch.value.actual) == (
            "Email", "3", "4")
        assert await store.accounts.get(A, "Email", ["e3"]) == {"e3": {}}
        # created since, destroyed since: changed as well
        await w(A, WriteBatch().create("Email", "new", {}).destroy("Email", "e3"))  # 6, 7
        for gone in ("new", "e3"):
            with pytest.raises(StateMismatch):
                await w(A, WriteBatch().update("Email", "e1", {"v": 2})
                        .require_unchanged("Email", [gone], 5))
        await w(A, WriteBatch().update("Email", "e1", {"v": 2})
                .require_unchanged("Email", ["new", "e3"], 7))
        assert await store.changes.current_state(A, "Email") == "8"

    @pytest_twisted.ensureDeferred
    async def test_unchanged_objects_below_the_floor_are_not_known(
        self, open_store: StoreFactory
    ) -> None:
        store = await open_store(1, space="unchanged-floor")
        w = store.accounts.write
        await w(A, WriteBatch().create("T", "a", {}).create("T", "b", {})
                .create("T", "kept", {}))  # 1, 2, 3
        await w(A, WriteBatch().destroy("T", "a"))  # 4
        await w(A, WriteBatch().destroy("T", "b"))  # 5: a's tombstone goes, the floor is 4
        await assert_floor(store, A, "T", 4)
        # from 3, the log no longer tells whether an id changed: refused, even for kept
        with pytest.raises(StateMismatch):
            await w(A, WriteBatch().update("T", "kept", {"v": 1})
                    .require_unchanged("T", ["kept"], 3))
        await w(A, WriteBatch().update("T", "kept", {"v": 1})
                .require_unchanged("T", ["kept", "a"], 4))

    @pytest_twisted.ensureDeferred
    async def test_index_add_scored_by_the_state_after_the_batch(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("Email", "e1", {}).create("Mailbox", "m", {}))  # 1, 2
        # the score is the type's state once the batch is applied, whatever was read before
        await w(A, WriteBatch().destroy("Email", "e1").update("Mailbox", "m", {"v": 1})
                .index_add_at_state("gone", "7", "Email").index_add("gone", "8", 1.5))
        # updates are stamped before destroys: m 3, e1 4
        assert await store.indexes.index_scores(A, "gone", ["7", "8"]) == {"7": 4.0, "8": 1.5}
        # a type the batch does not write: its current state; in a batch of derived writes only
        await w(A, WriteBatch().index_add_at_state("gone", "9", "Mailbox"))
        await w(A, WriteBatch().index_add_at_state("other", "x", "Thread"))
        assert await store.indexes.index_scores(A, "gone", ["9"]) == {"9": 3.0}
        assert await store.indexes.index_scores(A, "other", ["x"]) == {"x": 0.0}
        # applied after the batch's removes: the member stays, with the new score
        await w(A, WriteBatch().create("Email", "e2", {}).index_remove("gone", "7")
                .index_add_at_state("gone", "7", "Email"))  # 5
        assert await store.indexes.index_scores(A, "gone", ["7"]) == {"7": 5.0}
        with pytest.raises(ValueError):
            WriteBatch().index_add_at_state("", "x", "Email")

    @pytest_twisted.ensureDeferred
    async def test_counters_adjust_without_conflict_and_sum_into_the_value(
        self, store: StoreBundle
    ) -> None:
        w = store.accounts.write
        value = {"name": "Inbox \u00e9\n\"x\"", "big": 2**53 - 1, "list": [], "counts": {"n": 2}}
        await w(A, WriteBatch().create("Mailbox", "m", value).create("Mailbox", "o", {}))  # 1, 2
        # two writers that read nothing of m both land: no condition, no conflict
        first = await w(A, WriteBatch().adjust("Mailbox", "m", "counts.n", 3)
                        .adjust("Mailbox", "m", "imap.uidNext", 1))  # 3
        assert dict(first.modseqs) == {("Mailbox", "m"): 3}
        assert dict(first.new_states) == {"Mailbox": "3"}
        await w(A, WriteBatch().adjust("Mailbox", "m", "counts.n", -1)
                .adjust("Mailbox", "o", "a.b.c", 7))  # 4, 5
        found = await store.accounts.get(A, "Mailbox", ["m", "o"])
        assert found["m"] == {**value, "counts": {"n": 4}, "imap": {"uidNext": 1}}
        assert found["o"] == {"a": {"b": {"c": 7}}}
        state, again = await store.accounts.get_with_state(A, "Mailbox", ["m"])
        assert (state, again["m"]) == ("5", found["m"])
        changes = await store.changes.changes_since(A, "Mailbox", "2", None)
        assert sorted(changes.updated) == ["m", "o"]
        # the shape state stays at the last whole write: adjusts do not move it
        assert await store.changes.shape_state(A, "Mailbox") == "2"
        assert await store.changes.shape_state(A, "Thread") == "0"
        # a whole update (computed from the sums) replaces value and deltas
        await w(A, WriteBatch().update("Mailbox", "m", {**found["m"], "name": "New"}))  # 6
        await w(A, WriteBatch().adjust("Mailbox", "m", "counts.n", 10))  # 7
        assert await store.changes.shape_state(A, "Mailbox") == "6"
        assert (await store.accounts.get(A, "Mailbox", ["m"]))["m"]["counts"] == {"n": 14}
        # never below 0, however far a decrease goes; what was held comes back
        await w(A, WriteBatch().adjust("Mailbox", "m", "counts.n", -20)
                .adjust("Mailbox", "m", "zero", -1))  # 8
        assert (await store.accounts.get(A, "Mailbox", ["m"]))["m"]["counts"] == {"n": 0}
        await w(A, WriteBatch().adjust("Mailbox", "m", "counts.n", 2))  # 9
        found = (await store.accounts.get(A, "Mailbox", ["m"]))["m"]
        assert (found["counts"], found["zero"]) == ({"n": 2}, 0)
        # a missing object: refused, nothing applied
        with pytest.raises(ObjectNotFound):
            await w(A, WriteBatch().create("Email", "e", {})
                    .adjust("Mailbox", "gone", "counts.n", 1))
        assert await store.accounts.get(A, "Email", ["e"]) == {}
        assert await store.changes.current_state(A, "Mailbox") == "9"
        await w(A, WriteBatch().destroy("Mailbox", "o"))  # 10
        assert await store.changes.shape_state(A, "Mailbox") == "10"
        for bad in ("", "a..b", ".a", "a\tb", "a\nb"):
            with pytest.raises(ValueError):
                WriteBatch().adjust("Mailbox", "m", bad, 1)
        for bad_delta in (1.5, True, 2**54):
            with pytest.raises(ValueError):
                WriteBatch().adjust("Mailbox", "m", "n", bad_delta)  # type: ignore[arg-type]

    @pytest_twisted.ensureDeferred
    async def test_index_add_scored_by_a_counter_before_the_batch(
        self, store: StoreBundle
    ) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("Mailbox", "m", {"imap": {"uidNext": 5}}))
        # numbers handed out: the counter before the batch's adjust, plus each offset
        await w(A, WriteBatch().adjust("Mailbox", "m", "imap.uidNext", 2)
                .index_add_at_counter("uids", "a", "Mailbox", "m", "imap.uidNext", 0)
                .index_add_at_counter("uids", "b", "Mailbox", "m", "imap.uidNext", 1))
        await w(A, WriteBatch().adjust("Mailbox", "m", "imap.uidNext", 1)
                .index_add_at_counter("uids", "c", "Mailbox", "m", "imap.uidNext", 0))
        assert await store.indexes.index_scores(A, "uids", ["a", "b", "c"]) == {
            "a": 5.0, "b": 6.0, "c": 7.0}
        assert (await store.accounts.get(A, "Mailbox", ["m"]))["m"] == {"imap": {"uidNext": 8}}
        # no number there yet counts from 0; a missing object refuses the batch
        await w(A, WriteBatch().create("Mailbox", "n", {})
                .index_add_at_counter("other", "x", "Mailbox", "m", "none.here", 3))
        assert await store.indexes.index_scores(A, "other", ["x"]) == {"x": 3.0}
        with pytest.raises(ObjectNotFound):
            await w(A, WriteBatch().index_add_at_counter("uids", "d", "Mailbox", "zz", "n", 0))
        assert await store.indexes.index_scores(A, "uids", ["d"]) == {}

    @pytest_twisted.ensureDeferred
    async def test_map_fields_as_conditions(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().map_set("links", "a", "1"))
        ok = WriteBatch().create("Thread", "t", {}).map_set("links", "b", "2")
        await w(A, ok.require_map_fields("links", {"a": "1", "b": None}))
        assert await store.indexes.map_get(A, "links", ["a", "b"]) == {"a": "1", "b": "2"}
        for expected in ({"b": None}, {"a": "2"}, {"a": None}):
            with pytest.raises(StateMismatch):
                await w(A, WriteBatch().create("Thread", "u", {}).map_set("links", "c", "3")
                        .require_map_fields("links", expected))
        assert await store.accounts.get(A, "Thread", ["u"]) == {}
        assert await store.indexes.map_get(A, "links", ["c"]) == {}

    @pytest_twisted.ensureDeferred
    async def test_empty_batch(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        result = await store.accounts.write(
            A, WriteBatch().require_state("Email", "1").require_state("Mailbox", "0")
        )
        assert dict(result.new_states) == {"Email": "1", "Mailbox": "0"}
        assert dict(result.modseqs) == {}
        assert result.account_modseq == 1
        assert await store.changes.account_modseq(A) == 1
        nothing = await store.accounts.write(B, WriteBatch())
        assert (dict(nothing.new_states), nothing.account_modseq) == ({}, 0)

    @pytest_twisted.ensureDeferred
    async def test_accounts_are_separate(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {"a": 1}))
        await store.accounts.write(B, WriteBatch().create("Email", "e1", {"b": 1}))
        assert await store.accounts.get(A, "Email", None) == {"e1": {"a": 1}}
        assert await store.accounts.get(B, "Email", None) == {"e1": {"b": 1}}
        assert await store.changes.account_modseq(B) == 1

    @pytest_twisted.ensureDeferred
    async def test_changes_collapse(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("T", "upd", {}).create("T", "gone", {})
                .create("T", "upd_gone", {}).create("T", "same", {}))
        since = await store.changes.current_state(A, "T")
        await w(A, WriteBatch().create("T", "new", {}).create("T", "new_upd", {})
                .create("T", "new_gone", {}))
        await w(A, WriteBatch().update("T", "new_upd", {"v": 1}).update("T", "upd", {"v": 1})
                .update("T", "upd_gone", {"v": 1}))
        await w(A, WriteBatch().destroy("T", "new_gone").destroy("T", "gone")
                .destroy("T", "upd_gone"))
        changes = await store.changes.changes_since(A, "T", since, None)
        assert sorted(changes.created) == ["new", "new_upd"]
        assert changes.updated == ("upd",)
        assert sorted(changes.destroyed) == ["gone", "upd_gone"]
        assert not changes.has_more
        assert changes.old_state == since
        assert changes.new_state == await store.changes.current_state(A, "T")
        # from the very beginning, objects created and destroyed since are not mentioned
        everything = await store.changes.changes_since(A, "T", "0", None)
        assert sorted(everything.created) == ["new", "new_upd", "same", "upd"]
        assert everything.updated == everything.destroyed == ()
        # nothing since now
        now = await store.changes.changes_since(A, "T", changes.new_state, None)
        assert (now.created, now.updated, now.destroyed, now.has_more) == ((), (), (), False)
        assert now.new_state == changes.new_state

    @pytest_twisted.ensureDeferred
    async def test_changes_are_in_modseq_order(self, store: StoreBundle) -> None:
        for name in ["c", "a", "b"]:
            await store.accounts.write(A, WriteBatch().create("T", name, {}))
        assert (await store.changes.changes_since(A, "T", "0", None)).created == ("c", "a", "b")
        await store.accounts.write(A, WriteBatch().update("T", "a", {}))
        await store.accounts.write(A, WriteBatch().update("T", "c", {}))
        assert (await store.changes.changes_since(A, "T", "3", None)).updated == ("a", "c")

    @pytest_twisted.ensureDeferred
    async def test_state_of_an_untouched_type_after_other_writes(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("T", "x", {}))
        await store.accounts.write(A, WriteBatch().create("U", "y", {}))
        state_t = await store.changes.current_state(A, "T")
        changes = await store.changes.changes_since(A, "T", state_t, None)
        assert changes.new_state == state_t
        # an account-wide position newer than the type's last change is still a valid start
        changes = await store.changes.changes_since(A, "T", "2", None)
        assert (changes.created, changes.new_state) == ((), "2")

    @pytest_twisted.ensureDeferred
    async def test_paging_never_skips_or_repeats(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("T", "a", {}).create("T", "b", {}).create("U", "u1", {})
                .create("T", "c", {}))
        since = await store.changes.current_state(A, "T")
        await w(A, WriteBatch().create("T", "d", {}).create("T", "e", {}).create("U", "u2", {}))
        await w(A, WriteBatch().update("T", "a", {"v": 1}).destroy("T", "b"))
        await w(A, WriteBatch().create("T", "f", {}).update("U", "u1", {}))
        await w(A, WriteBatch().destroy("T", "e").update("T", "d", {"v": 1}))
        await w(A, WriteBatch().create("T", "g", {}).destroy("T", "f"))
        await w(A, WriteBatch().update("T", "c", {"v": 1}).create("T", "h", {}))
        for start in ["0", since]:
            whole = await store.changes.changes_since(A, "T", start, None)
            assert not whole.has_more
            total = len(whole.created) + len(whole.updated) + len(whole.destroyed)
            for max_changes in range(1, total + 4):
                pages, final = await page_through(store, A, "T", start, max_changes)
                assert final == whole.new_state
                for kind in ("created", "updated", "destroyed"):
                    ids = [i for page in pages for i in getattr(page, kind)]
                    assert len(ids) == len(set(ids)), (kind, max_changes, pages)
                    assert sorted(ids) == sorted(getattr(whole, kind)), (kind, max_changes)
                mentioned = [
                    i for p in pages for i in p.created + p.updated + p.destroyed
                ]
                assert len(mentioned) == len(set(mentioned))
                for page in pages[:-1]:
                    assert page.has_more
                assert not pages[-1].has_more

    @pytest_twisted.ensureDeferred
    async def test_intermediate_state_ends_at_last_examined_change(
        self, store: StoreBundle
    ) -> None:
        for name in ["a", "b", "c"]:
            await store.accounts.write(A, WriteBatch().create("T", name, {}))
            await store.accounts.write(A, WriteBatch().create("U", name, {}))
        first = await store.changes.changes_since(A, "T", "0", 2)
        assert (first.created, first.has_more) == (("a", "b"), True)
        second = await store.changes.changes_since(A, "T", first.new_state, 2)
        assert (second.created, second.has_more, second.new_state) == (("c",), False, "5")
        # a client that stopped paging resumes later from where it stopped
        await store.accounts.write(A, WriteBatch().update("T", "a", {}).create("T", "d", {}))
        later = await store.changes.changes_since(A, "T", first.new_state, None)
        assert (later.created, later.updated, later.has_more) == (("c", "d"), ("a",), False)
        # objects created after the paging began and changed after the page are still new
        await store.accounts.write(B, WriteBatch().create("T", "x", {}).create("T", "gone", {})
                                   .create("T", "y", {}))
        await store.accounts.write(B, WriteBatch().update("T", "x", {}).destroy("T", "gone"))
        page = await store.changes.changes_since(B, "T", "0", 1)
        assert (page.created, page.has_more) == (("y",), True)
        page = await store.changes.changes_since(B, "T", page.new_state, 1)
        assert (page.created, page.updated, page.destroyed) == (("x",), (), ())
        page = await store.changes.changes_since(B, "T", page.new_state, 1)
        assert (page.created, page.updated, page.destroyed, page.has_more) == ((), (), (), False)

    @pytest_twisted.ensureDeferred
    async def test_invalid_states(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("T", "a", {}).create("T", "b", {}))
        for bad in ["", "abc", "-1", "01", "1.0", " 1", "3", "99", "\u0661", "x1",
                    "1:2", "1:0", "2:1:1", "2:0:3", "2:2:2", "2:", ":1", "2:01:2", "1:0:1:1"]:
            with pytest.raises(InvalidState):
                await store.changes.changes_since(A, "T", bad, None)
        assert issubclass(InvalidState, CannotCalculateChanges)
        with pytest.raises(InvalidState):
            await store.changes.changes_since(B, "T", "1", None)
        with pytest.raises(InvalidState):
            await store.changes.compact(A, "T", "5")

    @pytest_twisted.ensureDeferred
    async def test_compact(self, store: StoreBundle) -> None:
        w = store.accounts.write
        await w(A, WriteBatch().create("T", "a", {}).create("T", "b", {}).create("T", "c", {}))
        await w(A, WriteBatch().destroy("T", "a").update("T", "b", {}))
        keep = await store.changes.current_state(A, "T")  # "5"
        await w(A, WriteBatch().destroy("T", "b").create("T", "d", {}))
        before = await store.changes.changes_since(A, "T", keep, None)
        await store.changes.compact(A, "T", keep)
        for old in ["0", "1", "4"]:
            with pytest.raises(CannotCalculateChanges) as raised:
                await store.changes.changes_since(A, "T", old, None)
            assert not isinstance(raised.value, InvalidState)
        assert await store.changes.changes_since(A, "T", keep, None) == before
        assert before.created == ("d",) and before.destroyed == ("b",)
        # compacting to an older state never lowers the floor
        await store.changes.compact(A, "T", "2")
        with pytest.raises(CannotCalculateChanges):
            await store.changes.changes_since(A, "T", "4", None)
        # other types keep their whole log
        await w(A, WriteBatch().create("U", "x", {}))
        assert (await store.changes.changes_since(A, "U", "0", None)).created == ("x",)
        # objects stay; only the change log is shorter
        assert sorted(await store.accounts.list_ids(A, "T")) == ["c", "d"]
        await store.changes.compact(A, "Never", "0")

    @pytest_twisted.ensureDeferred
    async def test_concurrent_writes(self, store: StoreBundle) -> None:
        results = await gather(*[
            store.accounts.write(A, WriteBatch().create("Email", f"e{i}", {"i": i})
                                 .create("Mailbox", f"m{i}", {}))
            for i in range(50)
        ])
        modseqs = [m for r in results for m in r.modseqs.values()]
        assert sorted(modseqs) == list(range(1, 101))
        assert await store.changes.account_modseq(A) == 100
        assert await store.changes.current_state(A, "Mailbox") == "100" or (
            await store.changes.current_state(A, "Email") == "100")
        assert len(await store.accounts.list_ids(A, "Email")) == 50
        changes = await store.changes.changes_since(A, "Email", "0", None)
        assert len(changes.created) == 50

    @pytest_twisted.ensureDeferred
    async def test_write_notifies(self, store: StoreBundle) -> None:
        recorder = Recorder()
        subscription = await store.notifier.subscribe(recorder)
        await store.accounts.write(
            A, WriteBatch().create("Mailbox", "m", {}).create("Email", "e", {})
        )
        await eventually(lambda: bool(recorder.changes))
        assert recorder.changes == [StateChange(A, {"Mailbox": "1", "Email": "2"})]
        await subscription.cancel()

    @pytest_twisted.ensureDeferred
    async def test_destroy_account(self, store: StoreBundle) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e", {}).create("M", "m", {}))
        await store.accounts.write(A, WriteBatch().destroy("M", "m"))
        await store.changes.compact(A, "M", "1")
        await store.accounts.write(B, WriteBatch().create("Email", "e", {"b": 1}))
        blob = await store.blobs.put(A, b"data of A")
        await store.blobs.put(B, b"data of A")
        await store.accounts.destroy_account(A)
        assert await store.accounts.get(A, "Email", None) == {}
        assert await store.accounts.list_ids(A, "M") == []
        assert await store.changes.account_modseq(A) == 0
        assert await store.changes.current_state(A, "Email") == "0"
        assert (await store.changes.changes_since(A, "M", "0", None)).destroyed == ()
        with pytest.raises(BlobNotFound):
            await store.blobs.get(A, blob.blob_id)
        assert await store.blobs.get(B, blob.blob_id) == b"data of A"
        assert await store.accounts.get(B, "Email", None) == {"e": {"b": 1}}
        await store.accounts.destroy_account(A)  # again: nothing left, no error
        # the account can start over
        result = await store.accounts.write(A, WriteBatch().create("Email", "e", {}))
        assert result.account_modseq == 1

    # -- retention: at most a given number of tombstones per type ------------------------------

    @pytest_twisted.ensureDeferred
    async def test_retention_forgets_the_oldest_tombstones(self, open_store: StoreFactory) -> None:
        store = await open_store(3)
        w = store.accounts.write
        first = WriteBatch().create("U", "u", {})
        for name in ("a", "b", "c", "d", "e", "f", "live"):
            first.create("T", name, {})
        await w(A, first)  # u 1, a..f 2..7, live 8
        for name in ("a", "b", "c"):
            await w(A, WriteBatch().destroy("T", name))  # 9, 10, 11: three, none over
        await assert_floor(store, A, "T", 0)
        everything = await store.changes.changes_since(A, "T", "0", None)
        assert everything.created == ("d", "e", "f", "live")
        # a fourth tombstone: a (destroyed at 9) is forgotten and the floor rises to 9
        await w(A, WriteBatch().update("T", "e", {"v": 1}).destroy("T", "d"))  # e 12, d 13
        await assert_floor(store, A, "T", 9)
        since = await store.changes.changes_since(A, "T", "9", None)
        assert (since.created, since.updated, since.destroyed) == ((), ("e",), ("b", "c", "d"))
        # two more in one write: the two oldest go, the floor is the newer of them (c at 11)
        await w(A, WriteBatch().destroy("T", "e").destroy("T", "f"))  # 14, 15
        await assert_floor(store, A, "T", 11)
        since = await store.changes.changes_since(A, "T", "11", None)
        assert (since.created, since.updated, since.destroyed) == ((), (), ("d", "e", "f"))
        for page_size in (1, 2):
            pages, final = await page_through(store, A, "T", "11", page_size)
            assert final == "15"
            assert [i for p in pages for i in p.destroyed] == ["d", "e", "f"]
        # the live object and the other type are untouched; writes without destroys trim nothing
        await w(A, WriteBatch().update("T", "live", {"v": 2}).create("T", "g", {}))  # g 16, 17
        await assert_floor(store, A, "T", 11)
        since = await store.changes.changes_since(A, "T", "11", None)
        assert (since.created, since.updated, since.destroyed) == (
            ("g",), ("live",), ("d", "e", "f"))
        assert sorted(await store.accounts.list_ids(A, "T")) == ["g", "live"]
        assert (await store.changes.changes_since(A, "U", "0", None)).created == ("u",)
        await assert_floor(store, A, "U", 0)
        # compacting below the floor changes nothing; above it, it raises the floor as before
        await store.changes.compact(A, "T", "5")
        await assert_floor(store, A, "T", 11)
        await store.changes.compact(A, "T", "14")
        await assert_floor(store, A, "T", 14)
        await w(A, WriteBatch().destroy("T", "g"))  # 18: f and g left, fewer than three
        await assert_floor(store, A, "T", 14)
        assert (await store.changes.changes_since(A, "T", "14", None)).destroyed == ("f",)

    @pytest_twisted.ensureDeferred
    async def test_a_recreated_id_is_no_longer_a_tombstone(
        self, open_store: StoreFactory
    ) -> None:
        store = await open_store(2)
        w = store.accounts.write
        await w(A, WriteBatch().create("T", "x", {}).create("T", "y", {}).create("T", "z", {}))
        await w(A, WriteBatch().destroy("T", "x"))  # 4
        await w(A, WriteBatch().create("T", "x", {"again": True}))  # 5
        await w(A, WriteBatch().destroy("T", "y").destroy("T", "z"))  # 6, 7: two tombstones
        await assert_floor(store, A, "T", 0)
        assert (await store.changes.changes_since(A, "T", "0", None)).created == ("x",)
        await w(A, WriteBatch().destroy("T", "x"))  # 8: three, so y (at 6) goes
        await assert_floor(store, A, "T", 6)
        changes = await store.changes.changes_since(A, "T", "6", None)
        assert (changes.created, changes.destroyed) == ((), ("z", "x"))

    @pytest_twisted.ensureDeferred
    async def test_retention_answers_exactly_from_the_floor_on(
        self, open_store: StoreFactory
    ) -> None:
        reference = await open_store(10**9, "untrimmed")
        stores: dict[int, StoreBundle] = {}
        drawn = examples(histories, 50)
        for number, (limit, history) in enumerate(h for n, h in enumerate(drawn)
                                                  if h not in drawn[:n]):
            account = f"h{number}"
            if limit not in stores:
                stores[limit] = await open_store(limit, f"limit{limit}")
            store = stores[limit]
            model = TombstoneModel(limit)
            for ops, (compacted, pick) in history:
                batch = model.batch(ops)
                result = await store.accounts.write(account, batch)
                assert result == await reference.accounts.write(account, batch)
                model.applied(batch, result.modseqs)
                if compacted is not None:
                    keep = pick % (result.account_modseq + 1)
                    await store.changes.compact(account, compacted, str(keep))
                    model.compacted(compacted, keep)
                for type_name, floor in model.floors.items():
                    assert floor >= model.floors_before[type_name], "the floor moved back"
                    await assert_floor(store, account, type_name, floor)
            await assert_same_answers(store, reference, account, model.floors)

    @pytest_twisted.ensureDeferred
    async def test_concurrent_destroys_keep_the_floor_consistent(
        self, open_store: StoreFactory
    ) -> None:
        limit = 5
        one = await open_store(limit, "shared")
        two = await open_store(limit, "shared")
        names = [f"x{i}" for i in range(60)]
        batch = WriteBatch()
        for name in names:
            batch.create("T", name, {})
        await one.accounts.write(A, batch)  # 1..60
        probes = [str(p) for p in range(60, 121, 5)]
        writing = True

        async def destroy_all() -> list[WriteResult]:
            nonlocal writing
            try:
                return await gather(*[
                    (one if i % 2 else two).accounts.write(
                        A, WriteBatch().destroy("T", names[2 * i]).destroy("T", names[2 * i + 1])
                    )
                    for i in range(30)
                ])
            finally:
                writing = False

        async def watch(store: StoreBundle) -> dict[str, list[str]]:
            """What each probed state got, in time order: once forgotten, never answered again."""
            seen: dict[str, list[str]] = {p: [] for p in probes}
            while True:
                for probe in probes:
                    try:
                        await store.changes.changes_since(A, "T", probe, None)
                        seen[probe].append("ok")
                    except InvalidState:
                        seen[probe].append("future")  # not handed out yet
                    except CannotCalculateChanges:
                        seen[probe].append("forgotten")
                if not writing:
                    return seen
                await sleep(0)

        results, *watched = await gather(destroy_all(), watch(one), watch(two))
        for seen in watched:
            for probe, outcomes in seen.items():
                order = {"future": 0, "ok": 1, "forgotten": 2}
                ranks = [order[o] for o in outcomes]
                assert ranks == sorted(ranks), (probe, outcomes)
        destroyed_at = sorted(
            (m, object_id) for r in results for (_, object_id), m in r.modseqs.items()
        )
        assert [m for m, _ in destroyed_at] == list(range(61, 121))
        floor = destroyed_at[-limit - 1][0]
        for store in (one, two):
            await assert_floor(store, A, "T", floor)
            changes = await store.changes.changes_since(A, "T", str(floor), None)
            assert changes.destroyed == tuple(i for _, i in destroyed_at[-limit:])
            assert (changes.created, changes.updated) == ((), ())

    @pytest_twisted.ensureDeferred
    async def test_retention_limit_must_be_positive(self, open_store: StoreFactory) -> None:
        for bad in (0, -1):
            with pytest.raises(ValueError):
                await open_store(bad, "bad")


async def assert_floor(store: StoreBundle, account: str, type_name: str, floor: int) -> None:
    """The type's change log reaches back exactly to state ``floor``."""
    if floor > 0:
        with pytest.raises(CannotCalculateChanges) as raised:
            await store.changes.changes_since(account, type_name, str(floor - 1), None)
        assert not isinstance(raised.value, InvalidState)
    await store.changes.changes_since(account, type_name, str(floor), None)


async def assert_same_answers(
    store: StoreBundle, reference: StoreBundle, account: str, floors: dict[str, int]
) -> None:
    """From every state at or above its floor, ``store`` answers as the untrimmed ``reference``
    does (in one go; in pages from a few; from intermediate states of pagings begun below the
    floor); from every state below it, CannotCalculateChanges."""
    modseq = await reference.changes.account_modseq(account)
    assert await store.changes.account_modseq(account) == modseq
    for type_name, floor in floors.items():
        for state in range(modseq + 1):
            since = str(state)
            if state < floor:
                with pytest.raises(CannotCalculateChanges) as raised:
                    await store.changes.changes_since(account, type_name, since, None)
                assert not isinstance(raised.value, InvalidState)
                if state in (0, floor - 1):
                    pages, _ = await page_through(reference, account, type_name, since, 1)
                    for page in pages[:-1]:
                        if int(page.new_state.split(":")[0]) >= floor:
                            assert await store.changes.changes_since(
                                account, type_name, page.new_state, 2
                            ) == await reference.changes.changes_since(
                                account, type_name, page.new_state, 2
                            ), (type_name, page.new_state)
                continue
            expected = await reference.changes.changes_since(account, type_name, since, None)
            assert await store.changes.changes_since(
                account, type_name, since, None
            ) == expected, (type_name, since)
            if state in (floor, floor + 1, (floor + modseq) // 2):
                assert await page_through(store, account, type_name, since, 2) == (
                    await page_through(reference, account, type_name, since, 2)
                ), (type_name, since)


# a history: a tombstone limit and steps; a step is a batch of (what, type, which) — what is
# done to an object chosen by "which" among those it can be done to (a create when there is
# none) — and now and then a compaction of the trimmed store only, to a state chosen by "which"
operations = st.tuples(
    st.sampled_from(["create", "create", "recreate", "update", "destroy", "destroy", "destroy"]),
    st.sampled_from(["T", "U"]),
    st.integers(0, 999),
)
compactions = st.tuples(st.sampled_from([None] * 8 + ["T", "U"]), st.integers(0, 999))
histories = st.tuples(
    st.integers(1, 4),
    st.lists(
        st.tuples(st.lists(operations, min_size=1, max_size=4), compactions),
        min_size=4, max_size=20,
    ),
)


@dataclass
class TombstoneModel:
    """The objects of a history, and what a store with a tombstone limit must have forgotten:
    per type, its tombstones oldest first (id -> the modseq that destroyed it) and its floor."""

    limit: int
    live: dict[str, list[str]] = field(default_factory=lambda: {"T": [], "U": []})
    dead: dict[str, list[str]] = field(default_factory=lambda: {"T": [], "U": []})
    tombs: dict[str, OrderedDict[str, int]] = field(
        default_factory=lambda: {"T": OrderedDict(), "U": OrderedDict()}
    )
    floors: dict[str, int] = field(default_factory=lambda: {"T": 0, "U": 0})
    floors_before: dict[str, int] = field(default_factory=lambda: {"T": 0, "U": 0})
    made: int = 0

    def batch(self, ops: list[tuple[str, str, int]]) -> WriteBatch:
        """The WriteBatch of one step of the history."""
        self.floors_before = dict(self.floors)
        batch = WriteBatch()
        used: set[tuple[str, str]] = set()
        for kind, type_name, pick in ops:
            live = [i for i in self.live[type_name] if (type_name, i) not in used]
            dead = [i for i in self.dead[type_name] if (type_name, i) not in used]
            if kind in ("update", "destroy") and live:
                object_id = live[pick % len(live)]
                if kind == "update":
                    batch.update(type_name, object_id, {"v": pick})
                else:
                    batch.destroy(type_name, object_id)
            else:
                if kind == "recreate" and dead:
                    object_id = dead[pick % len(dead)]
                else:
                    self.made += 1
                    object_id = f"{type_name.lower()}{self.made}"
                batch.create(type_name, object_id, {"v": pick})
            used.add((type_name, object_id))
        return batch

    def applied(self, batch: WriteBatch, modseqs: Any) -> None:
        for type_name, object_id, _ in batch.creates:
            self.live[type_name].append(object_id)
            if object_id in self.dead[type_name]:
                self.dead[type_name].remove(object_id)
            self.tombs[type_name].pop(object_id, None)
        added: dict[str, int] = {}
        for type_name, object_id in batch.destroys:
            self.live[type_name].remove(object_id)
            self.dead[type_name].append(object_id)
            self.tombs[type_name][object_id] = modseqs[(type_name, object_id)]
            added[type_name] = added.get(type_name, 0) + 1
        for type_name, count in added.items():
            tombs = self.tombs[type_name]
            excess = len(tombs) - self.limit
            assert excess <= count  # never over the limit before
            for _ in range(excess):
                _, modseq = tombs.popitem(last=False)
                self.floors[type_name] = max(self.floors[type_name], modseq)

    def compacted(self, type_name: str, keep: int) -> None:
        tombs = self.tombs[type_name]
        while tombs and next(iter(tombs.values())) <= keep:
            tombs.popitem(last=False)
        self.floors[type_name] = max(self.floors[type_name], keep)


def use_clock(store: StoreBundle, clock: task.Clock) -> task.Clock:
    """Make ``store`` stamp unreferenced blobs with ``clock`` (and its account store, if apart)."""
    store.blobs.clock = clock
    if hasattr(store.accounts, "clock"):
        store.accounts.clock = clock  # type: ignore[attr-defined]
    return clock


def clock_at(seconds: float) -> task.Clock:
    clock = task.Clock()
    clock.advance(seconds)
    return clock


class BlobReferenceConformance:
    """Claims and releases through WriteBatch, and the sweep of unreferenced blobs."""

    @pytest_twisted.ensureDeferred
    async def test_claim_release_and_expiry(self, store: StoreBundle) -> None:
        clock = use_clock(store, clock_at(1000))
        blob = (await store.blobs.put(A, b"attachment")).blob_id
        assert await store.blobs.referrers(A, [blob]) == {blob: set()}
        await store.accounts.write(
            A, WriteBatch().create("Email", "e1", {"blobId": blob}).claim_blob(blob, "Email", "e1")
        )
        assert await store.blobs.referrers(A, [blob]) == {blob: {("Email", "e1")}}
        assert await store.blobs.sweep_unreferenced(10**10, 100) == 0, "a claimed blob stays"
        clock.advance(500)
        await store.accounts.write(
            A, WriteBatch().destroy("Email", "e1").release_blob(blob, "Email", "e1")
        )
        assert await store.blobs.referrers(A, [blob]) == {blob: set()}
        # stamped when the last claim went (1500), not when it was stored (1000)
        assert await store.blobs.sweep_unreferenced(1499, 100) == 0
        assert await store.blobs.get(A, blob) == b"attachment"
        assert await store.blobs.sweep_unreferenced(1500, 100) == 1
        with pytest.raises(BlobNotFound):
            await store.blobs.get(A, blob)
        assert await store.blobs.referrers(A, [blob]) == {}
        assert await store.blobs.sweep_unreferenced(10**10, 100) == 0

    @pytest_twisted.ensureDeferred
    async def test_claim_of_a_missing_blob_applies_nothing(self, store: StoreBundle) -> None:
        kept = (await store.blobs.put(A, b"kept")).blob_id
        elsewhere = (await store.blobs.put(B, b"only in B")).blob_id
        await store.accounts.write(A, WriteBatch().create("Email", "e0", {}))
        before = await snapshot(store, A, ["Email"])
        for missing in ["B" + "0" * 64, "not-a-blob", "B{x}", elsewhere]:
            batch = (
                WriteBatch().create("Email", "e1", {}).claim_blob(kept, "Email", "e1")
                .release_blob(kept, "Email", "e0").claim_blob(missing, "Email", "e1")
            )
            with pytest.raises(BlobNotFound) as raised:
                await store.accounts.write(A, batch)
            assert raised.value.args == (missing,)
        assert await snapshot(store, A, ["Email"]) == before
        assert await store.blobs.referrers(A, [kept]) == {kept: set()}

    @pytest_twisted.ensureDeferred
    async def test_claims_are_per_object_and_idempotent(self, store: StoreBundle) -> None:
        clock = use_clock(store, clock_at(0))
        blob = (await store.blobs.put(A, b"shared")).blob_id
        await store.accounts.write(
            A, WriteBatch().create("Email", "e1", {}).create("Email", "e2", {})
            .claim_blob(blob, "Email", "e1").claim_blob(blob, "Email", "e2")
            .claim_blob(blob, "Email", "e2"),
        )
        clock.advance(10)
        await store.accounts.write(A, WriteBatch().release_blob(blob, "Email", "e1"))
        await store.accounts.write(A, WriteBatch().release_blob(blob, "Email", "e1"))
        await store.accounts.write(A, WriteBatch().release_blob(blob, "Mailbox", "m9"))
        assert await store.blobs.referrers(A, [blob]) == {blob: {("Email", "e2")}}
        assert await store.blobs.sweep_unreferenced(10**10, 100) == 0
        clock.advance(10)
        await store.accounts.write(A, WriteBatch().release_blob(blob, "Email", "e2"))
        assert await store.blobs.sweep_unreferenced(19, 100) == 0
        assert await store.blobs.sweep_unreferenced(20, 100) == 1

    @pytest_twisted.ensureDeferred
    async def test_release_then_claim_in_one_batch_keeps_the_blob(
        self, store: StoreBundle
    ) -> None:
        use_clock(store, clock_at(0))
        old = (await store.blobs.put(A, b"old body")).blob_id
        new = (await store.blobs.put(A, b"new body")).blob_id
        await store.accounts.write(
            A, WriteBatch().create("Email", "e1", {}).claim_blob(old, "Email", "e1")
        )
        # the object moves from one blob to the other, and the old blob to another object
        result = await store.accounts.write(
            A, WriteBatch().update("Email", "e1", {"v": 2}).create("Email", "e2", {})
            .release_blob(old, "Email", "e1").claim_blob(new, "Email", "e1")
            .claim_blob(old, "Email", "e2"),
        )
        assert result.new_states == {"Email": "3"}
        assert await store.blobs.referrers(A, [old, new]) == {
            old: {("Email", "e2")}, new: {("Email", "e1")},
        }
        assert await store.blobs.sweep_unreferenced(10**10, 100) == 0

    @pytest_twisted.ensureDeferred
    async def test_claims_without_object_writes(self, store: StoreBundle) -> None:
        blob = (await store.blobs.put(A, b"x")).blob_id
        batch = WriteBatch().claim_blob(blob, "Email", "e1")
        assert batch.is_empty()
        result = await store.accounts.write(A, batch)
        assert result.modseqs == {} and result.account_modseq == 0
        assert await store.blobs.referrers(A, [blob]) == {blob: {("Email", "e1")}}

    @pytest_twisted.ensureDeferred
    async def test_storing_again_resets_the_stamp(self, store: StoreBundle) -> None:
        clock = use_clock(store, clock_at(100))
        blob = (await store.blobs.put(A, b"again")).blob_id
        clock.advance(50)
        upload = await store.blobs.open_upload(A)
        await upload.write(b"again")
        assert (await upload.commit()).blob_id == blob
        assert await store.blobs.sweep_unreferenced(149, 100) == 0
        # a referenced blob stored again stays referenced
        claimed = (await store.blobs.put(A, b"claimed")).blob_id
        await store.accounts.write(A, WriteBatch().claim_blob(claimed, "Email", "e"))
        await store.blobs.put(A, b"claimed")
        assert await store.blobs.sweep_unreferenced(10**10, 100) == 1
        assert await store.blobs.get(A, claimed) == b"claimed"
        with pytest.raises(BlobNotFound):
            await store.blobs.stat(A, blob)

    @pytest_twisted.ensureDeferred
    async def test_sweep_is_bounded_and_spans_accounts(self, store: StoreBundle) -> None:
        clock = use_clock(store, clock_at(0))
        old = []
        for n in range(5):
            old.append((A, (await store.blobs.put(A, b"a%d" % n)).blob_id))
            clock.advance(1)
        for n in range(3):
            old.append((B, (await store.blobs.put(B, b"b%d" % n)).blob_id))
            clock.advance(1)
        cutoff = clock.seconds()
        clock.advance(1)
        young = (await store.blobs.put(A, b"young")).blob_id
        counts = []
        while (count := await store.blobs.sweep_unreferenced(cutoff, 3)) > 0:
            assert count <= 3
            counts.append(count)
            assert len(counts) < 10
        assert sum(counts) == 8 and max(counts) == 3
        for account, blob in old:
            with pytest.raises(BlobNotFound):
                await store.blobs.stat(account, blob)
        assert await store.blobs.get(A, young) == b"young"
        assert await store.blobs.sweep_unreferenced(clock.seconds(), 3) == 1

    @pytest_twisted.ensureDeferred
    async def test_delete_drops_claims(self, store: StoreBundle) -> None:
        use_clock(store, clock_at(0))
        blob = (await store.blobs.put(A, b"doomed")).blob_id
        await store.accounts.write(A, WriteBatch().claim_blob(blob, "Email", "e"))
        await store.blobs.delete(A, blob)
        assert await store.blobs.referrers(A, [blob]) == {}
        again = await store.blobs.put(A, b"doomed")
        assert await store.blobs.referrers(A, [again.blob_id]) == {blob: set()}
        assert await store.blobs.sweep_unreferenced(0, 10) == 1

    @pytest_twisted.ensureDeferred
    async def test_referrers_of_unknown_ids(self, store: StoreBundle) -> None:
        blob = (await store.blobs.put(A, b"known")).blob_id
        assert await store.blobs.referrers(A, []) == {}
        assert await store.blobs.referrers(A, ["nonsense", "B" + "1" * 64, blob, blob]) == {
            blob: set()
        }
        assert await store.blobs.referrers(B, [blob]) == {}

    @pytest_twisted.ensureDeferred
    async def test_destroyed_account_is_swept_without_error(self, store: StoreBundle) -> None:
        use_clock(store, clock_at(0))
        await store.blobs.put(A, b"gone with the account")
        await store.accounts.destroy_account(A)
        assert await store.blobs.sweep_unreferenced(10, 10) == 0


class BlobStoreConformance(BlobReferenceConformance):
    @pytest_twisted.ensureDeferred
    async def test_provides_interfaces(self, store: StoreBundle) -> None:
        assert verifyObject(IBlobStore, store.blobs)
        upload = await store.blobs.open_upload(A)
        assert verifyObject(IBlobUpload, upload)
        await upload.abort()

    @pytest_twisted.ensureDeferred
    async def test_put_get_stat(self, store: StoreBundle) -> None:
        data = bytes(range(256)) * 10
        info = await store.blobs.put(A, data)
        assert info.blob_id == "B" + hashlib.sha256(data).hexdigest()
        assert info.size == len(data)
        assert await store.blobs.get(A, info.blob_id) == data
        assert await store.blobs.stat(A, info.blob_id) == info

    @pytest_twisted.ensureDeferred
    async def test_content_that_looks_like_text_or_numbers(self, store: StoreBundle) -> None:
        for data in [b"123", b"1.5", b"-7", "grüße".encode(), b"\xff\xfe", b"\r\n", b""]:
            info = await store.blobs.put(A, data)
            got = await store.blobs.get(A, info.blob_id)
            assert got == data and isinstance(got, bytes)
            assert (await store.blobs.stat(A, info.blob_id)).size == len(data)

    @pytest_twisted.ensureDeferred
    async def test_ranges(self, store: StoreBundle) -> None:
        data = b"0123456789"
        blob_id = (await store.blobs.put(A, data)).blob_id
        get = store.blobs.get
        assert await get(A, blob_id, 0, 3) == b"012"
        assert await get(A, blob_id, 4) == b"456789"
        assert await get(A, blob_id, 4, 2) == b"45"
        assert await get(A, blob_id, 8, 100) == b"89"
        assert await get(A, blob_id, 10) == b""
        assert await get(A, blob_id, 50, 5) == b""
        assert await get(A, blob_id, 3, 0) == b""
        with pytest.raises(ValueError):
            await get(A, blob_id, -1)
        with pytest.raises(ValueError):
            await get(A, blob_id, 0, -1)
        with pytest.raises(BlobNotFound):
            await get(A, "B" + "0" * 64, 0, 0)

    @pytest_twisted.ensureDeferred
    async def test_missing_and_delete(self, store: StoreBundle) -> None:
        for bad in ["B" + "0" * 64, "nonsense", "B{x}", ""]:
            with pytest.raises(BlobNotFound):
                await store.blobs.get(A, bad)
            with pytest.raises(BlobNotFound):
                await store.blobs.stat(A, bad)
            await store.blobs.delete(A, bad)
        info = await store.blobs.put(A, b"x")
        await store.blobs.delete(A, info.blob_id)
        with pytest.raises(BlobNotFound):
            await store.blobs.get(A, info.blob_id)
        await store.blobs.delete(A, info.blob_id)

    @pytest_twisted.ensureDeferred
    async def test_dedupe(self, store: StoreBundle) -> None:
        first = await store.blobs.put(A, b"same")
        second = await store.blobs.put(A, b"same")
        assert first == second
        assert await store.blobs.get(A, first.blob_id) == b"same"

    @pytest_twisted.ensureDeferred
    async def test_accounts_are_isolated(self, store: StoreBundle) -> None:
        info = await store.blobs.put(A, b"secret of A")
        with pytest.raises(BlobNotFound):
            await store.blobs.get(B, info.blob_id)
        with pytest.raises(BlobNotFound):
            await store.blobs.stat(B, info.blob_id)
        await store.blobs.delete(B, info.blob_id)
        assert await store.blobs.get(A, info.blob_id) == b"secret of A"
        same = await store.blobs.put(B, b"secret of A")
        await store.blobs.delete(B, same.blob_id)
        assert await store.blobs.get(A, info.blob_id) == b"secret of A"

    @pytest_twisted.ensureDeferred
    async def test_streamed_upload(self, store: StoreBundle) -> None:
        chunks = [b"first,", bytes(range(256)) * 100, b"", b"last"]
        upload = await store.blobs.open_upload(A)
        for chunk in chunks:
            await upload.write(chunk)
        assert upload.size == sum(map(len, chunks))
        info = await upload.commit()
        data = b"".join(chunks)
        assert info == await store.blobs.put(A, data)
        assert await store.blobs.get(A, info.blob_id) == data
        with pytest.raises(ValueError):
            await upload.write(b"more")
        # uploading content that is already there yields the same blob
        again = await store.blobs.open_upload(A)
        await again.write(data)
        assert await again.commit() == info
        assert await store.blobs.get(A, info.blob_id) == data

    @pytest_twisted.ensureDeferred
    async def test_empty_upload(self, store: StoreBundle) -> None:
        upload = await store.blobs.open_upload(A)
        info = await upload.commit()
        assert info.size == 0
        assert await store.blobs.get(A, info.blob_id) == b""

    @pytest_twisted.ensureDeferred
    async def test_abort(self, store: StoreBundle) -> None:
        upload = await store.blobs.open_upload(A)
        await upload.write(b"never kept")
        await upload.abort()
        with pytest.raises(BlobNotFound):
            await store.blobs.get(A, "B" + hashlib.sha256(b"never kept").hexdigest())
        with pytest.raises(ValueError):
            await upload.commit()


class NotifierConformance:
    @pytest_twisted.ensureDeferred
    async def test_provides_interfaces(self, store: StoreBundle) -> None:
        assert verifyObject(INotifier, store.notifier)
        subscription = await store.notifier.subscribe(Recorder())
        assert verifyObject(ISubscription, subscription)
        await subscription.cancel()

    @pytest_twisted.ensureDeferred
    async def test_publish_reaches_every_listener(self, store: StoreBundle) -> None:
        first, second = Recorder(), Recorder()
        sub1 = await store.notifier.subscribe(first)
        sub2 = await store.notifier.subscribe(second)
        change = StateChange(A, {"Email": "7", "Mailbox": "3"})
        await store.notifier.publish(change)
        await eventually(lambda: bool(first.changes and second.changes))
        assert first.changes == second.changes == [change]
        await sub1.cancel()
        await sub2.cancel()

    @pytest_twisted.ensureDeferred
    async def test_cancel(self, store: StoreBundle) -> None:
        cancelled, kept = Recorder(), Recorder()
        subscription = await store.notifier.subscribe(cancelled)
        other = await store.notifier.subscribe(kept)
        await subscription.cancel()
        await store.notifier.publish(StateChange(A, {"Email": "1"}))
        await eventually(lambda: bool(kept.changes))
        assert cancelled.changes == []
        await subscription.cancel()  # twice is harmless
        await other.cancel()

    @pytest_twisted.ensureDeferred
    async def test_failing_listeners_harm_no_other(self, store: StoreBundle) -> None:
        def broken(change: StateChange) -> None:
            raise RuntimeError("listener bug")

        async def broken_later(change: StateChange) -> None:
            await sleep(0)
            raise RuntimeError("async listener bug")

        def broken_deferred(change: StateChange) -> defer.Deferred[None]:
            return defer.fail(RuntimeError("deferred listener bug"))

        failures: list[LogEvent] = []

        @implementer(ILogObserver)
        def observe(event: LogEvent) -> None:
            if "log_failure" in event:
                failures.append(event)

        globalLogPublisher.addObserver(observe)
        recorder = Recorder()
        try:
            subs = [await store.notifier.subscribe(b)
                    for b in (broken, broken_later, broken_deferred, recorder)]
            for n in range(3):
                await store.notifier.publish(StateChange(A, {"Email": str(n)}))
            await eventually(lambda: len(recorder.changes) == 3 and len(failures) == 9)
            await sleep(0.02)
        finally:
            globalLogPublisher.removeObserver(observe)
        for sub in subs:
            await sub.cancel()
        assert [c.changed["Email"] for c in recorder.changes] == ["0", "1", "2"]
        # every failure was logged, none went unnoticed or was logged twice
        assert len(failures) == 9
        assert {str(e["log_failure"].value) for e in failures} == {
            "listener bug", "async listener bug", "deferred listener bug"}

    @pytest_twisted.ensureDeferred
    async def test_changes_reach_another_store_instance(
        self, store: StoreBundle, peer_store: StoreBundle
    ) -> None:
        here, there = Recorder(), Recorder()
        sub_here = await store.notifier.subscribe(here)
        sub_there = await peer_store.notifier.subscribe(there)
        await peer_store.accounts.write(A, WriteBatch().create("Email", "e", {}))
        await eventually(lambda: bool(here.changes and there.changes))
        assert here.changes == there.changes == [StateChange(A, {"Email": "1"})]
        await store.notifier.publish(StateChange(B, {"Mailbox": "9"}))
        await eventually(lambda: len(there.changes) == 2)
        assert there.changes[1] == StateChange(B, {"Mailbox": "9"})
        await sub_here.cancel()
        await sub_there.cancel()


class ClaimsConformance:
    def test_provides_interface(self, store: StoreBundle) -> None:
        assert verifyObject(IClaims, store.claims)

    @pytest_twisted.ensureDeferred
    async def test_first_caller_wins(self, store: StoreBundle) -> None:
        assert await store.claims.claim(A, "push:1", 60) is True
        assert await store.claims.claim(A, "push:1", 60) is False
        # names and accounts are separate claims
        assert await store.claims.claim(A, "push:2", 60) is True
        assert await store.claims.claim(B, "push:1", 60) is True

    @pytest_twisted.ensureDeferred
    async def test_exactly_one_of_concurrent_callers(self, store: StoreBundle) -> None:
        won = await gather(*(store.claims.claim(A, "race", 60) for _ in range(20)))
        assert won.count(True) == 1

    @pytest_twisted.ensureDeferred
    async def test_held_tells_without_claiming(self, store: StoreBundle) -> None:
        assert await store.claims.held(A, "mark") is False
        assert await store.claims.held(A, "mark") is False  # asking took nothing
        assert await store.claims.claim(A, "mark", 0.05) is True
        assert await store.claims.held(A, "mark") is True
        assert await store.claims.held(B, "mark") is False
        await sleep(0.1)
        assert await store.claims.held(A, "mark") is False
        with pytest.raises(ValueError):
            await store.claims.held(A, "")

    @pytest_twisted.ensureDeferred
    async def test_claim_expires(self, store: StoreBundle) -> None:
        assert await store.claims.claim(A, "short", 0.05) is True
        assert await store.claims.claim(A, "short", 0.05) is False
        await sleep(0.1)
        assert await store.claims.claim(A, "short", 60) is True
        assert await store.claims.claim(A, "short", 60) is False

    @pytest_twisted.ensureDeferred
    async def test_claims_are_shared_with_another_store_instance(
        self, store: StoreBundle, peer_store: StoreBundle
    ) -> None:
        assert await store.claims.claim(A, "once", 60) is True
        assert await peer_store.claims.claim(A, "once", 60) is False

    @pytest_twisted.ensureDeferred
    async def test_bad_arguments(self, store: StoreBundle) -> None:
        for account, name, ttl in [("", "n", 1.0), ("a{b", "n", 1.0), (A, "", 1.0),
                                   (A, "n", 0.0), (A, "n", -1.0)]:
            with pytest.raises(ValueError):
                await store.claims.claim(account, name, ttl)


class DueAccountsConformance:
    def test_provides_interface(self, store: StoreBundle) -> None:
        assert verifyObject(IDueAccounts, store.due)

    @pytest_twisted.ensureDeferred
    async def test_note_keeps_the_earliest_and_set_is_exact(self, store: StoreBundle) -> None:
        due = store.due
        assert await due.due_accounts("work", 1e12, 10) == []
        await due.note_due("work", A, 100.0)
        await due.note_due("work", A, 200.0)  # later: the earlier time stays
        await due.note_due("work", B, 50.5)
        assert await due.due_accounts("work", 1e12, 10) == [(B, 50.5), (A, 100.0)]
        assert await due.due_accounts("work", 99.0, 10) == [(B, 50.5)]
        assert await due.due_accounts("work", 1e12, 1) == [(B, 50.5)]
        await due.set_due("work", B, 300.0)  # exact, even later
        assert await due.due_accounts("work", 1e12, 10) == [(A, 100.0), (B, 300.0)]
        await due.set_due("work", A, None)
        assert await due.due_accounts("work", 1e12, 10) == [(B, 300.0)]
        await due.set_due("work", A, None)  # unlisting twice is no error
        # names are separate lists
        assert await due.due_accounts("other", 1e12, 10) == []

    @pytest_twisted.ensureDeferred
    async def test_shared_with_another_store_instance(
        self, store: StoreBundle, peer_store: StoreBundle
    ) -> None:
        await store.due.note_due("work", A, 10.0)
        assert await peer_store.due.due_accounts("work", 10.0, 10) == [(A, 10.0)]

    @pytest_twisted.ensureDeferred
    async def test_bad_arguments(self, store: StoreBundle) -> None:
        for name, account, at in [("", A, 1.0), ("a{b}", A, 1.0), ("work", "", 1.0),
                                  ("work", "a{b", 1.0), ("work", A, float("nan"))]:
            with pytest.raises(ValueError):
                await store.due.note_due(name, account, at)
        with pytest.raises(ValueError):
            await store.due.due_accounts("x y", 1.0, 1)


class DirectoryConformance:
    def test_provides_interface(self, store: StoreBundle) -> None:
        assert verifyObject(IDirectory, store.directory)

    @pytest_twisted.ensureDeferred
    async def test_create_get_find(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("  Alice@Example.COM ", "hash1")
        assert alice.name == "alice@example.com"
        assert alice.password_hash == "hash1"
        assert alice.kind == "individual"
        assert alice.created_at > 0
        assert alice.id and "{" not in alice.id
        assert await d.get_principal(alice.id) == alice
        assert await d.find_principal("ALICE@example.com") == alice
        group = await d.create_principal("team", None, kind="group")
        assert (await d.get_principal(group.id)).kind == "group"
        assert (await d.get_principal(group.id)).password_hash is None
        with pytest.raises(PrincipalExists):
            await d.create_principal("alice@EXAMPLE.com", "other")
        with pytest.raises(ValueError):
            await d.create_principal("   ", "x")
        with pytest.raises(PrincipalNotFound):
            await d.get_principal("a0000")
        with pytest.raises(PrincipalNotFound):
            await d.find_principal("bob")

    @pytest_twisted.ensureDeferred
    async def test_list_principals_sorted(self, store: StoreBundle) -> None:
        d = store.directory
        for name in ["carol", "Alice", "bob"]:
            await d.create_principal(name, None)
        assert [p.name for p in await d.list_principals()] == ["alice", "bob", "carol"]

    @pytest_twisted.ensureDeferred
    async def test_password_hash(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", "old")
        await d.set_password_hash(alice.id, "new")
        assert (await d.find_principal("alice")).password_hash == "new"
        assert (await d.list_principals())[0].password_hash == "new"
        await d.set_password_hash(alice.id, None)
        got = await d.get_principal(alice.id)
        assert got.password_hash is None
        assert (got.name, got.created_at, got.kind) == (alice.name, alice.created_at, alice.kind)
        with pytest.raises(PrincipalNotFound):
            await d.set_password_hash("a0000", "x")

    @pytest_twisted.ensureDeferred
    async def test_concurrent_creates_of_one_name(self, store: StoreBundle) -> None:
        outcomes = await defer.DeferredList(
            [defer.Deferred.fromCoroutine(store.directory.create_principal("dup", str(i)))
             for i in range(10)],
            consumeErrors=True,
        )
        winners = [value for ok, value in outcomes if ok]
        losers = [value for ok, value in outcomes if not ok]
        assert len(winners) == 1
        assert all(f.check(PrincipalExists) for f in losers)
        assert [p.id for p in await store.directory.list_principals()] == [winners[0].id]

    @pytest_twisted.ensureDeferred
    async def test_tokens(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        t2 = TokenRecord("t2", alice.id, "h2", created_at=200.0, label="phone")
        t1 = TokenRecord("t1", alice.id, "h1", created_at=100.0)
        t3 = TokenRecord("t0", alice.id, "h3", created_at=200.0)
        tb = TokenRecord("tb", bob.id, "hb", created_at=50.0)
        for record in (t2, t1, t3, tb):
            await d.add_token(record)
        assert await d.get_token("t2") == t2
        assert await d.list_tokens(alice.id) == [t1, t3, t2]
        assert await d.list_tokens(bob.id) == [tb]
        assert await d.list_tokens("a0000") == []
        await d.revoke_token("t2")
        with pytest.raises(TokenNotFound):
            await d.get_token("t2")
        with pytest.raises(TokenNotFound):
            await d.revoke_token("t2")
        assert await d.list_tokens(alice.id) == [t1, t3]
        with pytest.raises(PrincipalNotFound):
            await d.add_token(TokenRecord("tx", "a0000", "h", created_at=1.0))
        with pytest.raises(TokenNotFound):
            await d.get_token("tx")

    @pytest_twisted.ensureDeferred
    async def test_domains(self, store: StoreBundle) -> None:
        d = store.directory
        await d.add_domain("Example.ORG")
        await d.add_domain("a.example")
        with pytest.raises(PrincipalExists):
            await d.add_domain("example.org")
        assert await d.list_domains() == ["a.example", "example.org"]
        await d.remove_domain("EXAMPLE.org")
        with pytest.raises(PrincipalNotFound):
            await d.remove_domain("example.org")
        assert await d.list_domains() == ["a.example"]

    @pytest_twisted.ensureDeferred
    async def test_aliases(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.set_alias("Sales@Example.org", [alice.id, bob.id, alice.id])
        assert await d.resolve_alias("sales@example.ORG") == [alice.id, bob.id]
        await d.set_alias("sales@example.org", [bob.id])
        assert await d.resolve_alias("sales@example.org") == [bob.id]
        with pytest.raises(PrincipalNotFound):
            await d.set_alias("sales@example.org", [alice.id, "a0000"])
        assert await d.resolve_alias("sales@example.org") == [bob.id]
        with pytest.raises(PrincipalNotFound):
            await d.set_alias("new@example.org", ["a0000"])
        assert await d.resolve_alias("new@example.org") == []
        await d.remove_alias("SALES@example.org")
        assert await d.resolve_alias("sales@example.org") == []
        with pytest.raises(PrincipalNotFound):
            await d.remove_alias("sales@example.org")

    @pytest_twisted.ensureDeferred
    async def test_list_aliases(self, store: StoreBundle) -> None:
        d = store.directory
        assert await d.list_aliases() == []
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.set_alias("Sales@Example.org", [bob.id, alice.id, bob.id])
        await d.set_alias("help@example.org", [alice.id])
        await d.set_alias("empty@example.org", [])
        assert await d.list_aliases() == [
            ("empty@example.org", []),
            ("help@example.org", [alice.id]),
            ("sales@example.org", [bob.id, alice.id]),
        ]
        await d.remove_alias("help@example.org")
        await d.delete_principal(bob.id)
        assert await d.list_aliases() == [
            ("empty@example.org", []), ("sales@example.org", [alice.id]),
        ]

    @pytest_twisted.ensureDeferred
    async def test_delete_principal(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", "h")
        bob = await d.create_principal("bob", None)
        await d.add_token(TokenRecord("ta", alice.id, "h", created_at=1.0))
        await d.add_token(TokenRecord("tb", bob.id, "h", created_at=1.0))
        await d.set_alias("only-alice@x", [alice.id])
        await d.set_alias("both@x", [alice.id, bob.id])
        await d.set_alias("only-bob@x", [bob.id])
        await d.set_alias("nobody@x", [])
        await d.delete_principal(alice.id)
        with pytest.raises(PrincipalNotFound):
            await d.get_principal(alice.id)
        with pytest.raises(PrincipalNotFound):
            await d.find_principal("alice")
        with pytest.raises(PrincipalNotFound):
            await d.delete_principal(alice.id)
        with pytest.raises(TokenNotFound):
            await d.get_token("ta")
        assert await d.list_tokens(alice.id) == []
        assert await d.get_token("tb") == TokenRecord("tb", bob.id, "h", created_at=1.0)
        assert await d.resolve_alias("only-alice@x") == []
        with pytest.raises(PrincipalNotFound):
            await d.remove_alias("only-alice@x")
        assert await d.resolve_alias("both@x") == [bob.id]
        assert await d.resolve_alias("only-bob@x") == [bob.id]
        await d.remove_alias("nobody@x")  # an alias that never named alice stays
        assert [p.name for p in await d.list_principals()] == ["bob"]
        # the name is free again, under a new id that was never used before
        again = await d.create_principal("alice", None)
        assert again.id != alice.id
        assert await d.list_tokens(again.id) == []

    @pytest_twisted.ensureDeferred
    async def test_token_moved_to_another_principal(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.add_token(TokenRecord("t", alice.id, "h", created_at=1.0))
        await d.add_token(TokenRecord("t", bob.id, "h2", created_at=2.0))
        assert await d.list_tokens(alice.id) == []
        assert [t.secret_hash for t in await d.list_tokens(bob.id)] == ["h2"]
        await d.delete_principal(alice.id)
        assert (await d.get_token("t")).principal_id == bob.id

    @pytest_twisted.ensureDeferred
    async def test_addresses(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.add_address(alice.id, " Alice.Smith@Example.ORG ")
        await d.add_address(alice.id, "a@example.org")
        assert await d.addresses_of(alice.id) == ["Alice.Smith@example.org", "a@example.org"]
        assert await d.principal_for_address("alice.smith@EXAMPLE.org") == alice.id
        assert await d.principal_for_address("nobody@example.org") is None
        assert await d.principal_for_address("not an address") is None
        # one owner per address, whatever the case
        with pytest.raises(PrincipalExists):
            await d.add_address(bob.id, "ALICE.SMITH@example.org")
        with pytest.raises(PrincipalExists):
            await d.add_address(alice.id, "a@example.org")
        with pytest.raises(PrincipalNotFound):
            await d.add_address("a0000", "z@example.org")
        for bad in ("no-at-sign", "@example.org", "x@", "a b@example.org", "<a@example.org>"):
            with pytest.raises(ValueError):
                await d.add_address(alice.id, bad)
        # only the owner can give an address up
        with pytest.raises(PrincipalNotFound):
            await d.remove_address(bob.id, "a@example.org")
        await d.remove_address(alice.id, "A@Example.org")
        with pytest.raises(PrincipalNotFound):
            await d.remove_address(alice.id, "a@example.org")
        assert await d.principal_for_address("a@example.org") is None
        await d.add_address(bob.id, "a@example.org")
        assert await d.addresses_of(bob.id) == ["a@example.org"]
        assert await d.addresses_of(alice.id) == ["Alice.Smith@example.org"]
        assert await d.addresses_of("a0000") == []

    @pytest_twisted.ensureDeferred
    async def test_addresses_include_aliases(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.add_address(alice.id, "alice@example.org")
        await d.set_alias("Sales@Example.org", [alice.id, bob.id])
        await d.set_alias("help@example.org", [alice.id])
        assert await d.addresses_of(alice.id) == [
            "alice@example.org", "help@example.org", "sales@example.org"
        ]
        assert await d.addresses_of(bob.id) == ["sales@example.org"]
        await d.set_alias("help@example.org", [bob.id])  # moved away: no longer alice's
        assert await d.addresses_of(alice.id) == ["alice@example.org", "sales@example.org"]
        await d.remove_alias("sales@example.org")
        assert await d.addresses_of(bob.id) == ["help@example.org"]
        # an alias is not an owned address
        assert await d.principal_for_address("help@example.org") is None

    @pytest_twisted.ensureDeferred
    async def test_delete_principal_frees_its_addresses(self, store: StoreBundle) -> None:
        d = store.directory
        alice = await d.create_principal("alice", None)
        bob = await d.create_principal("bob", None)
        await d.add_address(alice.id, "alice@example.org")
        await d.add_address(bob.id, "bob@example.org")
        await d.delete_principal(alice.id)
        assert await d.principal_for_address("alice@example.org") is None
        assert await d.addresses_of(alice.id) == []
        assert await d.principal_for_address("bob@example.org") == bob.id
        again = await d.create_principal("alice", None)
        assert await d.addresses_of(again.id) == []
        await d.add_address(again.id, "alice@example.org")
        assert await d.principal_for_address("alice@example.org") == again.id

    @pytest_twisted.ensureDeferred
    async def test_concurrent_claims_of_one_address(self, store: StoreBundle) -> None:
        d = store.directory
        principals = [await d.create_principal(f"p{i}", None) for i in range(6)]
        outcomes = await defer.DeferredList(
            [defer.Deferred.fromCoroutine(d.add_address(p.id, "shared@example.org"))
             for p in principals],
            consumeErrors=True,
        )
        assert sum(ok for ok, _ in outcomes) == 1
        assert all(value.check(PrincipalExists) for ok, value in outcomes if not ok)
        owner = await d.principal_for_address("shared@example.org")
        owners = [p.id for p in principals if await d.addresses_of(p.id)]
        assert owners == [owner]


# -- indexes and maps -------------------------------------------------------------------------


def model_select(indexes: dict[str, dict[str, float]], plan: Plan) -> dict[str, float]:
    """What a plan selects, straight from the definitions in records (the reference model)."""
    if isinstance(plan, Index):
        return dict(indexes.get(plan.name, {}))
    if isinstance(plan, ScoreRange):
        return {
            m: s for m, s in indexes.get(plan.index, {}).items()
            if (plan.at_least is None or plan.at_least <= s)
            and (plan.below is None or s < plan.below)
        }
    if isinstance(plan, Intersection):
        parts = [model_select(indexes, p) for p in plan.parts]
        return {m: s for m, s in parts[0].items() if all(m in p for p in parts[1:])}
    if isinstance(plan, Union):
        union: dict[str, float] = {}
        for part in plan.parts:
            for m, s in model_select(indexes, part).items():
                union[m] = max(s, union.get(m, s))
        return union
    assert isinstance(plan, Difference)
    excluded = model_select(indexes, plan.excluded)
    return {m: s for m, s in model_select(indexes, plan.base).items() if m not in excluded}


def model_page(
    selected: dict[str, float], descending: bool = False, offset: int = 0,
    limit: int | None = None,
) -> IndexPage:
    """Ordered by score, then member as UTF-8 bytes (as Redis orders them), both reversed when
    descending."""
    ordered = sorted(
        selected.items(), key=lambda item: (item[1], item[0].encode()), reverse=descending
    )
    end = None if limit is None else offset + limit
    return IndexPage(members=tuple(ordered[offset:end]), total=len(selected))


def add_all(batch: WriteBatch, indexes: dict[str, dict[str, float]]) -> WriteBatch:
    for name, members in indexes.items():
        for member, score in members.items():
            batch.index_add(name, member, score)
    return batch


async def derived_snapshot(store: StoreBundle, account: str) -> Any:
    """What the derived data of the fixture below looks like, to prove a write changed none."""
    x = store.indexes
    return (
        await x.index_query(account, Union((Index("ix1"), Index("ix2"), Index("new")))),
        await x.index_size(account, "ix1"),
        await x.index_scores(account, "ix1", ["a", "b", "c", "n"]),
        await x.map_get(account, "map1", ["f", "g", "n"]),
        await x.map_get(account, "new", ["n"]),
    )


# a fixed data set for the plan tests: scores chosen so each kind of plan shows its scoring
PLAN_DATA: dict[str, dict[str, float]] = {
    "all": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 5.0},
    "odd": {"a": 10.0, "c": 30.0, "e": 50.0, "z": -1.0},
    "low": {"a": 0.5, "b": 0.5, "c": 100.0},
}

NAMES = ["{a:acct2}:x", "a:b:c", "with space", "grüße ✉", "}{", "ix:x", "\U0001F600"]
SCORES = [-2.5, -1.0, 0.0, 0.1, 1.0, 1.0000000000000002, 3.0, 2.0**53 + 2, -1e300, 5e-324]
PLAN_MEMBERS = ["a", "b", "B", "é", "z{}", "m:1", " x", "\U0001F600", "\uffff", "10", "9"]
PLAN_INDEXES = ["i0", "i1", "i2", "i3", "missing"]

_scores = st.one_of(
    st.sampled_from(SCORES), st.floats(allow_nan=False, allow_infinity=False)
)
_bounds = st.one_of(st.none(), st.sampled_from(SCORES), _scores)
_leaves = st.one_of(
    st.builds(Index, st.sampled_from(PLAN_INDEXES)),
    st.builds(ScoreRange, st.sampled_from(PLAN_INDEXES), _bounds, _bounds),
)
_plans = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.builds(Intersection, st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.builds(Union, st.lists(children, max_size=3).map(tuple)),
        st.builds(Difference, children, children),
    ),
    max_leaves=10,
)
_data = st.dictionaries(
    st.sampled_from(PLAN_INDEXES[:-1]),
    st.dictionaries(st.sampled_from(PLAN_MEMBERS), _scores, max_size=len(PLAN_MEMBERS)),
)
_changes = st.lists(
    st.tuples(
        st.sampled_from(PLAN_INDEXES[:-1]), st.sampled_from(PLAN_MEMBERS),
        st.one_of(st.none(), _scores),
    ),
    max_size=8,
)
_queries = st.lists(
    st.tuples(
        _plans, st.booleans(), st.integers(0, 12), st.one_of(st.none(), st.integers(0, 12))
    ),
    min_size=1, max_size=4,
)


class IndexStoreConformance:
    """IIndexStore, and the derived writes of WriteBatch it reads back."""

    def test_provides_interface(self, store: StoreBundle) -> None:
        assert verifyObject(IIndexStore, store.indexes)

    @pytest_twisted.ensureDeferred
    async def test_map_raise_only_rises(self, store: StoreBundle) -> None:
        x = store.indexes
        assert await x.map_raise(A, "marks", "m1", 0) == 0
        assert await x.map_get(A, "marks", ["m1"]) == {}
        assert await x.map_raise(A, "marks", "m1", 5) == 0
        assert await x.map_raise(A, "marks", "m1", 3) == 5
        assert await x.map_raise(A, "marks", "m1", 5) == 5
        assert await x.map_raise(A, "marks", "m1", 9) == 5
        assert await x.map_get(A, "marks", ["m1"]) == {"m1": "9"}
        assert await x.map_raise(A, "marks", "m2", 2**53 - 1) == 0
        for bad in (-1, 2**53, 1.5, True):
            with pytest.raises(ValueError):
                await x.map_raise(A, "marks", "m1", bad)  # type: ignore[arg-type]
        # the account owns the map: another account sees nothing, destroying it removes it
        assert await x.map_get("acct2", "marks", ["m1"]) == {}
        await store.accounts.destroy_account(A)
        assert await x.map_get(A, "marks", ["m1", "m2"]) == {}

    @pytest_twisted.ensureDeferred
    async def test_map_get_at_state_reads_the_state_with_the_fields(
        self, store: StoreBundle
    ) -> None:
        x = store.indexes
        assert await x.map_get_at_state(A, "Thread", "links", ["m"]) == ("0", {})
        await store.accounts.write(A, WriteBatch().create("Thread", "t", {})
                                   .map_set("links", "m", "[1]").map_set("links", "n", "[2]"))
        state = await store.changes.current_state(A, "Thread")
        assert await x.map_get_at_state(A, "Thread", "links", ["n", "zz", "m", "n"]) == (
            state, {"n": "[2]", "m": "[1]"})
        # another type's state; a write of the map alone moves no state
        await store.accounts.write(A, WriteBatch().map_delete("links", "m"))
        assert await x.map_get_at_state(A, "Email", "links", ["m", "n"]) == ("0", {"n": "[2]"})
        assert (await x.map_get_at_state(A, "Thread", "links", []))[0] == state
        with pytest.raises(ValueError):
            await x.map_get_at_state(A, "Thread", "", ["m"])

    @pytest_twisted.ensureDeferred
    async def test_map_raise_races_have_one_winner(self, store: StoreBundle) -> None:
        x = store.indexes
        results = await defer.gatherResults([
            defer.Deferred.fromCoroutine(x.map_raise(A, "marks", "m", 7)) for _ in range(8)
        ])
        assert sorted(results) == [0] + [7] * 7

    @pytest_twisted.ensureDeferred
    async def test_snapshot_reads_what_each_read_would(self, store: StoreBundle) -> None:
        x = store.indexes
        empty = await x.snapshot(A, "Email", [IndexRequest(Index("ix"))], objects=("Box", ["b"]))
        assert empty == Snapshot("0", {}, (IndexPage((), 0),))
        batch = WriteBatch().create("Box", "b1", {"n": 1}).create("Box", "b2", {"n": [2]})
        batch.create("Email", "e1", {})
        for n in range(1, 41):
            batch.index_add("uids", f"m{n:02}", n)
            if n % 3 == 0:
                batch.index_add("seen", f"m{n:02}", 0)
        await store.accounts.write(A, batch)
        requests = [
            IndexRequest(Index("uids")),
            IndexRequest(ScoreRange("uids", 38, None)),
            IndexRequest(Difference(Index("uids"), Index("seen")), limit=1, count=False),
            IndexRequest(Difference(Index("uids"), Index("seen")), descending=True, offset=2,
                         limit=3),
            IndexRequest(Union((Index("nothing"), Index("none")))),
            IndexRequest(Intersection((Index("uids"), Index("seen"))), limit=2),
        ]
        taken = await x.snapshot(A, "Email", requests, objects=("Box", ["b2", "zz", "b1", "b2"]))
        assert taken.state == await store.changes.current_state(A, "Email")
        assert taken.objects == {"b1": {"n": 1}, "b2": {"n": [2]}}
        assert len(taken.pages) == len(requests)
        for request, page in zip(requests, taken.pages, strict=True):
            alone = await x.index_query(
                A, request.plan, descending=request.descending, offset=request.offset,
                limit=request.limit, count=request.count,
            )
            assert page.members == alone.members
            if request.count:
                assert page.total == alone.total
        assert taken.pages[2].members == (("m01", 1.0),)
        assert [m for m, _ in taken.pages[1].members] == ["m38", "m39", "m40"]
        # no objects, no queries: the state alone; another type's state is its own
        alone = await x.snapshot(A, "Box", [])
        assert alone == Snapshot(await store.changes.current_state(A, "Box"), {}, ())
        assert (await x.snapshot("acct2", "Email", [], objects=("Box", ["b1"]))).objects == {}
        with pytest.raises(ValueError):
            await x.snapshot(A, "Email", [IndexRequest(Index("uids"), offset=-1)])

    @pytest_twisted.ensureDeferred
    async def test_snapshot_moves_with_writes(self, store: StoreBundle) -> None:
        x = store.indexes
        for n in range(1, 6):
            await store.accounts.write(
                A, WriteBatch().create("Email", f"e{n}", {"n": n}).index_add("ix", f"e{n}", n)
            )
            taken = await x.snapshot(A, "Email", [IndexRequest(Index("ix"))],
                                     objects=("Email", [f"e{n}"]))
            assert taken.state == await store.changes.current_state(A, "Email")
            assert taken.objects == {f"e{n}": {"n": n}}
            assert taken.pages[0].ids == [f"e{k}" for k in range(1, n + 1)]

    @pytest_twisted.ensureDeferred
    async def test_snapshot_with_changes_reads_what_each_read_would(
        self, store: StoreBundle
    ) -> None:
        x, w = store.indexes, store.accounts.write
        await w(A, WriteBatch().create("Email", "e1", {}).create("Email", "e2", {})
                .create("Email", "e3", {}).index_add("uid", "e1", 1).index_add("uid", "e2", 2))
        since = await store.changes.current_state(A, "Email")
        await w(A, WriteBatch().update("Email", "e1", {"k": 1}).destroy("Email", "e2")
                .create("Email", "e4", {}).index_remove("uid", "e2").index_add("uid", "e4", 3))
        request = ChangesRequest(since, None, "uid", also_ids=("e3", "e1", "gone"))
        taken = await x.snapshot(A, "Email", [IndexRequest(ScoreRange("uid", 3, None))],
                                 objects=("Email", ["e4"]), changes=request)
        alone = await store.changes.changes_since(A, "Email", since, None)
        assert taken.changes == alone
        assert taken.changes is not None and taken.changes.created == ("e4",)
        assert taken.changes.updated == ("e1",) and taken.changes.destroyed == ("e2",)
        assert taken.state == alone.new_state == await store.changes.current_state(A, "Email")
        _, modseqs, scores = await store.changes.state_modseqs_and_scores(
            A, "Email", ["e4", "e1", "e3", "gone"], "uid"
        )
        # the created, updated and further ids: live ones get their modseq, and their score
        # when they are in the index (e3 is not); e2 is destroyed, "gone" never was
        assert taken.modseqs == modseqs and set(modseqs) == {"e1", "e3", "e4"}
        assert taken.scores == scores == {"e1": 1.0, "e4": 3.0}
        assert taken.objects == {"e4": {}} and taken.pages[0].ids == ["e4"]
        # without a request nothing of the log is read
        plain = await x.snapshot(A, "Email", [])
        assert plain.changes is None and plain.modseqs == {} and plain.scores == {}

    @pytest_twisted.ensureDeferred
    async def test_snapshot_with_changes_pages_and_refuses_as_changes_since(
        self, store: StoreBundle
    ) -> None:
        x, w = store.indexes, store.accounts.write
        for n in range(1, 6):
            await w(A, WriteBatch().create("Email", f"e{n}", {}))
        first = await x.snapshot(A, "Email", [], changes=ChangesRequest("0", 2, "uid"))
        assert first.changes == await store.changes.changes_since(A, "Email", "0", 2)
        assert first.changes is not None and first.changes.has_more
        assert set(first.modseqs) == {"e1", "e2"} and first.scores == {}
        rest = await x.snapshot(A, "Email", [],
                                changes=ChangesRequest(first.changes.new_state, None, "uid"))
        assert rest.changes is not None and rest.changes.created == ("e3", "e4", "e5")
        assert not rest.changes.has_more and rest.changes.new_state == rest.state
        with pytest.raises(InvalidState):
            await x.snapshot(A, "Email", [], changes=ChangesRequest("999", None, "uid"))
        with pytest.raises(ValueError):
            await x.snapshot(A, "Email", [], changes=ChangesRequest("0", 0, "uid"))
        await store.changes.compact(A, "Email", "3")
        with pytest.raises(CannotCalculateChanges) as raised:
            await x.snapshot(A, "Email", [], changes=ChangesRequest("1", None, "uid"))
        assert not isinstance(raised.value, InvalidState)

    @pytest_twisted.ensureDeferred
    async def test_snapshot_reads_a_mark_and_claims_up_to_the_top(
        self, store: StoreBundle
    ) -> None:
        x, w = store.indexes, store.accounts.write
        read = MarkRequest("marks", "box", "uid", claim=False)
        claim = MarkRequest("marks", "box", "uid", claim=True)
        # nothing yet: an unset mark is 0, an empty index's top is 0, a claim raises nothing
        assert (await x.snapshot(A, "Email", [], mark=claim)).mark == MarkReading(0, 0, 0)
        assert await x.map_get(A, "marks", ["box"]) == {}
        await w(A, WriteBatch().create("Email", "e1", {}).index_add("uid", "e1", 4)
                .index_add("uid", "e2", 9).index_add("uid", "e3", 7))
        await x.map_raise(A, "marks", "box", 4)
        # a read looks without raising, as often as asked
        for _ in range(2):
            taken = await x.snapshot(A, "Email", [IndexRequest(Index("uid"))], mark=read)
            assert taken.mark == MarkReading(before=4, top=9, above=2)
            assert taken.pages[0].ids == ["e1", "e3", "e2"]
        # a claim raises the mark to the top; of two claims only the first finds it below
        assert (await x.snapshot(A, "Email", [], mark=claim)).mark == MarkReading(4, 9, 2)
        assert await x.map_get(A, "marks", ["box"]) == {"box": "9"}
        assert (await x.snapshot(A, "Email", [], mark=claim)).mark == MarkReading(9, 9, 0)
        # the same map map_raise keeps: a higher mark stays, and the mark is the account's
        assert await x.map_raise(A, "marks", "box", 12) == 9
        assert (await x.snapshot(A, "Email", [], mark=claim)).mark == MarkReading(12, 9, 0)
        assert await x.map_get(A, "marks", ["box"]) == {"box": "12"}
        assert (await x.snapshot(B, "Email", [], mark=claim)).mark == MarkReading(0, 0, 0)
        # with changes: read in the same instant; changes refused, nothing is claimed
        since = await store.changes.current_state(A, "Email")
        await w(A, WriteBatch().create("Email", "e4", {}).index_add("uid", "e4", 15))
        taken = await x.snapshot(A, "Email", [IndexRequest(ScoreRange("uid", 10, None))],
                                 changes=ChangesRequest(since, None, "uid"), mark=claim)
        assert taken.changes is not None and taken.changes.created == ("e4",)
        assert taken.pages[0].ids == ["e4"] and taken.mark == MarkReading(12, 15, 1)
        with pytest.raises(InvalidState):
            await x.snapshot(A, "Email", [], changes=ChangesRequest("999", None, "uid"),
                             mark=MarkRequest("marks", "other", "uid", claim=True))
        assert await x.map_get(A, "marks", ["box", "other"]) == {"box": "15"}
        # the map is the account's like map_raise's: destroying the account removes it
        await store.accounts.destroy_account(A)
        assert await x.map_get(A, "marks", ["box"]) == {}

    @pytest_twisted.ensureDeferred
    async def test_nothing_exists_at_first(self, store: StoreBundle) -> None:
        x = store.indexes
        assert await x.index_query(A, Index("ix")) == IndexPage((), 0)
        assert await x.index_query(A, ScoreRange("ix", 0, 1), descending=True) == IndexPage((), 0)
        assert await x.index_query(A, Union((Index("a"), Index("b")))) == IndexPage((), 0)
        assert await x.index_size(A, "ix") == 0
        assert await x.index_scores(A, "ix", ["m"]) == {}
        assert await x.index_scores(A, "ix", []) == {}
        assert await x.map_get(A, "map", ["f"]) == {}
        assert await x.map_get(A, "map", []) == {}

    @pytest_twisted.ensureDeferred
    async def test_add_replace_remove(self, store: StoreBundle) -> None:
        x = store.indexes
        await store.accounts.write(
            A, WriteBatch().index_add("ix", "a", 2).index_add("ix", "b", 1.5)
            .index_add("ix", "c", -3.25).map_set("map", "f", "one").map_set("map", "g", "")
        )
        assert await x.index_query(A, Index("ix")) == IndexPage(
            (("c", -3.25), ("b", 1.5), ("a", 2.0)), 3)
        assert await x.index_size(A, "ix") == 3
        scores = await x.index_scores(A, "ix", ["a", "zz", "c", "a"])
        assert scores == {"a": 2.0, "c": -3.25}
        assert all(type(s) is float for s in scores.values())
        assert await x.map_get(A, "map", ["f", "g", "h", "f"]) == {"f": "one", "g": ""}
        # a member added again moves; a field set again is replaced
        await store.accounts.write(
            A, WriteBatch().index_add("ix", "c", 9).index_remove("ix", "b")
            .index_remove("ix", "never").map_set("map", "f", "two").map_delete("map", "g")
            .map_delete("map", "never").map_delete("nomap", "f").index_remove("noix", "a")
        )
        assert await x.index_query(A, Index("ix")) == IndexPage((("a", 2.0), ("c", 9.0)), 2)
        assert await x.map_get(A, "map", ["f", "g"]) == {"f": "two"}
        # the last member gone, the index is no more (and can come back)
        await store.accounts.write(
            A, WriteBatch().index_remove("ix", "a").index_remove("ix", "c")
            .map_delete("map", "f")
        )
        assert await x.index_size(A, "ix") == 0
        assert await x.index_query(A, Index("ix")) == IndexPage((), 0)
        assert await x.map_get(A, "map", ["f"]) == {}
        await store.accounts.write(A, WriteBatch().index_add("ix", "a", 0))
        assert await x.index_query(A, Index("ix")) == IndexPage((("a", 0.0),), 1)

    @pytest_twisted.ensureDeferred
    async def test_removes_and_deletes_come_before_adds_and_sets(
        self, store: StoreBundle
    ) -> None:
        x = store.indexes
        await store.accounts.write(A, WriteBatch().index_add("ix", "a", 1).map_set("m", "f", "1"))
        batch = (
            WriteBatch().index_add("ix", "a", 5).index_remove("ix", "a").index_add("ix", "b", 1)
            .index_add("ix", "b", 2).map_set("m", "f", "2").map_delete("m", "f")
        )
        await store.accounts.write(A, batch)
        assert await x.index_query(A, Index("ix")) == IndexPage((("b", 2.0), ("a", 5.0)), 2)
        assert await x.map_get(A, "m", ["f"]) == {"f": "2"}

    @pytest_twisted.ensureDeferred
    async def test_scores_keep_full_precision(self, store: StoreBundle) -> None:
        x = store.indexes
        scores = {
            "tenth": 0.1, "third": 1 / 3, "big": 2.0**53 + 2, "past": 1.0000000000000002,
            "tiny": 5e-324, "huge": 1.7976931348623157e308, "neg": -1e-300, "time": 1.7e9 + 0.123,
        }
        batch = WriteBatch()
        for member, score in scores.items():
            batch.index_add("ix", member, score)
        await store.accounts.write(A, batch)
        assert await x.index_scores(A, "ix", list(scores)) == scores
        page = await x.index_query(A, Index("ix"))
        assert page == model_page(scores)
        assert [s for _, s in page.members] == sorted(scores.values())
        # bounds are exact too: 1.0 is below 1.0000000000000002
        assert (await x.index_query(A, ScoreRange("ix", 1.0, 1.0000000000000002))).ids == []
        assert (await x.index_query(A, ScoreRange("ix", 1.0000000000000002, 2))).ids == ["past"]
        assert (await x.index_query(A, ScoreRange("ix", 0.1, 0.1 + 1e-17))).ids == ["tenth"]
        assert (await x.index_query(A, ScoreRange("ix", None, 0.1))).ids == ["neg", "tiny"]

    @pytest_twisted.ensureDeferred
    async def test_failed_writes_apply_no_derived_write(self, store: StoreBundle) -> None:
        x = store.indexes
        await store.accounts.write(
            A, WriteBatch().create("Email", "e1", {}).index_add("ix1", "a", 1)
            .index_add("ix1", "b", 2).index_add("ix2", "c", 3).map_set("map1", "f", "v")
        )
        before = await derived_snapshot(store, A)
        objects_before = await snapshot(store, A, ["Email"])

        def derived(batch: WriteBatch) -> WriteBatch:
            return (
                batch.index_add("ix1", "a", 100).index_add("new", "n", 1)
                .index_remove("ix1", "b").index_remove("ix2", "c").map_set("map1", "f", "w")
                .map_set("map1", "n", "x").map_delete("map1", "f").map_set("new", "n", "y")
            )

        failing: list[tuple[WriteBatch, type[Exception]]] = [
            (derived(WriteBatch().create("Email", "e1", {})), ObjectExists),
            (derived(WriteBatch().create("Email", "e2", {}).update("Email", "no", {})),
             ObjectNotFound),
            (derived(WriteBatch().destroy("Email", "no")), ObjectNotFound),
            (derived(WriteBatch().create("Email", "e2", {}).require_state("Email", "0")),
             StateMismatch),
            (derived(WriteBatch().require_state("Email", "7")), StateMismatch),
            (derived(WriteBatch().claim_blob("B" + "0" * 64, "Email", "e1")), BlobNotFound),
        ]
        for batch, error in failing:
            with pytest.raises(error):
                await store.accounts.write(A, batch)
            assert await derived_snapshot(store, A) == before
            assert await snapshot(store, A, ["Email"]) == objects_before
        # the same writes with a condition that holds are applied
        await store.accounts.write(A, derived(WriteBatch().require_state("Email", "1")))
        assert await derived_snapshot(store, A) != before
        assert await x.index_scores(A, "ix1", ["a", "b"]) == {"a": 100.0}
        assert await x.map_get(A, "map1", ["f", "n"]) == {"f": "w", "n": "x"}

    @pytest_twisted.ensureDeferred
    async def test_derived_writes_move_no_state_and_leave_no_log(
        self, store: StoreBundle
    ) -> None:
        await store.accounts.write(A, WriteBatch().create("Email", "e1", {}))
        recorder = Recorder()
        subscription = await store.notifier.subscribe(recorder)
        before = await snapshot(store, A, ["Email", "ix"])
        result = await store.accounts.write(
            A, WriteBatch().index_add("ix", "e1", 1).map_set("Email", "e1", "t")
            .require_state("Email", "1")
        )
        assert result == WriteResult(new_states={"Email": "1"}, modseqs={}, account_modseq=1,
                                     old_states={"Email": "1"})
        assert await snapshot(store, A, ["Email", "ix"]) == before
        assert await store.indexes.index_size(A, "ix") == 1
        # beside object writes, only the objects move states and enter the log
        result = await store.accounts.write(
            A, WriteBatch().create("Mailbox", "m", {}).index_add("ix", "e2", 2)
            .index_add("Thread", "t", 1).map_set("Email", "e2", "t")
        )
        assert dict(result.new_states) == {"Mailbox": "2"}
        assert result.account_modseq == 2
        assert await store.changes.current_states(A, ["Email", "Thread", "ix"]) == {
            "Email": "1", "Thread": "0", "ix": "0"}
        assert await store.changes.changes_since(A, "Email", "1", None) == Changes(
            "1", "1", False, (), (), ())
        await eventually(lambda: bool(recorder.changes))
        await sleep(0.05)
        assert recorder.changes == [StateChange(A, {"Mailbox": "2"})]
        await subscription.cancel()

    @pytest_twisted.ensureDeferred
    async def test_each_plan_kind(self, store: StoreBundle) -> None:
        await store.accounts.write(A, add_all(WriteBatch(), PLAN_DATA))

        async def check(plan: Plan, expected: list[tuple[str, float]]) -> None:
            assert model_page(model_select(PLAN_DATA, plan)) == IndexPage(
                tuple(expected), len(expected)), "the model disagrees"
            assert await store.indexes.index_query(A, plan) == IndexPage(
                tuple(expected), len(expected)), plan

        await check(Index("odd"), [("z", -1.0), ("a", 10.0), ("c", 30.0), ("e", 50.0)])
        await check(Index("missing"), [])
        # score ranges: at_least inclusive, below exclusive, None unbounded
        await check(ScoreRange("all", 2, 4), [("b", 2.0), ("c", 3.0)])
        await check(ScoreRange("all", 4, None), [("d", 4.0), ("e", 5.0), ("f", 5.0)])
        await check(ScoreRange("all", None, 2), [("a", 1.0)])
        await check(ScoreRange("all", None, None), list(PLAN_DATA["all"].items()))
        await check(ScoreRange("all", 2.5, 2.5), [])
        await check(ScoreRange("all", 3, 1), [])
        await check(ScoreRange("all", 5, 5.000000000000001), [("e", 5.0), ("f", 5.0)])
        await check(ScoreRange("missing", 0, 10), [])
        # intersection: scores of the first part
        await check(Intersection((Index("odd"), Index("all"))),
                    [("a", 10.0), ("c", 30.0), ("e", 50.0)])
        await check(Intersection((Index("all"), Index("odd"))),
                    [("a", 1.0), ("c", 3.0), ("e", 5.0)])
        await check(Intersection((Index("low"), Index("all"), Index("odd"))),
                    [("a", 0.5), ("c", 100.0)])
        await check(Intersection((Index("odd"),)), [("z", -1.0), ("a", 10.0), ("c", 30.0),
                                                   ("e", 50.0)])
        await check(Intersection((Index("all"), Index("missing"))), [])
        await check(Intersection((Index("all"), Union(()))), [])
        # union: the highest score of each member
        await check(Union((Index("all"), Index("low"))),
                    [("a", 1.0), ("b", 2.0), ("d", 4.0), ("e", 5.0), ("f", 5.0), ("c", 100.0)])
        await check(Union(()), [])
        await check(Union((Index("missing"),)), [])
        await check(Union((Index("missing"), Index("low"))),
                    [("a", 0.5), ("b", 0.5), ("c", 100.0)])
        await check(Union((Index("low"), Index("low"))), [("a", 0.5), ("b", 0.5), ("c", 100.0)])
        # difference: the base's scores
        await check(Difference(Index("all"), Index("odd")),
                    [("b", 2.0), ("d", 4.0), ("f", 5.0)])
        await check(Difference(Index("odd"), Index("missing")),
                    [("z", -1.0), ("a", 10.0), ("c", 30.0), ("e", 50.0)])
        await check(Difference(Index("missing"), Index("odd")), [])
        await check(Difference(Index("all"), Union(())), list(PLAN_DATA["all"].items()))
        await check(Difference(Index("all"), Index("all")), [])
        # nested, with ranges inside
        await check(
            Difference(
                Union((Intersection((Index("odd"), ScoreRange("all", 3, None))),
                       ScoreRange("low", None, 1))),
                Intersection((ScoreRange("all", None, 2.5), Index("low"))),
            ),
            [("c", 30.0), ("e", 50.0)],
        )
        await check(
            Intersection((ScoreRange("all", 2, None), Union((Index("odd"), Index("low"))),
                          Difference(Index("all"), ScoreRange("all", 5, None)))),
            [("b", 2.0), ("c", 3.0)],
        )
        await check(
            Union((Difference(Index("odd"), ScoreRange("all", None, 4)),
                   Intersection((ScoreRange("low", 0.5, 0.6), Index("all"))))),
            [("z", -1.0), ("a", 0.5), ("b", 0.5), ("e", 50.0)],
        )

    @pytest_twisted.ensureDeferred
    async def test_a_deeply_nested_plan(self, store: StoreBundle) -> None:
        await store.accounts.write(A, add_all(WriteBatch(), PLAN_DATA))
        plan: Plan = Index("all")
        for depth in range(MAX_PLAN_DEPTH):
            plan = Difference(plan, Index("odd")) if depth % 2 else Union((plan, Index("low")))
        expected = model_page(model_select(PLAN_DATA, plan), descending=True)
        assert await store.indexes.index_query(A, plan, descending=True) == expected
        assert expected.ids == ["f", "d", "b"]
        wide = Union((*(Index(f"n{i}") for i in range(MAX_PLAN_LEAVES - 1)), Index("low")))
        assert await store.indexes.index_query(A, wide, limit=2) == IndexPage(
            (("a", 0.5), ("b", 0.5)), 3)
        narrow = Intersection((Index("all"),) * MAX_PLAN_LEAVES)
        assert (await store.indexes.index_query(A, narrow)).total == 6

    @pytest_twisted.ensureDeferred
    async def test_ties_order_by_member_bytes(self, store: StoreBundle) -> None:
        members = ["b", "a", "B", "é", "e", "\U0001F600", "\uffff", "10", "9", " ", "a b"]
        batch = WriteBatch()
        for member in members:
            batch.index_add("ix", member, 1.0)
            batch.index_add("other", member, 0.0)
        batch.index_add("ix", "low", 0.0).index_add("ix", "high", 2.0)
        await store.accounts.write(A, batch)
        by_bytes = sorted(members, key=str.encode)
        plans: list[Plan] = [
            Index("ix"), ScoreRange("ix", 0.5, 1.5), Union((Index("ix"), Index("other"))),
            Intersection((Index("ix"), Index("other"))), Difference(Index("ix"), Index("none")),
            Difference(Index("ix"), Union((Index("none"), Index("nada")))),
        ]
        for plan in plans:
            page = await store.indexes.index_query(A, plan)
            ties = [m for m in page.ids if m in members]
            assert ties == by_bytes, plan
            reverse = await store.indexes.index_query(A, plan, descending=True)
            assert reverse.members == tuple(reversed(page.members)), plan
        assert (await store.indexes.index_query(A, Index("ix"))).ids == [
            "low", *by_bytes, "high"]

    @pytest_twisted.ensureDeferred
    async def test_offset_limit_total(self, store: StoreBundle) -> None:
        x = store.indexes
        batch = WriteBatch()
        data = {f"m{i:02}": float(i // 2) for i in range(20)}
        for member, score in data.items():
            batch.index_add("ix", member, score)
            if int(member[1:]) % 3:
                batch.index_add("three", member, -score)
        await store.accounts.write(A, batch)
        indexes = {"ix": data, "three": {m: -s for m, s in data.items() if int(m[1:]) % 3}}
        plans: list[Plan] = [
            Index("ix"), ScoreRange("ix", 2, 7), ScoreRange("ix", None, 3),
            Union((Index("ix"), Index("three"))), Difference(Index("ix"), Index("three")),
            Intersection((Index("three"), ScoreRange("ix", 1, None))),
        ]
        windows = [(0, None), (0, 0), (0, 1), (3, 4), (5, None), (19, 5), (20, 1), (25, None),
                   (0, 1000), (2, 10**12), (10**15, 3)]
        for plan in plans:
            selected = model_select(indexes, plan)
            for descending in (False, True):
                for offset, limit in windows:
                    expected = model_page(selected, descending, offset, limit)
                    page = await x.index_query(
                        A, plan, descending=descending, offset=offset, limit=limit
                    )
                    assert page == expected, (plan, descending, offset, limit)
                    uncounted = await x.index_query(
                        A, plan, descending=descending, offset=offset, limit=limit, count=False
                    )
                    assert uncounted.members == expected.members, (plan, descending, offset)
                    assert uncounted.total in (None, expected.total)
        assert (await x.index_query(A, Index("ix"), offset=3, limit=2)).ids == ["m03", "m04"]
        page = await x.index_query(A, Index("ix"), descending=True, limit=3)
        assert page == IndexPage((("m19", 9.0), ("m18", 9.0), ("m17", 8.0)), 20)
        assert page.ids == ["m19", "m18", "m17"]

    @pytest_twisted.ensureDeferred
    async def test_bad_queries_raise_value_error(self, store: StoreBundle) -> None:
        x = store.indexes
        await store.accounts.write(A, WriteBatch().index_add("ix", "a", 1))
        deep: Plan = Index("ix")
        for _ in range(MAX_PLAN_DEPTH + 1):
            deep = Union((deep,))
        bad_plans: list[Any] = [
            Union(tuple(Index(f"i{n}") for n in range(MAX_PLAN_LEAVES + 1))),
            Intersection((Index("ix"),) * (MAX_PLAN_LEAVES + 1)),
            deep,
            Intersection(()),
            Index(""),
            Index("\ud800"),
            Index("x" * 5000),
            ScoreRange("", 0, 1),
            ScoreRange("ix", float("nan"), None),
            ScoreRange("ix", None, float("inf")),
            Difference(Index("ix"), "ix"),
            "ix",
            None,
        ]
        for plan in bad_plans:
            with pytest.raises(ValueError):
                await x.index_query(A, plan)
        for window in ({"offset": -1}, {"limit": -1}, {"offset": -5, "limit": 3}):
            with pytest.raises(ValueError):
                await x.index_query(A, Index("ix"), **window)
        with pytest.raises(ValueError):
            await x.index_query(A, Union(()), offset=-1)
        for call in (x.index_size(A, ""), x.index_scores(A, "", ["a"]), x.map_get(A, "", ["f"])):
            with pytest.raises(ValueError):
                await call
        with pytest.raises(ValueError):
            await x.index_query("a{b", Index("ix"))
        # nothing was written by any of these
        assert await x.index_query(A, Index("ix")) == IndexPage((("a", 1.0),), 1)

    @pytest_twisted.ensureDeferred
    async def test_bad_derived_writes_are_refused_when_staged(self, store: StoreBundle) -> None:
        batch = WriteBatch()
        for stage in (
            lambda: batch.index_add("", "m", 1), lambda: batch.index_add("ix", "", 1),
            lambda: batch.index_add("ix", "m", float("nan")),
            lambda: batch.index_add("ix", "m", float("-inf")),
            lambda: batch.index_add("ix", "m", True),
            lambda: batch.index_add("ix", "m", "1"),  # type: ignore[arg-type]
            lambda: batch.index_remove("ix", ""), lambda: batch.map_set("m", "f", 1),  # type: ignore[arg-type]
            lambda: batch.map_set("m", "", "v"), lambda: batch.map_delete("", "f"),
            # lone surrogates have no UTF-8 form: no store could keep them
            lambda: batch.index_add("ix\ud800", "m", 1), lambda: batch.index_add("ix", "\udfff", 1),
            lambda: batch.map_set("m", "f", "\ud800"), lambda: batch.map_delete("m", "\ud800"),
        ):
            with pytest.raises(ValueError):
                stage()
        assert not batch.has_derived_writes()

    def test_bulk_staging_is_staging_one_by_one(self, store: StoreBundle) -> None:
        names = ["b", "a", "c", "a"]
        bulk = (
            WriteBatch().index_add("x", "m", 1).index_add_many(names, "m", 2.5)
            .index_add_many((n for n in names), "n", 3).index_remove_many(names, "o")
            .index_add_many([], "m", 1).index_remove_many([], "m").index_remove("x", "p")
        )
        single = WriteBatch().index_add("x", "m", 1)
        for name in names:
            single.index_add(name, "m", 2.5)
        for name in names:
            single.index_add(name, "n", 3)
        for name in names:
            single.index_remove(name, "o")
        single.index_remove("x", "p")
        assert bulk.index_adds == single.index_adds
        assert bulk.index_removes == single.index_removes
        assert all(type(s) is float for _, _, s in bulk.index_adds)
        # the names are copied: changing the list afterwards changes nothing staged
        staged = ["q"]
        batch = WriteBatch().index_add_many(staged, "m", 1)
        staged.append("r")
        assert batch.index_adds == [("q", "m", 1.0)]
        assert not WriteBatch().index_add_many([], "m", 1).has_derived_writes()

    def test_bad_bulk_stages_nothing(self, store: StoreBundle) -> None:
        batch = WriteBatch()
        long = "x" * (MAX_INDEX_NAME + 1)
        for names in (
            ["a", ""], ["a", long], ["a", "\ud800"], ["\ud83d", "\ude00"], ["a", 1], [None],
            [b"a"],
        ):
            with pytest.raises(ValueError):
                batch.index_add_many(names, "m", 1)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                batch.index_remove_many(names, "m")  # type: ignore[arg-type]
        for member, score in (("", 1.0), ("\udfff", 1.0), ("m", float("nan")), ("m", True)):
            with pytest.raises(ValueError):
                batch.index_add_many(["a"], member, score)
        with pytest.raises(ValueError):
            batch.index_remove_many(["a"], "")
        assert not batch.has_derived_writes()
        # names of the longest length, and any valid text, are fine
        batch.index_add_many(["x" * MAX_INDEX_NAME, "é" * MAX_INDEX_NAME, "\U0001F600"], "m", 1)
        assert len(batch.index_adds) == 3

    def test_a_batch_extends_another(self, store: StoreBundle) -> None:
        first = WriteBatch().create("T", "1", {}).index_add("ix", "a", 1).map_set("m", "f", "1")
        second = (
            WriteBatch().update("T", "2", {"v": 1}).destroy("T", "3").require_state("T", "5")
            .claim_blob("b1", "T", "1").release_blob("b2", "T", "2")
            .index_add_many(["ix", "iy"], "b", 2).index_remove("ix", "a")
            .map_set("m", "g", "2").map_delete("m", "f")
        )
        assert first.extend(second) is first
        assert first.creates == [("T", "1", {})]
        assert first.updates == [("T", "2", {"v": 1})]
        assert first.destroys == [("T", "3")]
        assert first.if_in_state == {"T": "5"}
        assert first.blob_claims == [("b1", "T", "1")]
        assert first.blob_releases == [("b2", "T", "2")]
        assert first.index_adds == [("ix", "a", 1.0), ("ix", "b", 2.0), ("iy", "b", 2.0)]
        assert first.index_removes == [("ix", "a")]
        assert first.map_sets == [("m", "f", "1"), ("m", "g", "2")]
        assert first.map_deletes == [("m", "f")]
        assert len(second.index_adds) == 2  # the other batch is left as it was

    @pytest_twisted.ensureDeferred
    async def test_bulk_writes_apply_in_order_with_the_others(self, store: StoreBundle) -> None:
        x = store.indexes
        await store.accounts.write(A, WriteBatch().index_add_many(["a", "b", "c"], "old", 1))
        batch = (
            WriteBatch().index_add_many(["a", "b"], "m", 1).index_add("a", "m", 2)
            .index_add_many(["b", "a"], "m", 3).index_add("b", "m", 4)
            .index_remove_many(["a", "b", "c", "none"], "old").index_remove_many(["c"], "m")
        )
        await store.accounts.write(A, batch)
        assert await x.index_scores(A, "a", ["m", "old"]) == {"m": 3.0}
        assert await x.index_scores(A, "b", ["m", "old"]) == {"m": 4.0}
        assert await x.index_size(A, "c") == 0
        await store.accounts.write(A, WriteBatch().index_remove_many(["a", "b"], "m"))
        assert await x.index_size(A, "a") == 0
        assert await x.index_size(A, "b") == 0

    @pytest_twisted.ensureDeferred
    async def test_tricky_names_members_fields_and_values(self, store: StoreBundle) -> None:
        x = store.indexes
        tricky = [
            "{", "}", "{}", "{a:acct2}", "a:b:", ":", '"', "'", "\\", '\\"', "[1,2]", '{"a":1}',
            "null", "true", "1", "-0", "1e5", "nan", "\x00", "a\x00b", "\n", "\t\r", "\x7f",
            "\u2028\u2029", "ü", "грамматика", "中文", "\U0001F600", "\U0001F4E7",
            "\uffff", "\ufeff", " ", "%d", "ix:", "map:", "Email:term:body:~en:x",
            "x" * MAX_INDEX_NAME, "é" * MAX_INDEX_NAME, "\U0001F600" * MAX_INDEX_NAME,
            "x" * (MAX_INDEX_NAME - 1) + "{", "}" * MAX_INDEX_NAME,
        ]
        values = [*tricky, "", "x" * 100_000]
        batch = WriteBatch()
        for n, name in enumerate(tricky):
            batch.index_add_many([name, "all"], name, float(n))
            batch.index_add(name, "other", -1)
            batch.map_set(name, name, values[n])
            batch.map_set("all", name, values[-1 - (n % 2)])
        await store.accounts.write(A, batch)
        for n, name in enumerate(tricky):
            assert await x.index_scores(A, name, [name, "other"]) == {name: float(n), "other": -1}
            assert await x.map_get(A, name, [name]) == {name: values[n]}
        assert await x.index_scores(A, "all", tricky) == {
            name: float(n) for n, name in enumerate(tricky)}
        fields = await x.map_get(A, "all", tricky)
        assert fields == {name: values[-1 - (n % 2)] for n, name in enumerate(tricky)}
        assert await x.index_size(A, "{a:acct2}") == 2
        assert await x.index_size(B, "{a:acct2}") == 0
        batch = WriteBatch()
        for name in tricky:
            batch.index_remove_many([name, "all"], name).map_delete(name, name)
        await store.accounts.write(A, batch)
        for name in tricky:
            assert await x.index_scores(A, name, [name, "other"]) == {"other": -1.0}
            assert await x.map_get(A, name, [name]) == {}
        assert await x.index_size(A, "all") == 0

    @pytest_twisted.ensureDeferred
    async def test_many_thousands_of_writes_in_one_batch(self, store: StoreBundle) -> None:
        x = store.indexes
        terms = [f"Email:term:body:w{n}" for n in range(3000)]
        batch = WriteBatch()
        for e in range(60):
            # every email in the first 300 terms, and in 100 terms of its own
            own = terms[300 + 40 * e:400 + 40 * e]
            batch.index_add_many(terms[:300] + own, f"e{e}", 1.7e9 + e + 0.25)
        for n in range(5000):  # one big index, and one big map
            batch.index_add("big", f"m{n}", n / 7)
            batch.map_set("bigmap", f"f{n}", str(n))
        assert len(batch.index_adds) == 60 * 400 + 5000
        await store.accounts.write(A, batch)
        assert await x.index_size(A, terms[0]) == 60
        assert await x.index_scores(A, terms[0], ["e0", "e59"]) == {
            "e0": 1.7e9 + 0.25, "e59": 1.7e9 + 59.25}
        assert await x.index_size(A, terms[350]) == 2
        assert await x.index_size(A, "big") == 5000
        assert await x.index_scores(A, "big", ["m0", "m4999"]) == {"m0": 0.0, "m4999": 4999 / 7}
        page = await x.index_query(A, Index("big"), offset=4998)
        assert page == IndexPage((("m4998", 4998 / 7), ("m4999", 4999 / 7)), 5000)
        fields = await x.map_get(A, "bigmap", [f"f{n}" for n in range(5000)])
        assert fields == {f"f{n}": str(n) for n in range(5000)}
        # and as many removes: every email out of every term, half of the big index
        batch = WriteBatch()
        for e in range(60):
            batch.index_remove_many(terms[:300] + terms[300 + 40 * e:400 + 40 * e], f"e{e}")
        for n in range(0, 5000, 2):
            batch.index_remove("big", f"m{n}").map_delete("bigmap", f"f{n}")
        await store.accounts.write(A, batch)
        for term in (terms[0], terms[299], terms[350], terms[-1]):
            assert await x.index_size(A, term) == 0
        assert await x.index_size(A, "big") == 2500
        assert len(await x.map_get(A, "bigmap", [f"f{n}" for n in range(5000)])) == 2500

    @pytest_twisted.ensureDeferred
    async def test_names_members_and_values_of_any_text(self, store: StoreBundle) -> None:
        x = store.indexes
        batch = WriteBatch()
        for n, name in enumerate(NAMES):
            for m, member in enumerate(NAMES):
                batch.index_add(name, member, float(n * 10 + m))
                batch.map_set(name, member, f"{name}={member}")
        await store.accounts.write(A, batch)
        for n, name in enumerate(NAMES):
            expected = {member: float(n * 10 + m) for m, member in enumerate(NAMES)}
            assert await x.index_query(A, Index(name)) == model_page(expected)
            assert await x.index_size(A, name) == len(NAMES)
            assert await x.index_scores(A, name, NAMES) == expected
            assert await x.map_get(A, name, NAMES) == {m: f"{name}={m}" for m in NAMES}
            assert (await x.index_query(A, ScoreRange(name, n * 10 + 2, n * 10 + 4))).ids == \
                NAMES[2:4]
        union = await x.index_query(A, Union(tuple(Index(name) for name in NAMES)))
        assert union.members == tuple((m, float(60 + i)) for i, m in enumerate(NAMES))
        # a name that spells another account's tag stays in this account
        assert await x.index_size(B, "x") == 0
        assert await x.index_size(B, NAMES[0]) == 0
        assert await x.map_get(B, NAMES[0], NAMES) == {}

    @pytest_twisted.ensureDeferred
    async def test_accounts_are_isolated(self, store: StoreBundle) -> None:
        x = store.indexes
        await store.accounts.write(A, WriteBatch().index_add("ix", "a", 1).map_set("m", "f", "A"))
        await store.accounts.write(B, WriteBatch().index_add("ix", "b", 2).map_set("m", "f", "B"))
        assert await x.index_query(A, Index("ix")) == IndexPage((("a", 1.0),), 1)
        assert await x.index_query(B, Index("ix")) == IndexPage((("b", 2.0),), 1)
        assert await x.index_query(A, Union((Index("ix"), Index("other")))) == IndexPage(
            (("a", 1.0),), 1)
        assert await x.index_scores(B, "ix", ["a", "b"]) == {"b": 2.0}
        assert await x.map_get(A, "m", ["f"]) == {"f": "A"}
        assert await x.map_get(B, "m", ["f"]) == {"f": "B"}
        await store.accounts.write(B, WriteBatch().index_remove("ix", "a"))
        assert await x.index_size(A, "ix") == 1

    @pytest_twisted.ensureDeferred
    async def test_destroy_account_removes_indexes_and_maps(self, store: StoreBundle) -> None:
        x = store.indexes
        for account in (A, B):
            batch = WriteBatch().create("Email", "e", {})
            for name in ("ix", "ix2", *NAMES):
                batch.index_add(name, "m", 1).map_set(name, "f", "v")
            await store.accounts.write(account, batch)
        await store.accounts.write(A, WriteBatch().index_remove("ix2", "m"))
        await store.accounts.destroy_account(A)
        for name in ("ix", "ix2", *NAMES):
            assert await x.index_size(A, name) == 0
            assert await x.index_query(A, Index(name)) == IndexPage((), 0)
            assert await x.map_get(A, name, ["f"]) == {}
            assert await x.index_size(B, name) == 1
            assert await x.map_get(B, name, ["f"]) == {"f": "v"}
        # a destroyed account starts afresh
        await store.accounts.write(A, WriteBatch().index_add("ix", "n", 2))
        assert await x.index_query(A, Index("ix")) == IndexPage((("n", 2.0),), 1)
        await store.accounts.destroy_account(A)
        await store.accounts.destroy_account(A)
        assert await x.index_size(A, "ix") == 0

    @pytest_twisted.ensureDeferred
    async def test_random_plans_agree_with_the_model(self, store: StoreBundle) -> None:
        drawn = examples(st.tuples(_data, _changes, _queries), 60)
        for number, (data, changes, queries) in enumerate(drawn):
            account = f"q{number}"
            model = {name: dict(members) for name, members in data.items()}
            await store.accounts.write(account, add_all(WriteBatch(), model))
            batch = WriteBatch()
            for name, member, score in changes:
                if score is None:
                    batch.index_remove(name, member)
                else:
                    batch.index_add(name, member, score)
            await store.accounts.write(account, batch)
            for name, member, score in sorted(changes, key=lambda c: c[2] is not None):
                # removes first, then adds in order
                if score is None:
                    model.get(name, {}).pop(member, None)
                else:
                    model.setdefault(name, {})[member] = score
            for name in PLAN_INDEXES:
                held = model.get(name, {})
                assert await store.indexes.index_size(account, name) == len(held)
                assert await store.indexes.index_scores(account, name, PLAN_MEMBERS) == held
            for plan, descending, offset, limit in queries:
                expected = model_page(model_select(model, plan), descending, offset, limit)
                page = await store.indexes.index_query(
                    account, plan, descending=descending, offset=offset, limit=limit
                )
                assert page == expected, (plan, descending, offset, limit)
                # without the count: the same window (a lazy walk on stores that have one)
                uncounted = await store.indexes.index_query(
                    account, plan, descending=descending, offset=offset, limit=limit,
                    count=False,
                )
                assert uncounted.members == expected.members, (plan, descending, offset, limit)
                assert uncounted.total in (None, expected.total)
