"""What a data type's hooks and query engine are given: one method call, already parsed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.standard.working_set import WorkingSet

if TYPE_CHECKING:
    from stalwart_tx.jmap.datatype import DataType
    from stalwart_tx.jmap.standard.filters import FilterNode
    from stalwart_tx.jmap.standard.sorting import Comparator


@dataclass
class MethodCall:
    """A standard method call on one data type in one account.

    ``extras`` holds the type-specific arguments the type declared in ``extra_arguments``
    (checked against their kinds); ``arguments`` is everything the client sent.
    """

    ctx: RequestContext
    data_type: DataType
    method: str
    account_id: str
    arguments: Mapping[str, Any]
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SetCall(MethodCall):
    """A /set or /copy call while it computes its WriteBatch.

    Hooks read any type of the account through ``objects`` and stage writes of other types
    there too (``objects.update("Email", id, value)``): everything lands in the one atomic
    write, and any type read is a precondition of it. Hooks must not write to the store
    themselves, and must not keep state between calls: after a conflict the whole computation
    runs again with a fresh working set.
    """

    objects: WorkingSet = field(kw_only=True)


@dataclass
class QueryCall(MethodCall):
    """A /query or /queryChanges call with its filter and sort parsed and checked."""

    filter: FilterNode | None = field(kw_only=True)
    sort: list[Comparator] = field(kw_only=True)
