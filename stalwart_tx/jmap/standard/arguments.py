"""Reading a method's arguments: every type checked, every mistake an invalidArguments error.

An absent argument and an explicit null mean the same (RFC 8620 §3.3 gives defaults for both).
Unknown arguments are refused too, so a misspelt ``ifInState`` never silently drops a check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard.values import MAX_SAFE_INT, is_id, is_int, json_type_name

if TYPE_CHECKING:
    from stalwart_tx.jmap.datatype import DataType


def _wrong(name: str, expected: str, value: Any) -> MethodError:
    return MethodError.invalid_arguments(
        f"{name!r} must be {expected}, not {json_type_name(value)}"
    )


def check_known(
    arguments: Mapping[str, Any], known: Iterable[str], data_type: DataType, method: str
) -> dict[str, Any]:
    """The type-specific arguments of the call, checked; invalidArguments for unknown ones."""
    if not isinstance(arguments, Mapping):
        raise MethodError.invalid_arguments("the arguments must be an object")
    declared = data_type.extra_arguments.get(method, {})
    allowed = set(known) | set(declared)
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise MethodError.invalid_arguments(
            f"unknown argument(s) for {data_type.method_name(method)}: {', '.join(unknown)}"
        )
    extras: dict[str, Any] = {}
    for name, kind in declared.items():
        if name in arguments:
            problem = kind.problem(arguments[name])
            if problem is not None:
                raise MethodError.invalid_arguments(f"{name!r} {problem}")
            extras[name] = arguments[name]
    return extras


def account_id(
    ctx: RequestContext, arguments: Mapping[str, Any], name: str = "accountId"
) -> str:
    """The account named by ``name``; accountNotFound (fromAccountNotFound) if not the user's."""
    value = arguments.get(name)
    if not isinstance(value, str):
        raise _wrong(name, "an Id", value)
    if value not in ctx.account_ids():
        if name == "fromAccountId":
            raise MethodError.from_account_not_found()
        raise MethodError.account_not_found()
    return value


def optional_string(arguments: Mapping[str, Any], name: str) -> str | None:
    value = arguments.get(name)
    if value is not None and not isinstance(value, str):
        raise _wrong(name, "a String or null", value)
    return value


def required_string(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if value is None:
        raise MethodError.invalid_arguments(f"{name!r} is required")
    if not isinstance(value, str):
        raise _wrong(name, "a String", value)
    return value


def boolean(arguments: Mapping[str, Any], name: str, default: bool) -> bool:
    value = arguments.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong(name, "a Boolean", value)
    return value


def integer(arguments: Mapping[str, Any], name: str, default: int) -> int:
    value = arguments.get(name)
    if value is None:
        return default
    if not is_int(value):
        raise _wrong(name, "an Int", value)
    return int(value)


def optional_unsigned(arguments: Mapping[str, Any], name: str) -> int | None:
    value = arguments.get(name)
    if value is None:
        return None
    if not is_int(value, 0, MAX_SAFE_INT):
        if is_int(value):
            raise MethodError.invalid_arguments(f"{name!r} must not be negative")
        raise _wrong(name, "an UnsignedInt or null", value)
    return int(value)


def optional_strings(arguments: Mapping[str, Any], name: str) -> list[str] | None:
    """A list of strings (ids, possibly ``#creationId``, or property names), or None."""
    value = arguments.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _wrong(name, "an array or null", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _wrong(f"{name}[{index}]", "a String", item)
    return value


def optional_object(arguments: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = arguments.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong(name, "an object or null", value)
    return value


def creations(arguments: Mapping[str, Any], name: str = "create") -> dict[str, Any] | None:
    """A ``create`` map (RFC 8620 §5.3, §5.4: ``Id[Foo]``), or None; its keys are creation ids.

    A key that is not an Id is refused: it would go into the response's ``createdIds``, which a
    client may send back, and a Request with such ``createdIds`` is not a valid Request.
    """
    value = optional_object(arguments, name)
    for key in value or ():
        if not is_id(key):
            raise MethodError.invalid_arguments(
                f"{name!r}: the creation id {key[:60]!r} is not an Id"
                " (1-255 characters of A-Z a-z 0-9 - _)"
            )
    return value
