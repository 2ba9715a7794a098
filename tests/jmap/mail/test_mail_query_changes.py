"""Email/queryChanges and Mailbox/queryChanges (RFC 8620 §5.6, RFC 8621 §2.4, §4.5) over HTTP on
Redis, checked the way a client uses them.

A client holding the ids of an old query result applies ``removed`` and then ``added`` (each at
its index, in order) and must get the new result (up to ``upToId`` when given). Where the RFC
leaves the server a choice (extra ids in ``removed`` and re-added; ``cannotCalculateChanges``
for a query it cannot follow), the tests assert the RFC's constraint, not one answer.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

NEWEST_FIRST: list[dict[str, Any]] = [{"property": "receivedAt", "isAscending": False}]
OLDEST_FIRST: list[dict[str, Any]] = [{"property": "receivedAt", "isAscending": True}]


def day(number: int, hour: int = 10) -> str:
    return f"2023-01-{number:02d}T{hour:02d}:00:00Z"


def apply_changes(cached: list[str], changes: dict[str, Any]) -> list[str]:
    """What a client does (§5.6): every removed id out, then each added id in at its index, in
    the order given."""
    removed = set(changes["removed"])
    ids = [i for i in cached if i not in removed]
    for item in changes["added"]:
        ids.insert(item["index"], item["id"])
    return ids


async def check_query_changes(
    caller: Emails,
    type_name: str,
    old: dict[str, Any],
    query: dict[str, Any],
    *,
    up_to_id: str | None = None,
    max_changes: int | None = None,
    may_refuse: bool = False,
) -> dict[str, Any] | None:
    """Ask ``type_name``/queryChanges since ``old`` (a /query response to ``query``) and check it
    against a fresh /query: the apply rule, the ids and indexes of ``added``, the states and the
    total. None when the server answered cannotCalculateChanges, which only ``may_refuse``
    allows, and never for a query the server said it can follow (canCalculateChanges)."""
    extra: dict[str, Any] = {} if up_to_id is None else {"upToId": up_to_id}
    if max_changes is not None:
        extra["maxChanges"] = max_changes
    name, changes = await caller.invoke(
        f"{type_name}/queryChanges", sinceQueryState=old["queryState"], calculateTotal=True,
        **extra, **query,
    )
    if name == "error" and changes["type"] == "cannotCalculateChanges" and may_refuse:
        return None
    assert name == f"{type_name}/queryChanges", changes
    now = await caller.ok(f"{type_name}/query", calculateTotal=True, **query)
    new_ids: list[str] = now["ids"]
    assert set(changes) == {
        "accountId", "oldQueryState", "newQueryState", "removed", "added", "total",
    }, changes
    assert changes["accountId"] == caller.account
    assert changes["oldQueryState"] == old["queryState"]
    assert changes["newQueryState"] == now["queryState"]
    assert changes["total"] == now["total"] == len(new_ids)
    # added: sorted by index, lowest first; each id is at that index in the new results
    indexes = [item["index"] for item in changes["added"]]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes), changes
    for item in changes["added"]:
        assert set(item) == {"id", "index"}
        assert new_ids[item["index"]] == item["id"], (item, new_ids)
    applied = apply_changes(old["ids"], changes)
    added_ids = {item["id"] for item in changes["added"]}
    if up_to_id is None:
        assert applied == new_ids, (old["ids"], changes, new_ids)
        # MUST: every id that left the results is removed, every one that entered is added
        assert set(old["ids"]) - set(new_ids) <= set(changes["removed"]), changes
        assert set(new_ids) - set(old["ids"]) <= added_ids, changes
    else:
        # the client's cache is right up to upToId (and may be wrong after it)
        assert up_to_id in new_ids, "the tests choose an upToId that stays in the results"
        end = new_ids.index(up_to_id) + 1
        assert applied[:end] == new_ids[:end], (old["ids"], changes, new_ids, up_to_id)
        assert set(new_ids[:end]) - set(old["ids"]) <= added_ids, changes
    return changes


async def check_email(
    emails: Emails, old: dict[str, Any], query: dict[str, Any], **options: Any
) -> dict[str, Any]:
    changes = await check_query_changes(emails, "Email", old, query, **options)
    assert changes is not None
    return changes


async def step_checked(
    emails: Emails, queries: list[dict[str, Any]], step: Callable[[], Awaitable[Any]],
    type_name: str = "Email", may_refuse: bool = False,
) -> list[dict[str, Any] | None]:
    """Query each of ``queries``, take ``step``, and check each query's changes."""
    olds = [await emails.ok(f"{type_name}/query", **query) for query in queries]
    await step()
    return [
        await check_query_changes(emails, type_name, old, query, may_refuse=may_refuse)
        for old, query in zip(olds, queries, strict=True)
    ]


async def patch(emails: Emails, updates: dict[str, Any]) -> None:
    result = await emails.ok("Email/set", update=updates)
    assert result["notUpdated"] is None, result["notUpdated"]


async def destroy(emails: Emails, *ids: str) -> None:
    result = await emails.ok("Email/set", destroy=list(ids))
    assert result["notDestroyed"] is None, result["notDestroyed"]


async def imported(emails: Emails, subject: str, number: int, box: str, **entry: Any) -> str:
    created = await emails.import_raw(
        message(subject, message_id=f"{subject.replace(' ', '-')}-{number}@x"), [box],
        receivedAt=day(number), **entry,
    )
    return str(created["id"])


# -- 1. a mailbox newest first --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_inbox_newest_first_follows_imports_destroys_moves_and_keywords(
    emails: Emails,
) -> None:
    inbox = await emails.inbox()
    archive = await emails.create(name="Elsewhere")
    ids = {n: await imported(emails, f"Mail {n}", n, inbox) for n in (10, 12, 14, 16)}
    outside = await imported(emails, "Outside", 15, archive)
    query: dict[str, Any] = {"filter": {"inMailbox": inbox}, "sort": NEWEST_FIRST}
    first = await emails.ok("Email/query", **query)
    assert first["ids"] == [ids[16], ids[14], ids[12], ids[10]]

    state: dict[str, str] = {}

    async def import_at(number: int) -> None:
        state[f"new{number}"] = await imported(emails, f"New {number}", number, inbox)

    # the newest, the oldest and one in the middle arrive
    for number in (20, 5, 13):
        [changes] = await step_checked(emails, [query], lambda n=number: import_at(n))
        assert changes is not None
        position = {20: 0, 5: 5, 13: 3}[number]
        assert {"id": state[f"new{number}"], "index": position} in changes["added"]
    # one is destroyed: it is removed, and nothing is added in its place
    [changes] = await step_checked(emails, [query], lambda: destroy(emails, ids[14]))
    assert changes is not None and ids[14] in changes["removed"]
    # one moves out of the Inbox, one moves in (it lands between 14 and 16 by receivedAt)
    [changes] = await step_checked(emails, [query], lambda: patch(
        emails, {ids[12]: {"mailboxIds": {archive: True}}}
    ))
    assert changes is not None and ids[12] in changes["removed"]
    assert ids[12] not in {item["id"] for item in changes["added"]}
    [changes] = await step_checked(emails, [query], lambda: patch(
        emails, {outside: {f"mailboxIds/{inbox}": True}}
    ))
    assert changes is not None and {"id": outside, "index": 2} in changes["added"]
    # a keyword the filter ignores: the email may be re-placed (removed and added at the same
    # index), never lost
    [changes] = await step_checked(emails, [query], lambda: patch(
        emails, {ids[10]: {"keywords/$seen": True}}
    ))
    assert changes is not None
    if ids[10] in changes["removed"]:
        assert ids[10] in {item["id"] for item in changes["added"]}
    # and everything at once, from the first state
    await check_email(emails, first, query)


# -- 2. keyword filters ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_keyword_filters_follow_keyword_patches(emails: Emails) -> None:
    inbox = await emails.inbox()
    ids = [await imported(emails, f"Mail {n}", n, inbox) for n in range(1, 7)]
    await patch(emails, {ids[1]: {"keywords": {"$flagged": True}},
                         ids[3]: {"keywords": {"$flagged": True, "$seen": True}},
                         ids[4]: {"keywords": {"$seen": True}}})
    flagged: dict[str, Any] = {
        "filter": {"inMailbox": inbox, "hasKeyword": "$flagged"}, "sort": NEWEST_FIRST,
    }
    unseen: dict[str, Any] = {"filter": {"notKeyword": "$seen"}, "sort": OLDEST_FIRST}
    by_subject: dict[str, Any] = {
        "filter": {"operator": "OR", "conditions": [
            {"hasKeyword": "$flagged"}, {"notKeyword": "$seen"},
        ]},
        "sort": [{"property": "subject", "isAscending": False}],
    }
    queries = [flagged, unseen, by_subject]
    first = [await emails.ok("Email/query", **query) for query in queries]
    assert first[0]["ids"] == [ids[3], ids[1]]
    assert first[1]["ids"] == [ids[0], ids[1], ids[2], ids[5]]

    # in: ids[5] gets flagged; out: ids[3] loses its flag
    flag_moves = await step_checked(emails, queries, lambda: patch(emails, {
        ids[5]: {"keywords/$flagged": True}, ids[3]: {"keywords/$flagged": None},
    }))
    changes = flag_moves[0]
    assert changes is not None
    assert ids[3] in changes["removed"]
    assert {"id": ids[5], "index": 0} in changes["added"]
    # out of the unseen result: ids[0] and ids[2] become seen; in: ids[4] becomes unseen
    seen_moves = await step_checked(emails, queries, lambda: patch(emails, {
        ids[0]: {"keywords/$seen": True}, ids[2]: {"keywords": {"$seen": True}},
        ids[4]: {"keywords/$seen": None},
    }))
    changes = seen_moves[1]
    assert changes is not None
    assert {ids[0], ids[2]} <= set(changes["removed"])
    assert {"id": ids[4], "index": 1} in changes["added"]
    # a patch that changes nothing the filters see, and one that flips twice back to the start
    for email_id, keyword, value in [
        (ids[1], "$draft", True), (ids[5], "$flagged", None), (ids[5], "$flagged", True),
    ]:
        await step_checked(emails, queries, lambda e=email_id, k=keyword, v=value: patch(
            emails, {e: {f"keywords/{k}": v}}
        ))
    for old, query in zip(first, queries, strict=True):
        await check_email(emails, old, query)


# -- 3. collapsed threads -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_collapsed_threads_follow_replies_merges_and_departures(emails: Emails) -> None:
    inbox = await emails.inbox()
    other = await emails.create(name="Other")

    async def email(subject: str, number: int, msgid: str, *links: str, box: str = inbox) -> str:
        created = await emails.import_raw(
            message(subject, message_id=msgid, in_reply_to=links[0] if links else None,
                    references=list(links) or None),
            [box], receivedAt=day(number),
        )
        return str(created["id"])

    root = await email("Topic", 2, "t1@x")
    lone = await email("Lone", 3, "l1@x")
    queries: list[dict[str, Any]] = [
        {"filter": {"inMailbox": inbox}, "sort": NEWEST_FIRST, "collapseThreads": True},
        {"filter": {"inMailbox": inbox}, "sort": OLDEST_FIRST, "collapseThreads": True},
        {"sort": [{"property": "subject"}, *NEWEST_FIRST], "collapseThreads": True},
    ]
    first = [await emails.ok("Email/query", **query) for query in queries]
    assert first[0]["ids"] == [lone, root]
    made: dict[str, str] = {}

    async def reply() -> None:
        made["reply"] = await email("Re: Topic", 4, "t2@x", "t1@x")

    # a reply arrives: it stands for the thread newest first, so the root leaves that result
    [newest, _, _] = await step_checked(emails, queries, reply)
    assert newest is not None
    assert root in newest["removed"]
    assert {"id": made["reply"], "index": 0} in newest["added"]

    # two threads of one subject, then an email linking both: one thread, one representative
    async def two_threads() -> None:
        made["m1"] = await email("Merge", 5, "m1@x")
        made["m2"] = await email("Merge", 6, "m2@x")

    await step_checked(emails, queries, two_threads)
    thread_1 = (await emails.get_email(made["m1"], "threadId"))["threadId"]
    thread_2 = (await emails.get_email(made["m2"], "threadId"))["threadId"]
    assert thread_1 != thread_2

    async def merge() -> None:
        made["m0"] = await email("Re: Merge", 1, "m0@x", "m1@x", "m2@x")

    [newest, oldest, _] = await step_checked(emails, queries, merge)
    assert (await emails.get_email(made["m1"], "threadId"))["threadId"] == (
        await emails.get_email(made["m2"], "threadId"))["threadId"]
    assert newest is not None and made["m1"] in newest["removed"]
    assert oldest is not None and {made["m1"], made["m2"]} <= set(oldest["removed"])

    # the newest of a thread leaves the Inbox, is destroyed, or comes back
    await step_checked(emails, queries, lambda: patch(
        emails, {made["m2"]: {"mailboxIds": {other: True}}}
    ))
    await step_checked(emails, queries, lambda: patch(
        emails, {made["m2"]: {"mailboxIds": {inbox: True}}}
    ))
    await step_checked(emails, queries, lambda: destroy(emails, made["reply"]))
    # a merge that also brings the newest email of all
    await step_checked(emails, queries, lambda: email("Re: Topic", 9, "t3@x", "t1@x", "l1@x"))
    await step_checked(emails, queries, lambda: email("Re: Lone", 8, "l2@x", "l1@x"))
    for old, query in zip(first, queries, strict=True):
        await check_email(emails, old, query)


# -- 4. upToId and maxChanges ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_up_to_id_and_max_changes(emails: Emails) -> None:
    inbox = await emails.inbox()
    ids = {n: await imported(emails, f"Mail {n}", n, inbox) for n in range(10, 17)}
    immutable: dict[str, Any] = {"sort": NEWEST_FIRST}
    mutable: dict[str, Any] = {"filter": {"inMailbox": inbox}, "sort": NEWEST_FIRST}
    collapsed: dict[str, Any] = {**mutable, "collapseThreads": True}
    queries = [immutable, mutable, collapsed]
    olds = [await emails.ok("Email/query", **query) for query in queries]
    up_to = ids[13]  # index 3 of 16..10
    assert olds[0]["ids"].index(up_to) == 3
    await imported(emails, "Newest", 20, inbox)
    await imported(emails, "Oldest", 1, inbox)
    await imported(emails, "Middle", 15, inbox)
    await destroy(emails, ids[11], ids[16])
    await patch(emails, {ids[12]: {"keywords/$seen": True}, ids[14]: {"keywords/$flagged": True}})
    for old, query in zip(olds, queries, strict=True):
        await check_email(emails, old, query, up_to_id=up_to)
        await check_email(emails, old, query)
    # a client that cached only up to upToId (what upToId is for, with an immutable filter and
    # sort) gets its cache right up to upToId
    cached = olds[0]["ids"][:olds[0]["ids"].index(up_to) + 1]
    changes = await check_email(emails, {**olds[0], "ids": cached}, immutable, up_to_id=up_to)
    now = (await emails.ok("Email/query", **immutable))["ids"]
    end = now.index(up_to) + 1
    assert apply_changes(cached, changes)[:end] == now[:end]

    # maxChanges: three new emails are at least three changes under any counting
    old = await emails.ok("Email/query", **mutable)
    for number in (25, 26, 27):
        await imported(emails, "More", number, inbox)
    for query in queries:
        error = await emails.error("Email/queryChanges", "tooManyChanges",
                                   sinceQueryState=old["queryState"], maxChanges=2, **query)
        assert set(error) <= {"type", "description"}
    await check_email(emails, old, mutable, max_changes=50)


# -- 5. states the server cannot follow, filters it may not follow -------------------------


@pytest_twisted.ensureDeferred
async def test_unknown_states_cannot_calculate_changes(emails: Emails) -> None:
    inbox = await emails.inbox()
    await imported(emails, "Mail", 1, inbox)
    current = (await emails.ok("Email/query"))["queryState"]
    for state in ("garbage", "", "-1", "99999999", current + "x", "0:0:0:0", "\u00e9t\u00e9"):
        await emails.error("Email/queryChanges", "cannotCalculateChanges",
                           sinceQueryState=state, filter={"inMailbox": inbox})
        await emails.error("Mailbox/queryChanges", "cannotCalculateChanges",
                           sinceQueryState=state)
    await emails.error("Email/queryChanges", "invalidArguments")
    await emails.error("Email/queryChanges", "invalidArguments", sinceQueryState=current,
                       maxChanges=-1)


@pytest_twisted.ensureDeferred
async def test_text_and_thread_filters_answer_right_or_refuse(emails: Emails) -> None:
    inbox = await emails.inbox()

    async def email(subject: str, number: int, msgid: str, body: str, *links: str) -> str:
        created = await emails.import_raw(
            message(subject, message_id=msgid, body=body, in_reply_to=links[0] if links else None,
                    references=list(links) or None),
            [inbox], receivedAt=day(number),
        )
        return str(created["id"])

    root = await email("Garden", 1, "g1@x", "Shall we meet in the garden?\r\n")
    await email("Re: Garden", 2, "g2@x", "Yes, at noon.\r\n", "g1@x")
    other = await email("Lunch", 3, "o1@x", "Lunch in the garden today\r\n")
    queries: list[dict[str, Any]] = [
        {"filter": {"text": "garden"}, "sort": NEWEST_FIRST},
        {"filter": {"body": "garden", "inMailbox": inbox}, "sort": OLDEST_FIRST,
         "collapseThreads": True},
        {"filter": {"someInThreadHaveKeyword": "$flagged"}, "sort": NEWEST_FIRST},
        {"filter": {"noneInThreadHaveKeyword": "$seen"}, "sort": OLDEST_FIRST},
        {"filter": {"allInThreadHaveKeyword": "$seen"}, "sort": NEWEST_FIRST,
         "collapseThreads": True},
        {"sort": [{"property": "someInThreadHaveKeyword", "keyword": "$flagged",
                   "isAscending": False}, *NEWEST_FIRST]},
        {"filter": {"header": ["Subject", "garden"]}, "sort": NEWEST_FIRST},
    ]
    made: dict[str, str] = {}

    async def steps(number: int) -> None:
        if number == 0:  # flag the root: its reply's thread now has a flagged email
            await patch(emails, {root: {"keywords/$flagged": True}})
        elif number == 1:  # a new reply in the garden thread, mentioning the garden
            made["late"] = await email("Re: Garden", 4, "g3@x", "The garden gate.\r\n", "g1@x")
        elif number == 2:  # every email of the thread seen but one, then that one too
            await patch(emails, {root: {"keywords/$seen": True}, made["late"]: {
                "keywords/$seen": True}})
        elif number == 3:
            reply = (await emails.ok("Email/query", filter={"header": ["Message-ID", "g2@x"]}
                                     ))["ids"][0]
            await patch(emails, {reply: {"keywords/$seen": True}})
        elif number == 4:
            await patch(emails, {root: {"keywords/$flagged": None}})
        elif number == 5:
            await destroy(emails, root)
        else:
            await destroy(emails, other)

    first = [await emails.ok("Email/query", **query) for query in queries]
    for number in range(7):
        results = await step_checked(emails, queries, lambda n=number: steps(n), may_refuse=True)
        for query, result in zip(queries, results, strict=True):
            if result is None:  # a refusal must be announced by the query itself
                assert (await emails.ok("Email/query", **query))["canCalculateChanges"] is False
    for old, query in zip(first, queries, strict=True):
        await check_query_changes(emails, "Email", old, query, may_refuse=True)


# -- 6. Mailbox/queryChanges ----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_mailbox_query_changes_follow_create_rename_destroy(emails: Emails) -> None:
    by_name: dict[str, Any] = {"sort": [{"property": "name"}]}
    queries: list[dict[str, Any]] = [
        by_name,
        {"filter": {"hasAnyRole": False}, "sort": [{"property": "name", "isAscending": False}]},
        {"filter": {"name": "b"}, "sort": [{"property": "sortOrder"}, {"property": "name"}]},
        {"sortAsTree": True, "sort": [{"property": "name"}]},
    ]
    first = [await emails.ok("Mailbox/query", **query) for query in queries]
    made: dict[str, str] = {}

    async def create() -> None:
        made["bravo"] = await emails.create(name="Bravo")
        made["alpha"] = await emails.create(name="Alpha", parentId=made["bravo"])

    [changes, *_] = await step_checked(emails, queries, create, "Mailbox")
    assert changes is not None
    assert {made["bravo"], made["alpha"]} <= {item["id"] for item in changes["added"]}
    await step_checked(emails, queries, lambda: emails.create(name="Charlie"), "Mailbox")
    [changes, *_] = await step_checked(emails, queries, lambda: emails.set(
        update={made["bravo"]: {"name": "Zulu"}}), "Mailbox")
    assert changes is not None
    assert made["bravo"] in changes["removed"]
    await step_checked(emails, queries, lambda: emails.set(
        update={made["alpha"]: {"name": "bb", "parentId": None}}), "Mailbox")
    [changes, *_] = await step_checked(emails, queries, lambda: emails.set(
        destroy=[made["bravo"]]), "Mailbox")
    assert changes is not None
    assert made["bravo"] in changes["removed"]
    assert made["bravo"] not in {item["id"] for item in changes["added"]}
    for old, query in zip(first, queries, strict=True):
        await check_query_changes(emails, "Mailbox", old, query)


# -- randomised -----------------------------------------------------------------------------


@dataclass
class World:
    emails: Emails
    boxes: list[str]
    rng: random.Random
    message_ids: list[str] = field(default_factory=list)

    async def ids(self) -> list[str]:
        found: list[str] = (await self.emails.ok("Email/query"))["ids"]
        return found

    async def step(self, number: int) -> None:
        rng = self.rng
        existing = await self.ids()
        action = rng.choice(["import", "import", "move", "keyword", "keyword", "destroy"])
        if not existing:
            action = "import"
        if action == "import":
            subject = rng.choice(["Apples", "Pears", "Plums"])
            links = rng.sample(self.message_ids, min(len(self.message_ids), rng.randrange(3)))
            msgid = f"r{number}@x"
            self.message_ids.append(msgid)
            raw = message(("Re: " if links else "") + subject, message_id=msgid,
                          in_reply_to=links[0] if links else None, references=links or None)
            boxes = rng.sample(self.boxes, rng.choice([1, 1, 2]))
            keywords = {k: True for k in ("$seen", "$flagged") if rng.random() < 0.4}
            await self.emails.import_raw(raw, boxes, keywords=keywords,
                                         receivedAt=day(rng.randrange(1, 29), rng.randrange(24)))
        elif action == "move":
            chosen = rng.sample(existing, min(len(existing), rng.randrange(1, 3)))
            await patch(self.emails, {
                i: {"mailboxIds": dict.fromkeys(rng.sample(self.boxes, rng.choice([1, 2])), True)}
                for i in chosen
            })
        elif action == "keyword":
            chosen = rng.sample(existing, min(len(existing), rng.randrange(1, 4)))
            await patch(self.emails, {
                i: {f"keywords/{rng.choice(['$seen', '$flagged'])}": rng.choice([True, None])}
                for i in chosen
            })
        else:
            await destroy(self.emails, rng.choice(existing))


@pytest_twisted.ensureDeferred
async def test_random_changes_keep_cached_results_right(emails: Emails) -> None:
    inbox = await emails.inbox()
    boxes = [inbox, await emails.create(name="Work"), await emails.create(name="Home")]
    world = World(emails, boxes, random.Random(8620))
    for number in range(6):
        await world.step(number)
    queries: list[dict[str, Any]] = [
        {"filter": {"inMailbox": inbox}, "sort": NEWEST_FIRST},
        {"filter": {"inMailboxOtherThan": [boxes[2]], "notKeyword": "$seen"},
         "sort": OLDEST_FIRST, "collapseThreads": True},
        {"filter": {"hasKeyword": "$flagged"}, "sort": [{"property": "subject"}, *NEWEST_FIRST],
         "collapseThreads": True},
        {"filter": {"inMailbox": boxes[1], "noneInThreadHaveKeyword": "$seen"},
         "sort": NEWEST_FIRST},
    ]
    first = [await emails.ok("Email/query", **query) for query in queries]
    for number in range(6, 36):
        await step_checked(emails, queries, lambda n=number: world.step(n))
    for old, query in zip(first, queries, strict=True):
        await check_email(emails, old, query)
