"""Email/query windows, anchors and errors (RFC 8620 §5.5, RFC 8621 §4.4) and Email/import
errors (RFC 8621 §4.8), checked as an independent client test suite checks them.

The account holds 12 emails with distinct receivedAt, three of them threads of 2 or 3 emails;
every window is compared with the one §5.5 defines over the whole ordered list, through the
index path (receivedAt alone) and the sorted-in-Python path (a second comparator), with and
without collapseThreads and calculateTotal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

# e0 is the oldest, e11 the newest; the threads by key
THREADS = {"a": ["e1", "e4", "e9"], "b": ["e2", "e7"], "c": ["e5", "e6", "e11"]}
NEWEST_FIRST = [{"property": "receivedAt", "isAscending": False}]
# the same order, but two comparators: sorted in Python rather than read from the index
NEWEST_FIRST_IN_PYTHON = [*NEWEST_FIRST, {"property": "size"}]
OLDEST_FIRST = [{"property": "receivedAt"}]


def thread_of(key: str) -> str | None:
    return next((name for name, keys in THREADS.items() if key in keys), None)


@dataclass
class Account:
    emails: Emails
    inbox: str
    ids: dict[str, str]  # by key
    keys: dict[str, str]  # by id

    def named(self, *keys: str) -> list[str]:
        return [self.ids[k] for k in keys]

    async def query(self, **arguments: Any) -> dict[str, Any]:
        arguments.setdefault("filter", {"inMailbox": self.inbox})
        return await self.emails.ok("Email/query", **arguments)

    async def error(self, **arguments: Any) -> dict[str, Any]:
        name, result = await self.emails.invoke("Email/query", **arguments)
        assert name == "error", result
        return result


@pytest_twisted.async_fixture
async def account(emails: Emails) -> Account:
    inbox = await emails.inbox()
    entries: dict[str, Any] = {}
    for n in range(12):
        key = f"e{n}"
        thread = thread_of(key)
        subject = f"Re: topic {thread}" if thread else f"alone {n}"
        references = [f"root-{thread}@x"] if thread else None
        raw = message(subject, message_id=f"{key}@x", references=references, body="x" * n + "\r\n")
        entries[key] = {
            "blobId": await emails.upload(raw), "mailboxIds": {inbox: True},
            "receivedAt": f"2023-05-01T10:{n:02d}:00Z",
        }
    result = await emails.ok("Email/import", emails=entries)
    assert result["notCreated"] is None, result["notCreated"]
    ids = {key: created["id"] for key, created in result["created"].items()}
    threads = {key: created["threadId"] for key, created in result["created"].items()}
    # the threads are the ones meant
    for keys in THREADS.values():
        assert len({threads[k] for k in keys}) == 1, keys
    assert len(set(threads.values())) == 12 - sum(len(k) - 1 for k in THREADS.values())
    return Account(emails, inbox, ids, {v: k for k, v in ids.items()})


def keys_in_order(collapse: bool, oldest_first: bool = False) -> list[str]:
    keys = [f"e{n}" for n in (range(12) if oldest_first else range(11, -1, -1))]
    if not collapse:
        return keys
    seen: set[str | None] = set()
    kept = []
    for key in keys:
        thread = thread_of(key) or key
        if thread not in seen:
            seen.add(thread)
            kept.append(key)
    return kept


def rfc_window(
    ids: list[str], position: int = 0, anchor: str | None = None, anchor_offset: int = 0,
    limit: int | None = None,
) -> tuple[int, list[str]]:
    """The start index and ids RFC 8620 §5.5 defines."""
    if anchor is not None:
        start = max(ids.index(anchor) + anchor_offset, 0)  # position is ignored
    elif position < 0:
        start = max(len(ids) + position, 0)
    else:
        start = position  # anchorOffset is ignored without an anchor
    end = None if limit is None else start + limit
    return start, ids[start:end]


# (position, anchor as an index into the results, anchorOffset, limit)
CASES: list[tuple[int, int | None, int, int | None]] = [
    (0, None, 0, None), (0, None, 0, 3), (5, None, 0, 4), (2, None, 0, 1),
    (-1, None, 0, None), (-3, None, 0, 2), (-100, None, 0, 3), (-100, None, 0, None),
    (0, None, 0, 0), (3, None, 5, 2),  # anchorOffset without an anchor is ignored
    (0, 0, 0, 3), (0, 0, -1, 2), (0, 0, -100, None),  # anchor at the first result
    (0, -1, 0, None), (0, -1, 0, 5), (0, -1, -2, None), (0, -1, -2, 1),  # at the last
    (0, 3, -2, 3), (0, 3, -100, 2), (0, 3, 2, None), (0, 3, 0, 0),
    (7, 2, 1, 2), (-4, 1, 0, 2),  # a position given with an anchor is ignored
]


@pytest_twisted.ensureDeferred
async def test_windows_positions_and_anchors(account: Account) -> None:
    for collapse in (False, True):
        for sort in (None, NEWEST_FIRST, NEWEST_FIRST_IN_PYTHON, OLDEST_FIRST):
            full = account.named(*keys_in_order(collapse, sort is OLDEST_FIRST))
            for position, anchor_at, offset, limit in CASES:
                anchor = None if anchor_at is None else full[anchor_at]
                start, ids = rfc_window(full, position, anchor, offset, limit)
                for total in (False, True):
                    arguments: dict[str, Any] = {
                        "position": position, "anchorOffset": offset, "limit": limit,
                        "collapseThreads": collapse, "calculateTotal": total,
                    }
                    if sort is not None:
                        arguments["sort"] = sort
                    if anchor is not None:
                        arguments["anchor"] = anchor
                    case = (collapse, sort, position, anchor_at, offset, limit, total)
                    result = await account.query(**arguments)
                    assert result["ids"] == ids, case
                    assert result["position"] == start, case
                    if total:
                        assert result["total"] == len(full), case
                    else:
                        assert "total" not in result, case


@pytest_twisted.ensureDeferred
async def test_windows_named_exactly(account: Account) -> None:
    async def ids(**arguments: Any) -> list[str]:
        return [account.keys[i] for i in (await account.query(**arguments))["ids"]]

    assert await ids(limit=3) == ["e11", "e10", "e9"]  # newest first when no sort is given
    assert await ids(sort=OLDEST_FIRST, limit=3) == ["e0", "e1", "e2"]  # isAscending: true
    assert await ids(position=-2) == ["e1", "e0"]
    assert await ids(position=-2, sort=OLDEST_FIRST) == ["e10", "e11"]
    assert await ids(anchor=account.ids["e4"], anchorOffset=-1, limit=3) == ["e5", "e4", "e3"]
    assert await ids(anchor=account.ids["e4"], anchorOffset=-50, limit=2) == ["e11", "e10"]
    assert await ids(anchor=account.ids["e0"], anchorOffset=1) == []
    assert await ids(collapseThreads=True) == ["e11", "e10", "e9", "e8", "e7", "e3", "e0"]
    assert await ids(collapseThreads=True, position=2, limit=3) == ["e9", "e8", "e7"]
    assert await ids(collapseThreads=True, position=-2) == ["e3", "e0"]
    assert await ids(collapseThreads=True, anchor=account.ids["e7"], anchorOffset=-1,
                     limit=2) == ["e8", "e7"]
    assert await ids(collapseThreads=True, sort=OLDEST_FIRST) == [
        "e0", "e1", "e2", "e3", "e5", "e8", "e10",
    ]
    assert await ids(filter={"inMailbox": account.inbox, "before": "2023-05-01T10:06:00Z"},
                     anchor=account.ids["e3"], anchorOffset=-1) == ["e4", "e3", "e2", "e1", "e0"]


@pytest_twisted.ensureDeferred
async def test_positions_at_and_past_the_end_are_empty_not_errors(account: Account) -> None:
    for collapse, size in ((False, 12), (True, 7)):
        for position in (size, size + 1, 50):
            for total in (False, True):
                result = await account.query(position=position, collapseThreads=collapse,
                                             calculateTotal=total, limit=5)
                assert result["ids"] == [], (collapse, position)
                if total:
                    assert result["total"] == size
        last = account.named(*keys_in_order(collapse))[-1]
        # an anchor plus an offset past the end is a position past the end
        result = await account.query(anchor=last, anchorOffset=3, collapseThreads=collapse)
        assert result["ids"] == []
    # a negative position as large as the results is the first
    result = await account.query(position=-12, limit=1)
    assert result["ids"] == account.named("e11") and result["position"] == 0


@pytest_twisted.ensureDeferred
async def test_anchor_not_in_the_results(account: Account) -> None:
    for arguments in (
        {"anchor": "xnothere"},
        # in the account but filtered out
        {"anchor": account.ids["e11"], "filter": {"before": "2023-05-01T10:05:00Z"}},
        # in the account but not in the collapsed results: e9 stands for thread a, not e4
        {"anchor": account.ids["e4"], "collapseThreads": True},
        {"anchor": account.ids["e6"], "collapseThreads": True, "anchorOffset": -1},
        # no emails at all match
        {"anchor": account.ids["e0"], "filter": {"inMailbox": "xnothere"}},
    ):
        assert (await account.error(**arguments))["type"] == "anchorNotFound", arguments
    # the email standing for its thread is found
    result = await account.query(anchor=account.ids["e11"], collapseThreads=True, limit=1)
    assert result["ids"] == account.named("e11")


@pytest_twisted.ensureDeferred
async def test_the_response_and_the_limit(account: Account) -> None:
    result = await account.query(limit=4)
    assert result["accountId"] == account.emails.account
    assert isinstance(result["queryState"], str)
    assert result["canCalculateChanges"] is True
    assert "total" not in result and "limit" not in result
    again = await account.query(limit=2, position=3)
    assert again["queryState"] == result["queryState"]
    # a limit the server caps comes back with the response; the ids keep to it
    for limit in (None, 5000, 12, 13):
        capped = await account.query(limit=limit)
        assert len(capped["ids"]) == 12
        if "limit" in capped:
            assert isinstance(capped["limit"], int) and capped["limit"] >= 12
            assert limit is None or capped["limit"] < limit
        else:
            assert limit is None or limit in (12, 13)
    # the state moves when the results may have
    await account.emails.import_raw(message("new", message_id="new@x"))
    after = await account.query(limit=1)
    assert after["queryState"] != result["queryState"]


@pytest_twisted.ensureDeferred
async def test_invalid_arguments_and_unsupported_sorts_and_filters(account: Account) -> None:
    for arguments, error in [
        ({"limit": -1}, "invalidArguments"),
        ({"limit": -1, "anchor": account.ids["e3"]}, "invalidArguments"),
        ({"limit": "5"}, "invalidArguments"),
        ({"limit": 2.5}, "invalidArguments"),
        ({"position": 1.5}, "invalidArguments"),
        ({"position": "1"}, "invalidArguments"),
        ({"anchorOffset": "x"}, "invalidArguments"),
        ({"anchor": 5}, "invalidArguments"),
        ({"calculateTotal": "yes"}, "invalidArguments"),
        ({"collapseThreads": 1}, "invalidArguments"),
        ({"colour": "red"}, "invalidArguments"),
        ({"sort": {"property": "receivedAt"}}, "invalidArguments"),
        ({"sort": [{"property": "receivedAt", "isAscending": "no"}]}, "invalidArguments"),
        ({"sort": [{"isAscending": True}]}, "invalidArguments"),
        ({"sort": [{"property": "id"}]}, "unsupportedSort"),
        ({"sort": [{"property": "threadId"}]}, "unsupportedSort"),
        ({"sort": [{"property": "colour"}]}, "unsupportedSort"),
        ({"sort": [{"property": "receivedAt", "collation": "i;klingon"}]}, "unsupportedSort"),
        ({"sort": [{"property": "subject", "collation": "i;octet-nonsense"}]}, "unsupportedSort"),
        ({"filter": {"colour": "red"}}, "unsupportedFilter"),
        ({"filter": {"operator": "AND", "conditions": [{"colour": "red"}]}}, "unsupportedFilter"),
        ({"filter": {"before": "2023-05-01"}}, "invalidArguments"),
        ({"filter": {"before": "2023-13-01T00:00:00Z"}}, "invalidArguments"),
        ({"filter": {"after": "2023-02-30T00:00:00Z"}}, "invalidArguments"),
        ({"filter": {"operator": "NOT", "conditions": [{"after": "2023-01-01T24:00:01Z"}]}},
         "invalidArguments"),
        ({"filter": {"minSize": -1}}, "invalidArguments"),
        ({"filter": {"inMailbox": 5}}, "invalidArguments"),
        ({"filter": "inbox"}, "invalidArguments"),
    ]:
        arguments.setdefault("filter", None)
        result = await account.error(**arguments)
        assert result["type"] == error, (arguments, result)
    # an operator that is none of AND, OR, NOT is refused (the RFC names no one error for it)
    result = await account.error(filter={"operator": "XOR", "conditions": [{}]})
    assert result["type"] in ("invalidArguments", "unsupportedFilter")
    # every collation the session advertises is accepted for a string sort
    session = await account.emails.server.session()
    core = session["capabilities"]["urn:ietf:params:jmap:core"]
    for collation in core["collationAlgorithms"]:
        result = await account.query(sort=[{"property": "subject", "collation": collation}])
        assert len(result["ids"]) == 12


# -- Email/import -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_import_created_entry_is_what_email_get_says(emails: Emails) -> None:
    raw = message("entry", message_id="entry@x")
    blob = await emails.upload(raw)
    result = await emails.ok("Email/import", emails={"e": {
        "blobId": blob, "mailboxIds": {await emails.inbox(): True},
        "keywords": {"$Seen": True, "Custom": True}, "receivedAt": "2023-01-02T03:04:05Z",
    }})
    created = result["created"]["e"]
    assert {"id", "blobId", "threadId", "size"} <= set(created)
    got = await emails.get_email(created["id"], "blobId", "threadId", "size", "keywords",
                                 "receivedAt")
    for name in ("id", "blobId", "threadId", "size"):
        assert created[name] == got[name], name
    assert created["size"] == len(raw)
    # keywords are case-insensitive and returned in lowercase (RFC 8621 §4.1.1)
    assert got["keywords"] == {"$seen": True, "custom": True}
    assert got["receivedAt"] == "2023-01-02T03:04:05Z"
    assert result["oldState"] != result["newState"]


@pytest_twisted.ensureDeferred
async def test_import_set_errors(emails: Emails) -> None:
    inbox = await emails.inbox()
    blob = await emails.upload(message())

    def entry(**values: Any) -> dict[str, Any]:
        return {"blobId": blob, "mailboxIds": {inbox: True}, **values}

    result = await emails.ok("Email/import", emails={
        "missing": entry(blobId="Gnope"),
        "noblob": {"mailboxIds": {inbox: True}},
        "blobnull": entry(blobId=None),
        "false": entry(mailboxIds={inbox: False}),
        "boxlist": entry(mailboxIds=[inbox]),
        "boxnull": entry(mailboxIds=None),
        "noboxes": {"blobId": blob},
        "unknownbox": entry(mailboxIds={inbox: True, "xnothere": True}),
        "kwfalse": entry(keywords={"$seen": False}),
        "kwparen": entry(keywords={"a(b": True}),
        "kwlong": entry(keywords={"k" * 256: True}),
        "kwlist": entry(keywords=["$seen"]),
        "date": entry(receivedAt="2023-01-02"),
        "offset": entry(receivedAt="2023-01-02T03:04:05+01:00"),
        "lower": entry(receivedAt="2023-01-02t03:04:05z"),
        "month": entry(receivedAt="2023-13-02T03:04:05Z"),
        "april31": entry(receivedAt="2023-04-31T03:04:05Z"),
        "hour": entry(receivedAt="2023-01-02T25:04:05Z"),
        "extra": entry(colour="red"),
        "notobject": "x",
        "ok": entry(),
    })
    errors = result["notCreated"]
    assert list(result["created"]) == ["ok"]
    assert errors["missing"]["type"] == "blobNotFound"
    expected = {
        "noblob": "blobId", "blobnull": "blobId", "false": "mailboxIds", "boxlist": "mailboxIds",
        "boxnull": "mailboxIds", "noboxes": "mailboxIds", "unknownbox": "mailboxIds",
        "kwfalse": "keywords", "kwparen": "keywords", "kwlong": "keywords", "kwlist": "keywords",
        "date": "receivedAt", "offset": "receivedAt", "lower": "receivedAt",
        "month": "receivedAt", "april31": "receivedAt", "hour": "receivedAt", "extra": "colour",
    }
    for key, name in expected.items():
        assert errors[key]["type"] == "invalidProperties", (key, errors[key])
        assert errors[key].get("properties") == [name], (key, errors[key])
    assert errors["notobject"]["type"] == "invalidProperties"
    assert set(errors) == {*expected, "missing", "notobject"}
    assert (await emails.counts(inbox))["totalEmails"] == 1


@pytest_twisted.ensureDeferred
async def test_import_method_errors(emails: Emails) -> None:
    inbox = await emails.inbox()
    blob = await emails.upload(message())
    one = {"e": {"blobId": blob, "mailboxIds": {inbox: True}}}
    await emails.error("Email/import", "invalidArguments")
    await emails.error("Email/import", "invalidArguments", emails=[one["e"]])
    await emails.error("Email/import", "invalidArguments", emails=one, colour="red")
    await emails.error("Email/import", "stateMismatch", emails=one, ifInState="nope")
    state = (await emails.ok("Email/get", ids=[]))["state"]
    result = await emails.ok("Email/import", emails=one, ifInState=state)
    assert result["oldState"] == state and list(result["created"]) == ["e"]
    await emails.error("Email/import", "stateMismatch", emails=one, ifInState=state)
    await emails.error("Email/import", "accountNotFound", emails=one,
                       accountId=emails.server.other_user_id)


@pytest_twisted.ensureDeferred
async def test_import_into_a_mailbox_created_earlier_in_the_request(emails: Emails) -> None:
    blob = await emails.upload(message("into new", message_id="new-box@x"))
    response = await emails.response(
        ["Mailbox/set", {"accountId": emails.account, "create": {"m": {"name": "Fresh"}}}, "0"],
        ["Email/import", {"accountId": emails.account, "emails": {
            "e": {"blobId": blob, "mailboxIds": {"#m": True}},
        }}, "1"],
    )
    [[_, made, _], [name, imported, _]] = response["methodResponses"]
    assert name == "Email/import", imported
    assert imported["notCreated"] is None, imported["notCreated"]
    email = await emails.get_email(imported["created"]["e"]["id"], "mailboxIds")
    assert email["mailboxIds"] == {made["created"]["m"]["id"]: True}


@pytest_twisted.ensureDeferred
async def test_the_same_message_twice_is_two_emails_or_already_exists(emails: Emails) -> None:
    inbox = await emails.inbox()
    blob = await emails.upload(message("twice", message_id="twice@x"))
    result = await emails.ok("Email/import", emails={
        "a": {"blobId": blob, "mailboxIds": {inbox: True}},
        "b": {"blobId": blob, "mailboxIds": {inbox: True}},
    })
    created = result["created"] or {}
    for key, error in (result["notCreated"] or {}).items():
        # RFC 8621 §4.8: a server that forbids duplicates says which email exists
        assert error["type"] == "alreadyExists", (key, error)
        assert error["existingId"] in {c["id"] for c in created.values()}
    assert "a" in created


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"no headers at all"])
@pytest_twisted.ensureDeferred
async def test_a_blob_that_is_no_message_is_imported_or_invalid_email(
    emails: Emails, raw: bytes
) -> None:
    blob = await emails.upload(raw)
    result = await emails.ok("Email/import", emails={
        "e": {"blobId": blob, "mailboxIds": {await emails.inbox(): True}},
    })
    if result["created"]:
        created = result["created"]["e"]
        assert created["size"] == len(raw)
        assert (await emails.get_email(created["id"], "size"))["size"] == len(raw)
    else:
        assert result["notCreated"]["e"]["type"] == "invalidEmail"


@pytest_twisted.ensureDeferred
async def test_windows_over_filters_searched_or_checked_one_by_one(account: Account) -> None:
    # only the emails of threads (subject "Re: topic ..."): a text condition walks postings;
    # a header condition with a value is checked email by email; a thread keyword filter too
    in_threads = [k for k in keys_in_order(False) if thread_of(k)]
    collapsed = [k for k in keys_in_order(True) if thread_of(k)]
    await account.emails.ok("Email/set", update={account.ids["e4"]: {"keywords/$flagged": True}})
    for filter_, expected in [
        ({"subject": "topic"}, in_threads),
        ({"header": ["Subject", "topic"]}, in_threads),
        ({"someInThreadHaveKeyword": "$flagged"}, ["e9", "e4", "e1"]),
        ({"operator": "NOT", "conditions": [{"noneInThreadHaveKeyword": "$flagged"}]},
         ["e9", "e4", "e1"]),
    ]:
        for collapse in (False, True):
            keys = expected if not collapse else [k for k in expected if k in collapsed]
            full = account.named(*keys)
            for position, anchor_at, offset, limit in CASES:
                if anchor_at is not None and anchor_at >= len(full):
                    continue
                anchor = None if anchor_at is None else full[anchor_at]
                start, ids = rfc_window(full, position, anchor, offset, limit)
                arguments: dict[str, Any] = {
                    "filter": filter_, "position": position, "anchorOffset": offset,
                    "limit": limit, "collapseThreads": collapse, "calculateTotal": True,
                }
                if anchor is not None:
                    arguments["anchor"] = anchor
                result = await account.query(**arguments)
                case = (filter_, collapse, position, anchor_at, offset, limit)
                assert result["ids"] == ids, case
                assert result["position"] == start, case
                assert result["total"] == len(full), case


@pytest_twisted.ensureDeferred
async def test_an_anchor_may_be_a_creation_id_of_the_request(emails: Emails) -> None:
    inbox = await emails.inbox()
    older = await emails.import_raw(message("older", message_id="older@x"),
                                    receivedAt="2023-01-01T00:00:00Z")
    blob = await emails.upload(message("newer", message_id="newer@x"))
    response = await emails.response(
        ["Email/import", {"accountId": emails.account, "emails": {
            "n": {"blobId": blob, "mailboxIds": {inbox: True},
                  "receivedAt": "2023-02-01T00:00:00Z"},
        }}, "0"],
        ["Email/query", {"accountId": emails.account, "anchor": "#n", "anchorOffset": 1}, "1"],
    )
    [_, [name, result, _]] = response["methodResponses"]
    assert name == "Email/query", result
    assert result["ids"] == [older["id"]] and result["position"] == 1


@pytest_twisted.ensureDeferred
async def test_import_defaults_and_unresolved_references(emails: Emails) -> None:
    inbox = await emails.inbox()
    blob = await emails.upload(message("defaults", message_id="defaults@x"))
    result = await emails.ok("Email/import", emails={
        "nulls": {"blobId": blob, "mailboxIds": {inbox: True}, "keywords": None,
                  "receivedAt": None},
        "ref": {"blobId": blob, "mailboxIds": {"#nothere": True}},
    })
    assert result["notCreated"]["ref"]["type"] == "invalidProperties"
    assert result["notCreated"]["ref"]["properties"] == ["mailboxIds"]
    email = await emails.get_email(result["created"]["nulls"]["id"], "keywords", "receivedAt")
    assert email["keywords"] == {}
    assert isinstance(email["receivedAt"], str) and email["receivedAt"].endswith("Z")


@pytest_twisted.ensureDeferred
async def test_email_set_create_refuses_a_received_at_that_is_no_date(emails: Emails) -> None:
    result = await emails.ok("Email/set", create={"c": {
        "mailboxIds": {await emails.inbox(): True}, "subject": "x",
        "receivedAt": "2023-13-01T00:00:00Z",
    }})
    assert result["notCreated"]["c"]["type"] == "invalidProperties"
    assert result["notCreated"]["c"]["properties"] == ["receivedAt"]
