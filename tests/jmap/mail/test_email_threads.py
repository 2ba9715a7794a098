"""Threads: joining, merging whatever the arrival order, leaving; counts under concurrency."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.jmap.mail.conftest import Emails, message

# a conversation: root, two replies to it, and a reply to the first reply
ROOT = message("Plans", message_id="root@x", date="Mon, 02 Jan 2023 10:00:00 +0000")
REPLY_A = message("Re: Plans", message_id="a@x", in_reply_to="root@x", references=["root@x"])
REPLY_B = message("RE: plans", message_id="b@x", in_reply_to="root@x", references=["root@x"])
REPLY_AA = message(
    "Re: Re: Plans", message_id="aa@x", in_reply_to="a@x", references=["root@x", "a@x"]
)


async def import_in_order(emails: Emails, raws: list[bytes]) -> list[dict[str, Any]]:
    found = []
    for n, raw in enumerate(raws):
        found.append(await emails.import_raw(raw, receivedAt=f"2023-01-0{n + 1}T00:00:00Z"))
    return found


@pytest_twisted.ensureDeferred
async def test_replies_join_the_thread_of_their_parent(emails: Emails) -> None:
    root, a, b, aa = await import_in_order(emails, [ROOT, REPLY_A, REPLY_B, REPLY_AA])
    assert {e["threadId"] for e in (root, a, b, aa)} == {root["threadId"]}
    assert await emails.thread_ids(root["threadId"]) == [root["id"], a["id"], b["id"], aa["id"]]
    inbox = await emails.inbox()
    assert await emails.counts(inbox) == {
        "totalEmails": 4, "unreadEmails": 4, "totalThreads": 1, "unreadThreads": 1,
    }


@pytest.mark.parametrize("order", [(3, 1, 0, 2), (1, 2, 3, 0), (3, 2, 1, 0)])
@pytest_twisted.ensureDeferred
async def test_threads_merge_whatever_the_arrival_order(
    emails: Emails, order: tuple[int, ...]
) -> None:
    raws = [ROOT, REPLY_A, REPLY_B, REPLY_AA]
    created = await import_in_order(emails, [raws[i] for i in order])
    thread_ids = {c["threadId"] for c in created}
    current = await emails.ok("Email/get", ids=[c["id"] for c in created], properties=["threadId"])
    assert len({e["threadId"] for e in current["list"]}) == 1, (order, thread_ids)
    [thread_id] = {e["threadId"] for e in current["list"]}
    threads = await emails.ok("Thread/get", ids=sorted(thread_ids))
    assert [t["id"] for t in threads["list"]] == [thread_id]
    assert sorted(threads["notFound"]) == sorted(thread_ids - {thread_id})
    # oldest first, by receivedAt
    assert threads["list"][0]["emailIds"] == [c["id"] for c in created]
    assert await emails.counts(await emails.inbox()) == {
        "totalEmails": 4, "unreadEmails": 4, "totalThreads": 1, "unreadThreads": 1,
    }


@pytest_twisted.ensureDeferred
async def test_subject_alone_never_threads_and_a_changed_subject_splits(emails: Emails) -> None:
    first = await emails.import_raw(message("Lunch?", message_id="l1@x"))
    same_subject = await emails.import_raw(message("Lunch?", message_id="l2@x"))
    changed = await emails.import_raw(
        message("Something else", message_id="l3@x", in_reply_to="l1@x", references=["l1@x"])
    )
    assert len({first["threadId"], same_subject["threadId"], changed["threadId"]}) == 3


@pytest_twisted.ensureDeferred
async def test_destroying_emails_shrinks_then_removes_the_thread(emails: Emails) -> None:
    root, a = await import_in_order(emails, [ROOT, REPLY_A])
    state = (await emails.ok("Thread/get", ids=[]))["state"]
    result = await emails.ok("Email/set", destroy=[a["id"]])
    assert result["destroyed"] == [a["id"]]
    assert await emails.thread_ids(root["threadId"]) == [root["id"]]
    changes = await emails.ok("Thread/changes", sinceState=state)
    assert changes["updated"] == [root["threadId"]]
    await emails.ok("Email/set", destroy=[root["id"]])
    gone = await emails.ok("Thread/get", ids=[root["threadId"]])
    assert gone["notFound"] == [root["threadId"]]
    # a new reply no longer finds the destroyed thread
    again = await emails.import_raw(REPLY_AA)
    assert again["threadId"] != root["threadId"]
    assert await emails.counts(await emails.inbox()) == {
        "totalEmails": 1, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 1,
    }


@pytest_twisted.ensureDeferred
async def test_concurrent_imports_link_and_count_exactly(emails: Emails) -> None:
    await emails.inbox()  # the default mailboxes exist before the race
    conversations = []
    for c in range(3):
        root = message(f"Topic {c}", message_id=f"t{c}@x")
        replies = [
            message(f"Re: Topic {c}", message_id=f"t{c}r{r}@x", in_reply_to=f"t{c}@x",
                    references=[f"t{c}@x"])
            for r in range(3)
        ]
        conversations.append([root, *replies])
    raws = [raw for conversation in conversations for raw in conversation]
    # replies before their roots for half of them
    raws = list(itertools.chain(raws[1::2], raws[0::2]))
    created = await defer.gatherResults([
        defer.Deferred.fromCoroutine(emails.import_raw(raw)) for raw in raws
    ])
    ids = [c["id"] for c in created]
    found = (await emails.ok("Email/get", ids=ids, properties=["threadId", "subject"]))["list"]
    by_topic: dict[str, set[str]] = {}
    for email in found:
        by_topic.setdefault(email["subject"].removeprefix("Re: "), set()).add(email["threadId"])
    assert all(len(threads) == 1 for threads in by_topic.values()), by_topic
    assert len({t for threads in by_topic.values() for t in threads}) == 3
    assert await emails.counts(await emails.inbox()) == {
        "totalEmails": 12, "unreadEmails": 12, "totalThreads": 3, "unreadThreads": 3,
    }


@pytest_twisted.ensureDeferred
async def test_one_import_of_many_replies_reads_their_links_at_once(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = [message(f"Topic {n}", message_id=f"r{n}@x") for n in range(20)]
    for raw in roots:
        await emails.import_raw(raw)
    replies = [
        message(f"Re: Topic {n}", message_id=f"re{n}@x", in_reply_to=f"r{n}@x",
                references=[f"r{n}@x"])
        for n in range(20)
    ]
    blob_ids = [await emails.upload(raw) for raw in replies]
    indexes = emails.server.store.indexes
    real_map_get = indexes.map_get
    real_map_get_at_state = indexes.map_get_at_state
    reads: list[str] = []

    async def counting_map_get(account_id: str, name: str, fields: list[str]) -> Any:
        reads.append(name)
        return await real_map_get(account_id, name, fields)

    async def counting_map_get_at_state(
        account_id: str, type_name: str, name: str, fields: list[str]
    ) -> Any:
        reads.append(name)
        return await real_map_get_at_state(account_id, type_name, name, fields)

    monkeypatch.setattr(indexes, "map_get", counting_map_get)
    monkeypatch.setattr(indexes, "map_get_at_state", counting_map_get_at_state)
    inbox = await emails.inbox()
    result = await emails.ok("Email/import", emails={
        f"e{n}": {"blobId": blob_id, "mailboxIds": {inbox: True}}
        for n, blob_id in enumerate(blob_ids)
    })
    monkeypatch.undo()
    assert result["notCreated"] is None
    # every reply joined its root's thread...
    got = await emails.ok("Email/get", ids=[result["created"][f"e{n}"]["id"] for n in range(20)],
                          properties=["threadId", "subject"])
    threads = {e["subject"]: e["threadId"] for e in got["list"]}
    assert len(set(threads.values())) == 20
    # ...and the links of all twenty were read in one go, not one read per reply
    assert reads.count("Thread:links") == 1
    assert await emails.counts(inbox) == {
        "totalEmails": 40, "unreadEmails": 40, "totalThreads": 20, "unreadThreads": 20,
    }
