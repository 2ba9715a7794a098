"""Sorted indexes and string maps of one account, in dicts (IIndexStore of the memory store).

Also the reference the Redis store is held to: a plan is evaluated exactly as its definition in
``records`` says, and results are ordered by score, then member. Members compare as Python
strings, which is the order of their UTF-8 bytes (Redis compares members bytewise).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from stalwart_tx.store.records import (
    Difference,
    Index,
    IndexPage,
    Intersection,
    Plan,
    ScoreRange,
    Union,
    WriteBatch,
    check_plan,
)

Scores = Mapping[str, float]
_V = TypeVar("_V")


def check_window(offset: int, limit: int | None) -> None:
    """ValueError for a negative (or non-integer) offset or limit of index_query."""
    for name, value in (("offset", offset), ("limit", limit)):
        if value is None and name == "limit":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"an index query's {name} is an integer >= 0, not {value!r}")


@dataclass
class DerivedData:
    """The indexes (name -> member -> score) and maps (name -> field -> value) of an account.

    An index or map that loses its last member is dropped: it does not exist any more.
    """

    indexes: dict[str, dict[str, float]] = field(default_factory=dict)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.indexes or self.maps)

    def apply(self, batch: WriteBatch) -> None:
        """The batch's derived writes: removes and deletes first, then adds and sets."""
        for name, member in batch.index_removes:
            _discard(self.indexes, name, member)
        for name, field_name in batch.map_deletes:
            _discard(self.maps, name, field_name)
        for name, member, score in batch.index_adds:
            self.indexes.setdefault(name, {})[member] = float(score)
        for name, field_name, value in batch.map_sets:
            self.maps.setdefault(name, {})[field_name] = value

    def evaluate(self, plan: Plan) -> Scores:
        """Every member the plan selects, with its score."""
        if isinstance(plan, Index):
            return self.indexes.get(plan.name, {})
        if isinstance(plan, ScoreRange):
            low, high = plan.at_least, plan.below
            return {
                member: score for member, score in self.indexes.get(plan.index, {}).items()
                if (low is None or score >= low) and (high is None or score < high)
            }
        if isinstance(plan, Intersection):
            first, *others = [self.evaluate(part) for part in plan.parts]
            return {
                member: score for member, score in first.items()
                if all(member in other for other in others)
            }
        if isinstance(plan, Union):
            union: dict[str, float] = {}
            for part in plan.parts:
                for member, score in self.evaluate(part).items():
                    if member not in union or score > union[member]:
                        union[member] = score
            return union
        if isinstance(plan, Difference):
            excluded = self.evaluate(plan.excluded)
            return {
                member: score for member, score in self.evaluate(plan.base).items()
                if member not in excluded
            }
        raise ValueError(f"not a plan: {plan!r:.80}")

    def query(
        self, plan: Plan, *, descending: bool, offset: int, limit: int | None
    ) -> IndexPage:
        check_plan(plan)
        check_window(offset, limit)
        selected = self.evaluate(plan)
        items = ((score, member) for member, score in selected.items())
        if limit is None:
            ordered = sorted(items, reverse=descending)
        else:
            # only the window and what precedes it need ordering
            pick = heapq.nlargest if descending else heapq.nsmallest
            ordered = pick(offset + limit, items)
        window = ordered[offset:] if limit is None else ordered[offset:offset + limit]
        return IndexPage(
            members=tuple((member, score) for score, member in window), total=len(selected)
        )


def _discard(containers: dict[str, dict[str, _V]], name: str, key: str) -> None:
    container = containers.get(name)
    if container is None:
        return
    container.pop(key, None)
    if not container:
        del containers[name]

