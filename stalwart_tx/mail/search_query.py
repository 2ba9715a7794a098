"""Search query syntax for Email/query text filters, and the reference in-memory matcher.

RFC 8621 §4.4.1 leaves the syntax of `text`, `body`, `subject`, `from`... to the server.
Supported:

- `word word`: every word must occur (AND), anywhere, in any order.
- `"exact words"`: the words must occur consecutively. A missing closing quote ends the
  phrase at the end of the query.
- `-word` or `-"some words"`: must not occur. A query of only negations matches every text
  without them; an empty query matches every text.
- Anything else is a plain word: `OR`, `AND`, `*`, `field:value` have no special meaning.

Words are normalised as in search_text (case, accents, width). An unquoted word also matches
its stem in each supported language, but only in documents of that language (a document stores
the stem of its words only in its own detected language). Quoted phrases match the words as
written, without stemming. An unquoted word that tokenizes into several terms
(`o'neill`, `john@example.com`, `東京都`) is matched as a phrase of those terms.

The Redis index implements the same semantics over the same terms: a document is
`term -> sorted positions` (search_text.DocumentTerms), a query a list of clauses of slots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stalwart_tx.mail.search_language import SNOWBALL_NAMES
from stalwart_tx.mail.search_text import stem_term, tokenize

# Unicode quotation marks that phones and word processors put in place of '"'.
_QUOTES = frozenset('"“”„«»')


@dataclass(frozen=True, slots=True)
class Clause:
    """Terms at consecutive positions; each slot is matched by any one of its alternatives.

    An empty slot (where the query had a word too long to index) matches any position.
    """

    slots: tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class Query:
    required: tuple[Clause, ...]
    excluded: tuple[Clause, ...]


def _clause(text: str, stemmed: bool, languages: Sequence[str]) -> Clause | None:
    slots: list[frozenset[str]] = []
    tokens = tokenize(text)
    for token in tokens:
        # A dropped over-long token leaves a gap in positions, as it does in documents: an empty
        # slot, which any term fills.
        slots.extend(frozenset() for _ in range(token.position - tokens[0].position - len(slots)))
        alternatives = {token.term}
        if stemmed:
            for language in languages:
                if found := stem_term(language, token.folded):
                    alternatives.add(found)
        slots.append(frozenset(alternatives))
    return Clause(tuple(slots)) if slots else None


def _split(text: str) -> list[tuple[bool, bool, str]]:
    """(negated, quoted, text) for each word or phrase of the query."""
    parts: list[tuple[bool, bool, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] in _QUOTES:
            end = i + 1
            while end < n and text[end] not in _QUOTES:
                end += 1
            parts.append((negated, True, text[i + 1 : end]))
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in _QUOTES:
                end += 1
            parts.append((negated, False, text[i:end]))
            i = end
    return parts


def parse_query(text: str, languages: Sequence[str] = tuple(SNOWBALL_NAMES)) -> Query:
    """Parse a text filter. `languages` limits which stems a word also matches."""
    required: list[Clause] = []
    excluded: list[Clause] = []
    for negated, quoted, part in _split(text):
        clause = _clause(part, not quoted, languages)
        if clause is not None:
            (excluded if negated else required).append(clause)
    return Query(tuple(required), tuple(excluded))


def clause_starts(positions: Mapping[str, Sequence[int]], clause: Clause) -> list[int]:
    """Positions where the clause's first slot begins a full match, in increasing order."""
    starts: set[int] | None = None
    for offset, slot in enumerate(clause.slots):
        if not slot:
            continue
        here = {p - offset for term in slot for p in positions.get(term, ())}
        starts = here if starts is None else starts & here
        if not starts:
            return []
    return sorted(starts or ())


def matches(positions: Mapping[str, Sequence[int]], query: Query) -> bool:
    """Whether a document (term -> positions, as in DocumentTerms) satisfies the query."""
    return all(clause_starts(positions, c) for c in query.required) and not any(
        clause_starts(positions, c) for c in query.excluded
    )
