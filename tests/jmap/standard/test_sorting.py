"""The collations of RFC 4790 §9 and RFC 5051 that /query offers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.jmap.standard.sorting import ascii_casemap, ascii_numeric, unicode_casemap


def test_ascii_casemap_folds_only_ascii_letters() -> None:
    assert ascii_casemap("abcXYZ") == ascii_casemap("ABCxyz")
    assert ascii_casemap("é") != ascii_casemap("É")
    assert sorted(["b", "C", "a"], key=ascii_casemap) == ["a", "b", "C"]


def test_ascii_numeric_orders_by_leading_number_then_everything_else() -> None:
    values = ["10", "9", "abc", "007", "2x", ""]
    assert sorted(values, key=ascii_numeric)[:4] == ["2x", "007", "9", "10"]
    assert ascii_numeric("abc") == ascii_numeric("") == ascii_numeric("-1")


def test_unicode_casemap_folds_case_and_decomposes() -> None:
    assert unicode_casemap("Straße") == unicode_casemap("STRAßE")  # ß has no simple titlecase
    assert unicode_casemap("é") == unicode_casemap("É") == "E\u0301"
    assert unicode_casemap("ﬁ") == "FI"  # compatibility decomposition
    assert unicode_casemap("ǆ") == unicode_casemap("Ǆ")  # titlecase, not uppercase: ǅ
    sorted_names = sorted(["zebra", "Apple", "éclair", "Eagle", "eel"], key=unicode_casemap)
    assert sorted_names == ["Apple", "Eagle", "eel", "éclair", "zebra"]


@given(st.text())
def test_unicode_casemap_is_idempotent_and_case_blind(text: str) -> None:
    folded = unicode_casemap(text)
    assert unicode_casemap(folded) == folded
    # RFC 5051 folds through the titlecase mapping, so lower and upper forms meet only where
    # Unicode gives them one titlecase form: not Georgian, whose Mkhedruli letters are their own
    # titlecase while their Mtavruli capitals are theirs.
    assert unicode_casemap(text.lower()) == unicode_casemap(text.upper()) or any(
        len(c.upper()) != 1 or len(c.lower()) != 1 or len(c.title()) != 1
        or c.lower().title() != c.upper().title()
        for c in text
    )


def test_unicode_casemap_is_case_blind_wherever_titlecase_agrees() -> None:
    """Every cased code point, not a sample (Unicode has no cased letters past plane 1)."""
    for code_point in range(0x20000):
        char = chr(code_point)
        if len(char.upper()) == len(char.lower()) == len(char.title()) == 1 and (
            char.lower().title() == char.upper().title()
        ):
            assert unicode_casemap(char.lower()) == unicode_casemap(char.upper()), hex(code_point)
