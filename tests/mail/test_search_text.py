"""Tokenizer, stemming and language detection for full-text search."""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.mail.search_language import detect_language, stem
from stalwart_tx.mail.search_text import (
    MAX_TOKEN_LENGTH,
    MAX_TOKENS,
    document_terms,
    terms,
    tokenize,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Résumé", ["resume"]),
        ("RESUME resume Resume", ["resume"] * 3),
        ("naïve café Ångström", ["naive", "cafe", "angstrom"]),
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("ﬁle", ["file"]),  # compatibility ligature
        ("ＦＵＬＬ width", ["full", "width"]),
        ("İstanbul", ["istanbul"]),
        ("O'Neill", ["o", "neill"]),
        ("l’homme", ["l", "homme"]),
        ("'quoted' words'", ["quoted", "words"]),
        ("e-mail, foo_bar; 3.14", ["e", "mail", "foo", "bar", "3", "14"]),
        ("john.smith@example.com", ["john", "smith", "example", "com"]),
        ("https://example.org/a?q=1", ["https", "example", "org", "a", "q", "1"]),
        ("東京都", ["東京", "京都"]),
        ("東 京", ["東", "京"]),
        ("東京2020年", ["東京", "2020", "年"]),
        ("コーヒー 人々", ["コー", "ーヒ", "ヒー", "人々"]),
        ("ｶﾀｶﾅ", ["カタ", "タカ", "カナ"]),  # half-width kana
        ("한국어 텍스트", ["한국", "국어", "텍스", "스트"]),
        ("a\x00b\x01c\x7fd", ["a", "b", "c", "d"]),
        ("tab\tnew\nline\r\n", ["tab", "new", "line"]),
        ("привет Ёлка", ["привет", "елка"]),
        ("हिन्दी", ["हिन्दी"]),  # spacing marks stay inside the word
        ("", []),
        ("!!! --- ...", []),
    ],
)
def test_terms(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_spans_point_into_the_original_text() -> None:
    text = "Mr  O’Neill, Résumé 東京都"
    spans = [(t.term, t.position, text[t.start : t.end]) for t in tokenize(text)]
    assert spans == [
        ("mr", 0, "Mr"),
        ("o", 1, "O"),
        ("neill", 2, "Neill"),
        ("resume", 3, "Résumé"),
        ("東京", 4, "東京"),
        ("京都", 5, "京都"),
    ]


def test_long_tokens_are_dropped_but_keep_their_position() -> None:
    long = "x" * (MAX_TOKEN_LENGTH + 1)
    tokens = tokenize(f"before {long} after {'y' * MAX_TOKEN_LENGTH}")
    assert [(t.term[:3], t.position) for t in tokens] == [("bef", 0), ("aft", 2), ("yyy", 3)]


def test_token_count_is_capped() -> None:
    tokens = tokenize("w " * (MAX_TOKENS + 10))
    assert len(tokens) == MAX_TOKENS
    assert len(tokenize("w" * 10 + "-w" * (MAX_TOKENS + 10))) == MAX_TOKENS


@pytest.mark.parametrize(
    "hostile",
    [
        "a'" * 1_000_000,  # one word of a million apostrophe parts
        "東" * 2_000_000,  # one CJK run: two million bigrams
        "é" * 2_000_000,  # one over-long word
        "x@" * 500_000,  # address-like, no address
        "\x00" * 2_000_000,
    ],
)
def test_hostile_input_is_bounded(hostile: str) -> None:
    start = time.perf_counter()
    tokens = tokenize(hostile)
    assert len(tokens) <= MAX_TOKENS
    assert time.perf_counter() - start < 5


def test_extra_terms_for_apostrophes_addresses_and_urls() -> None:
    positions = document_terms(
        "Mail O'Neill at <John.Smith@Example.com>, or see https://www.example.org/x?y=1.", "en"
    ).positions
    assert positions["oneill"] == [1]
    assert positions["john.smith@example.com"] == positions["john"] == [4]
    assert positions["example.com"] == [4]
    assert positions["https://www.example.org/x?y=1"] == [10]
    assert positions["www.example.org"] == [10]


def test_document_terms_index_word_and_stem_in_its_language() -> None:
    document = document_terms("The cats were running in the gardens")
    assert document.language == "en"
    assert document.positions["running"] == [3]
    assert document.positions["~en:run"] == [3]
    assert document.positions["~en:cat"] == [1]
    assert "~de:run" not in document.positions
    assert not any(term.startswith("~") for term in document_terms("42 7", "en").positions)


def test_unsure_language_is_not_stemmed() -> None:
    document = document_terms("Привет")
    assert document.language is None
    assert not any(term.startswith("~") for term in document.positions)


@pytest.mark.parametrize(
    ("language", "word", "expected"),
    [
        ("en", "running", "run"),
        ("en", "connections", "connect"),
        ("de", "häuser", "haus"),
        ("de", "katzen", "katz"),
        ("fr", "continuellement", "continuel"),
        ("fr", "chevaux", "cheval"),
        ("es", "corriendo", "corr"),
        ("es", "gatos", "gat"),
        ("ru", "книги", "книг"),
        ("ru", "читающий", "чита"),
        ("it", "gattini", "gattin"),
        ("pl", "kotami", "kot"),
    ],
)
def test_stemming(language: str, word: str, expected: str) -> None:
    assert stem(language, word) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The meeting is moved to Thursday, please confirm that you can attend.", "en"),
        ("Das Treffen ist auf Donnerstag verschoben, bitte bestätige, dass du kommst.", "de"),
        ("La réunion est déplacée à jeudi, merci de confirmer que vous serez là.", "fr"),
        ("La reunión se ha movido al jueves, por favor confirma que puedes venir.", "es"),
        ("Встреча перенесена на четверг, пожалуйста, подтвердите, что вы придёте.", "ru"),
        ("La riunione è spostata a giovedì, per favore conferma che ci sei.", "it"),
        ("A reunião foi adiada para quinta, por favor confirme que você vem.", "pt"),
        ("De vergadering is verplaatst naar donderdag, wil je bevestigen dat je komt?", "nl"),
        ("Mötet är flyttat till torsdag, bekräfta att du kan komma.", "sv"),
        ("Kokous on siirretty torstaille, vahvista että pääset paikalle.", "fi"),
        ("Spotkanie jest przeniesione na czwartek, potwierdź, że będziesz.", "pl"),
        ("Mødet er flyttet til torsdag, bekræft venligst at du kan komme.", "da"),
        ("Møtet er flyttet til torsdag, vennligst bekreft at du kan komme.", "no"),
        ("Kannst du mir die Datei schicken?", "de"),
        ("¿Puedes enviarme el archivo?", "es"),
        ("Gracias por todo", "es"),
        ("Ты можешь прислать мне файл?", "ru"),
        ("Invoice 2024-113", "en"),  # no evidence, plain ASCII: the default
        ("Danke schön", "de"),
        ("Ciao Zoë", None),  # no function word, not plain ASCII: unsure
        ("会議は木曜日に変更されました", None),
        ("", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert language_of(text) == language


def test_ambiguous_language_is_unsure() -> None:
    # Only words that Danish and Norwegian share.
    assert language_of("og det er ikke med") is None
    assert language_of("Peux-tu m envoyer le fichier ?") is None  # le, tu: French or Italian


def language_of(text: str) -> str | None:
    return detect_language(token.folded for token in tokenize(text))


@given(st.text())
def test_tokenize_never_raises_and_is_idempotent(text: str) -> None:
    first = terms(text)
    assert terms(" ".join(first)) == first
    assert all(0 < len(term) <= MAX_TOKEN_LENGTH for term in first)
    document_terms(text)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_spans_are_inside_the_text(text: str) -> None:
    last = -1
    for token in tokenize(text):
        assert 0 <= token.start < token.end <= len(text)
        assert token.position > last
        last = token.position
