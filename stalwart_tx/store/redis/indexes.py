"""Index queries on Redis: a plan becomes one run of the ``index_query`` script.

The plan is first simplified here (parts that select nothing are dropped, single-part unions and
intersections collapse to their part), then compiled into one of three forms:

- a lone Index: the script pages through its sorted set directly (ZCARD, ZRANGE by rank), so a
  page costs O(log n + page), whatever the size of the index;
- a lone ScoreRange: likewise by score (ZCOUNT, ZRANGE BYSCORE ... LIMIT), nothing copied;
- anything else: a postfix program the script runs on a stack of sorted-set keys, each step
  storing its result in a scratch key inside the account's hash tag (ZRANGESTORE, ZINTERSTORE,
  ZUNIONSTORE, ZDIFFSTORE), deleted before the script returns.

Only commands of Redis 6.2 are used. Bounds and scores travel as ``repr(float)``, which Redis
parses back to the very same double.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from stalwart_tx.store.memory_indexes import check_window
from stalwart_tx.store.records import (
    Difference,
    Index,
    IndexPage,
    Intersection,
    Plan,
    ScoreRange,
    Union,
    check_plan,
)
from stalwart_tx.store.redis.connection import as_text
from stalwart_tx.store.redis.keys import AccountKeys

# offsets and limits beyond this are all alike (no sorted set is that big), and stay exact as
# Lua numbers
_WINDOW_CAP = 2**40


def score_arg(score: float) -> str:
    """A score as Redis parses it back exactly (shortest round-trip repr of the double)."""
    return repr(float(score))


@dataclass(frozen=True)
class _Leaf:
    key: str


@dataclass(frozen=True)
class _Range:
    key: str
    low: str  # inclusive bound, or -inf
    high: str  # exclusive bound "(x", or +inf


@dataclass(frozen=True)
class _Combine:
    op: str  # "I" intersection (first part's score), "U" union (max), "D" difference (2 parts)
    parts: tuple[_Node, ...]


_Node = _Leaf | _Range | _Combine


def simplify(plan: Plan, keys: AccountKeys) -> _Node | None:
    """The plan over the account's keys, with what selects nothing dropped (None: nothing)."""
    if isinstance(plan, Index):
        return _Leaf(keys.index(plan.name))
    if isinstance(plan, ScoreRange):
        if plan.at_least is None and plan.below is None:
            return _Leaf(keys.index(plan.index))
        if plan.at_least is not None and plan.below is not None and plan.at_least >= plan.below:
            return None
        return _Range(
            keys.index(plan.index),
            "-inf" if plan.at_least is None else score_arg(plan.at_least),
            "+inf" if plan.below is None else "(" + score_arg(plan.below),
        )
    if isinstance(plan, Intersection):
        parts = [simplify(part, keys) for part in plan.parts]
        if any(part is None for part in parts):
            return None
        # an intersection's intersections are its own parts, each once (the first keeps the
        # scores): the lazy walk needs an index or union first, and an Email text condition
        # comes as its postings within Email:all (email_query)
        flat: list[_Node] = []
        for part in parts:
            assert part is not None
            for each in part.parts if isinstance(part, _Combine) and part.op == "I" else (part,):
                if each not in flat:
                    flat.append(each)
        return flat[0] if len(flat) == 1 else _Combine("I", tuple(flat))
    if isinstance(plan, Union):
        present = tuple(
            part for part in (simplify(p, keys) for p in plan.parts) if part is not None
        )
        if not present:
            return None
        return present[0] if len(present) == 1 else _Combine("U", present)
    if isinstance(plan, Difference):
        base = simplify(plan.base, keys)
        excluded = simplify(plan.excluded, keys)
        if base is None or excluded is None:
            return base
        return _Combine("D", (base, excluded))
    raise ValueError(f"not a plan: {plan!r:.80}")


@dataclass(frozen=True)
class CompiledQuery:
    """KEYS and ARGV of one run of scripts.INDEX_QUERY."""

    keys: list[str]
    args: list[Any]


def compile_query(
    plan: Plan, keys: AccountKeys, *, descending: bool, offset: int, limit: int | None,
    count: bool = True,
) -> CompiledQuery | None:
    """The script run that answers the query; None when the plan can select nothing at all.

    Without ``count``, a window of a combined plan is looked for lazily first (``_lazy``).
    Raises ValueError for a malformed or too big plan, or a negative offset or limit.
    """
    check_plan(plan)
    check_window(offset, limit)
    node = simplify(plan, keys)
    if node is None:
        return None
    window = [
        "1" if descending else "0",
        min(offset, _WINDOW_CAP),
        -1 if limit is None else min(limit, _WINDOW_CAP),
    ]
    if isinstance(node, _Leaf):
        return CompiledQuery([node.key], ["key", *window])
    if isinstance(node, _Range):
        return CompiledQuery([node.key], ["range", *window, node.low, node.high])

    leaves: dict[str, int] = {}  # key -> its position in KEYS (1-based, as in Lua)
    program: list[Any] = []
    steps = 0

    def leaf(key: str) -> int:
        return leaves.setdefault(key, len(leaves) + 1)

    def emit(part: _Node) -> None:
        nonlocal steps
        if isinstance(part, _Leaf):
            program.extend(("K", leaf(part.key)))
            return
        steps += 1
        if isinstance(part, _Range):
            program.extend(("R", leaf(part.key), part.low, part.high))
            return
        for child in part.parts:
            emit(child)
        program.extend(("D",) if part.op == "D" else (part.op, len(part.parts)))

    emit(node)
    lazy: list[Any] = []
    if not count and limit is not None and limit > 0:
        lazy = _lazy(node, descending, leaf)
    token = uuid.uuid4().hex
    scratch = [keys.temporary(f"{token}:{n}") for n in range(1, steps + 1)]
    return CompiledQuery(
        [*leaves, *scratch], ["program", *window, len(leaves), len(lazy), *lazy, *program]
    )


# A lazy walk gives up (and the whole result is computed) after this many candidates, plus
# four per wanted result: a filter that keeps few of them is cheaper computed whole.
LAZY_BUDGET = 2000


def _lazy(node: _Node, descending: bool, leaf: Any) -> list[Any]:
    """The lazy walk's part of the script's arguments, or [] when the plan has no shape for it.

    A plan whose first part (or itself) is an index or a union of indexes can give a window
    without computing its whole result: the script walks those indexes' members in order,
    merged, and keeps each one the rest of the plan holds (a membership test per member:
    ZSCORE), until the window is full. The result's order is the first part's (an
    Intersection's score is its first part's, a Difference's its base's), a union's score the
    highest of its members'; walking upwards meets a member's lowest score first, so an
    ascending walk needs a single index. Arguments: the walked leaves, then the test of the
    rest as a postfix program (for a Difference, the whole difference: in the base and not in
    the excluded part).
    """
    if isinstance(node, _Combine) and node.op == "D":
        # the first member of a mailbox without a keyword, say: found without computing them all
        first: _Node = node.parts[0]
        rest: tuple[_Node, ...] = (node,)
    else:
        first = node.parts[0] if isinstance(node, _Combine) and node.op == "I" else node
        rest = node.parts[1:] if isinstance(node, _Combine) and node.op == "I" else ()
    if isinstance(first, _Leaf):
        walked = [first]
    elif isinstance(first, _Combine) and first.op == "U" and all(
        isinstance(part, _Leaf) for part in first.parts
    ):
        walked = [part for part in first.parts if isinstance(part, _Leaf)]
    else:
        return []
    if not descending and len(walked) > 1:
        return []
    if first is node and isinstance(node, _Leaf):
        return []  # a lone index pages directly
    test: list[Any] = []

    def emit_test(part: _Node) -> None:
        if isinstance(part, _Leaf):
            test.extend(("K", leaf(part.key)))
        elif isinstance(part, _Range):
            test.extend(("R", leaf(part.key), part.low, part.high))
        else:
            for child in part.parts:
                emit_test(child)
            test.extend(("D",) if part.op == "D" else (part.op, len(part.parts)))

    for part in rest:
        emit_test(part)
    if len(rest) > 1:
        test.extend(("I", len(rest)))
    return [LAZY_BUDGET, len(walked), *(leaf(w.key) for w in walked), len(test), *test]


def parse_page(reply: list[Any]) -> IndexPage:
    """The script's reply {total, {member, score, ...}} as an IndexPage (a total of -1: not
    counted)."""
    total, flat = reply
    members = tuple(
        (as_text(flat[i]), float(as_text(flat[i + 1]))) for i in range(0, len(flat), 2)
    )
    return IndexPage(members=members, total=None if int(total) < 0 else int(total))
