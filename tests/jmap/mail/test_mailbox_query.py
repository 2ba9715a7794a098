"""Mailbox/query and /queryChanges (RFC 8621 §2.3, §2.4) over HTTP on Redis: every filter and
sort with exact result order, sortAsTree and filterAsTree.

The tree used (besides the six top-level defaults, sortOrder 10 to 60 in the order Inbox,
Drafts, Sent, Trash, Junk, Archive)::

    A (5)            B (5)
    ├── A2 (1)       └── Ba (0, not subscribed)
    └── A1 (2)
        └── deep (0)
"""

from __future__ import annotations

import random
from typing import Any

import pytest_twisted

from tests.jmap.mail.conftest import Mail

DEFAULT_ORDER = ["Inbox", "Drafts", "Sent", "Trash", "Junk", "Archive"]
BY_ORDER_THEN_NAME = [{"property": "sortOrder"}, {"property": "name"}]


async def build_tree(mail: Mail) -> dict[str, str]:
    """The tree above; name → id."""
    result = await mail.set(create={
        "A": {"name": "A", "sortOrder": 5},
        "A2": {"name": "A2", "sortOrder": 1, "parentId": "#A"},
        "A1": {"name": "A1", "sortOrder": 2, "parentId": "#A"},
        "deep": {"name": "deep", "parentId": "#A1"},
        "B": {"name": "B", "sortOrder": 5},
        "Ba": {"name": "Ba", "parentId": "#B", "isSubscribed": False},
    })
    assert result["notCreated"] is None, result["notCreated"]
    ids = {name: created["id"] for name, created in result["created"].items()}
    for name, mailbox in (await mail.mailboxes()).items():
        ids.setdefault(name, mailbox["id"])
    return ids


async def names(mail: Mail, ids: dict[str, str], **arguments: Any) -> list[str]:
    by_id = {i: name for name, i in ids.items()}
    return [by_id[i] for i in await mail.query(**arguments)]


@pytest_twisted.ensureDeferred
async def test_filters(mail: Mail) -> None:
    ids = await build_tree(mail)
    sort = BY_ORDER_THEN_NAME
    assert await names(mail, ids, filter={"parentId": ids["A"]}, sort=sort) == ["A2", "A1"]
    assert await names(mail, ids, filter={"parentId": None}, sort=sort) == [
        "A", "B", *DEFAULT_ORDER
    ]
    assert await names(mail, ids, filter={"name": "INB"}, sort=sort) == ["Inbox"]
    assert await names(mail, ids, filter={"name": "a"}, sort=sort) == [
        "Ba", "A2", "A1", "A", "Drafts", "Trash", "Archive"
    ]
    assert await names(mail, ids, filter={"role": "junk"}) == ["Junk"]
    assert await names(mail, ids, filter={"role": None}, sort=sort) == [
        "Ba", "deep", "A2", "A1", "A", "B"
    ]
    assert await names(mail, ids, filter={"hasAnyRole": True}, sort=sort) == DEFAULT_ORDER
    assert await names(mail, ids, filter={"hasAnyRole": False}, sort=sort) == [
        "Ba", "deep", "A2", "A1", "A", "B"
    ]
    assert await names(mail, ids, filter={"isSubscribed": False}) == ["Ba"]
    assert await names(mail, ids, sort=sort, filter={
        "operator": "AND", "conditions": [{"hasAnyRole": False}, {"name": "a"}],
    }) == ["Ba", "A2", "A1", "A"]
    assert await names(mail, ids, sort=sort, filter={"parentId": ids["A"], "name": "2"}) == [
        "A2"
    ]
    await mail.error("Mailbox/query", "unsupportedFilter", filter={"totalEmails": 0})
    await mail.error("Mailbox/query", "invalidArguments", filter={"hasAnyRole": "yes"})


@pytest_twisted.ensureDeferred
async def test_sorts(mail: Mail) -> None:
    ids = await build_tree(mail)
    everything = sorted(ids, key=lambda name: (name.upper(), ids[name]))
    assert await names(mail, ids, sort=[{"property": "name"}]) == everything
    assert await names(mail, ids, sort=[{"property": "name", "isAscending": False}]) == (
        everything[::-1]
    )
    assert await names(mail, ids, sort=[
        {"property": "sortOrder", "isAscending": False}, {"property": "name"},
    ]) == ["Archive", "Junk", "Trash", "Sent", "Drafts", "Inbox", "A", "B", "A1", "A2",
           "Ba", "deep"]
    await mail.error("Mailbox/query", "unsupportedSort", sort=[{"property": "totalEmails"}])


@pytest_twisted.ensureDeferred
async def test_sort_as_tree(mail: Mail) -> None:
    ids = await build_tree(mail)
    assert await names(mail, ids, sort=BY_ORDER_THEN_NAME, sortAsTree=True) == [
        "A", "A2", "A1", "deep", "B", "Ba", *DEFAULT_ORDER
    ]
    # without it, the same comparators interleave the levels
    assert await names(mail, ids, sort=BY_ORDER_THEN_NAME) == [
        "Ba", "deep", "A2", "A1", "A", "B", *DEFAULT_ORDER
    ]
    # descending name, as a tree: parents still come first, each sibling set reversed
    assert await names(mail, ids, sort=[{"property": "name", "isAscending": False}],
                       sortAsTree=True, filter={"hasAnyRole": False}) == [
        "B", "Ba", "A", "A2", "A1", "deep"
    ]
    # with a filter, mailboxes whose parents do not match keep their place in the tree
    assert await names(mail, ids, sort=BY_ORDER_THEN_NAME, sortAsTree=True,
                       filter={"role": None, "name": "a"}) == ["A", "A2", "A1", "Ba"]


@pytest_twisted.ensureDeferred
async def test_filter_as_tree(mail: Mail) -> None:
    ids = await build_tree(mail)
    # "Ba" matches but its parent "B" does not: left out
    assert await names(mail, ids, sort=BY_ORDER_THEN_NAME, sortAsTree=True, filterAsTree=True,
                       filter={"name": "a"}) == ["A", "A2", "A1", "Drafts", "Trash", "Archive"]
    assert await names(mail, ids, filter={"name": "deep"}, filterAsTree=True) == []
    assert await names(mail, ids, filter={"name": "deep"}) == ["deep"]
    assert await names(mail, ids, filter={"isSubscribed": True}, filterAsTree=True,
                       sort=BY_ORDER_THEN_NAME) == ["deep", "A2", "A1", "A", "B", *DEFAULT_ORDER]
    assert await names(mail, ids, filterAsTree=True, sort=BY_ORDER_THEN_NAME) == await names(
        mail, ids, sort=BY_ORDER_THEN_NAME
    )


@pytest_twisted.ensureDeferred
async def test_query_changes(mail: Mail) -> None:
    ids = await build_tree(mail)
    arguments: dict[str, Any] = {"filter": {"hasAnyRole": False}, "sort": [{"property": "name"}]}
    first = await mail.ok("Mailbox/query", **arguments)
    assert first["canCalculateChanges"] is True
    created = await mail.create(name="Aa")
    await mail.set(update={ids["deep"]: {"name": "Deeper"}}, destroy=[ids["Ba"]])
    changes = await mail.ok("Mailbox/queryChanges", sinceQueryState=first["queryState"],
                            calculateTotal=True, **arguments)
    assert sorted(changes["removed"]) == sorted([ids["deep"], ids["Ba"]])
    assert changes["added"] == [{"id": created, "index": 3}, {"id": ids["deep"], "index": 5}]
    assert changes["total"] == 6
    # A, A1, A2, Aa, B, Deeper: applying the changes to the old results gives the new ones
    cached = [i for i in first["ids"] if i not in changes["removed"]]
    for added in changes["added"]:
        cached.insert(added["index"], added["id"])
    assert cached == await mail.query(**arguments)


def apply(cached: list[str], changes: dict[str, Any]) -> list[str]:
    """A client's cached results updated by a /queryChanges response (RFC 8620 §5.6)."""
    result = [i for i in cached if i not in changes["removed"]]
    for added in changes["added"]:
        result.insert(added["index"], added["id"])
    return result


TREE_QUERIES: list[dict[str, Any]] = [
    {"sortAsTree": True, "sort": BY_ORDER_THEN_NAME},
    {"sortAsTree": True, "sort": [{"property": "name", "isAscending": False}]},
    {"filterAsTree": True, "filter": {"name": "a"}, "sort": [{"property": "name"}]},
    {"sortAsTree": True, "filterAsTree": True, "filter": {"isSubscribed": True},
     "sort": BY_ORDER_THEN_NAME},
    {"sortAsTree": True, "filterAsTree": True,
     "filter": {"operator": "NOT", "conditions": [{"name": "x"}]}, "sort": [{"property": "name"}]},
]


async def random_step(mail: Mail, rng: random.Random, step: int) -> None:
    """One random change of the tree: rename, reorder, move, (un)subscribe, create or destroy."""
    found = (await mail.ok("Mailbox/get"))["list"]
    mailbox = rng.choice(found)
    action = rng.randrange(6)
    if action == 0:
        await mail.set(update={mailbox["id"]: {"name": rng.choice("abcxyzAX") + str(step)}})
    elif action == 1:
        await mail.set(update={mailbox["id"]: {"sortOrder": rng.randrange(4)}})
    elif action == 2:
        parent = rng.choice([None, *(m["id"] for m in found)])
        await mail.set(update={mailbox["id"]: {"parentId": parent}})  # may be refused: fine
    elif action == 3:
        await mail.set(update={mailbox["id"]: {"isSubscribed": not mailbox["isSubscribed"]}})
    elif action == 4:
        await mail.set(create={"n": {"name": rng.choice("abxy") + str(step),
                                     "parentId": mailbox["id"], "sortOrder": rng.randrange(4)}})
    else:
        await mail.set(destroy=[mailbox["id"]])  # refused while it has children: fine


@pytest_twisted.ensureDeferred
async def test_tree_query_changes_bring_cached_results_up_to_date(mail: Mail) -> None:
    await build_tree(mail)
    rng = random.Random(8621)
    for round_number in range(20):
        before = [await mail.ok("Mailbox/query", **query) for query in TREE_QUERIES]
        for step in range(rng.randrange(1, 4)):
            await random_step(mail, rng, round_number * 10 + step)
        for query, old in zip(TREE_QUERIES, before, strict=True):
            assert old["canCalculateChanges"] is True
            changes = await mail.ok("Mailbox/queryChanges", sinceQueryState=old["queryState"],
                                    calculateTotal=True, **query)
            now = await mail.query(**query)
            assert apply(old["ids"], changes) == now, (round_number, query)
            assert changes["total"] == len(now)


@pytest_twisted.ensureDeferred
async def test_renaming_a_parent_moves_its_subtree_in_tree_query_changes(mail: Mail) -> None:
    ids = await build_tree(mail)
    query: dict[str, Any] = {"sortAsTree": True, "sort": [{"property": "name"}],
                             "filter": {"hasAnyRole": False}}
    old = await mail.ok("Mailbox/query", **query)
    assert [i for i in old["ids"]] == [ids[n] for n in ("A", "A1", "deep", "A2", "B", "Ba")]
    await mail.set(update={ids["A"]: {"name": "C"}})
    changes = await mail.ok("Mailbox/queryChanges", sinceQueryState=old["queryState"], **query)
    assert changes["removed"] == [ids["A"], *sorted([ids["A1"], ids["A2"], ids["deep"]])]
    assert changes["added"] == [
        {"id": ids[name], "index": index}
        for index, name in enumerate(("B", "Ba", "A", "A1", "deep", "A2")) if index >= 2
    ]
    assert apply(old["ids"], changes) == await mail.query(**query)
    await mail.error("Mailbox/queryChanges", "tooManyChanges", sinceQueryState=old["queryState"],
                     maxChanges=3, **query)
    await mail.error("Mailbox/query", "invalidArguments", sortAsTree="yes")
    for default in (False, None):
        await mail.ok("Mailbox/query", sortAsTree=default, filterAsTree=default)
