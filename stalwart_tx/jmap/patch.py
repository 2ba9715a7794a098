"""PatchObject (RFC 8620 §5.3): parse the paths of a patch, then apply it to a copy of an object.

A PatchObject maps JSON Pointers (RFC 6901) without their leading ``/`` to values. Parsing checks
what can be checked without the object (pointer syntax, one path being a prefix of another);
applying checks the rest (every part before the last exists and is an object, never an array).
Both raise InvalidPatch, which the /set method reports as the invalidPatch SetError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stalwart_tx.store.records import json_copy


class InvalidPatch(ValueError):
    """The patch breaks a rule of §5.3; the message says which, naming the path."""


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


REMOVE: Final = _Remove()
"""What a null patch value turns into when the property has no default: the key goes away."""

Path = tuple[str, ...]


@dataclass(frozen=True)
class PatchOperation:
    """One entry of a PatchObject: the key as written, its decoded path, the value to set."""

    key: str
    path: Path
    value: Any

    @property
    def property(self) -> str:
        """The top-level property the operation changes."""
        return self.path[0]


def decode_pointer(key: str) -> Path:
    """The reference tokens of ``"/" + key`` (RFC 6901 §3-4): ``~1`` is ``/``, ``~0`` is ``~``."""
    tokens = []
    for raw in key.split("/"):
        # a "~" not followed by 0 or 1 is not a valid pointer (RFC 6901 §3)
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise InvalidPatch(f"{key!r} is not a valid JSON Pointer: '~' must be '~0' or '~1'")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def encode_pointer(path: Path) -> str:
    """The PatchObject key for a path (the inverse of decode_pointer)."""
    return "/".join(token.replace("~", "~0").replace("/", "~1") for token in path)


def parse_patch(patch: Mapping[str, Any]) -> list[PatchOperation]:
    """The operations of a PatchObject; InvalidPatch if one path is a prefix of another."""
    operations = [PatchOperation(key, decode_pointer(key), value) for key, value in patch.items()]
    paths = {operation.path for operation in operations}
    for operation in operations:
        for end in range(1, len(operation.path)):
            if operation.path[:end] in paths:
                raise InvalidPatch(
                    f"{operation.key!r} patches inside {encode_pointer(operation.path[:end])!r},"
                    " which the same patch also sets"
                )
    return operations


def apply_patch(
    target: Mapping[str, Any],
    operations: list[PatchOperation],
    reset: Callable[[str], Any] = lambda _: REMOVE,
) -> dict[str, Any]:
    """A patched copy of ``target``: the top-level properties the operations touch are deep
    copies, the others are ``target``'s own values, shared (an update of one keyword copies the
    keywords, not a whole Email's headers and body structure), so neither is to be changed in
    place.

    A null value sets a top-level property to ``reset(name)`` (its default) or, when that is
    REMOVE, deletes it; deeper down null always deletes. Deleting a key that is not there is a
    no-op. InvalidPatch if a part before the last is missing, not an object, or an array.
    """
    result: dict[str, Any] = dict(target)
    for name in {operation.property for operation in operations}:
        if name in result:
            result[name] = json_copy(result[name])
    for operation in operations:
        parent = _parent_of(result, operation)
        name = operation.path[-1]
        value = operation.value
        if value is None:
            value = reset(name) if len(operation.path) == 1 else REMOVE
        if value is REMOVE:
            parent.pop(name, None)
        else:
            parent[name] = json_copy(value)
    return result


def _parent_of(result: dict[str, Any], operation: PatchOperation) -> dict[str, Any]:
    node: Any = result
    for depth, token in enumerate(operation.path[:-1]):
        if isinstance(node, list):
            break
        if not isinstance(node, dict) or token not in node:
            missing = encode_pointer(operation.path[: depth + 1])
            raise InvalidPatch(f"{operation.key!r}: {missing!r} does not exist")
        node = node[token]
    if isinstance(node, list):
        raise InvalidPatch(f"{operation.key!r} points inside an array; replace the whole array")
    if not isinstance(node, dict):
        parent = encode_pointer(operation.path[:-1])
        raise InvalidPatch(f"{operation.key!r}: {parent!r} is not an object")
    return node
