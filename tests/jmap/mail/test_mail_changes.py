"""Email/changes, Thread/changes and Mailbox/changes over the mail stack (RFC 8620 §5.2, RFC 8621
§2.2, §3.2, §4.3): what imports, keyword updates, moves, destroys, thread merges, Email/set
creates and Email/copy do to each type's change lists and states.

The RFC's rules checked here, beside the lists themselves:

* an object created and updated since the old state SHOULD be in ``created`` only;
* one created and destroyed SHOULD be left out entirely, but MAY be in ``destroyed``: never in
  ``created`` or ``updated``;
* with ``maxChanges`` the server returns at most that many ids in all, an intermediate
  ``newState`` and ``hasMoreChanges: true``; ``maxChanges`` must be > 0 (else invalidArguments);
* a state the server cannot calculate from gives ``cannotCalculateChanges``;
* only Mailbox/changes has ``updatedProperties``: null, or (only when nothing but the counts
  changed) the count properties that may have changed.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

STANDARD_RESPONSE = {
    "accountId", "oldState", "newState", "hasMoreChanges", "created", "updated", "destroyed",
}
COUNT_PROPERTIES = {"totalEmails", "unreadEmails", "totalThreads", "unreadThreads"}


async def state_of(emails: Emails, type_name: str, **arguments: Any) -> str:
    """The type's current state, as its /get tells it."""
    state: str = (await emails.ok(f"{type_name}/get", ids=[], **arguments))["state"]
    return state


async def changes(emails: Emails, type_name: str, since: str, **arguments: Any) -> dict[str, Any]:
    """One /changes answer, checked for the shape every answer has."""
    found = await emails.ok(f"{type_name}/changes", sinceState=since, **arguments)
    assert found["oldState"] == since
    assert isinstance(found["newState"], str) and found["newState"]
    assert isinstance(found["hasMoreChanges"], bool)
    lists = [*found["created"], *found["updated"], *found["destroyed"]]
    assert len(lists) == len(set(lists)), f"an id in more than one list: {found}"
    return found


def lists(found: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    return set(found["created"]), set(found["updated"]), set(found["destroyed"])


async def settled(emails: Emails, type_name: str, since: str, **arguments: Any) -> dict[str, Any]:
    """A one-page answer that brings the client up to date: its newState is /get's state."""
    found = await changes(emails, type_name, since, **arguments)
    assert found["hasMoreChanges"] is False, found
    assert found["newState"] == await state_of(emails, type_name, **arguments)
    return found


async def nothing_since(emails: Emails, type_name: str, since: str) -> None:
    """Asking from the newest state gives no changes and the same state back."""
    found = await changes(emails, type_name, since)
    assert (found["newState"], found["hasMoreChanges"]) == (since, False)
    assert lists(found) == (set(), set(), set())


async def set_emails(emails: Emails, **arguments: Any) -> dict[str, Any]:
    result = await emails.ok("Email/set", **arguments)
    for key in ("notCreated", "notUpdated", "notDestroyed"):
        assert result[key] is None, result[key]
    return result


def draft(subject: str, drafts: str) -> dict[str, Any]:
    return {"mailboxIds": {drafts: True}, "keywords": {"$draft": True}, "subject": subject,
            "textBody": [{"partId": "t", "type": "text/plain"}],
            "bodyValues": {"t": {"value": "x"}}}


# Email/changes


@pytest_twisted.ensureDeferred
async def test_email_changes_follow_imports_keywords_moves_and_destroys(emails: Emails) -> None:
    inbox = await emails.inbox()
    work = await emails.create(name="Work")
    s0 = await state_of(emails, "Email")
    await nothing_since(emails, "Email", s0)

    a = (await emails.import_raw(message("a", message_id="a@x")))["id"]
    b = (await emails.import_raw(message("b", message_id="b@x")))["id"]
    found = await settled(emails, "Email", s0)
    assert lists(found) == ({a, b}, set(), set())
    s1 = found["newState"]
    assert s1 != s0
    await nothing_since(emails, "Email", s1)

    await set_emails(emails, update={a: {"keywords/$seen": True}})
    found = await settled(emails, "Email", s1)
    assert lists(found) == (set(), {a}, set())
    s2 = found["newState"]

    await set_emails(emails, update={b: {f"mailboxIds/{inbox}": None, f"mailboxIds/{work}": True}})
    assert (await emails.get_email(b, "mailboxIds"))["mailboxIds"] == {work: True}
    found = await settled(emails, "Email", s2)
    assert lists(found) == (set(), {b}, set())
    s3 = found["newState"]

    await set_emails(emails, destroy=[a])
    found = await settled(emails, "Email", s3)
    assert lists(found) == (set(), set(), {a})
    s4 = found["newState"]
    await nothing_since(emails, "Email", s4)

    # from older states the changes combine: b created then updated is in created only; a
    # created then destroyed is never created or updated (left out, or at most destroyed)
    found = await settled(emails, "Email", s0)
    created, updated, destroyed = lists(found)
    assert (created, updated) == ({b}, set())
    assert destroyed <= {a}
    assert found["newState"] == s4
    # a updated then destroyed is destroyed only; b updated (moved) is updated
    found = await settled(emails, "Email", s1)
    assert lists(found) == (set(), {b}, {a})
    found = await settled(emails, "Email", s2)
    assert lists(found) == (set(), {b}, {a})


@pytest_twisted.ensureDeferred
async def test_an_email_created_and_destroyed_between_two_states_is_never_live(
    emails: Emails,
) -> None:
    await emails.inbox()
    kept = (await emails.import_raw(message("kept", message_id="k@x")))["id"]
    s0 = await state_of(emails, "Email")
    brief = (await emails.import_raw(message("brief", message_id="br@x")))["id"]
    await set_emails(emails, update={brief: {"keywords/$flagged": True}})
    await set_emails(emails, destroy=[brief])
    found = await settled(emails, "Email", s0)
    created, updated, destroyed = lists(found)
    assert (created, updated) == (set(), set())
    assert destroyed <= {brief}
    assert kept not in destroyed


@pytest_twisted.ensureDeferred
async def test_email_set_create_and_update_of_a_draft(emails: Emails) -> None:
    drafts = (await emails.mailboxes())["Drafts"]["id"]
    s0 = await state_of(emails, "Email")
    result = await set_emails(emails, create={"d": draft("draft", drafts)})
    created = result["created"]["d"]["id"]
    assert result["oldState"] == s0
    found = await settled(emails, "Email", s0)
    assert lists(found) == ({created}, set(), set())
    assert found["newState"] == result["newState"]
    # created then updated: still created only
    await set_emails(emails, update={created: {"keywords/$seen": True}})
    found = await settled(emails, "Email", s0)
    assert lists(found) == ({created}, set(), set())
    found = await settled(emails, "Email", result["newState"])
    assert lists(found) == (set(), {created}, set())


@pytest_twisted.ensureDeferred
async def test_email_copy_creates_in_the_target_and_destroys_the_original(two: Emails) -> None:
    bob = two.server.other_user_id
    bob_boxes = (await two.ok("Mailbox/get", accountId=bob))["list"]
    bob_inbox = next(m["id"] for m in bob_boxes if m["role"] == "inbox")
    original = (await two.import_raw(message("Shared", message_id="sh@x")))["id"]
    alice_s0 = await state_of(two, "Email")
    bob_s0 = await state_of(two, "Email", accountId=bob)
    bob_threads = await state_of(two, "Thread", accountId=bob)
    bob_mailboxes = await state_of(two, "Mailbox", accountId=bob)
    response = await two.response(["Email/copy", {
        "fromAccountId": two.account, "accountId": bob, "onSuccessDestroyOriginal": True,
        "create": {"c": {"id": original, "mailboxIds": {bob_inbox: True}}},
    }, "0"])
    (_, copied, _), (_, destroyed, _) = response["methodResponses"]
    copy = copied["created"]["c"]
    assert destroyed["destroyed"] == [original]

    found = await settled(two, "Email", bob_s0, accountId=bob)
    assert lists(found) == ({copy["id"]}, set(), set())
    assert found["accountId"] == bob
    found = await settled(two, "Thread", bob_threads, accountId=bob)
    assert lists(found) == ({copy["threadId"]}, set(), set())
    found = await settled(two, "Mailbox", bob_mailboxes, accountId=bob)
    assert lists(found) == (set(), {bob_inbox}, set())
    found = await settled(two, "Email", alice_s0)
    assert lists(found) == (set(), set(), {original})


# paging with maxChanges


async def pages(
    emails: Emails, type_name: str, since: str, max_changes: int
) -> list[dict[str, Any]]:
    """Every page from ``since``, each asked from the previous page's newState."""
    found = []
    while True:
        page = await changes(emails, type_name, since, maxChanges=max_changes)
        size = len(page["created"]) + len(page["updated"]) + len(page["destroyed"])
        assert size <= max_changes, page
        found.append(page)
        if not page["hasMoreChanges"]:
            return found
        # a page that says more is coming moves on (it may be empty: an object created and
        # destroyed in it is left out, yet counted as examined)
        assert page["newState"] != since, page
        since = page["newState"]
        assert len(found) < 50, "paging does not end"


@pytest_twisted.ensureDeferred
async def test_max_changes_pages_add_up_to_the_one_shot_answer(emails: Emails) -> None:
    await emails.inbox()
    old = [(await emails.import_raw(message(f"old{n}", message_id=f"o{n}@x")))["id"]
           for n in range(4)]
    s0 = await state_of(emails, "Email")
    new = [(await emails.import_raw(message(f"new{n}", message_id=f"n{n}@x")))["id"]
           for n in range(5)]
    await set_emails(emails, update={old[0]: {"keywords/$seen": True},
                                     old[1]: {"keywords/$flagged": True}})
    await set_emails(emails, update={new[2]: {"keywords/$seen": True}})
    await set_emails(emails, destroy=[old[2], new[4]])
    await set_emails(emails, update={old[0]: {"keywords/$answered": True}})

    whole = await settled(emails, "Email", s0)
    created, updated, destroyed = lists(whole)
    assert (created, updated) == (set(new[:4]), {old[0], old[1]})
    assert destroyed - {new[4]} == {old[2]}  # new[4], created and destroyed: at most destroyed
    current = whole["newState"]
    for max_changes in (1, 2, 3, 7, 100):
        found = await pages(emails, "Email", s0, max_changes)
        assert [p["hasMoreChanges"] for p in found] == [True] * (len(found) - 1) + [False]
        assert found[-1]["newState"] == current
        for kind in ("created", "updated", "destroyed"):
            ids = [i for p in found for i in p[kind]]
            assert len(ids) == len(set(ids)), (max_changes, kind, found)
            assert set(ids) == set(whole[kind]), (max_changes, kind, found)
        every = [i for p in found for k in ("created", "updated", "destroyed") for i in p[k]]
        assert len(every) == len(set(every)), (max_changes, found)
        if max_changes < 7:
            assert len(found) > 1
    # an intermediate state is a state like any other: asked again, it answers the same
    [first, *_] = await pages(emails, "Email", s0, 2)
    again = await changes(emails, "Email", first["newState"])
    assert again["newState"] == current


def found_order(found: list[dict[str, Any]]) -> list[str]:
    return [i for p in found for i in p["created"]]


@pytest_twisted.ensureDeferred
async def test_thread_and_mailbox_changes_page_too(emails: Emails) -> None:
    await emails.inbox()
    threads = await state_of(emails, "Thread")
    mailboxes = await state_of(emails, "Mailbox")
    created = [(await emails.import_raw(message(f"t{n}", message_id=f"t{n}@x")))["threadId"]
               for n in range(3)]
    boxes = [await emails.create(name=f"Box {n}") for n in range(3)]
    whole = await settled(emails, "Thread", threads)
    assert lists(whole) == (set(created), set(), set())
    found = await pages(emails, "Thread", threads, 1)
    assert [p["created"] for p in found] == [[t] for t in found_order(found)]
    assert set(found_order(found)) == set(created)
    assert found[-1]["newState"] == whole["newState"]
    whole = await settled(emails, "Mailbox", mailboxes)
    assert set(whole["created"]) == set(boxes)
    found = await pages(emails, "Mailbox", mailboxes, 2)
    assert {i for p in found for i in p["created"]} == set(boxes)
    assert {i for p in found for i in p["updated"]} == set(whole["updated"])
    assert found[-1]["newState"] == whole["newState"]
    for page in found:
        assert "updatedProperties" in page


@pytest.mark.parametrize("type_name", ["Email", "Thread", "Mailbox"])
@pytest.mark.parametrize("max_changes", [0, -1, -100, 1.5, "2", True])
@pytest_twisted.ensureDeferred
async def test_max_changes_must_be_a_positive_integer(
    emails: Emails, type_name: str, max_changes: Any
) -> None:
    since = await state_of(emails, type_name)
    await emails.error(f"{type_name}/changes", "invalidArguments",
                       sinceState=since, maxChanges=max_changes)


# Thread/changes


@pytest_twisted.ensureDeferred
async def test_a_reply_marks_its_thread_updated(emails: Emails) -> None:
    await emails.inbox()
    t0 = await state_of(emails, "Thread")
    root = await emails.import_raw(message("Plans", message_id="root@x"))
    found = await settled(emails, "Thread", t0)
    assert lists(found) == ({root["threadId"]}, set(), set())
    t1 = found["newState"]
    e1 = await state_of(emails, "Email")
    reply = await emails.import_raw(
        message("Re: Plans", message_id="re@x", in_reply_to="root@x", references=["root@x"])
    )
    assert reply["threadId"] == root["threadId"]
    found = await settled(emails, "Thread", t1)
    assert lists(found) == (set(), {root["threadId"]}, set())
    found = await settled(emails, "Email", e1)
    assert lists(found) == ({reply["id"]}, set(), set())
    # from before the thread existed it is only created
    found = await settled(emails, "Thread", t0)
    assert lists(found) == ({root["threadId"]}, set(), set())
    # a keyword change does not change the thread (its emailIds stay)
    t2 = found["newState"]
    await set_emails(emails, update={reply["id"]: {"keywords/$seen": True}})
    await nothing_since(emails, "Thread", t2)


@pytest_twisted.ensureDeferred
async def test_a_message_joining_two_threads_merges_them(emails: Emails) -> None:
    await emails.inbox()
    first = await emails.import_raw(message("Plans", message_id="p1@x"),
                                    receivedAt="2023-01-01T00:00:00Z")
    second = await emails.import_raw(message("Plans", message_id="p2@x"),
                                     receivedAt="2023-01-02T00:00:00Z")
    assert first["threadId"] != second["threadId"]
    t0 = await state_of(emails, "Thread")
    e0 = await state_of(emails, "Email")
    joining = await emails.import_raw(
        message("Re: Plans", message_id="j@x", in_reply_to="p2@x", references=["p1@x", "p2@x"]),
        receivedAt="2023-01-03T00:00:00Z",
    )
    survivor = joining["threadId"]
    assert survivor in {first["threadId"], second["threadId"]}
    [merged] = {first["threadId"], second["threadId"]} - {survivor}
    got = await emails.ok("Email/get", ids=[first["id"], second["id"]], properties=["threadId"])
    assert {e["threadId"] for e in got["list"]} == {survivor}
    threads = await emails.ok("Thread/get", ids=[survivor, merged])
    assert [t["id"] for t in threads["list"]] == [survivor]
    assert threads["notFound"] == [merged]
    assert threads["list"][0]["emailIds"] == [first["id"], second["id"], joining["id"]]

    found = await settled(emails, "Thread", t0)
    assert lists(found) == (set(), {survivor}, {merged})
    # the emails that moved thread changed their threadId: updated
    moved = {e["id"] for e in (first, second) if e["threadId"] == merged}
    found = await settled(emails, "Email", e0)
    assert lists(found) == ({joining["id"]}, moved, set())


@pytest_twisted.ensureDeferred
async def test_destroying_the_last_email_of_a_thread_destroys_it(emails: Emails) -> None:
    await emails.inbox()
    root = await emails.import_raw(message("Plans", message_id="root@x"))
    reply = await emails.import_raw(
        message("Re: Plans", message_id="re@x", in_reply_to="root@x", references=["root@x"])
    )
    other = await emails.import_raw(message("Other", message_id="other@x"))
    t0 = await state_of(emails, "Thread")
    await set_emails(emails, destroy=[reply["id"]])
    found = await settled(emails, "Thread", t0)
    assert lists(found) == (set(), {root["threadId"]}, set())
    t1 = found["newState"]
    await set_emails(emails, destroy=[root["id"]])
    found = await settled(emails, "Thread", t1)
    assert lists(found) == (set(), set(), {root["threadId"]})
    # updated then destroyed: destroyed only; the untouched thread is not listed
    found = await settled(emails, "Thread", t0)
    assert lists(found) == (set(), set(), {root["threadId"]})
    assert other["threadId"] not in found["updated"]
    # a thread created and destroyed since the old state is never created or updated
    t2 = found["newState"]
    brief = await emails.import_raw(message("Brief", message_id="brief@x"))
    await set_emails(emails, destroy=[brief["id"]])
    created, updated, destroyed = lists(await settled(emails, "Thread", t2))
    assert (created, updated) == (set(), set())
    assert destroyed <= {brief["threadId"]}


# Mailbox/changes


@pytest_twisted.ensureDeferred
async def test_email_writes_mark_the_mailboxes_whose_counts_moved(emails: Emails) -> None:
    inbox = await emails.inbox()
    work = await emails.create(name="Work")
    m0 = await state_of(emails, "Mailbox")
    email = await emails.import_raw(message("counted", message_id="c@x"))
    found = await settled(emails, "Mailbox", m0)
    assert lists(found) == (set(), {inbox}, set())
    assert found["updatedProperties"] is None or set(found["updatedProperties"]) <= COUNT_PROPERTIES
    m1 = found["newState"]
    await nothing_since(emails, "Mailbox", m1)

    await set_emails(emails, update={email["id"]: {"keywords/$seen": True}})  # unreadEmails
    found = await settled(emails, "Mailbox", m1)
    assert lists(found) == (set(), {inbox}, set())
    assert found["updatedProperties"] is None or set(found["updatedProperties"]) <= COUNT_PROPERTIES
    m2 = found["newState"]

    await set_emails(emails, update={email["id"]: {"mailboxIds": {work: True}}})
    found = await settled(emails, "Mailbox", m2)
    assert lists(found) == (set(), {inbox, work}, set())
    m3 = found["newState"]

    await set_emails(emails, destroy=[email["id"]])
    found = await settled(emails, "Mailbox", m3)
    assert lists(found) == (set(), {work}, set())
    assert await emails.counts(work) == dict.fromkeys(COUNT_PROPERTIES, 0)


@pytest_twisted.ensureDeferred
async def test_mailbox_set_create_rename_destroy(emails: Emails) -> None:
    await emails.inbox()
    m0 = await state_of(emails, "Mailbox")
    box = await emails.create(name="Projects")
    found = await settled(emails, "Mailbox", m0)
    assert lists(found) == ({box}, set(), set())
    assert "updatedProperties" in found
    m1 = found["newState"]

    renamed = await emails.set(update={box: {"name": "Archive 2023"}})
    assert renamed["notUpdated"] is None, renamed["notUpdated"]
    found = await settled(emails, "Mailbox", m1)
    assert lists(found) == (set(), {box}, set())
    # more than the counts changed: updatedProperties must be null (RFC 8621 §2.2)
    assert "updatedProperties" in found and found["updatedProperties"] is None
    m2 = found["newState"]

    destroyed = await emails.set(destroy=[box])
    assert destroyed["destroyed"] == [box]
    found = await settled(emails, "Mailbox", m2)
    assert lists(found) == (set(), set(), {box})
    assert "updatedProperties" in found
    # created, renamed and destroyed since m0: never created or updated
    created, updated, gone = lists(await settled(emails, "Mailbox", m0))
    assert (created, updated) == (set(), set())
    assert gone <= {box}
    # renamed then destroyed since m1: destroyed only
    assert lists(await settled(emails, "Mailbox", m1)) == (set(), set(), {box})


# states


@pytest.mark.parametrize("type_name", ["Email", "Thread", "Mailbox"])
@pytest.mark.parametrize("since", ["garbage", "", "99999999", "-1", "1:2:3", "0:0:0", "1.5"])
@pytest_twisted.ensureDeferred
async def test_an_unknown_or_malformed_state_cannot_be_calculated_from(
    emails: Emails, type_name: str, since: str
) -> None:
    await emails.import_raw(message("x", message_id="x@x"))
    found = await emails.error(f"{type_name}/changes", "cannotCalculateChanges", sinceState=since)
    assert set(found) <= {"type", "description"}


@pytest.mark.parametrize("type_name", ["Email", "Thread", "Mailbox"])
@pytest_twisted.ensureDeferred
async def test_a_state_of_another_account_ahead_of_it_cannot_be_calculated_from(
    two: Emails, type_name: str
) -> None:
    bob = two.server.other_user_id
    bob_state = await state_of(two, type_name, accountId=bob)
    for n in range(8):
        await two.import_raw(message(f"x{n}", message_id=f"x{n}@x"))
    alice = await state_of(two, type_name)
    assert int(alice) > int(bob_state)  # a state bob's account never had
    await two.error(f"{type_name}/changes", "cannotCalculateChanges",
                    accountId=bob, sinceState=alice)


@pytest.mark.parametrize("since", [None, 5, ["x"]])
@pytest_twisted.ensureDeferred
async def test_since_state_must_be_a_string(emails: Emails, since: Any) -> None:
    arguments = {} if since is None else {"sinceState": since}
    await emails.error("Email/changes", "invalidArguments", **arguments)


@pytest_twisted.ensureDeferred
async def test_changes_states_are_the_get_states(emails: Emails) -> None:
    inbox = await emails.inbox()
    states = {t: await state_of(emails, t) for t in ("Email", "Thread", "Mailbox")}
    root = await emails.import_raw(message("Plans", message_id="root@x"))
    await emails.import_raw(
        message("Re: Plans", message_id="re@x", in_reply_to="root@x", references=["root@x"])
    )
    await set_emails(emails, update={root["id"]: {"keywords/$seen": True}})
    response = await emails.response(
        ["Email/changes", {"accountId": emails.account, "sinceState": states["Email"]}, "e"],
        ["Thread/changes", {"accountId": emails.account, "sinceState": states["Thread"]}, "t"],
        ["Mailbox/changes", {"accountId": emails.account, "sinceState": states["Mailbox"]}, "m"],
        ["Email/get", {"accountId": emails.account, "ids": []}, "eg"],
        ["Thread/get", {"accountId": emails.account, "ids": []}, "tg"],
        ["Mailbox/get", {"accountId": emails.account, "ids": []}, "mg"],
    )
    by_id = {call_id: result for _, result, call_id in response["methodResponses"]}
    assert by_id["e"]["newState"] == by_id["eg"]["state"]
    assert by_id["t"]["newState"] == by_id["tg"]["state"]
    assert by_id["m"]["newState"] == by_id["mg"]["state"]
    assert lists(by_id["m"]) == (set(), {inbox}, set())
    # Email/set reports the same states as oldState/newState
    result = await set_emails(emails, update={root["id"]: {"keywords/$flagged": True}})
    assert result["oldState"] == by_id["e"]["newState"]
    found = await settled(emails, "Email", result["oldState"])
    assert found["newState"] == result["newState"]
    assert lists(found) == (set(), {root["id"]}, set())


@pytest.mark.parametrize("type_name", ["Email", "Thread"])
@pytest_twisted.ensureDeferred
async def test_standard_changes_answer_only_the_standard_arguments(
    emails: Emails, type_name: str
) -> None:
    """RFC 8621 §3.2 and §4.3: Thread/changes and Email/changes are standard /changes; only
    Mailbox/changes (§2.2) has the one extra response argument updatedProperties."""
    since = await state_of(emails, type_name)
    await emails.import_raw(message("x", message_id="x@x"))
    found = await changes(emails, type_name, since)
    assert set(found) == STANDARD_RESPONSE
