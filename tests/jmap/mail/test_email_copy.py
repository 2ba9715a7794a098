"""Email/copy between two accounts the user may use, and Email/set from a copy's creation id."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from tests.jmap.mail.conftest import ConflictOnce, Emails, message


async def inbox_of(emails: Emails, account: str) -> str:
    found = (await emails.ok("Mailbox/get", accountId=account))["list"]
    return str(next(m["id"] for m in found if m["role"] == "inbox"))


@pytest_twisted.ensureDeferred
async def test_copy_then_destroy_the_original(two: Emails) -> None:
    bob = two.server.other_user_id
    original = await two.import_raw(message("Shared", message_id="sh@x"),
                                    keywords={"$seen": True}, receivedAt="2023-02-02T02:02:02Z")
    bob_inbox = await inbox_of(two, bob)
    response = await two.response(["Email/copy", {
        "fromAccountId": two.account, "accountId": bob, "onSuccessDestroyOriginal": True,
        "create": {"c": {"id": original["id"], "mailboxIds": {bob_inbox: True}}},
    }, "0"])
    (copy_name, copied, _), (set_name, destroyed, _) = response["methodResponses"]
    assert (copy_name, set_name) == ("Email/copy", "Email/set")
    created = copied["created"]["c"]
    assert set(created) == {"id", "blobId", "threadId", "size"}
    assert destroyed["destroyed"] == [original["id"]]
    listed = await two.ok("Email/get", accountId=bob, ids=[created["id"]],
                          properties=["subject", "keywords", "receivedAt"])
    got: dict[str, Any] = listed["list"][0]
    assert got["subject"] == "Shared"
    assert got["keywords"] == {"$seen": True}  # kept from the original
    assert got["receivedAt"] == "2023-02-02T02:02:02Z"
    names = ["totalEmails", "unreadEmails"]
    [box] = (await two.ok("Mailbox/get", accountId=bob, ids=[bob_inbox], properties=names))["list"]
    assert (box["totalEmails"], box["unreadEmails"]) == (1, 0)
    assert (await two.counts(await two.inbox()))["totalEmails"] == 0
    raw = await two.server.store.blobs.get(bob, created["blobId"])
    assert raw == message("Shared", message_id="sh@x")


@pytest_twisted.ensureDeferred
async def test_copy_errors(two: Emails) -> None:
    bob = two.server.other_user_id
    original = await two.import_raw(message("x", message_id="e@x"))
    bob_inbox = await inbox_of(two, bob)
    result = await two.ok("Email/copy", fromAccountId=two.account, accountId=bob, create={
        "missing": {"id": "xnothere", "mailboxIds": {bob_inbox: True}},
        "subject": {"id": original["id"], "mailboxIds": {bob_inbox: True}, "subject": "no"},
        "nobox": {"id": original["id"], "mailboxIds": {"xnobox": True}},
    })
    errors = result["notCreated"]
    assert errors["missing"]["type"] == "notFound"
    assert errors["subject"]["type"] == "invalidProperties"
    assert errors["nobox"]["type"] == "invalidProperties"
    same = await two.invoke("Email/copy", fromAccountId=two.account, create={})
    assert same[0] == "error" and same[1]["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_copy_into_an_account_over_quota_is_refused(two: Emails) -> None:
    from stalwart_tx.jmap.mail.quota_usage import stage_limits
    from stalwart_tx.jmap.standard.working_set import WorkingSet

    bob = two.server.other_user_id
    original = await two.import_raw(message("q", message_id="q@x"))
    bob_inbox = await inbox_of(two, bob)
    objects = WorkingSet(two.server.store, bob)
    await stage_limits(objects, {"messages": 0})
    await two.server.store.accounts.write(bob, objects.batch())
    result = await two.ok("Email/copy", fromAccountId=two.account, accountId=bob, create={
        "c": {"id": original["id"], "mailboxIds": {bob_inbox: True}},
    })
    assert result["notCreated"]["c"]["type"] == "overQuota"
    assert result["created"] is None


@pytest_twisted.ensureDeferred
async def test_a_copy_computed_again_after_a_write_conflict_is_analysed_once(
    two: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = two.server.other_user_id
    original = await two.import_raw(message("Again", message_id="again@x"))
    bob_inbox = await inbox_of(two, bob)
    seen = ConflictOnce(two.server.store, monkeypatch)
    copied = await two.ok("Email/copy", fromAccountId=two.account, accountId=bob,
                          create={"c": {"id": original["id"], "mailboxIds": {bob_inbox: True}}})
    monkeypatch.undo()
    assert seen.writes == [bob, bob], "the conflict made the call compute again"
    assert seen.analysed == [message("Again", message_id="again@x")], "but analysed once"
    got = await two.ok("Email/get", accountId=bob, ids=[copied["created"]["c"]["id"]],
                       properties=["subject"])
    assert got["list"][0]["subject"] == "Again"
