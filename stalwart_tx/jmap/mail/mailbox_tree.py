"""Mailbox/query with the tree arguments of RFC 8621 §2.3, sortAsTree and filterAsTree.

sortAsTree: an ancestor comes before its descendants, and two mailboxes that are not in line
compare by their nearest ancestors that are siblings. That is exactly the pre-order walk of the
*whole* tree with each set of siblings sorted by the comparators (ties by id), restricted to
the matching mailboxes — so that is how it is computed.

filterAsTree: a mailbox matches only if it and every ancestor match the filter.

Results under either argument depend on other mailboxes than the one that changed (renaming a
parent moves its whole subtree), which the change-log based /queryChanges cannot see: for those
queries /query answers ``canCalculateChanges: false`` and /queryChanges cannotCalculateChanges.
"""

from __future__ import annotations

from collections.abc import Mapping

from stalwart_tx.jmap.datatype import QUERY_CHANGES
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.mailbox_rules import ancestors
from stalwart_tx.jmap.standard.calls import MethodCall, QueryCall
from stalwart_tx.jmap.standard.sorting import Comparator, sort_ids
from stalwart_tx.store.records import JSONObject

TREE_ARGUMENTS = ("sortAsTree", "filterAsTree")


def uses_tree(call: MethodCall) -> bool:
    return any(call.extras.get(name) for name in TREE_ARGUMENTS)


async def query_mailboxes(call: QueryCall) -> list[str]:
    """The query engine of Mailbox: every id matching, in order (see the module's notes)."""
    if call.method == QUERY_CHANGES and uses_tree(call):
        raise MethodError(
            "cannotCalculateChanges",
            "results sorted or filtered as a tree cannot be updated from the changes",
        )
    stored = await call.ctx.store.accounts.get(call.account_id, call.data_type.name, None)
    views = {
        mailbox_id: {"id": mailbox_id, **call.data_type.with_defaults(value)}
        for mailbox_id, value in stored.items()
    }
    matching = {i for i, view in views.items() if call.filter is None or call.filter.matches(view)}
    if call.extras.get("filterAsTree"):
        matching = {
            i for i in matching
            if all(a in matching for a in ancestors(views, views[i]["parentId"]) or ())
        }
    if call.extras.get("sortAsTree"):
        return [i for i in tree_order(views, call.sort) if i in matching]
    return sort_ids({i: views[i] for i in matching}, call.sort)


def tree_order(views: Mapping[str, JSONObject], sort: list[Comparator]) -> list[str]:
    """Every mailbox in pre-order, siblings in comparator order."""
    children: dict[str | None, dict[str, JSONObject]] = {}
    for mailbox_id, view in views.items():
        parent = view["parentId"] if view["parentId"] in views else None
        children.setdefault(parent, {})[mailbox_id] = view
    order: list[str] = []
    stack = list(reversed(sort_ids(children.get(None, {}), sort)))
    while stack:
        mailbox_id = stack.pop()
        order.append(mailbox_id)
        stack.extend(reversed(sort_ids(children.get(mailbox_id, {}), sort)))
    return order


async def can_calculate_changes(call: MethodCall, response: JSONObject) -> JSONObject:
    """/query response hook: tree-shaped results cannot be followed by /queryChanges."""
    return {"canCalculateChanges": False} if uses_tree(call) else {}
