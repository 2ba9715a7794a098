"""The standard methods of RFC 8620 §5, written once and run on any DataType.

    from stalwart_tx.jmap.standard import standard_methods
    METHODS = standard_methods(MAILBOX)   # [Mailbox/get, Mailbox/changes, Mailbox/set, ...]

Foo/copy with onSuccessDestroyOriginal answers with ``Responses`` (stalwart_tx.jmap.registry):
its own response, then the implicit Foo/set's (or an ``error`` response if that failed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.registry import MethodSpec, Responses

if TYPE_CHECKING:
    from stalwart_tx.jmap.context import RequestContext
    from stalwart_tx.jmap.datatype import DataType
    from stalwart_tx.store.records import JSONObject

    TypedHandler = Callable[
        [DataType, RequestContext, dict[str, Any]], Awaitable[JSONObject | Responses]
    ]


def standard_methods(data_type: DataType) -> list[MethodSpec]:
    """A MethodSpec for each standard method the type has, in §5 order."""
    # imported here: the method modules import stalwart_tx.jmap.datatype, which imports
    # this package's value kinds
    from stalwart_tx.jmap.datatype import CHANGES, COPY, GET, QUERY, QUERY_CHANGES, SET
    from stalwart_tx.jmap.standard.changes import changes
    from stalwart_tx.jmap.standard.copy import copy
    from stalwart_tx.jmap.standard.get import get
    from stalwart_tx.jmap.standard.query import query
    from stalwart_tx.jmap.standard.query_changes import query_changes
    from stalwart_tx.jmap.standard.set import set_objects

    handlers: list[tuple[str, TypedHandler, bool]] = [
        (GET, get, False),
        (CHANGES, changes, False),
        (SET, set_objects, True),
        (COPY, copy, True),
        (QUERY, query, False),
        (QUERY_CHANGES, query_changes, False),
    ]
    return [
        MethodSpec(
            name=data_type.method_name(method),
            capability=data_type.capability,
            handler=partial(handler, data_type),
            writes=writes,
        )
        for method, handler, writes in handlers
        if method in data_type.methods
    ]


__all__ = ["standard_methods"]
