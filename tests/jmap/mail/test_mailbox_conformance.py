"""Mailbox/get, /set, /query and Thread/get as an independent conformance suite checks them
(RFC 8621 §2, §2.3, §2.5, §3; RFC 8620 §5.1, §5.3), over HTTP on Redis.

What test_mailbox_set, test_mailbox_query, test_mailbox_counts and test_email_threads already
cover is not repeated; where the RFC allows several answers only its constraint is asserted.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted

from stalwart_tx.jmap.capabilities import MAIL
from tests.jmap.mail.conftest import Emails, message

RIGHTS = {
    "mayReadItems", "mayAddItems", "mayRemoveItems", "maySetSeen", "maySetKeywords",
    "mayCreateChild", "mayRename", "mayDelete", "maySubmit",
}
BY_ORDER_THEN_NAME = [{"property": "sortOrder"}, {"property": "name"}]
# RFC 8621 §2 defines no SetError for a sibling name clash: invalidProperties (RFC 8620 §5.3)
# fits, and so does alreadyExists (RFC 8620 §5.4), which then names the existing mailbox
NAME_CLASH = ("invalidProperties", "alreadyExists")


def assert_name_clash(error: dict[str, Any], existing_id: str) -> None:
    assert error["type"] in NAME_CLASH, error
    if error["type"] == "alreadyExists":
        assert error["existingId"] == existing_id, error


async def mail_capability(emails: Emails) -> dict[str, Any]:
    session = await emails.server.session()
    found: dict[str, Any] = session["accounts"][emails.account]["accountCapabilities"][MAIL]
    return found


async def mailbox(emails: Emails, mailbox_id: str) -> dict[str, Any]:
    [found] = (await emails.ok("Mailbox/get", ids=[mailbox_id]))["list"]
    assert isinstance(found, dict)
    return found


# -- Mailbox/get ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_get_returns_every_property_and_myRights_of_the_owner(emails: Emails) -> None:
    own = await emails.create(name="Receipts")
    result = await emails.ok("Mailbox/get")
    assert result["notFound"] == []
    assert isinstance(result["state"], str)
    for found in result["list"]:
        assert set(found) == {
            "id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails",
            "totalThreads", "unreadThreads", "myRights", "isSubscribed",
        }, found
        assert set(found["myRights"]) == RIGHTS
        assert all(isinstance(v, bool) for v in found["myRights"].values())
        # the owner may do everything with the items; the RFC lets a server protect role
        # mailboxes from deletion or renaming, so only those two may be false, and only there
        protectable = {"mayDelete", "mayRename"} if found["role"] is not None else set()
        assert {r for r, v in found["myRights"].items() if not v} <= protectable, found
    [receipts] = [m for m in result["list"] if m["id"] == own]
    assert all(receipts["myRights"].values())
    # properties: only those asked for, and id always (RFC 8620 §5.1)
    got = await emails.ok("Mailbox/get", ids=[own, "nosuchmailbox"], properties=["name"])
    assert got["list"] == [{"id": own, "name": "Receipts"}]
    assert got["notFound"] == ["nosuchmailbox"]
    await emails.error("Mailbox/get", "invalidArguments", properties=["colour"])


@pytest_twisted.ensureDeferred
async def test_an_id_asked_twice_is_answered_once(emails: Emails) -> None:
    # RFC 8620 §5.1: once in list or notFound, however often the request names it
    inbox = await emails.inbox()
    got = await emails.ok("Mailbox/get", ids=[inbox, inbox, "nosuch", "nosuch"],
                          properties=["name"])
    assert (got["list"], got["notFound"]) == ([{"id": inbox, "name": "Inbox"}], ["nosuch"])
    one = await emails.import_raw(message("Once"))
    got = await emails.ok("Thread/get", ids=[one["threadId"], one["threadId"], "no", "no"])
    assert (got["list"], got["notFound"]) == (
        [{"id": one["threadId"], "emailIds": [one["id"]]}], ["no"]
    )
    # an empty patch updates nothing, and says so
    result = await emails.set(update={inbox: {}})
    assert result["updated"] == {inbox: None}
    assert result["newState"] == result["oldState"]


@pytest_twisted.ensureDeferred
async def test_myRights_say_what_the_owner_may_do_to_a_role_mailbox(emails: Emails) -> None:
    boxes = await emails.mailboxes()
    junk, drafts = boxes["Junk"], boxes["Drafts"]
    # whatever the server advertises, it keeps: a true mayRename renames, a true mayDelete
    # deletes, a false one is refused
    result = await emails.set(update={drafts["id"]: {"name": "Entwürfe"}})
    if drafts["myRights"]["mayRename"]:
        assert result["updated"] == {drafts["id"]: None}
    else:
        assert result["notUpdated"][drafts["id"]]["type"] == "forbidden"
    result = await emails.set(destroy=[junk["id"]])
    if junk["myRights"]["mayDelete"]:
        assert result["destroyed"] == [junk["id"]]
    else:
        assert result["notDestroyed"][junk["id"]]["type"] == "forbidden"


# -- Mailbox/set: the standard /set ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_ifInState_mismatch_is_stateMismatch_and_changes_nothing(emails: Emails) -> None:
    state = (await emails.ok("Mailbox/get", ids=[]))["state"]
    await emails.create(name="Moves the state")
    error = await emails.error(
        "Mailbox/set", "stateMismatch", ifInState=state, create={"m": {"name": "Never"}}
    )
    assert error["type"] == "stateMismatch"
    assert "Never" not in await emails.mailboxes()
    current = (await emails.ok("Mailbox/get", ids=[]))["state"]
    result = await emails.set(ifInState=current, create={"m": {"name": "Now"}})
    assert result["oldState"] == current and result["newState"] != current
    assert "m" in result["created"]


@pytest_twisted.ensureDeferred
async def test_unknown_ids_are_notFound_and_an_update_of_a_destroyed_one_willDestroy(
    emails: Emails,
) -> None:
    doomed = await emails.create(name="Doomed")
    result = await emails.set(
        update={"nosuchmailbox": {"name": "X"}, doomed: {"name": "Saved?"}},
        destroy=["nosuchmailbox2", doomed],
    )
    assert result["notUpdated"]["nosuchmailbox"]["type"] == "notFound"
    assert result["notUpdated"][doomed]["type"] == "willDestroy"
    assert set(result["notDestroyed"]) == {"nosuchmailbox2"}
    assert result["notDestroyed"]["nosuchmailbox2"]["type"] == "notFound"
    assert result["destroyed"] == [doomed]
    assert result["updated"] is None and result["created"] is None
    # destroyed is gone for good: a second destroy is notFound too
    result = await emails.set(destroy=[doomed])
    assert result["notDestroyed"][doomed]["type"] == "notFound"


@pytest_twisted.ensureDeferred
async def test_parentId_by_creation_reference_in_an_update_of_the_same_call(
    emails: Emails,
) -> None:
    loose = await emails.create(name="Loose")
    result = await emails.set(
        create={"folder": {"name": "Folder"}},
        update={loose: {"parentId": "#folder"}},
    )
    folder = result["created"]["folder"]["id"]
    # the client asked for that parent; a server may still show the id the reference stood
    # for (RFC 8620 §5.3 lists what changed "in a way not explicitly requested"), nothing else
    assert result["updated"][loose] in (None, {"parentId": folder})
    assert set(result["updated"]) == {loose}
    assert (await mailbox(emails, loose))["parentId"] == folder
    # a create by reference: created may leave parentId out (the client sent it), and if it
    # shows it, it is the id the reference stood for
    result = await emails.set(create={
        "outer": {"name": "Outer"}, "inner": {"name": "Inner", "parentId": "#outer"},
    })
    outer = result["created"]["outer"]["id"]
    assert result["created"]["inner"].get("parentId", outer) == outer
    assert (await mailbox(emails, result["created"]["inner"]["id"]))["parentId"] == outer
    # a reference to a creation id the request never made is refused, not stored
    result = await emails.set(update={loose: {"parentId": "#nosuch"}})
    assert result["notUpdated"][loose]["type"] in ("invalidProperties", "notFound")
    assert (await mailbox(emails, loose))["parentId"] == folder


@pytest_twisted.ensureDeferred
async def test_updated_shows_what_the_server_changed_and_nothing_else(emails: Emails) -> None:
    inbox = await emails.inbox()
    await emails.import_raw(message("Counted"), [inbox])
    # the counts are stored with the mailbox, but a rename changes none of its properties
    result = await emails.set(update={inbox: {"name": "In", "sortOrder": 3}})
    assert result["updated"] == {inbox: None}
    # a name the server normalizes (RFC 5198 NFC) comes back in updated
    result = await emails.set(update={inbox: {"name": "Inbo\u0301x"}})
    assert result["updated"] == {inbox: {"name": "Inb\u00f3x"}}
    assert await emails.counts(inbox) == {
        "totalEmails": 1, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 1,
    }


@pytest_twisted.ensureDeferred
async def test_server_set_properties_cannot_be_patched(emails: Emails) -> None:
    box = await emails.create(name="Box")
    for patch in ({"myRights/mayDelete": False}, {"myRights": {}}, {"totalThreads": 9},
                  {"id": "other"}):
        error = await emails.not_updated(box, **patch)
        assert error["type"] == "invalidProperties", (patch, error)
    error = await emails.not_created(name="X", id="chosen")
    assert error["type"] == "invalidProperties"
    for bad in ({"sortOrder": 1.5}, {"sortOrder": "1"}, {"parentId": 5}, {"role": 7},
                {"name": None}, {"isSubscribed": "yes"}):
        error = await emails.not_updated(box, **bad)
        assert (error["type"], error["properties"]) == ("invalidProperties", list(bad)), bad
    assert (await mailbox(emails, box))["name"] == "Box"


# -- Mailbox/set: names ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_sibling_names_clash_on_create_rename_and_move(emails: Emails) -> None:
    boxes = await emails.mailboxes()
    inbox, archive = boxes["Inbox"]["id"], boxes["Archive"]["id"]
    assert_name_clash(await emails.not_created(name="Inbox"), inbox)
    # two creates of one name in one call: the first is made, the second clashes with it
    result = await emails.set(create={"a": {"name": "Twice"}, "b": {"name": "Twice"}})
    assert sorted(result["created"]) == ["a"]
    assert_name_clash(result["notCreated"]["b"], result["created"]["a"]["id"])
    # rename onto a sibling's name
    error = await emails.not_updated(boxes["Sent"]["id"], name="Trash")
    assert error["type"] in NAME_CLASH
    # move next to a mailbox of the same name
    under = await emails.create(name="Inbox", parentId=archive)  # another parent: fine
    error = await emails.not_updated(under, parentId=None)
    assert error["type"] in NAME_CLASH
    # a child created by reference next to a sibling of its name, in one call
    result = await emails.set(create={
        "p": {"name": "P"}, "c1": {"name": "C", "parentId": "#p"},
        "c2": {"name": "C", "parentId": "#p"},
    })
    assert sorted(result["created"]) == ["c1", "p"]
    assert result["notCreated"]["c2"]["type"] in NAME_CLASH
    # nothing of the refused ones was stored
    names = [m["name"] for m in (await emails.ok("Mailbox/get"))["list"]]
    assert sorted(names) == sorted([
        "Inbox", "Drafts", "Sent", "Trash", "Junk", "Archive", "Twice", "Inbox", "P", "C",
    ])


@pytest_twisted.ensureDeferred
async def test_names_equal_after_unicode_normalization_are_the_same_name(
    emails: Emails,
) -> None:
    # RFC 8621 §2: names are Net-Unicode (RFC 5198), which is NFC: the decomposed spelling
    # of a sibling's name is that name
    first = await emails.create(name="Caf\u00e9 Cr\u00e8me")
    assert_name_clash(await emails.not_created(name="Cafe\u0301 Cre\u0300me"), first)
    other = await emails.create(name="Cafe Creme")
    error = await emails.not_updated(other, name="Cafe\u0301 Cre\u0300me")
    assert error["type"] in NAME_CLASH
    names = [m["name"] for m in (await emails.ok("Mailbox/get"))["list"]]
    assert names.count("Caf\u00e9 Cr\u00e8me") == 1


@pytest_twisted.ensureDeferred
async def test_names_are_held_to_the_advertised_maxSizeMailboxName(emails: Emails) -> None:
    limit = (await mail_capability(emails))["maxSizeMailboxName"]
    assert limit >= 100  # RFC 8621 §1.3.1
    # octets of UTF-8, not characters
    at_limit = "\u00e9" * (limit // 2) + "x" * (limit % 2)
    assert len(at_limit.encode()) == limit
    box = await emails.create(name=at_limit)
    over = "\u00e9" * (limit // 2 + 1)
    assert len(over) <= limit < len(over.encode())
    error = await emails.not_created(name=over)
    assert (error["type"], error["properties"]) == ("invalidProperties", ["name"])
    for bad in ("", over, "x" * (limit + 1)):
        error = await emails.not_updated(box, name=bad)
        assert (error["type"], error["properties"]) == ("invalidProperties", ["name"]), bad
    error = await emails.not_created(sortOrder=1)  # name is required
    assert (error["type"], error["properties"]) == ("invalidProperties", ["name"])
    assert (await mailbox(emails, box))["name"] == at_limit


# -- Mailbox/set: roles and the tree --------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_role_is_given_to_one_mailbox_only(emails: Emails) -> None:
    result = await emails.set(create={
        "a": {"name": "Starred", "role": "flagged"}, "b": {"name": "Flagged", "role": "flagged"},
    })
    assert sorted(result["created"]) == ["a"]
    assert (result["notCreated"]["b"]["type"], result["notCreated"]["b"]["properties"]) == (
        "invalidProperties", ["role"]
    )
    plain = await emails.create(name="Plain")
    error = await emails.not_updated(plain, role="flagged")
    assert (error["type"], error["properties"]) == ("invalidProperties", ["role"])
    found = (await emails.ok("Mailbox/query", filter={"role": "flagged"}))["ids"]
    assert found == [result["created"]["a"]["id"]]


@pytest_twisted.ensureDeferred
async def test_moves_in_one_call_never_leave_a_cycle(emails: Emails) -> None:
    a = await emails.create(name="A")
    b = await emails.create(name="B")
    result = await emails.set(update={a: {"parentId": b}, b: {"parentId": a}})
    assert result["updated"] == {a: None}
    assert result["notUpdated"][b]["type"] == "invalidProperties"
    assert result["notUpdated"][b]["properties"] == ["parentId"]
    assert ((await mailbox(emails, a))["parentId"], (await mailbox(emails, b))["parentId"]) == (
        b, None
    )
    # a move under its own descendant two levels down
    c = await emails.create(name="C", parentId=a)
    error = await emails.not_updated(b, parentId=c)
    assert (error["type"], error["properties"]) == ("invalidProperties", ["parentId"])
    # under a child created in the same call
    result = await emails.set(create={"d": {"name": "D", "parentId": a}},
                              update={b: {"parentId": "#d"}})
    assert "d" in result["created"]
    assert result["notUpdated"][b]["type"] == "invalidProperties"
    assert (await mailbox(emails, b))["parentId"] is None


@pytest_twisted.ensureDeferred
async def test_depth_is_held_to_the_advertised_maxMailboxDepth(emails: Emails) -> None:
    depth = (await mail_capability(emails))["maxMailboxDepth"]
    if depth is None:  # no limit advertised
        return
    chain = {f"l{i}": {"name": f"L{i}", **({"parentId": f"#l{i - 1}"} if i else {})}
             for i in range(depth + 1)}
    result = await emails.set(create=chain)
    assert sorted(result["created"]) == sorted(f"l{i}" for i in range(depth))
    assert result["notCreated"][f"l{depth}"]["type"] == "invalidProperties"


# -- Mailbox/set: destroy -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_destroy_refuses_a_mailbox_with_a_child_or_an_email(emails: Emails) -> None:
    parent = await emails.create(name="Parent")
    child = await emails.create(name="Child", parentId=parent)
    await emails.import_raw(message("In the child"), [child])
    result = await emails.set(destroy=[parent])
    assert result["notDestroyed"][parent]["type"] == "mailboxHasChild"
    result = await emails.set(destroy=[child])
    assert result["notDestroyed"][child]["type"] == "mailboxHasEmail"
    # refused with onDestroyRemoveEmails too: the child is still there
    result = await emails.set(destroy=[parent], onDestroyRemoveEmails=True)
    assert result["notDestroyed"][parent]["type"] == "mailboxHasChild"
    assert result["destroyed"] is None
    found = (await emails.ok("Mailbox/get", ids=[parent, child]))["list"]
    assert sorted(m["id"] for m in found) == sorted([parent, child])


@pytest_twisted.ensureDeferred
async def test_destroying_a_parent_and_its_child_in_one_call_leaves_no_orphan(
    emails: Emails,
) -> None:
    # RFC 8620 §5.3: the final state MUST be valid. A server may destroy both (passing through
    # an invalid state), or refuse the parent with mailboxHasChild; never the parent alone
    parent = await emails.create(name="Parent")
    child = await emails.create(name="Child", parentId=parent)
    result = await emails.set(destroy=[parent, child])
    assert child in result["destroyed"]
    if parent not in result["destroyed"]:
        assert result["notDestroyed"][parent]["type"] == "mailboxHasChild"
    remaining = {m["id"]: m for m in (await emails.ok("Mailbox/get"))["list"]}
    assert all(m["parentId"] in remaining for m in remaining.values() if m["parentId"])


@pytest_twisted.ensureDeferred
async def test_onDestroyRemoveEmails_destroys_only_emails_in_no_other_mailbox(
    emails: Emails,
) -> None:
    inbox = await emails.inbox()
    box = await emails.create(name="Box")
    only = await emails.import_raw(message("Only here", message_id="only@x"), [box])
    both = await emails.import_raw(message("Also in Inbox", message_id="both@x"), [box, inbox])
    reply = await emails.import_raw(
        message("Re: Also in Inbox", message_id="r@x", in_reply_to="both@x",
                references=["both@x"]),
        [box],
    )
    email_state = (await emails.ok("Email/get", ids=[]))["state"]
    result = await emails.set(destroy=[box], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [box]
    got = await emails.ok("Email/get", ids=[only["id"], both["id"], reply["id"]],
                          properties=["mailboxIds"])
    assert got["list"] == [{"id": both["id"], "mailboxIds": {inbox: True}}]
    assert sorted(got["notFound"]) == sorted([only["id"], reply["id"]])
    changes = await emails.ok("Email/changes", sinceState=email_state)
    assert changes["updated"] == [both["id"]]
    assert sorted(changes["destroyed"]) == sorted([only["id"], reply["id"]])
    # the thread keeps only the email left; the emptied one is gone
    threads = await emails.ok("Thread/get", ids=[both["threadId"], only["threadId"]])
    assert threads["list"] == [{"id": both["threadId"], "emailIds": [both["id"]]}]
    assert threads["notFound"] == [only["threadId"]]
    assert await emails.counts(inbox) == {
        "totalEmails": 1, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 1,
    }
    assert (await emails.ok("Mailbox/get", ids=[box]))["notFound"] == [box]
    query = await emails.ok("Email/query", filter={"inMailbox": box})
    assert query["ids"] == []


@pytest_twisted.ensureDeferred
async def test_onDestroyRemoveEmails_of_every_mailbox_of_an_email_destroys_it(
    emails: Emails,
) -> None:
    a = await emails.create(name="A")
    b = await emails.create(name="B")
    shared = await emails.import_raw(message("In both", message_id="ab@x"), [a, b])
    result = await emails.set(destroy=[a, b], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [a, b]
    got = await emails.ok("Email/get", ids=[shared["id"]])
    assert (got["list"], got["notFound"]) == ([], [shared["id"]])
    assert (await emails.ok("Thread/get", ids=[shared["threadId"]]))["notFound"] == [
        shared["threadId"]
    ]
    assert (await emails.ok("Mailbox/get", ids=[a, b]))["notFound"] == [a, b]


# -- Mailbox counts -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_unread_means_neither_seen_nor_draft(emails: Emails) -> None:
    box = await emails.create(name="Box")
    await emails.import_raw(message("Draft", message_id="d@x"), [box], keywords={"$draft": True})
    await emails.import_raw(message("Seen", message_id="s@x"), [box], keywords={"$seen": True})
    await emails.import_raw(message("Flagged", message_id="f@x"), [box],
                            keywords={"$flagged": True})
    assert await emails.counts(box) == {
        "totalEmails": 3, "unreadEmails": 1, "totalThreads": 3, "unreadThreads": 1,
    }


# -- Mailbox/query --------------------------------------------------------------------------


async def build_tree(emails: Emails) -> dict[str, str]:
    """Projects (10) > Alpha (1) > Beta (1) > Gamma; Projects > Zeta (2); Misc (20) > Alpha;
    name → id (Misc's Alpha is "MiscAlpha")."""
    result = await emails.set(create={
        "Projects": {"name": "Projects", "sortOrder": 10},
        "Alpha": {"name": "Alpha", "sortOrder": 1, "parentId": "#Projects"},
        "Beta": {"name": "Beta", "sortOrder": 1, "parentId": "#Alpha"},
        "Gamma": {"name": "Gamma", "parentId": "#Beta", "isSubscribed": False},
        "Zeta": {"name": "Zeta", "sortOrder": 2, "parentId": "#Projects"},
        "Misc": {"name": "Misc", "sortOrder": 20},
        "MiscAlpha": {"name": "Alpha", "parentId": "#Misc"},
    })
    assert result["notCreated"] is None, result["notCreated"]
    return {name: created["id"] for name, created in result["created"].items()}


@pytest_twisted.ensureDeferred
async def test_filterAsTree_drops_a_match_whose_ancestor_does_not_match(emails: Emails) -> None:
    ids = await build_tree(emails)
    names = {i: n for n, i in ids.items()}

    async def query(**arguments: Any) -> list[str]:
        return [names[i] for i in await emails.query(**arguments)]

    no_role = {"hasAnyRole": False}
    # "a" matches both Alphas, Beta, Gamma and Zeta, but neither top-level parent
    flat = await query(filter={"operator": "AND", "conditions": [no_role, {"name": "a"}]},
                       sort=BY_ORDER_THEN_NAME)
    assert sorted(flat) == sorted(["Alpha", "Beta", "Gamma", "Zeta", "MiscAlpha"])
    as_tree = await query(filter={"operator": "AND", "conditions": [no_role, {"name": "a"}]},
                          sort=BY_ORDER_THEN_NAME, filterAsTree=True)
    assert as_tree == []  # every match has a non-matching top-level ancestor
    # the top level matches "o" (Projects) but "Misc" does not
    as_tree = await query(filter={"operator": "AND", "conditions": [no_role, {"name": "o"}]},
                          sort=BY_ORDER_THEN_NAME, filterAsTree=True)
    assert as_tree == ["Projects"]  # Zeta, Alpha, Beta and Gamma have no "o"
    # isSubscribed false: Gamma alone matches, but its ancestors do not
    assert await query(filter={"isSubscribed": False}) == ["Gamma"]
    assert await query(filter={"isSubscribed": False}, filterAsTree=True) == []
    # "e": Projects, Beta and Zeta; Beta's parent Alpha does not match, so Beta is left out
    # though Projects above them both matches
    assert await query(filter={"operator": "AND", "conditions": [no_role, {"name": "e"}]},
                       sort=BY_ORDER_THEN_NAME, sortAsTree=True, filterAsTree=True) == [
        "Projects", "Zeta"
    ]
    # parentId null is the top level
    top = await query(filter={"parentId": None, "hasAnyRole": False}, sort=BY_ORDER_THEN_NAME)
    assert top == ["Projects", "Misc"]
    assert await query(filter={"parentId": ids["Projects"]}, sort=BY_ORDER_THEN_NAME) == [
        "Alpha", "Zeta"
    ]


@pytest_twisted.ensureDeferred
async def test_sortAsTree_puts_children_directly_after_their_parent(emails: Emails) -> None:
    ids = await build_tree(emails)
    names = {i: n for n, i in ids.items()}
    everything = await emails.ok("Mailbox/query", filter={"hasAnyRole": False},
                                 sort=[{"property": "name"}], sortAsTree=True,
                                 calculateTotal=True)
    order = [names[i] for i in everything["ids"]]
    # siblings by name, each parent before its subtree
    assert order == ["Misc", "MiscAlpha", "Projects", "Alpha", "Beta", "Gamma", "Zeta"]
    assert everything["total"] == 7
    by_order = await emails.query(filter={"hasAnyRole": False}, sort=BY_ORDER_THEN_NAME,
                                  sortAsTree=True)
    assert [names[i] for i in by_order] == [
        "Projects", "Alpha", "Beta", "Gamma", "Zeta", "Misc", "MiscAlpha"
    ]
    # a window of the tree order
    window = await emails.ok("Mailbox/query", filter={"hasAnyRole": False},
                             sort=BY_ORDER_THEN_NAME, sortAsTree=True, position=2, limit=3)
    assert [names[i] for i in window["ids"]] == ["Beta", "Gamma", "Zeta"]
    assert window["position"] == 2
    # the tree order is a property of the whole account, whatever the comparators
    descending = await emails.query(filter={"hasAnyRole": False},
                                    sort=[{"property": "sortOrder", "isAscending": False}],
                                    sortAsTree=True)
    assert [names[i] for i in descending] == [
        "Misc", "MiscAlpha", "Projects", "Zeta", "Alpha", "Beta", "Gamma"
    ]
    for position, mailbox_id in enumerate(by_order):
        parent = (await mailbox(emails, mailbox_id))["parentId"]
        if parent is not None:
            assert by_order.index(parent) < position


# -- Thread/get -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_thread_emailIds_are_oldest_first_whatever_the_import_order(
    emails: Emails,
) -> None:
    root = message("Trip", message_id="t0@x")
    replies = [
        message("Re: Trip", message_id=f"t{n}@x", in_reply_to="t0@x", references=["t0@x"])
        for n in (1, 2, 3)
    ]
    # imported newest first; the received dates are what order the thread
    late = await emails.import_raw(replies[2], receivedAt="2023-03-04T00:00:00Z")
    mid = await emails.import_raw(replies[1], receivedAt="2023-03-03T00:00:00Z")
    first = await emails.import_raw(root, receivedAt="2023-03-01T00:00:00Z")
    early = await emails.import_raw(replies[0], receivedAt="2023-03-02T00:00:00Z")
    created = [first, early, mid, late]
    thread_id = first["threadId"]
    got = await emails.ok("Email/get", ids=[c["id"] for c in created], properties=["threadId"])
    assert {e["threadId"] for e in got["list"]} == {thread_id}
    assert await emails.thread_ids(thread_id) == [c["id"] for c in created]


@pytest_twisted.ensureDeferred
async def test_thread_emailIds_with_equal_dates_are_in_a_stable_order(emails: Emails) -> None:
    raws = [message("Same time", message_id="s0@x")] + [
        message("Re: Same time", message_id=f"s{n}@x", in_reply_to="s0@x", references=["s0@x"])
        for n in (1, 2, 3)
    ]
    created = [await emails.import_raw(raw, receivedAt="2023-05-05T05:05:05Z") for raw in raws]
    thread_id = created[0]["threadId"]
    order = await emails.thread_ids(thread_id)
    assert sorted(order) == sorted(c["id"] for c in created)
    assert await emails.thread_ids(thread_id) == order
    # a later email goes last, the equal ones keep their order
    later = await emails.import_raw(
        message("Re: Same time", message_id="s9@x", in_reply_to="s0@x", references=["s0@x"]),
        receivedAt="2023-05-06T00:00:00Z",
    )
    assert await emails.thread_ids(thread_id) == [*order, later["id"]]


@pytest_twisted.ensureDeferred
async def test_thread_get_of_unknown_ids_is_notFound(emails: Emails) -> None:
    one = await emails.import_raw(message("Alone"))
    result = await emails.ok("Thread/get", ids=["nosuchthread", one["threadId"]])
    assert result["list"] == [{"id": one["threadId"], "emailIds": [one["id"]]}]
    assert result["notFound"] == ["nosuchthread"]
    assert isinstance(result["state"], str)
    result = await emails.ok("Thread/get", ids=[one["threadId"]], properties=["emailIds"])
    assert result["list"] == [{"id": one["threadId"], "emailIds": [one["id"]]}]
    result = await emails.ok("Thread/get", ids=[])
    assert (result["list"], result["notFound"]) == ([], [])
