"""The argument checks of the private IMAP_VIEW methods (``imap_view``, ``imap_expunge``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard.values import MAX_SAFE_INT, is_id, is_int


def id_list(arguments: Mapping[str, Any], name: str) -> list[str]:
    value = arguments.get(name)
    if not isinstance(value, list) or not all(is_id(i) for i in value):
        raise MethodError.invalid_arguments(f"{name!r} must be an array of Ids")
    return list(dict.fromkeys(value))


def one_id(arguments: Mapping[str, Any], name: str, *, nullable: bool = False) -> str | None:
    value = arguments.get(name)
    if value is None and nullable:
        return None
    if not is_id(value):
        raise MethodError.invalid_arguments(f"{name!r} must be an Id")
    return str(value)


def unsigned(arguments: Mapping[str, Any], name: str) -> int:
    value: Any = arguments.get(name)
    if not is_int(value) or not 0 <= value <= MAX_SAFE_INT:
        raise MethodError.invalid_arguments(f"{name!r} must be an UnsignedInt")
    return int(value)


def known_only(arguments: Mapping[str, Any], *names: str) -> None:
    unknown = sorted(set(arguments) - {"accountId", *names})
    if unknown:
        raise MethodError.invalid_arguments(f"unknown argument(s): {', '.join(unknown)}")
