"""Windows of Email/query read from the indexes agree with the whole ordered list, also when
collapsing long threads takes several rounds."""

from __future__ import annotations

import random
from typing import Any

import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

SORT = [{"property": "receivedAt", "isAscending": False}]


async def import_many(emails: Emails, inbox: str) -> None:
    rng = random.Random(5)
    entries: dict[str, Any] = {}
    for n in range(160):
        # the 100 newest in three long threads, the 60 oldest alone: a page of threads needs
        # several rounds of reading
        thread = n + 10 if n < 60 else rng.choice([0, 1, 2])
        raw = message(f"Re: topic {thread}", message_id=f"m{n}@x", references=[f"root{thread}@x"])
        blob = await emails.upload(raw)
        entries[f"e{n}"] = {
            "blobId": blob, "mailboxIds": {inbox: True},
            "keywords": {"$seen": True} if n % 3 else {},
            # ties in receivedAt too: every fifth pair shares a second
            "receivedAt": f"2023-03-{1 + n // 24:02d}T{n % 24:02d}:00:{(n // 5) % 2:02d}Z",
        }
    for start in range(0, len(entries), 40):
        chunk = dict(list(entries.items())[start:start + 40])
        result = await emails.ok("Email/import", emails=chunk)
        assert result["notCreated"] is None


@pytest_twisted.ensureDeferred
async def test_windows_agree_with_the_whole_list(emails: Emails) -> None:
    inbox = await emails.inbox()
    await import_many(emails, inbox)
    listed = await emails.ok(
        "Email/get", ids=None, properties=["threadId", "receivedAt", "keywords"]
    )
    by_id = {e["id"]: e for e in listed["list"]}
    newest_first = sorted(by_id, key=lambda i: (by_id[i]["receivedAt"], i), reverse=True)
    seen: set[str] = set()
    collapsed = []
    for email_id in newest_first:
        if by_id[email_id]["threadId"] not in seen:
            seen.add(by_id[email_id]["threadId"])
            collapsed.append(email_id)
    unseen = [i for i in newest_first if "$seen" not in by_id[i]["keywords"]]
    for filter_, collapse, expected in [
        ({"inMailbox": inbox}, False, newest_first),
        ({"inMailbox": inbox}, True, collapsed),
        ({"inMailbox": inbox, "notKeyword": "$seen"}, False, unseen),
    ]:
        for position, limit in [(0, 5), (3, 7), (20, 30), (150, 50), (0, 1000), (1, 1)]:
            window = await emails.ok("Email/query", filter=filter_, sort=SORT, position=position,
                                     limit=limit, collapseThreads=collapse)
            assert window["ids"] == expected[position:position + limit], (filter_, collapse)
            assert window["position"] == position
        total = await emails.ok("Email/query", filter=filter_, sort=SORT, calculateTotal=True,
                                collapseThreads=collapse, limit=1)
        assert total["total"] == len(expected)


@pytest_twisted.ensureDeferred
async def test_a_window_and_its_query_state_are_one_read(
    emails: Emails, monkeypatch: Any
) -> None:
    inbox = await emails.inbox()
    for n in range(3):
        await emails.import_raw(message(f"w{n}", message_id=f"w{n}@x"))
    store = emails.server.store
    reads: list[str] = []
    for holder, name in ((store.changes, "current_state"), (store.indexes, "index_query"),
                         (store.indexes, "snapshot")):
        original = getattr(holder, name)

        def counting(*arguments: Any, _name: str = name, _original: Any = original,
                     **keywords: Any) -> Any:
            reads.append(_name)
            return _original(*arguments, **keywords)

        monkeypatch.setattr(holder, name, counting)
    answer = await emails.ok("Email/query", filter={"inMailbox": inbox},
                             sort=[{"property": "receivedAt", "isAscending": False}], limit=2)
    assert reads == ["snapshot"], "the state and the window at one instant"
    monkeypatch.undo()
    assert answer["queryState"] == await store.changes.current_state(emails.account, "Email")
    assert len(answer["ids"]) == 2
