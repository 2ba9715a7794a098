"""Email/query: every FilterCondition and sort of RFC 8621 §4.4, with the exact result order.

A small corpus is imported once per test; each query's answer is compared with what a plain
Python reading of the RFC gives over the same corpus (``expected``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.mail.subject import base_subject
from tests.jmap.mail.conftest import Emails, message


@dataclass
class Item:
    key: str
    raw: bytes
    received: str
    mailboxes: list[str]
    keywords: dict[str, bool] = field(default_factory=dict)
    id: str = ""
    thread: str = ""
    size: int = 0


def corpus() -> list[Item]:
    attachment = (
        b"From: Carol <carol@example.net>\r\nTo: Alice <alice@example.com>\r\n"
        b"Cc: Dave <dave@example.org>\r\nSubject: Invoice March\r\n"
        b"Date: Wed, 01 Mar 2023 09:00:00 +0000\r\nMessage-ID: <inv@x>\r\n"
        b"X-Priority: 1 (Highest)\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n"
        b"--z\r\nContent-Type: text/plain\r\n\r\nPlease find the invoice attached.\r\n"
        b"--z\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b"filename=inv.pdf\r\n\r\n%PDF\r\n--z--\r\n"
    )
    return [
        Item("root", message("Garden party", message_id="p@x", sender="Bob <bob@example.org>",
                             to="Alice <alice@example.com>",
                             body="Shall we meet in the garden on Sunday?\r\n",
                             date="Sun, 01 Jan 2023 10:00:00 +0000"),
             "2023-01-01T10:00:00Z", ["inbox"], {"$seen": True}),
        Item("reply", message("Re: Garden party", message_id="p2@x", in_reply_to="p@x",
                              references=["p@x"], sender="Alice <alice@example.com>",
                              to="Bob <bob@example.org>",
                              body="Yes, the gardens are lovely on Sundays.\r\n",
                              date="Mon, 02 Jan 2023 10:00:00 +0000"),
             "2023-01-02T10:00:00Z", ["inbox", "archive"], {"$seen": True, "$flagged": True}),
        Item("late", message("Re: Garden party", message_id="p3@x", in_reply_to="p@x",
                             references=["p@x"], sender="Erin <erin@example.com>",
                             body="Sorry, I will be late. Meet at the gate.\r\n",
                             date="Fri, 06 Jan 2023 10:00:00 +0000"),
             "2023-01-06T10:00:00Z", ["inbox"]),
        Item("invoice", attachment, "2023-03-01T09:00:00Z", ["inbox"]),
        Item("report", message("Quarterly report", message_id="q@x",
                               sender="Dave <dave@example.org>",
                               body="The quarterly numbers are in. Revenue grew.\r\n" * 20,
                               date="Tue, 04 Apr 2023 08:00:00 +0000"),
             "2023-04-04T08:00:00Z", ["archive"], {"$seen": True}),
        Item("german", message("Gartenparty", message_id="g@x", sender="Jörg <j@example.de>",
                               body="Wir treffen uns im Garten. Die Gärten blühen.\r\n",
                               date="Wed, 05 Apr 2023 08:00:00 +0000"),
             "2023-04-05T08:00:00Z", ["inbox"]),
        Item("same-time", message("Alpha", message_id="s@x", sender="Ann <ann@example.com>",
                                  date="Wed, 05 Apr 2023 08:00:00 +0000"),
             "2023-04-05T08:00:00Z", ["inbox"], {"$flagged": True}),
    ]


@dataclass
class Loaded:
    emails: Emails
    items: dict[str, Item]
    boxes: dict[str, str]

    async def query(self, **arguments: Any) -> list[str]:
        result = await self.emails.ok("Email/query", **arguments)
        return [self.key_of(i) for i in result["ids"]]

    def key_of(self, email_id: str) -> str:
        return next(k for k, item in self.items.items() if item.id == email_id)

    def box(self, name: str) -> str:
        return self.boxes[name]


@pytest_twisted.async_fixture
async def loaded(emails: Emails) -> Loaded:
    names = await emails.mailboxes()
    boxes = {"inbox": names["Inbox"]["id"], "archive": names["Archive"]["id"]}
    items = {item.key: item for item in corpus()}
    for item in items.values():
        created = await emails.import_raw(
            item.raw, [boxes[m] for m in item.mailboxes], keywords=item.keywords,
            receivedAt=item.received,
        )
        item.id, item.thread, item.size = created["id"], created["threadId"], created["size"]
    return Loaded(emails, items, boxes)


def newest_first(items: list[Item]) -> list[str]:
    # index order: receivedAt, ties by id, both descending
    return [i.key for i in sorted(items, key=lambda i: (i.received, i.id), reverse=True)]


def expected(loaded: Loaded, test: Callable[[Item], bool]) -> list[str]:
    return newest_first([i for i in loaded.items.values() if test(i)])


FilterCase = tuple[str, Callable[[Loaded], dict[str, Any]], Callable[[Loaded, Item], bool]]
FILTER_CASES: list[FilterCase] = [
    ("inMailbox", lambda d: {"inMailbox": d.box("archive")},
     lambda d, i: "archive" in i.mailboxes),
    ("inMailboxOtherThan", lambda d: {"inMailboxOtherThan": [d.box("inbox")]},
     lambda d, i: any(m != "inbox" for m in i.mailboxes)),
    ("before", lambda d: {"before": "2023-03-01T09:00:00Z"},
     lambda d, i: i.received < "2023-03-01T09:00:00Z"),
    ("after", lambda d: {"after": "2023-03-01T09:00:00Z"},
     lambda d, i: i.received >= "2023-03-01T09:00:00Z"),
    ("minSize", lambda d: {"minSize": 400}, lambda d, i: i.size >= 400),
    ("maxSize", lambda d: {"maxSize": 400}, lambda d, i: i.size < 400),
    ("hasKeyword", lambda d: {"hasKeyword": "$Flagged"}, lambda d, i: "$flagged" in i.keywords),
    ("notKeyword", lambda d: {"notKeyword": "$seen"}, lambda d, i: "$seen" not in i.keywords),
    ("hasAttachment", lambda d: {"hasAttachment": True}, lambda d, i: i.key == "invoice"),
    ("noAttachment", lambda d: {"hasAttachment": False}, lambda d, i: i.key != "invoice"),
    ("allInThread", lambda d: {"allInThreadHaveKeyword": "$seen"},
     lambda d, i: i.key in ("report",)),
    ("someInThread", lambda d: {"someInThreadHaveKeyword": "$flagged"},
     lambda d, i: i.key in ("root", "reply", "late", "same-time")),
    ("noneInThread", lambda d: {"noneInThreadHaveKeyword": "$seen"},
     lambda d, i: i.key in ("invoice", "german", "same-time")),
    ("from", lambda d: {"from": "dave"}, lambda d, i: i.key == "report"),
    ("to", lambda d: {"to": "alice@example.com"}, lambda d, i: i.key in ("root", "invoice")),
    ("cc", lambda d: {"cc": "Dave"}, lambda d, i: i.key == "invoice"),
    ("bcc", lambda d: {"bcc": "anyone"}, lambda d, i: False),
    ("subject", lambda d: {"subject": "garden"}, lambda d, i: i.key in ("root", "reply", "late")),
    ("body stem", lambda d: {"body": "meeting"}, lambda d, i: i.key in ("root", "late")),
    ("body phrase", lambda d: {"body": '"at the gate"'}, lambda d, i: i.key == "late"),
    # only the German stem matches ("gartens" and "Garten" both stem to "gart")
    ("body German stem", lambda d: {"body": "gartens"}, lambda d, i: i.key == "german"),
    ("text", lambda d: {"text": "quarterly"}, lambda d, i: i.key == "report"),
    ("text negation", lambda d: {"text": "garden -lovely"},
     lambda d, i: i.key in ("root", "late")),
    ("header exists", lambda d: {"header": ["X-Priority"]}, lambda d, i: i.key == "invoice"),
    ("header value", lambda d: {"header": ["x-priority", "highest"]},
     lambda d, i: i.key == "invoice"),
    ("header value absent", lambda d: {"header": ["Subject", "nowhere"]}, lambda d, i: False),
    ("AND", lambda d: {"operator": "AND", "conditions": [
        {"inMailbox": d.box("inbox")}, {"notKeyword": "$seen"}]},
     lambda d, i: "inbox" in i.mailboxes and "$seen" not in i.keywords),
    ("OR", lambda d: {"operator": "OR", "conditions": [
        {"hasAttachment": True}, {"from": "erin"}]},
     lambda d, i: i.key in ("invoice", "late")),
    ("NOT", lambda d: {"operator": "NOT", "conditions": [
        {"inMailbox": d.box("inbox")}, {"hasKeyword": "$flagged"}]},
     lambda d, i: i.key == "report"),
    ("NOT inexact", lambda d: {"operator": "NOT", "conditions": [{"body": '"the gate"'}]},
     lambda d, i: i.key != "late"),
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
@pytest_twisted.ensureDeferred
async def test_filters(loaded: Loaded, case: Any) -> None:
    _, make_filter, test = case
    got = await loaded.query(filter=make_filter(loaded))
    assert got == expected(loaded, lambda item: test(loaded, item))


def sort_key(name: str, item: Item) -> Any:
    import email
    import email.policy
    from email.utils import parsedate_to_datetime

    parsed = email.message_from_bytes(item.raw, policy=email.policy.default)
    if name == "size":
        return item.size
    if name == "from":
        address = parsed["From"].addresses[0]
        return (address.display_name or address.addr_spec).casefold()
    if name == "to":
        header = parsed["To"]
        if header is None:
            return ""
        address = header.addresses[0]
        return (address.display_name or address.addr_spec).casefold()
    if name == "subject":
        return base_subject(str(parsed["Subject"])).casefold()
    if name == "sentAt":
        return parsedate_to_datetime(str(parsed["Date"])).timestamp()
    if name == "hasKeyword":
        return "$flagged" in item.keywords
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["size", "from", "to", "subject", "sentAt", "hasKeyword"])
@pytest.mark.parametrize("ascending", [True, False])
@pytest_twisted.ensureDeferred
async def test_sorts(loaded: Loaded, name: str, ascending: bool) -> None:
    comparator: dict[str, Any] = {"property": name, "isAscending": ascending}
    if name == "hasKeyword":
        comparator["keyword"] = "$flagged"
    got = await loaded.query(sort=[comparator])
    items = sorted(loaded.items.values(), key=lambda i: i.id)  # ties: by id
    items.sort(key=lambda i: sort_key(name, i), reverse=not ascending)
    assert got == [i.key for i in items]


@pytest_twisted.ensureDeferred
async def test_thread_keyword_sorts(loaded: Loaded) -> None:
    got = await loaded.query(sort=[
        {"property": "someInThreadHaveKeyword", "keyword": "$flagged", "isAscending": False},
        {"property": "receivedAt", "isAscending": False},
    ])
    flagged_threads = {"root", "reply", "late", "same-time"}
    assert got == (
        newest_first([i for i in loaded.items.values() if i.key in flagged_threads])
        + newest_first([i for i in loaded.items.values() if i.key not in flagged_threads])
    )
    got = await loaded.query(sort=[
        {"property": "allInThreadHaveKeyword", "keyword": "$seen"},
        {"property": "receivedAt", "isAscending": True},
    ])
    assert got[-1] == "report"


@pytest_twisted.ensureDeferred
async def test_received_at_order_collapse_threads_and_windows(loaded: Loaded) -> None:
    inbox = loaded.box("inbox")
    everything = await loaded.query(filter={"inMailbox": inbox},
                                    sort=[{"property": "receivedAt", "isAscending": False}])
    in_inbox = [i for i in loaded.items.values() if "inbox" in i.mailboxes]
    assert everything == newest_first(in_inbox)
    oldest_first = await loaded.query(filter={"inMailbox": inbox},
                                      sort=[{"property": "receivedAt"}])
    assert oldest_first == list(reversed(everything))
    collapsed = await loaded.query(filter={"inMailbox": inbox}, collapseThreads=True,
                                   sort=[{"property": "receivedAt", "isAscending": False}])
    assert collapsed == [k for k in everything if k not in ("reply", "root")]
    result = await loaded.emails.ok(
        "Email/query", filter={"inMailbox": inbox}, collapseThreads=True, calculateTotal=True,
        sort=[{"property": "receivedAt", "isAscending": False}], position=1, limit=2,
    )
    assert [loaded.key_of(i) for i in result["ids"]] == collapsed[1:3]
    assert result["total"] == len(collapsed) and result["position"] == 1
    anchor = loaded.items[collapsed[2]].id
    around = await loaded.emails.ok(
        "Email/query", filter={"inMailbox": inbox}, collapseThreads=True,
        sort=[{"property": "receivedAt", "isAscending": False}], anchor=anchor,
        anchorOffset=-1, limit=2,
    )
    assert [loaded.key_of(i) for i in around["ids"]] == collapsed[1:3]
    assert around["position"] == 1
    negative = await loaded.emails.ok(
        "Email/query", filter={"inMailbox": inbox}, position=-2,
        sort=[{"property": "receivedAt", "isAscending": False}],
    )
    assert [loaded.key_of(i) for i in negative["ids"]] == everything[-2:]
    missing = await loaded.emails.invoke("Email/query", anchor="xnothere")
    assert missing[0] == "error" and missing[1]["type"] == "anchorNotFound"


@pytest_twisted.ensureDeferred
async def test_bad_filters_and_sorts(loaded: Loaded) -> None:
    for arguments, error in [
        ({"filter": {"inMailbox": 5}}, "invalidArguments"),
        ({"filter": {"colour": "red"}}, "unsupportedFilter"),
        ({"filter": {"header": []}}, "invalidArguments"),
        ({"filter": {"before": "yesterday"}}, "invalidArguments"),
        ({"sort": [{"property": "colour"}]}, "unsupportedSort"),
        ({"sort": [{"property": "hasKeyword", "keyword": "a b"}]}, "invalidArguments"),
    ]:
        name, result = await loaded.emails.invoke("Email/query", **arguments)
        assert (name, result["type"]) == ("error", error), (arguments, result)


@pytest_twisted.ensureDeferred
async def test_query_changes_follow_keyword_and_mailbox_changes(loaded: Loaded) -> None:
    emails = loaded.emails
    inbox = loaded.box("inbox")
    arguments: dict[str, Any] = {
        "filter": {"inMailbox": inbox, "notKeyword": "$seen"},
        "sort": [{"property": "receivedAt", "isAscending": False}],
    }
    first = await emails.ok("Email/query", **arguments)
    late, german = loaded.items["late"].id, loaded.items["german"].id
    await emails.ok("Email/set", update={late: {"keywords/$seen": True}})
    blob = await emails.upload(message("New one", message_id="new@x"))
    imported = await emails.ok("Email/import", emails={"n": {
        "blobId": blob, "mailboxIds": {inbox: True}, "receivedAt": "2023-05-01T00:00:00Z",
    }})
    new_id = imported["created"]["n"]["id"]
    changes = await emails.ok("Email/queryChanges", sinceQueryState=first["queryState"],
                              calculateTotal=True, **arguments)
    assert late in changes["removed"]
    assert {"id": new_id, "index": 0} in changes["added"]
    now = await emails.ok("Email/query", **arguments)
    assert changes["total"] == len(now["ids"])
    # replaying the changes on the old list gives the new one
    replayed = [i for i in first["ids"] if i not in changes["removed"]]
    for added in sorted(changes["added"], key=lambda a: a["index"]):
        replayed.insert(added["index"], added["id"])
    assert replayed == now["ids"]
    assert german in now["ids"]


def replay(old: list[str], changes: dict[str, Any]) -> list[str]:
    ids = [i for i in old if i not in changes["removed"]]
    for added in sorted(changes["added"], key=lambda a: a["index"]):
        ids.insert(added["index"], added["id"])
    return ids


@pytest_twisted.ensureDeferred
async def test_query_changes_with_collapsed_threads(loaded: Loaded) -> None:
    emails = loaded.emails
    inbox = loaded.box("inbox")
    arguments: dict[str, Any] = {
        "filter": {"inMailbox": inbox, "notKeyword": "$seen"}, "collapseThreads": True,
        "sort": [{"property": "receivedAt", "isAscending": False}],
    }
    steps = [
        # the thread's newest unseen email becomes seen: an older one stands for it now
        lambda: emails.ok("Email/set", update={
            loaded.items["late"].id: {"keywords/$seen": True},
            loaded.items["root"].id: {"keywords/$seen": None},
        }),
        # a new reply in that thread takes its place
        lambda: emails.import_raw(
            message("Re: Garden party", message_id="p4@x", in_reply_to="p@x",
                    references=["p@x"]), receivedAt="2023-06-01T00:00:00Z"),
        # the email standing for a thread goes
        lambda: emails.ok("Email/set", destroy=[loaded.items["german"].id]),
    ]
    for step in steps:
        before = await emails.ok("Email/query", **arguments)
        await step()
        changes = await emails.ok("Email/queryChanges", sinceQueryState=before["queryState"],
                                  **arguments)
        after = await emails.ok("Email/query", **arguments)
        assert replay(before["ids"], changes) == after["ids"]
        assert changes["newQueryState"] == after["queryState"]


@pytest_twisted.ensureDeferred
async def test_a_filter_too_big_to_plan_is_unsupported_not_a_failure(loaded: Loaded) -> None:
    words = " ".join(f"word{n}" for n in range(8))
    huge = {"operator": "OR", "conditions": [{"text": f"{words} x{n}"} for n in range(30)]}
    name, result = await loaded.emails.invoke("Email/query", filter=huge)
    assert (name, result["type"]) == ("error", "unsupportedFilter")
    # and a big but plannable one still answers
    name, result = await loaded.emails.invoke(
        "Email/query", filter={"text": " ".join(f"garden{n}" for n in range(40))}
    )
    assert name == "Email/query" and result["ids"] == []


@pytest_twisted.ensureDeferred
async def test_the_languages_whose_stems_are_indexed_are_recorded(loaded: Loaded) -> None:
    # A text query looks up stems in these languages only, so each stored email's language
    # must be among them (English and German here), and nothing else.
    emails = loaded.emails
    recorded = await emails.server.store.indexes.map_get(
        emails.account, "Email:languages", ["en", "de", "fr", "ru"]
    )
    assert sorted(recorded) == ["de", "en"]
