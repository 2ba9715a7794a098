"""References inside one request: result references (RFC 8620 §3.7) and creation ids (§3.3, §5.3).

A result reference is an argument ``"#name": {"resultOf", "name", "path"}`` standing for a value
taken from an earlier response of the same request; the API layer resolves these before any
handler runs. A creation id reference is an id written ``"#creationId"`` that names an object an
earlier /set call of the request (or the request's ``createdIds``) created; /set handlers resolve
those with ``resolve_id``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.registry import JSONObject
from stalwart_tx.store.records import json_copy

if TYPE_CHECKING:
    from stalwart_tx.jmap.context import RequestContext

# RFC 8620 §3.2: a method call or a response, (name, arguments, method call id).
Invocation = tuple[str, JSONObject, str]

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_ESCAPE = re.compile(r"~[01]")
_BAD_ESCAPE = re.compile(r"~(?![01])")


class PointerError(Exception):
    """A JSON Pointer is malformed or names nothing in the document."""


def parse_pointer(path: str) -> list[str]:
    """The unescaped reference tokens of an RFC 6901 pointer (``""`` is the whole document)."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise PointerError(f"the path {path!r} does not start with '/'")
    tokens = path[1:].split("/")
    for token in tokens:
        if _BAD_ESCAPE.search(token):
            raise PointerError(f"the token {token!r} has a '~' not followed by 0 or 1")
    # One pass over the escapes, so "~01" becomes "~1" and never "/" (RFC 6901 §4).
    return [_ESCAPE.sub(lambda m: "/" if m.group() == "~1" else "~", t) for t in tokens]


def evaluate_pointer(document: object, path: str) -> object:
    """The value ``path`` points at, with the ``*`` extension of RFC 8620 §3.7.

    On an array, the token ``*`` applies the rest of the pointer to every item and collects the
    results in order; a result that is itself an array is spliced in (one level of flattening).
    Raises PointerError when the pointer is malformed or any step finds nothing.
    """
    return _evaluate(document, parse_pointer(path), path)


def _evaluate(value: object, tokens: Sequence[str], path: str) -> object:
    # Recursion depth is bounded by the depth of the document, which the request parser limits.
    for position, token in enumerate(tokens):
        if isinstance(value, list):
            if token == "*":
                rest = tokens[position + 1:]
                mapped: list[object] = []
                for item in value:
                    result = _evaluate(item, rest, path)
                    if isinstance(result, list):
                        mapped.extend(result)
                    else:
                        mapped.append(result)
                return mapped
            if not _ARRAY_INDEX.fullmatch(token) or int(token) >= len(value):
                raise PointerError(f"{path!r}: no array item {token!r}")
            value = value[int(token)]
        elif isinstance(value, dict):
            if token not in value:
                raise PointerError(f"{path!r}: no property {token!r}")
            value = value[token]
        else:
            raise PointerError(f"{path!r}: {token!r} goes past a {type(value).__name__} value")
    return value


def resolve_result_references(
    arguments: JSONObject, responses: Sequence[Invocation]
) -> JSONObject:
    """``arguments`` with every ``#name`` result reference replaced by ``name: value``.

    ``responses`` are those of the calls already processed in this request, in order. Raises
    MethodError: invalidArguments when an argument is given both plain and as a reference,
    invalidResultReference when a reference is malformed or fails to resolve (§3.7). Resolved
    values are copies, so a handler changing its arguments never changes an earlier response.
    """
    if not any(name.startswith("#") for name in arguments):
        return arguments
    resolved: JSONObject = {}
    for name, value in arguments.items():
        if not name.startswith("#"):
            resolved[name] = value
            continue
        plain = name[1:]
        if plain in arguments:
            raise MethodError.invalid_arguments(
                f"The argument {plain!r} is given both directly and as a result reference."
            )
        resolved[plain] = json_copy(_resolve_one(name, value, responses))
    return resolved


def _resolve_one(name: str, reference: object, responses: Sequence[Invocation]) -> Any:
    if not isinstance(reference, dict) or not all(
        isinstance(reference.get(key), str) for key in ("resultOf", "name", "path")
    ):
        raise MethodError.invalid_result_reference(
            f"{name!r} is not a ResultReference (resultOf, name and path, all Strings)."
        )
    result_of, wanted_name, path = reference["resultOf"], reference["name"], reference["path"]
    # §3.7 step 1: the *first* response with that method call id, whatever its name.
    found = next((r for r in responses if r[2] == result_of), None)
    if found is None:
        raise MethodError.invalid_result_reference(
            f"{name!r}: no earlier response has the method call id {result_of!r}."
        )
    if found[0] != wanted_name:
        raise MethodError.invalid_result_reference(
            f"{name!r}: the response {result_of!r} is {found[0]!r}, not {wanted_name!r}."
        )
    try:
        return evaluate_pointer(found[1], path)
    except PointerError as e:
        raise MethodError.invalid_result_reference(f"{name!r}: {e}") from None


class UnknownCreationId(MethodError):
    """A ``#creationId`` names no object created in this request (nor in its ``createdIds``).

    A MethodError (invalidArguments) so that, uncaught, it fails the method call; /set handlers
    catch it and report the SetError their context calls for (notFound for an update or destroy
    id, invalidProperties for a property value).
    """

    def __init__(self, creation_id: str) -> None:
        super().__init__(
            "invalidArguments", f"No object was created with the creation id {creation_id!r}."
        )
        self.creation_id = creation_id


def resolve_id(ctx: RequestContext, id_or_reference: str) -> str:
    """A real object id: ``"#creationId"`` is looked up in ``ctx.created_ids``, others pass as is.

    Raises UnknownCreationId for a creation id nothing was created under.
    """
    if not id_or_reference.startswith("#"):
        return id_or_reference
    creation_id = id_or_reference[1:]
    try:
        return ctx.created_ids[creation_id]
    except KeyError:
        raise UnknownCreationId(creation_id) from None
