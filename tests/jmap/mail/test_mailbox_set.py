"""Mailbox/set (RFC 8621 §2.5) over HTTP on Redis: the rules a mailbox keeps, and its SetErrors."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.mail.conftest import Mail


@pytest_twisted.ensureDeferred
async def test_create_fills_defaults_and_server_set_properties(mail: Mail) -> None:
    result = await mail.set(create={"m": {"name": "Receipts"}})
    created = result["created"]["m"]
    assert set(created) == {
        "id", "parentId", "role", "sortOrder", "isSubscribed", "totalEmails", "unreadEmails",
        "totalThreads", "unreadThreads", "myRights",
    }
    assert (created["parentId"], created["role"], created["sortOrder"],
            created["isSubscribed"]) == (None, None, 0, True)
    assert created["totalEmails"] == 0 and all(created["myRights"].values())


@pytest_twisted.ensureDeferred
async def test_a_child_created_by_reference_in_the_same_call(mail: Mail) -> None:
    result = await mail.set(create={
        "child": {"name": "Child", "parentId": "#parent"},
        "parent": {"name": "Parent"},
    })
    assert result["notCreated"] is None
    assert (await mail.mailboxes())["Child"]["parentId"] == result["created"]["parent"]["id"]


@pytest_twisted.ensureDeferred
async def test_roles_are_registered_lowercase_names_and_unique(mail: Mail) -> None:
    for role in ("inbox", "Inbox", "custom"):
        error = await mail.not_created(name=f"Another {role}", role=role)
        assert (error["type"], error["properties"]) == ("invalidProperties", ["role"])
    boxes = await mail.mailboxes()
    archive = boxes["Archive"]["id"]
    error = await mail.not_updated(archive, role="trash")
    assert (error["type"], error["properties"]) == ("invalidProperties", ["role"])
    # a role moves in two steps (creates run before updates within one call)
    assert (await mail.set(update={archive: {"role": None}}))["updated"] == {archive: None}
    await mail.create(name="Old mail", role="archive")
    flagged = await mail.create(name="Starred", role="flagged")
    assert (await mail.mailboxes())["Starred"]["role"] == "flagged"
    assert flagged


@pytest_twisted.ensureDeferred
async def test_parents_must_exist_and_never_make_a_cycle(mail: Mail) -> None:
    error = await mail.not_created(name="Orphan", parentId="nosuchmailbox")
    assert (error["type"], error["properties"]) == ("invalidProperties", ["parentId"])
    a = await mail.create(name="A")
    b = await mail.create(name="B", parentId=a)
    c = await mail.create(name="C", parentId=b)
    for target in (a, b, c):
        error = await mail.not_updated(a, parentId=target)
        assert (error["type"], error["properties"]) == ("invalidProperties", ["parentId"])
    # moving a subtree elsewhere is fine
    result = await mail.set(update={b: {"parentId": None}})
    assert result["updated"] == {b: None}


@pytest_twisted.ensureDeferred
async def test_the_tree_is_at_most_max_mailbox_depth_deep(mail: Mail) -> None:
    parent = None
    chain = []
    for level in range(1, 11):  # depth 10 is the limit: a top-level mailbox has depth 1
        parent = await mail.create(name=f"L{level}", parentId=parent)
        chain.append(parent)
    error = await mail.not_created(name="L11", parentId=parent)
    assert (error["type"], error["properties"]) == ("invalidProperties", ["parentId"])
    # a two-level subtree under level 9 would reach depth 11
    top = await mail.create(name="Sub")
    await mail.create(name="SubChild", parentId=top)
    error = await mail.not_updated(top, parentId=chain[8])
    assert (error["type"], error["properties"]) == ("invalidProperties", ["parentId"])
    assert (await mail.set(update={top: {"parentId": chain[7]}}))["updated"] == {top: None}


@pytest_twisted.ensureDeferred
async def test_sibling_names_are_unique_exactly(mail: Mail) -> None:
    boxes = await mail.mailboxes()
    error = await mail.not_created(name="Inbox")
    assert error["type"] == "alreadyExists"
    assert error["existingId"] == boxes["Inbox"]["id"]
    # RFC 8621 forbids the same name: another case is another name; another parent is fine
    await mail.create(name="inbox")
    await mail.create(name="Inbox", parentId=boxes["Archive"]["id"])
    error = await mail.not_updated(boxes["Sent"]["id"], name="Drafts")
    assert (error["type"], error["properties"]) == ("invalidProperties", ["name"])
    # names are compared in NFC: the decomposed form is the same name
    await mail.create(name="Caf\u00e9")
    error = await mail.not_created(name="Cafe\u0301")
    assert error["type"] == "alreadyExists"


@pytest_twisted.ensureDeferred
async def test_names_are_checked_and_normalized(mail: Mail) -> None:
    for bad in ("", "tab\there", "line\u2028separator", "\u00e9" * 128):
        error = await mail.not_created(name=bad)
        assert (error["type"], error["properties"]) == ("invalidProperties", ["name"]), bad
    result = await mail.set(create={"m": {"name": "Re\u0301sume\u0301"}})
    assert result["created"]["m"]["name"] == "R\u00e9sum\u00e9"  # the server changed it
    await mail.create(name="x" * 255)  # 255 octets is the limit


@pytest_twisted.ensureDeferred
async def test_server_set_and_bounded_properties(mail: Mail) -> None:
    for extra in ({"totalEmails": 0}, {"myRights": {}}, {"sortOrder": 2**31},
                  {"sortOrder": -1}, {"isSubscribed": None}, {"colour": "red"}):
        error = await mail.not_created(name="X", **extra)
        assert error["type"] == "invalidProperties", extra
    inbox = (await mail.mailboxes())["Inbox"]["id"]
    error = await mail.not_updated(inbox, unreadEmails=5)
    assert (error["type"], error["properties"]) == ("invalidProperties", ["unreadEmails"])
    # setting a server-set property to its current value is allowed (RFC 8620 §5.3)
    result = await mail.set(update={inbox: {"unreadEmails": 0, "sortOrder": 2**31 - 1}})
    assert result["updated"] == {inbox: None}


@pytest_twisted.ensureDeferred
async def test_a_mailbox_with_children_is_not_destroyed(mail: Mail) -> None:
    parent = await mail.create(name="Parent")
    child = await mail.create(name="Child", parentId=parent)
    result = await mail.set(destroy=[parent])
    assert result["notDestroyed"][parent]["type"] == "mailboxHasChild"
    assert result["destroyed"] is None
    result = await mail.set(destroy=[child, parent])  # child first: then the parent is empty
    assert result["destroyed"] == [child, parent]


@pytest_twisted.ensureDeferred
async def test_isSubscribed_and_sortOrder_update(mail: Mail) -> None:
    junk = (await mail.mailboxes())["Junk"]["id"]
    result = await mail.set(update={junk: {"isSubscribed": False, "sortOrder": 1}})
    assert result["updated"] == {junk: None}
    junk_now = (await mail.mailboxes())["Junk"]
    assert (junk_now["isSubscribed"], junk_now["sortOrder"]) == (False, 1)


@pytest_twisted.ensureDeferred
async def test_rules_apply_step_by_step_within_one_call(mail: Mail) -> None:
    boxes = await mail.mailboxes()
    archive, sent = boxes["Archive"]["id"], boxes["Sent"]["id"]
    # updates run in the order given: the role is free once the first has run
    result = await mail.set(update={archive: {"role": None}, sent: {"role": "archive"}})
    assert result["updated"] == {archive: None, sent: None}
    # a chain of creates by reference is held to the depth limit too
    chain = {f"l{i}": {"name": f"L{i}", **({"parentId": f"#l{i - 1}"} if i else {})}
             for i in range(11)}
    result = await mail.set(create=chain)
    assert sorted(result["created"]) == sorted(f"l{i}" for i in range(10))
    assert result["notCreated"]["l10"]["properties"] == ["parentId"]
