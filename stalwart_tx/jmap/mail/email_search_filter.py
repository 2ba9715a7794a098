"""Email/query text conditions as plans over the term postings, and their exact test.

text_filter(field, text) parses the query (search_query.parse_query) and turns it into a plan
over the ``Email:term:<field>:<term>`` indexes (email_search_document.posting):

- a required one-word clause: the Union of the postings of the word and its stems (for
  ``text``: in all six fields); several required clauses: the Intersection of those;
- a phrase (a clause of several terms): the Intersection of its terms' postings, a superset
  of the emails holding the phrase, so the filter is not exact and the candidates are checked
  with TextFilter.matches, which verifies the order;
- an excluded one-word clause: the base plan minus the Union of its postings (still exact); an
  excluded phrase is left to TextFilter.matches (not exact).

``text`` means any of the six fields, clause by clause: ``alice invoice`` matches an email from
Alice whose subject says invoice, but a phrase must occur within one field, and an excluded
clause must occur in none.

Plan size: a plan names at most ``max_leaves`` indexes (records.MAX_PLAN_LEAVES by default).
A query needing more is never refused: the plan degrades to a superset, keeping the required
terms with the fewest alternatives first, then as many exclusions as fit, and is then not
exact. One word costs (1 + its stems) leaves per field, so with every language a word of
``text`` costs 84 leaves and six of them fit.

Every posting is scored by the email's receivedAt, so any plan built from them, whichever its
first part, is ordered by receivedAt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stalwart_tx.jmap.mail.email_search_document import (
    SEARCH_FIELDS,
    SearchDocument,
    field_terms,
    posting,
)
from stalwart_tx.mail.search_language import SNOWBALL_NAMES
from stalwart_tx.mail.search_query import Clause, Query, clause_starts, matches, parse_query
from stalwart_tx.mail.search_text import DocumentTerms
from stalwart_tx.store.records import (
    MAX_PLAN_LEAVES,
    Difference,
    Index,
    Intersection,
    Plan,
    ScoreRange,
    Union,
)

TEXT_FIELD = "text"


@dataclass(frozen=True)
class TextFilter:
    """A text condition of Email/query: candidate plan, whether it is exact, and the exact test.

    ``plan`` selects a superset of the matching emails (exactly them when ``exact``); None
    stands for every email: an empty query (exact), or a query of only exclusions, or one whose
    required terms did not fit the plan (not exact). For those, ``within`` restricts a plan of
    the caller's (all emails, a mailbox) by the exclusions.
    """

    plan: Plan | None
    exact: bool
    field: str
    query: Query
    # Postings of the excluded words that fit the plan (already inside ``plan`` when it is set).
    excluded: Plan | None = None
    # Whether plan and excluded together say exactly what the query does (no phrase, nothing
    # left out for size).
    complete: bool = True

    def within(self, universe: Plan) -> TextFilter:
        """The filter restricted to the members of ``universe``, whose scores order the result.

        With a None plan this is how the exclusions apply: ``universe`` minus their postings,
        exact when the query is only one-word exclusions. The caller leaves room for the
        universe's leaves in ``max_leaves``.
        """
        if self.plan is not None:
            plan: Plan = Intersection((universe, self.plan))
        elif self.excluded is not None:
            plan = Difference(universe, self.excluded)
        else:
            plan = universe
        return TextFilter(plan, self.complete, self.field, self.query, self.excluded, self.complete)

    def matches(self, doc: SearchDocument) -> bool:
        """Whether the email matches the condition: the exact test, for candidates of an
        inexact plan. Only the fields the condition looks at are analysed."""
        return self.matches_terms({name: field_terms(doc, name) for name in self.fields})

    def matches_terms(self, terms: Mapping[str, DocumentTerms]) -> bool:
        """matches() over terms already computed (email_search_document.document_positions);
        an absent field counts as empty."""
        if self.field != TEXT_FIELD:
            found = terms.get(self.field)
            return matches(found.positions if found else {}, self.query)
        fields = [found.positions for name in SEARCH_FIELDS if (found := terms.get(name))]

        def occurs(clause: Clause) -> bool:
            return any(clause_starts(positions, clause) for positions in fields)

        return all(occurs(c) for c in self.query.required) and not any(
            occurs(c) for c in self.query.excluded
        )

    @property
    def fields(self) -> tuple[str, ...]:
        return SEARCH_FIELDS if self.field == TEXT_FIELD else (self.field,)


def text_filter(
    field: str,
    text: str,
    languages: Sequence[str] = tuple(SNOWBALL_NAMES),
    max_leaves: int = MAX_PLAN_LEAVES,
) -> TextFilter:
    """The filter for the condition ``{field: text}``; field is ``text`` or in SEARCH_FIELDS.

    ``languages`` are those whose stems an unquoted word also matches (codes of
    SNOWBALL_NAMES); ``max_leaves`` bounds the indexes the plan names (see the module doc:
    a bigger query degrades to an inexact superset, never an error). Raises ValueError for an
    unknown field or language, or max_leaves < 1.
    """
    if field != TEXT_FIELD and field not in SEARCH_FIELDS:
        raise ValueError(f"no text search in {field!r}")
    unknown = [code for code in languages if code not in SNOWBALL_NAMES]
    if unknown:
        raise ValueError(f"no stemmer for language {unknown[0]!r}")
    if max_leaves < 1:
        raise ValueError("a plan needs room for at least one index")
    query = parse_query(text, tuple(languages))
    fields = SEARCH_FIELDS if field == TEXT_FIELD else (field,)
    complete = True
    required: list[frozenset[str]] = []
    for clause in query.required:
        complete = complete and len(clause.slots) == 1
        required.extend(slot for slot in clause.slots if slot and slot not in required)
    excluded: list[frozenset[str]] = []
    for clause in query.excluded:
        if len(clause.slots) > 1:
            complete = False
        elif clause.slots[0] not in excluded:
            excluded.append(clause.slots[0])

    # Fewest alternatives first (quoted words have none), then the longest, likely rarest, term.
    required.sort(key=lambda slot: (len(slot), -max(map(len, slot))))
    kept_required, room = _fitting(required, len(fields), max_leaves)
    kept_excluded, _ = _fitting(excluded, len(fields), room)
    if len(kept_required) < len(required) or len(kept_excluded) < len(excluded):
        complete = False

    base = _all_of([_any_of(slot, fields) for slot in kept_required])
    without = _any_of(frozenset().union(*kept_excluded), fields) if kept_excluded else None
    plan = base if without is None or base is None else Difference(base, without)
    exact = complete and (base is not None or without is None)
    return TextFilter(plan, exact, field, query, without, complete)


def _fitting(
    slots: list[frozenset[str]], width: int, room: int
) -> tuple[list[frozenset[str]], int]:
    """The slots whose leaves (alternatives x fields) fit in room, in order; the room left."""
    kept = []
    for slot in slots:
        if len(slot) * width <= room:
            kept.append(slot)
            room -= len(slot) * width
    return kept, room


def _any_of(terms: frozenset[str], fields: Sequence[str]) -> Plan:
    leaves = tuple(Index(posting(name, term)) for name in fields for term in sorted(terms))
    return leaves[0] if len(leaves) == 1 else Union(leaves)


def _all_of(parts: list[Plan]) -> Plan | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Intersection(tuple(parts))


def plan_leaves(plan: Plan | None) -> int:
    """How many indexes a plan names (what records.MAX_PLAN_LEAVES bounds)."""
    if plan is None:
        return 0
    if isinstance(plan, Index | ScoreRange):
        return 1
    if isinstance(plan, Difference):
        return plan_leaves(plan.base) + plan_leaves(plan.excluded)
    return sum(plan_leaves(part) for part in plan.parts)
