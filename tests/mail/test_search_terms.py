"""The fast term set is exactly the terms of search_text.document_terms, for any text."""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

import pytest
import regex  # type: ignore[import-untyped]
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import generate
from stalwart_tx.jmap.mail.email_search import search_document
from stalwart_tx.mail import search_language, search_terms, search_text
from stalwart_tx.mail.parse import parse_message
from stalwart_tx.mail.search_language import (
    _STOP_WORDS,
    DETECT_WORDS,
    SNOWBALL_NAMES,
    _detect_in_order,
    detect_language,
)
from stalwart_tx.mail.search_terms import (
    TextTerms,
    detect_sample_language,
    detection_tokens,
    term_set,
)
from stalwart_tx.mail.search_text import (
    _CHUNK,
    _EDGE_PUNCTUATION,
    _EMAIL,
    _URL,
    MAX_TOKEN_LENGTH,
    MAX_TOKENS,
    STEM_PREFIX,
    _addresses,
    document_terms,
    tokenize,
)

LANGUAGES = (None, "en", "de", "fr", "ru")

# Pieces that exercise every rule: apostrophes, CJK runs and marks, NFKC and case folding that
# change length or split words, accents, separators inside non-ASCII text, addresses and URLs.
PIECES = [
    *"aZ09 '’-.@:/_\n\t",
    "é",
    "É",
    "e\u0301",
    "\u0301",
    "ß",
    "İ",
    "ﬁ",
    "Ｆ",
    "½",
    "\ufdfa",
    "ｶ",
    "ﾟ",
    "東",
    "京",
    "ー",
    "々",
    "한",
    "\u0345",
    "Ω",
    "ǅ",
    "я",
    "Ё",
    "हि",
    "\u200d",
    "\ufffd",
    "\xa0",
    "—",
    "“",
    "\u2003",
    "\ud800",
    "\ud83d\ude00",
    "\x00",
    "www.",
    "http://",
    "https://x.org/a?b=1",
    "x@y.com",
    "<a.b@c.de>",
    "O'Neill",
    "l’homme",
    "_@-.-",
    "a'" * 40,
    "é" * 70,
    "東" * 70,
    "x" * 70 + "'y",
    "Q" * 70,
    "naïve'" * 12,
]
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
any_texts = st.one_of(texts, st.text(max_size=200))


def reference(text: str, language: str | None) -> frozenset[str]:
    return frozenset(document_terms(text, language).positions)


@contextmanager
def small_caps(tokens: int, segment: int) -> Iterator[None]:
    """A low token cap and small split segments, to reach them with small texts."""
    with (
        patch.object(search_text, "MAX_TOKENS", tokens),
        patch.object(search_terms, "_SEGMENT", segment),
    ):
        yield


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!!! --- ...",
        "Résumé RESUME naïve café Ångström Straße STRASSE ﬁle ＦＵＬＬ width İstanbul",
        "O'Neill l’homme 'quoted' words' don''t rock'n'roll",
        "e-mail, foo_bar; 3.14 ½ \ufdfa",
        "東京都 東 京 東京2020年 コーヒー 人々 ｶﾀｶﾅ 한국어 텍스트 हिन्दी",
        "a\x00b\x01c\x7fd tab\tnew\nline\r\n привет Ёлка",
        "Mail O'Neill at <John.Smith@Example.com>, or see https://www.example.org/x?y=1.",
        "ftp://files.example.net/x www.example.com/path (john@example.org) _@-.- @ :// www.",
        "Zoë's café\xa0menu \ufffd\ufffd garbage\ufffdwords",
        "x" * (MAX_TOKEN_LENGTH + 1) + " " + "y" * MAX_TOKEN_LENGTH + " é" + "e" * MAX_TOKEN_LENGTH,
        "The cats were running in the gardens, the dogs are barking",
        "Die Besprechungen sind für nächste Woche geplant, bitte kommt alle.",
        "42 7 2024-113",
    ],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_examples_of_every_rule(text: str, language: str | None) -> None:
    assert term_set(text, language) == reference(text, language)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_texts, st.sampled_from(LANGUAGES))
@example("Ÿ'ǅ ß'ﬁ", None)
@example("a" + "\u0301" * 200, "en")
def test_term_set_is_the_document_terms(text: str, language: str | None) -> None:
    assert term_set(text, language) == reference(text, language)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts,
    st.sampled_from(LANGUAGES),
    st.integers(1, 40),
    st.sampled_from([1, 3, 8, 64]),
    st.sampled_from([None, 0, 1, 7, 50]),
)
def test_term_set_under_the_token_cap(
    text: str, language: str | None, cap: int, segment: int, head: int | None
) -> None:
    """The cap, and the cut of a word too long to fit under it, fall where search_text puts
    them, whichever segment or chunk they fall in."""
    with small_caps(cap, segment):
        expected = reference(text, language)
        assert term_set(text, language) == expected
        if language is not None:
            assert TextTerms(text, head).terms(language) == expected


@settings(max_examples=200, deadline=None)
@given(texts)
def test_no_language_gives_words_and_extras_only(text: str) -> None:
    words = {t for t in document_terms(text).positions if not t.startswith(STEM_PREFIX)}
    assert TextTerms(text).terms(None) == words


@pytest.mark.parametrize(
    "text",
    [
        "w " * (MAX_TOKENS + 10),
        "w" * 10 + "-w" * (MAX_TOKENS + 10),
        "x'y " * (MAX_TOKENS // 2 + 5) + " tail",
        "see john@example.com " + "w " * MAX_TOKENS + "late@example.org",
        "东京 " * (MAX_TOKENS // 2) + "東京都" * 50,
    ],
)
def test_long_texts_stop_at_the_cap(text: str) -> None:
    assert term_set(text, "en") == reference(text, "en")


@pytest.mark.parametrize(
    "hostile",
    [
        "a'" * 1_000_000,
        "東" * 2_000_000,
        "é" * 2_000_000,
        "x@" * 500_000,
        "\x00" * 2_000_000,
        "a@b.c " * 200_000,
        "\ufffd" * 2_000_000,
    ],
)
def test_hostile_input_is_bounded(hostile: str) -> None:
    start = time.perf_counter()
    term_set(hostile, "en")
    assert time.perf_counter() - start < 5


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts,
    texts,
    st.sampled_from([None, 0, 1, 5, 30]),
    st.integers(1, 60),
    st.sampled_from([2, 5, 64]),
)
def test_detection_tokens_are_the_first_tokens(
    subject: str, body: str, head: int | None, cap: int, segment: int
) -> None:
    with small_caps(cap, segment), patch.object(search_language, "DETECT_WORDS", 7):
        parts = (TextTerms(subject), TextTerms(body, head))
        sample = subject + "\n" + (body if head is None else body[:head])
        expected = [token.folded for token in tokenize(sample)][:7]
        assert detection_tokens(parts) == expected
        assert detect_sample_language(parts) == detect_language(expected)
        # The term sets reuse the chunks detection read.
        assert parts[0].terms("en") == reference(subject, "en")
        assert parts[1].terms("en") == reference(body, "en")


def test_detection_reads_at_most_detect_words() -> None:
    body = "der die das und " * 1000 + "the of and to " * 1000
    assert detect_language(detection_tokens((TextTerms(body),))) == "de"
    assert detect_sample_language((TextTerms(body),)) == "de"
    assert len(detection_tokens((TextTerms(body),))) == DETECT_WORDS


STOP_WORDS = sorted({word for words in _STOP_WORDS.values() for word in words.split()})


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(STOP_WORDS), st.sampled_from(["a", "zoë", "東京", "x", ""])),
        max_size=40,
    )
)
def test_detection_counts_as_the_float_rule(words: list[str]) -> None:
    """Exact counting decides as float sums in text order did, ties on the bar included."""
    assert detect_language(words) == _detect_in_order(words[:DETECT_WORDS])


@pytest.mark.parametrize(
    "words",
    [
        ["the"],
        ["the", "der"],
        ["the", "the", "de"],
        ["og", "af"],
        ["il", "le"],
        ["the", "die"] * 3 + ["and"],
    ],
)
def test_detection_on_the_bar(words: list[str]) -> None:
    assert detect_language(words) == _detect_in_order(words)


def _addresses_by_chunk(text: str) -> list[tuple[int, int, tuple[str, str]]]:
    """The address finder as first written: every whitespace-delimited chunk looked at."""
    if "@" not in text and "://" not in text and "www." not in text:
        return []
    found = []
    for chunk in _CHUNK.finditer(text):
        word = chunk.group()
        if "@" not in word and "://" not in word and "www." not in word:
            continue
        candidate = word.strip(_EDGE_PUNCTUATION)
        start = chunk.start() + len(word) - len(word.lstrip(_EDGE_PUNCTUATION))
        span = (start, start + len(candidate))
        if email := _EMAIL.fullmatch(candidate):
            found.append((*span, (candidate, email.group(1))))
        elif url := _URL.fullmatch(candidate):
            found.append((*span, (candidate, url.group(1) or url.group(2))))
    return found


address_texts = st.lists(
    st.sampled_from([*"a9_@.-+:/<>()' \n", "é", "www.", "http", "ftp", "://", ".com", "\u2003"]),
    max_size=40,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(any_texts, address_texts), st.integers(0, 200))
@example(":www.0.0", 1)  # an address whose chunk starts before the limit, and it after
def test_addresses_found_from_their_markers(text: str, before: int) -> None:
    expected = _addresses_by_chunk(text)
    assert _addresses(text) == expected
    assert _addresses(text, before) == [a for a in expected if a[0] < before]


CORPUS = [search_document(parse_message(g.data)) for g in generate(60)]


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_realistic_mail(index: int) -> None:
    doc = CORPUS[index]
    for text in doc.texts.values():
        for language in (doc.language, None):
            assert term_set(text, language) == reference(text, language)
    sample = f"{doc.texts['subject']}\n{doc.texts['body'][: 32 * 1024]}"
    assert doc.language == detect_language(t.folded for t in tokenize(sample))
    subject, body = TextTerms(doc.texts["subject"]), TextTerms(doc.texts["body"], 32 * 1024)
    assert detect_sample_language((subject, body)) == detect_language(
        t.folded for t in tokenize(sample)
    )


def test_words_split_at_non_ascii_separators() -> None:
    text = "Zoë—said\xa0“hello”\ufffdagain…東京、大阪"
    assert term_set(text, None) == reference(text, None)
    assert {"zoe", "said", "hello", "again", "東京", "大阪"} <= term_set(text, "en")
    assert all(regex.fullmatch(r"[\p{L}\p{M}\p{N}]+", t) for t in TextTerms(text).terms(None))


def test_every_snowball_language_stems_as_document_terms() -> None:
    text = "Kannst du mir die Dateien schicken? The runners were running; книги читающий"
    for language in SNOWBALL_NAMES:
        assert term_set(text, language) == reference(text, language)
