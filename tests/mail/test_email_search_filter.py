"""Text conditions as plans over postings agree with the reference matcher.

A small corpus is indexed in plain Python (posting name -> email ids, from postings()); a plan
is evaluated over those sets, the candidates of an inexact plan are checked with
TextFilter.matches, and the result must be exactly the emails the reference matcher
(search_query.matches over each field's positions) accepts.
"""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalwart_tx.jmap.mail.email_search import (
    SEARCH_FIELDS,
    SearchDocument,
    TextFilter,
    plan_leaves,
    posting,
    postings,
    search_document,
    text_filter,
)
from stalwart_tx.mail.parse import parse_message
from stalwart_tx.mail.search_query import matches, parse_query
from stalwart_tx.mail.search_text import STEM_PREFIX, document_terms
from stalwart_tx.store.records import (
    MAX_PLAN_LEAVES,
    Difference,
    Index,
    Intersection,
    Plan,
    Union,
    check_plan,
)


def evaluate(plan: Plan, index: Mapping[str, set[str]]) -> set[str]:
    """What a store's index_query selects, as a set of members."""
    if isinstance(plan, Index):
        return set(index.get(plan.name, set()))
    if isinstance(plan, Intersection):
        return set.intersection(*(evaluate(part, index) for part in plan.parts))
    if isinstance(plan, Union):
        return set().union(*(evaluate(part, index) for part in plan.parts))
    if isinstance(plan, Difference):
        return evaluate(plan.base, index) - evaluate(plan.excluded, index)
    raise AssertionError(f"unexpected plan {plan!r}")


class Corpus:
    def __init__(self, docs: Mapping[str, SearchDocument]) -> None:
        self.docs = dict(docs)
        self.index: dict[str, set[str]] = {}
        for email_id, doc in self.docs.items():
            for name in postings(doc):
                self.index.setdefault(name, set()).add(email_id)

    def search(self, condition: TextFilter) -> set[str]:
        """What the Email code does with a text filter."""
        if condition.plan is None:
            candidates = set(self.docs)
        else:
            check_plan(condition.plan)
            candidates = evaluate(condition.plan, self.index)
        if condition.exact:
            return candidates
        return {i for i in candidates if condition.matches(self.docs[i])}

    def candidates(self, condition: TextFilter) -> set[str]:
        return set(self.docs) if condition.plan is None else evaluate(condition.plan, self.index)


def reference_positions(doc: SearchDocument, field: str) -> dict[str, list[int]]:
    """A field's positions straight from search_text, stems of the document's language only."""
    text = doc.texts.get(field, "")
    if doc.language is not None:
        return document_terms(text, doc.language).positions
    found = document_terms(text).positions
    return {t: p for t, p in found.items() if not t.startswith(STEM_PREFIX)}


def reference(doc: SearchDocument, field: str, query_text: str) -> bool:
    query = parse_query(query_text)
    if field != "text":
        return matches(reference_positions(doc, field), query)
    # Any field, clause by clause: the fields laid end to end with gaps no phrase can span.
    merged: dict[str, list[int]] = {}
    for i, name in enumerate(SEARCH_FIELDS):
        for term, found in reference_positions(doc, name).items():
            merged.setdefault(term, []).extend(p + i * 10_000_000 for p in found)
    return matches(merged, query)


def check_agreement(corpus: Corpus, field: str, query_text: str) -> TextFilter:
    condition = text_filter(field, query_text)
    expected = {i for i, doc in corpus.docs.items() if reference(doc, field, query_text)}
    assert corpus.search(condition) == expected, (field, query_text)
    assert corpus.candidates(condition) >= expected, (field, query_text)
    if condition.exact:
        assert corpus.candidates(condition) == expected, (field, query_text)
    assert plan_leaves(condition.plan) <= MAX_PLAN_LEAVES
    # Restricted to a universe, the filter still selects exactly its matches there.
    universe = {i for i in corpus.docs if i < "m5"}
    corpus.index["all:some"] = universe
    within = condition.within(Index("all:some"))
    assert within.plan is not None
    assert corpus.search(within) == expected & universe, (field, query_text)
    return condition


def message(headers: str, body: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"{headers}Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
    ).encode()


MESSAGES = {
    "m1": message(
        'From: "Smith, John" <john.smith@example.com>\r\nTo: Anna <anna@example.org>\r\n'
        "Subject: Quarterly reports\r\n",
        "Hello Anna, the quarterly reports were sent yesterday. The review is running late.",
    ),
    "m2": message(
        "From: Anna <anna@example.org>\r\nTo: john.smith@example.com\r\n"
        "Cc: Bob O'Neill <bob@example.net>\r\nSubject: Re: Quarterly reports\r\n",
        "Thanks John, I will run the report review tomorrow with the team.",
    ),
    "m3": message(
        "From: Jürgen Müller <jm@example.de>\r\nTo: Anna <anna@example.org>\r\n"
        "Subject: Besprechungen nächste Woche\r\n",
        "Hallo Anna, die Besprechung ist für nächste Woche geplant. Bitte bring die Berichte mit.",
    ),
    "m4": message(
        "From: Émile <emile@example.fr>\r\nTo: Jürgen <jm@example.de>\r\n"
        "Bcc: Anna <anna@example.org>\r\nSubject: Les réunions\r\n",
        "Bonjour, nous avons reçu les rapports et ils sont dans le dossier de l’équipe.",
    ),
    "m5": message(
        "From: 田中 <tanaka@example.jp>\r\nSubject: 東京都の会議\r\n",
        "明日、東京都庁で会議があります。京都ではありません。",
    ),
    "m6": message(
        "From: Bob O'Neill <bob@example.net>\r\nTo: team@example.com\r\nSubject: The report\r\n",
        "<html><body><p>Meeting notes: the <b>quarterly</b> review ran well.</p>"
        "<p>Contact john.smith@example.com or visit https://example.com/notes.</p></body></html>",
        "text/html; charset=utf-8",
    ),
    "m7": message(
        "From: reports@example.com\r\nSubject: sent\r\n",
        "Reports reports reports. Nothing else was sent to you.",
    ),
}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus({i: search_document(parse_message(raw)) for i, raw in MESSAGES.items()})


QUERIES = [
    "",
    "reports",
    "REPORTS anna",
    "report",
    "run",
    "running",
    "ran",
    "review -running",
    "-reports",
    "-reports -anna",
    '"quarterly reports"',
    '"reports quarterly"',
    '"quarterly report"',
    "“quarterly reports”",
    '"quarterly reports',
    '-"quarterly reports" anna',
    '-"quarterly reports"',
    "o'neill",
    "oneill",
    "neill",
    "O’Neill bob",
    "john.smith@example.com",
    "smith@example.com",
    "jane.smith@example.com",
    "example.com",
    "example.org",
    "anna@example.org",
    "Besprechung",
    "besprechungen",
    "Berichte",
    "nächste woche",
    '"nachste woche"',
    "réunion",
    "reunions",
    "rapport",
    "l’équipe",
    "equipe",
    "東京",
    "東京都",
    "京都",
    "会議",
    "tanaka",
    "quarterly review",
    '"quarterly review"',
    '"reports sent"',
    "sent",
    "team",
    "- !!",
    "OR",
    "notes -meeting",
    "https://example.com/notes",
]


@pytest.mark.parametrize("field", [*SEARCH_FIELDS, "text"])
@pytest.mark.parametrize("query", QUERIES)
def test_filter_agrees_with_reference(corpus: Corpus, field: str, query: str) -> None:
    check_agreement(corpus, field, query)


@pytest.mark.parametrize(
    ("field", "query", "expected"),
    [
        ("text", "reports", {"m1", "m2", "m6", "m7"}),  # stems: report
        ("subject", "reports", {"m1", "m2", "m6"}),
        ("body", "report", {"m1", "m2", "m7"}),
        ("from", "anna", {"m2"}),
        ("to", "anna", {"m1", "m3"}),
        ("bcc", "anna", {"m4"}),
        ("cc", "neill", {"m2"}),
        ("text", "anna", {"m1", "m2", "m3", "m4"}),
        ("text", "anna quarterly", {"m1", "m2"}),  # clauses may match in different fields
        ("text", "-anna quarterly", {"m6"}),
        ("subject", "besprechung", {"m3"}),  # German stem in the subject
        ("body", "réunion", set()),
        ("subject", "réunion", {"m4"}),  # French stem
        ("text", "東京都", {"m5"}),
        ("body", "京都", {"m5"}),
        ("text", '"com anna"', set()),  # no phrase across fields (from into to)
        ("text", '"reports hello"', set()),  # subject end + body start
        ("text", "john.smith@example.com", {"m1", "m2", "m6"}),
        ("body", "ran", {"m6"}),
        ("body", '"quarterly review"', {"m6"}),
        ("body", "quarterly review", {"m1", "m6"}),
    ],
)
def test_expected_matches(corpus: Corpus, field: str, query: str, expected: set[str]) -> None:
    # The reference semantics, spelled out on the corpus, so the agreement is not vacuous.
    check_agreement(corpus, field, query)
    assert corpus.search(text_filter(field, query)) == expected


def test_plan_shapes() -> None:
    word = text_filter("subject", '"hello"')
    assert word == TextFilter(Index(posting("subject", "hello")), True, "subject", word.query)
    stems = text_filter("body", "running", languages=("en", "de"))
    assert stems.exact
    assert stems.plan == Union(
        tuple(Index(posting("body", t)) for t in sorted({"running", "~en:run", "~de:running"}))
    )
    both = text_filter("from", '"anna" "bob"')
    assert both.exact
    assert both.plan == Intersection(
        (Index(posting("from", "anna")), Index(posting("from", "bob")))
    )
    everywhere = text_filter("text", '"anna"')
    assert everywhere.plan == Union(tuple(Index(posting(f, "anna")) for f in SEARCH_FIELDS))
    without = text_filter("to", '"anna" -"bob"')
    assert without.exact
    assert without.plan == Difference(Index(posting("to", "anna")), Index(posting("to", "bob")))
    phrase = text_filter("body", '"good morning"')
    assert not phrase.exact
    # The longest word first: likely the rarest.
    assert phrase.plan == Intersection(
        (Index(posting("body", "morning")), Index(posting("body", "good")))
    )


def test_empty_and_negative_queries() -> None:
    empty = text_filter("text", "  !! ")
    assert empty.plan is None and empty.exact
    negative = text_filter("body", '-"spam"')
    assert negative.plan is None and not negative.exact
    assert negative.excluded == Index(posting("body", "spam"))
    inside = negative.within(Index("Email:mailbox:a"))
    assert inside.exact
    assert inside.plan == Difference(Index("Email:mailbox:a"), Index(posting("body", "spam")))
    phrase = text_filter("body", '-"spam eggs"')
    assert phrase.plan is None and not phrase.exact
    assert not phrase.within(Index("Email:mailbox:a")).exact


def test_long_queries_degrade_to_an_inexact_superset(corpus: Corpus) -> None:
    many = " ".join(["reports", "quarterly", "review", "anna", "john", "sent", "hello", "the"])
    condition = text_filter("text", many)
    assert not condition.exact
    assert plan_leaves(condition.plan) <= MAX_PLAN_LEAVES
    check_plan(condition.plan)  # type: ignore[arg-type]
    check_agreement(corpus, "text", many)
    assert corpus.search(condition) == {"m1"}
    # A tighter budget keeps fewer words, still a superset.
    small = text_filter("body", "reports review -late", max_leaves=20)
    assert plan_leaves(small.plan) <= 20 and not small.exact
    assert corpus.search(small) == {"m2"}
    # No word fits: every email is a candidate.
    none = text_filter("text", "reports", max_leaves=5)
    assert none.plan is None and not none.exact
    assert corpus.search(none) == {"m1", "m2", "m6", "m7"}


def test_exclusions_that_do_not_fit_are_verified(corpus: Corpus) -> None:
    words = ["anna", "bob", "john", "tanaka", "emile", "jurgen", "team", "reports"]
    query = "example " + " ".join(f"-{w}" for w in words)
    condition = text_filter("text", query)
    assert not condition.exact
    assert plan_leaves(condition.plan) <= MAX_PLAN_LEAVES
    check_agreement(corpus, "text", query)


def test_matches_looks_only_at_its_field() -> None:
    doc = SearchDocument("en", {"subject": "hello world", "body": "goodbye"})
    assert text_filter("subject", "hello").matches(doc)
    assert not text_filter("body", "hello").matches(doc)
    assert text_filter("text", "hello goodbye").matches(doc)
    assert not text_filter("text", '"world goodbye"').matches(doc)
    assert text_filter("text", "hello -moon").matches(doc)
    assert not text_filter("text", "hello -goodbye").matches(doc)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no text search"):
        text_filter("header", "x")
    with pytest.raises(ValueError, match="no stemmer"):
        text_filter("text", "x", languages=("xx",))
    with pytest.raises(ValueError):
        text_filter("text", "x", max_leaves=0)


# Generated documents: words of a small vocabulary, with stems in common, across the fields.
VOCABULARY = [
    "run", "running", "runs", "ran", "report", "reports", "reporting", "meet", "meeting",
    "anna", "bob", "the", "o'neill", "oneill", "neill", "東京都", "京都", "2024", "résumé",
    "resume", "gehen", "gehst",
]  # fmt: skip
words = st.lists(st.sampled_from(VOCABULARY), max_size=8).map(" ".join)
documents = st.builds(
    SearchDocument,
    st.sampled_from(["en", "de", None]),
    st.fixed_dictionaries({f: words for f in SEARCH_FIELDS}),
)


def query_part(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3))
    text = f'"{" ".join(chosen)}"' if draw(st.booleans()) or len(chosen) > 1 else chosen[0]
    return ("-" if draw(st.booleans()) else "") + text


@st.composite
def queries(draw: st.DrawFn) -> str:
    return " ".join(query_part(draw) for _ in range(draw(st.integers(0, 4))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(documents, min_size=1, max_size=6),
    st.sampled_from([*SEARCH_FIELDS, "text"]),
    queries(),
    # Mostly the store's bound; sometimes so tight that words or exclusions are left out.
    st.one_of(st.just(MAX_PLAN_LEAVES), st.integers(1, MAX_PLAN_LEAVES)),
)
def test_agreement_on_generated_documents(
    docs: list[SearchDocument], field: str, query: str, max_leaves: int
) -> None:
    corpus = Corpus({f"e{i}": doc for i, doc in enumerate(docs)})
    condition = text_filter(field, query, max_leaves=max_leaves)
    assert plan_leaves(condition.plan) <= max_leaves
    expected = {i for i, doc in corpus.docs.items() if reference(doc, field, query)}
    assert corpus.search(condition) == expected
    assert corpus.candidates(condition) >= expected
    if condition.exact:
        assert corpus.candidates(condition) == expected
