"""Foo/query (RFC 8620 §5.5): filter, sort, then a window by position or anchor.

The type's query engine produces the full sorted id list; the default one loads every object
and filters and sorts in Python, which suits types with few objects. A type with many (Email)
gives ``DataType.query_engine`` an index-backed engine with the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import QUERY, QUERY_CHANGES, DataType, QueryEngine
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.calls import QueryCall
from stalwart_tx.jmap.standard.filters import parse_filter
from stalwart_tx.jmap.standard.hooks import with_response_hook
from stalwart_tx.jmap.standard.references import resolve_id
from stalwart_tx.jmap.standard.sorting import parse_sort, sort_ids
from stalwart_tx.store.records import JSONObject

KNOWN_ARGUMENTS = (
    "accountId", "filter", "sort", "position", "anchor", "anchorOffset", "limit", "calculateTotal",
)


async def load_and_filter(call: QueryCall) -> list[str]:
    """The default query engine: every object loaded, filtered and sorted here."""
    data_type = call.data_type
    stored = await call.ctx.store.accounts.get(call.account_id, data_type.name, None)
    views = {
        object_id: {"id": object_id, **data_type.with_defaults(value)}
        for object_id, value in stored.items()
    }
    if call.filter is not None:
        views = {i: view for i, view in views.items() if call.filter.matches(view)}
    return sort_ids(views, call.sort)


def engine_of(data_type: DataType) -> QueryEngine:
    return data_type.query_engine or load_and_filter


def parse_query_call(
    data_type: DataType,
    ctx: RequestContext,
    arguments: dict[str, Any],
    method: str,
    known: tuple[str, ...],
) -> QueryCall:
    extras = args.check_known(arguments, known, data_type, method)
    account_id = args.account_id(ctx, arguments)
    return QueryCall(
        ctx, data_type, method, account_id, arguments, extras,
        filter=parse_filter(data_type, arguments.get("filter")),
        sort=parse_sort(data_type, arguments.get("sort")),
    )


@dataclass(frozen=True)
class Window:
    """Which slice of the results a /query returns."""

    position: int
    limit: int | None

    def of(self, ids: list[str]) -> list[str]:
        end = None if self.limit is None else self.position + self.limit
        return ids[self.position:end]


def window(
    total: int,
    position: int,
    anchor_index: int | None,
    anchor_offset: int,
    limit: int | None,
) -> Window:
    """The start index per §5.5: the anchor (if any) plus its offset, else the position, where
    a negative position counts from the end; either clamped at 0."""
    if anchor_index is not None:
        start = anchor_index + anchor_offset
    elif position < 0:
        start = total + position
    else:
        start = position
    return Window(max(start, 0), limit)


async def query(data_type: DataType, ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject:
    call = parse_query_call(data_type, ctx, arguments, QUERY, KNOWN_ARGUMENTS)
    position = args.integer(arguments, "position", 0)
    anchor = args.optional_string(arguments, "anchor")
    anchor_offset = args.integer(arguments, "anchorOffset", 0)
    limit = args.optional_unsigned(arguments, "limit")
    calculate_total = args.boolean(arguments, "calculateTotal", False)
    enforced_limit = limit
    cap = data_type.max_query_limit
    if cap is not None and (limit is None or limit > cap):
        enforced_limit = cap

    # the state with the results or before them: if they are newer than the state,
    # /queryChanges from it repeats a change (harmless: removed and added again) rather than
    # missing one (a window reads it itself, in the same read when it can)
    if anchor is None and position >= 0 and data_type.query_window is not None:
        found = await data_type.query_window(call, position, enforced_limit, calculate_total)
        if found is not None:
            window_ids, total, query_state = found
            windowed: JSONObject = {
                "accountId": call.account_id,
                "queryState": query_state,
                "canCalculateChanges": QUERY_CHANGES in data_type.methods,
                "position": position,
                "ids": window_ids,
            }
            if calculate_total:
                windowed["total"] = total
            if enforced_limit != limit:
                windowed["limit"] = enforced_limit
            return await with_response_hook(call, windowed)
    query_state = await ctx.store.changes.current_state(call.account_id, data_type.name)
    ids = await engine_of(data_type)(call)
    anchor_index = None
    if anchor is not None:
        anchor_id = resolve_id(ctx, anchor)
        try:
            anchor_index = ids.index(anchor_id) if anchor_id is not None else -1
        except ValueError:
            anchor_index = -1
        if anchor_index < 0:
            raise MethodError("anchorNotFound", f"{anchor!r} is not in the results")
    chosen = window(len(ids), position, anchor_index, anchor_offset, enforced_limit)
    response: JSONObject = {
        "accountId": call.account_id,
        "queryState": query_state,
        "canCalculateChanges": QUERY_CHANGES in data_type.methods,
        "position": chosen.position,
        "ids": chosen.of(ids),
    }
    if calculate_total:
        response["total"] = len(ids)
    if enforced_limit != limit:
        response["limit"] = enforced_limit
    return await with_response_hook(call, response)
