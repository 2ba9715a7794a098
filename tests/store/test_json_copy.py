"""json_copy: a deep copy of JSON values, sharing nothing mutable with the original."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.store.records import json_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in containers(v))]
    return []


@given(JSON)
def test_a_copy_is_equal_and_shares_no_container(value: Any) -> None:
    copied = json_copy(value)
    assert copied == value == copy.deepcopy(value)
    assert not set(containers(copied)) & set(containers(value))


def test_other_containers_are_still_copied_deeply() -> None:
    original = {"pair": ([1], {2})}
    copied = json_copy(original)
    assert copied == original
    assert copied["pair"][0] is not original["pair"][0]
