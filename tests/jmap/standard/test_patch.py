"""PatchObject, RFC 8620 §5.3: pointer syntax, prefix rule, application; examples and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.jmap.patch import (
    REMOVE,
    InvalidPatch,
    apply_patch,
    decode_pointer,
    encode_pointer,
    parse_patch,
)


def patched(target: dict[str, Any], patch: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    return apply_patch(target, parse_patch(patch), lambda name: defaults.get(name, REMOVE))


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("name", ("name",)),
        ("keywords/$seen", ("keywords", "$seen")),
        ("a~1b", ("a/b",)),
        ("a~0b", ("a~b",)),
        ("~01", ("~1",)),  # one pass: ~0 then 1, never "/" (RFC 6901 §4)
        ("~10", ("/0",)),
        ("a//b", ("a", "", "b")),
        ("", ("",)),
    ],
)
def test_keys_are_json_pointers_with_an_implicit_leading_slash(key: str, path: tuple[str]) -> None:
    assert decode_pointer(key) == path
    assert encode_pointer(path) == key


@pytest.mark.parametrize("key", ["a~2", "a~", "~", "x/~a", "~~1"])
def test_a_tilde_not_followed_by_0_or_1_is_invalid(key: str) -> None:
    with pytest.raises(InvalidPatch):
        decode_pointer(key)


@pytest.mark.parametrize(
    "patch",
    [
        {"alerts": None, "alerts/1/offset": 5},  # the RFC's example
        {"meta": {}, "meta/a": 1},
        {"meta/a": {}, "meta/a/b/c": 1},
    ],
)
def test_one_path_the_prefix_of_another_is_invalid(patch: dict[str, Any]) -> None:
    with pytest.raises(InvalidPatch):
        parse_patch(patch)


def test_paths_that_only_share_leading_characters_do_not_conflict() -> None:
    parse_patch({"a/b": 1, "a/bc": 2, "a~1b": 3, "ab": 4})


def test_sets_replaces_and_adds_at_any_depth_without_touching_the_original() -> None:
    target = {"name": "x", "meta": {"size": {"w": 1}, "color": "red"}}
    result = patched(target, {"name": "y", "meta/size/w": 2, "meta/size/h": 3, "new": [1]})
    assert result == {"name": "y", "meta": {"size": {"w": 2, "h": 3}, "color": "red"}, "new": [1]}
    assert target == {"name": "x", "meta": {"size": {"w": 1}, "color": "red"}}


def test_null_resets_a_property_to_its_default_or_removes_it() -> None:
    target = {"count": 5, "note": "n", "meta": {"a": 1, "b": 2}}
    result = patched(target, {"count": None, "note": None, "meta/a": None, "meta/zz": None},
                     count=0)
    assert result == {"count": 0, "meta": {"b": 2}}


def test_null_for_a_missing_key_is_a_no_op() -> None:
    assert patched({"meta": {}}, {"meta/missing": None, "absent": None}) == {"meta": {}}


@pytest.mark.parametrize(
    "patch",
    [
        {"meta/missing/x": 1},  # a part before the last does not exist
        {"nothing/x": 1},
        {"list/0": 1},  # inside an array
        {"list/0/x": 1},
        {"name/x": 1},  # through a string
        {"meta/n/x": 1},  # through a number
        {"meta/nil/x": 1},  # through null
    ],
)
def test_paths_through_missing_parents_arrays_or_scalars_are_invalid(
    patch: dict[str, Any],
) -> None:
    target = {"name": "x", "list": [{"x": 0}], "meta": {"n": 1, "nil": None}}
    with pytest.raises(InvalidPatch):
        patched(target, patch)


def test_a_whole_object_is_a_valid_patch() -> None:
    target = {"a": 1, "b": {"c": 2}}
    assert patched(target, {"a": 3, "b": {"d": 4}}) == {"a": 3, "b": {"d": 4}}


# -- properties ---------------------------------------------------------------------------------

keys = st.text(alphabet="ab/~01$", min_size=0, max_size=4)
leaves = st.one_of(
    st.booleans(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)
)
objects = st.recursive(
    st.dictionaries(keys, leaves, max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(leaves, inner), max_size=4),
    max_leaves=12,
)


def diff(old: dict[str, Any], new: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """A patch turning ``old`` into ``new``, descending into objects present in both."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[encode_pointer((*prefix, key))] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            patch.update(diff(before, value, (*prefix, key)))
        elif key not in old or before != value or type(before) is not type(value):
            patch[encode_pointer((*prefix, key))] = value
    return patch


@given(st.lists(keys, max_size=5))
def test_encoding_and_decoding_pointers_round_trips(path: list[str]) -> None:
    if path:
        assert decode_pointer(encode_pointer(tuple(path))) == tuple(path)


@given(objects, objects)
def test_the_patch_between_two_objects_turns_one_into_the_other(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert patched(old, diff(old, new)) == new


@given(objects, objects)
def test_a_whole_object_as_patch_replaces_each_property_it_names(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    patch = {encode_pointer((key,)): value for key, value in new.items()}
    assert patched(old, patch) == {**old, **new}


@given(st.lists(keys, min_size=1, max_size=3), st.lists(keys, min_size=1, max_size=2), objects)
def test_a_path_and_any_extension_of_it_are_never_accepted_together(
    path: list[str], extension: list[str], target: dict[str, Any]
) -> None:
    patch = {encode_pointer(tuple(path)): 1, encode_pointer((*path, *extension)): 2}
    with pytest.raises(InvalidPatch):
        patched(target, patch)


def test_a_patch_copies_what_it_touches_and_shares_the_rest() -> None:
    body = {"type": "text/plain", "subParts": [{"partId": "1"}]}
    target = {"keywords": {"$seen": True}, "bodyStructure": body, "mailboxIds": {"a": True}}
    result = patched(target, {"keywords/$flagged": True, "mailboxIds": {"b": True}})
    assert result == {"keywords": {"$seen": True, "$flagged": True},
                      "bodyStructure": body, "mailboxIds": {"b": True}}
    assert target["keywords"] == {"$seen": True}  # the original is left as it was
    assert target["mailboxIds"] == {"a": True}
    assert result["bodyStructure"] is body  # untouched: not copied
    assert result["keywords"] is not target["keywords"]
