"""Query parsing, the reference matcher and snippet highlighting."""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.mail.search_query import matches, parse_query
from stalwart_tx.mail.search_snippet import highlight
from stalwart_tx.mail.search_text import document_terms

TEXT = (
    "Hello Anna, the quarterly reports were sent to John.Smith@example.com yesterday. "
    "Mr O’Neill is running the review of the résumé drafts."
)


def hit(query: str, text: str = TEXT, language: str | None = None) -> bool:
    return matches(document_terms(text, language).positions, parse_query(query))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("reports", True),
        ("REPORTS anna", True),  # AND, any order, any case
        ("reports banana", False),
        ("report", True),  # stem
        ("run", True),
        ("resume", True),  # accents
        ("RÉSUMÉ", True),
        ('"quarterly reports"', True),
        ('"reports quarterly"', False),  # phrase order
        ('"quarterly report"', False),  # phrases are exact words
        ('"the quarterly reports were"', True),
        ('"quarterly reports', True),  # unclosed quote runs to the end
        ("“quarterly reports”", True),  # typographic quotes
        ("-banana reports", True),
        ("-reports", False),
        ('-"quarterly reports" anna', False),
        ('-"reports quarterly" anna', True),
        ("o'neill", True),
        ("oneill", True),
        ("neill", True),
        ("john.smith@example.com", True),
        ("smith@example.com", True),
        ("jane.smith@example.com", False),
        ("example.com", True),
        ("", True),
        ("- !!", True),
        ("OR", False),  # no operators: just a word
    ],
)
def test_matches(query: str, expected: bool) -> None:
    assert hit(query) is expected


def test_stems_match_only_in_the_documents_language() -> None:
    german = "Die Katzen schlafen in den Häusern, und das ist gut so."
    assert hit("katze haus", german)
    assert hit("HAUSERN", german)
    assert not hit("katze", "Katzen")  # a one-word text is not known to be German
    assert hit("katze", "Katzen", language="de")


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Книги лежат на столе, и мы их читаем.", "книга"),
        ("Le chat dort dans les maisons et il est content.", "maison"),
        ("Los gatos duermen en las casas y no hacen nada.", "gato casa"),
    ],
)
def test_stemmed_matching_in_other_languages(text: str, query: str) -> None:
    assert hit(query, text)


def test_a_dropped_long_word_keeps_its_place_in_a_phrase() -> None:
    long = "x" * 100
    text = f"before {long} after"
    assert hit(f'"before {long} after"', text)
    assert hit(f'"before {"y" * 100} after"', text)
    assert not hit('"before after"', text)


def test_cjk_words_match_as_bigram_phrases() -> None:
    text = "明日は東京都に行きます"
    assert hit("東京", text)
    assert hit("東京都", text)
    assert not hit("京東", text)


def test_highlight_marks_and_escapes() -> None:
    text = "<script>alert('x')</script> Hello & welcome, the report is ready."
    snippet = highlight(text, parse_query("report hello"), 200)
    assert snippet == (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; <mark>Hello</mark> &amp; welcome, "
        "the <mark>report</mark> is ready."
    )


def test_highlight_phrase_as_one_mark_and_stems() -> None:
    snippet = highlight(TEXT, parse_query('"quarterly reports" run'), 500)
    assert "<mark>quarterly reports</mark>" in snippet
    assert "<mark>running</mark>" in snippet
    assert "<mark>O’Neill</mark>" in highlight(TEXT, parse_query("o'neill"), 500)


def test_highlight_marks_whole_addresses_and_joined_words() -> None:
    text = "Write to <anna.berg@example.com> or O’Neill."
    assert highlight(text, parse_query("anna.berg@example.com oneill"), 200) == (
        "Write to &lt;<mark>anna.berg@example.com</mark>&gt; or <mark>O’Neill</mark>."
    )


def test_highlight_window_starts_near_the_first_match() -> None:
    text = "filler words " * 50 + "the needle is here " + "more words " * 50
    snippet = highlight(text, parse_query("needle"), 60)
    assert len(snippet) <= 60
    assert "<mark>needle</mark>" in snippet
    assert snippet == "words the <mark>needle</mark> is here more words more words"  # word start
    lines = highlight("line\n" * 50 + "needle", parse_query("needle"), 40)
    assert lines == "line line <mark>needle</mark>"


def test_highlight_without_match_is_the_start() -> None:
    assert highlight("a < b\n\n and c\x00", parse_query("zzz"), 100) == "a &lt; b and c"


@given(
    st.text(alphabet=st.sampled_from("ab<&>\"' \n\x00é"), max_size=80),
    st.sampled_from(["a", "b", "ab", '"a b"', "é"]),
    st.integers(min_value=0, max_value=60),
)
def test_highlight_never_cuts_an_entity_or_a_tag(text: str, query: str, max_len: int) -> None:
    snippet = highlight(text, parse_query(query), max_len)
    assert len(snippet) <= max_len
    without_tags = snippet.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_tags and ">" not in without_tags and "\x00" not in without_tags
    assert re.fullmatch(r"([^&]|&(amp|lt|gt|quot|#x27);)*", without_tags)
    assert snippet.count("<mark>") == snippet.count("</mark>")
    assert "<mark></mark>" not in snippet


_WORDS = st.lists(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters='"“”„«»'),
        min_size=1,
        max_size=12,
    ).filter(lambda w: not any(c.isspace() for c in w)),
    min_size=1,
    max_size=30,
)


@given(_WORDS, st.data(), st.booleans())
def test_a_window_of_the_documents_own_words_matches(
    words: list[str], data: st.DataObject, quoted: bool
) -> None:
    start = data.draw(st.integers(0, len(words) - 1))
    end = data.draw(st.integers(start + 1, len(words)))
    window = " ".join(w.lstrip("-") for w in words[start:end])
    query = f'"{window}"' if quoted else window
    assert matches(document_terms(" ".join(words)).positions, parse_query(query))
