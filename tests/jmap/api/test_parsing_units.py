"""Unit properties of the request parser's pieces: the JSON Pointer of RFC 6901 (with the RFC 8620
§3.7 "*"), and the nesting scan that runs before parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.jmap.api import nesting_depth_exceeds
from stalwart_tx.jmap.references import PointerError, evaluate_pointer, parse_pointer

# The examples of RFC 6901 §5.
RFC6901 = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
           'k"l': 6, " ": 7, "m~n": 8}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [("", RFC6901), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
     ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8)],
)
def test_rfc6901_examples(pointer: str, expected: Any) -> None:
    assert evaluate_pointer(RFC6901, pointer) == expected


def test_unescaping_is_one_pass() -> None:
    assert parse_pointer("/~01") == ["~1"]
    assert parse_pointer("/~10") == ["/0"]
    with pytest.raises(PointerError):
        parse_pointer("/~")


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


nasty_text = st.text(alphabet='[]{}"\\/ab\u00fc\U0001f600', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | nasty_text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=12), st.booleans())
def test_nesting_scan_agrees_with_the_real_depth(value: Any, limit: int, ascii: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii).encode()
    assert nesting_depth_exceeds(body, limit) == (depth(value) > limit)
