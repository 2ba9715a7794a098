"""Mailbox/query with the tree arguments of RFC 8621 §2.3, sortAsTree and filterAsTree.

sortAsTree: an ancestor comes before its descendants, and two mailboxes that are not in line
compare by their nearest ancestors that are siblings. That is exactly the pre-order walk of the
*whole* tree with each set of siblings sorted by the comparators (ties by id), restricted to
the matching mailboxes — so that is how it is computed.

filterAsTree: a mailbox matches only if it and every ancestor match the filter.

Results under either argument depend on other mailboxes than the one that changed (renaming a
parent moves its whole subtree): /queryChanges of such a query re-places them too
(``moved_with_ancestors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from stalwart_tx.jmap.mail.mailbox_rules import ancestors
from stalwart_tx.jmap.standard.calls import MethodCall, QueryCall
from stalwart_tx.jmap.standard.sorting import Comparator, sort_ids
from stalwart_tx.store.records import JSONObject

TREE_ARGUMENTS = ("sortAsTree", "filterAsTree")


def uses_tree(call: MethodCall) -> bool:
    return any(call.extras.get(name) for name in TREE_ARGUMENTS)


async def query_mailboxes(call: QueryCall) -> list[str]:
    """The query engine of Mailbox: every id matching, in order (see the module's notes)."""
    stored = await call.ctx.store.accounts.get(call.account_id, call.data_type.name, None)
    return mailbox_results(call, views_of(call, stored))


async def moved_with_ancestors(call: QueryCall, updated: Sequence[str]) -> set[str]:
    """Mailbox/queryChanges (RFC 8621 §2.4) under sortAsTree or filterAsTree.

    A mailbox's place and membership then depend on its ancestors (their names and sortOrders,
    whether they match), so every descendant of an updated mailbox is re-placed too. That is
    enough: a mailbox whose place moved either changed itself or has a changed ancestor — in
    the old tree and in the new one alike, since the links below the nearest changed ancestor
    did not change — and mailboxes none of whose ancestors changed keep their relative order.
    """
    if not updated or not uses_tree(call):
        return set()
    stored = await call.ctx.store.accounts.get(call.account_id, call.data_type.name, None)
    return descendants(views_of(call, stored), updated)


def views_of(call: MethodCall, stored: Mapping[str, JSONObject]) -> dict[str, JSONObject]:
    """Stored mailboxes as filters and sorts see them: with their id and defaults."""
    return {
        mailbox_id: {"id": mailbox_id, **call.data_type.with_defaults(value)}
        for mailbox_id, value in stored.items()
    }


def mailbox_results(call: QueryCall, views: Mapping[str, JSONObject]) -> list[str]:
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


def descendants(views: Mapping[str, JSONObject], roots: Iterable[str]) -> set[str]:
    """Every mailbox below any of ``roots`` (the roots themselves not included)."""
    children: dict[str, list[str]] = {}
    for mailbox_id, view in views.items():
        if view["parentId"] is not None:
            children.setdefault(view["parentId"], []).append(mailbox_id)
    found: set[str] = set()
    level = list(roots)
    while level:
        level = [c for m in level for c in children.get(m, ()) if c not in found]
        found.update(level)
    return found
