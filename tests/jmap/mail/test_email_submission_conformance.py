"""EmailSubmission (RFC 8621 §7) checked as an independent suite checks it: the envelope made
from the Email, the SetErrors and their properties, references by creation id, the implicit
Email/set of onSuccessUpdateEmail / onSuccessDestroyEmail keyed by submission id, and the
undoStatus a client may and may not set. What the other EmailSubmission tests cover is not
repeated here."""

from __future__ import annotations

import time
from typing import Any

import pytest_twisted

from tests.jmap.api.conftest import cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import (  # noqa: F401
    ALICE,
    OTHER,
    Sending,
    sending_fixture,
)
from tests.mail.conftest import smtp_server  # noqa: F401

BOB = "bob@example.org"
CAROL = "carol@example.net"
DAVE = "dave@example.com"


def held(seconds: int, *recipients: str) -> dict[str, Any]:
    return {"mailFrom": {"email": ALICE, "parameters": {"HOLDFOR": str(seconds)}},
            "rcptTo": [{"email": r, "parameters": None} for r in recipients or (BOB,)]}


def raw_message(*headers: str) -> bytes:
    return ("\r\n".join([*headers, "Subject: Test", "Date: Mon, 02 Jan 2023 10:00:00 +0000"])
            + "\r\n\r\nBody\r\n").encode()


@pytest_twisted.ensureDeferred
async def test_created_shows_the_derived_envelope(sending: Sending) -> None:
    # RFC 8620 §5.3: created holds every property the server set or gave a value the client
    # did not; an envelope left out is the one made from the Email (§7.5)
    draft = await sending.draft(to=f"Bob <{BOB}>", extra_headers=f"Cc: {CAROL}\r\n")
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    expected = {
        "mailFrom": {"email": ALICE, "parameters": None},
        "rcptTo": [{"email": BOB, "parameters": None}, {"email": CAROL, "parameters": None}],
    }
    assert created["envelope"] == expected
    assert (await sending.submission(created["id"]))["envelope"] == expected
    for name in ("id", "threadId", "sendAt", "undoStatus"):
        assert name in created, name


@pytest_twisted.ensureDeferred
async def test_sender_header_present_gives_mail_from(sending: Sending) -> None:
    # §7.5: mailFrom is the Sender's address when the Sender field is there, else the From's.
    # Two From addresses are fine with a Sender: only the Sender's one address is used.
    raw = raw_message(f"From: {ALICE}, Alice Too <{ALICE}>", f"Sender: Alice <{ALICE}>",
                      f"To: {BOB}")
    draft = await sending.draft(raw)
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [received] = sending.received
    assert received.mail_from == ALICE
    assert [a for a, _ in received.recipients] == [BOB]
    assert created["undoStatus"] == "final"


@pytest_twisted.ensureDeferred
async def test_sender_header_absent_gives_the_from_address(sending: Sending) -> None:
    other = await sending.identity(OTHER)
    draft = await sending.draft(sender=f"Other <{OTHER}>", to=BOB)
    created = await sending.created(identityId=other, emailId=draft["id"])
    [received] = sending.received
    assert received.mail_from == OTHER
    assert (await sending.submission(created["id"]))["envelope"]["mailFrom"] == {
        "email": OTHER, "parameters": None}


@pytest_twisted.ensureDeferred
async def test_sender_with_two_addresses_is_refused(sending: Sending) -> None:
    raw = raw_message(f"From: {ALICE}", f"Sender: {ALICE}, {OTHER}", f"To: {BOB}")
    draft = await sending.draft(raw)
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert (error["type"], error["properties"]) == ("invalidEmail", ["sender"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_bcc_only_and_group_recipients(sending: Sending) -> None:
    # an empty group in To, a group with members in Cc and recipients only in Bcc: each
    # address once, in the envelope; the Bcc field never sent
    raw = raw_message(
        f"From: {ALICE}", "To: undisclosed-recipients:;",
        f"Cc: Friends: {CAROL}, Dave <{DAVE}>;",
        f"Bcc: {BOB}, {CAROL.upper()}",
    )
    draft = await sending.draft(raw)
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [received] = sending.received
    assert [a for a, _ in received.recipients] == [CAROL, DAVE, BOB]
    assert all(parameters == {} for _, parameters in received.recipients)
    assert b"Bcc:" not in received.data and BOB.encode() not in received.data
    assert set(created["deliveryStatus"]) == {CAROL, DAVE, BOB}


@pytest_twisted.ensureDeferred
async def test_duplicates_across_to_cc_and_bcc_go_once(sending: Sending) -> None:
    raw = raw_message(f"From: {ALICE}", f"To: Bob <{BOB}>, {CAROL}",
                      f"Cc: Carol <{CAROL}>, {BOB}", f"Bcc: {BOB}")
    draft = await sending.draft(raw)
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [received] = sending.received
    assert [a for a, _ in received.recipients] == [BOB, CAROL]
    envelope = (await sending.submission(created["id"]))["envelope"]
    assert envelope["rcptTo"] == [{"email": BOB, "parameters": None},
                                  {"email": CAROL, "parameters": None}]


@pytest_twisted.ensureDeferred
async def test_only_empty_groups_is_no_recipients(sending: Sending) -> None:
    raw = raw_message(f"From: {ALICE}", "To: undisclosed-recipients:;")
    draft = await sending.draft(raw)
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "noRecipients"
    assert sending.received == []
    assert (await sending.ok("EmailSubmission/get"))["list"] == []


@pytest_twisted.ensureDeferred
async def test_invalid_header_recipient_is_invalid_recipients(sending: Sending) -> None:
    # an address in the To field that is no address: invalidRecipients names it (§7.5: the
    # envelope "supplied or generated"), nothing is sent
    raw = raw_message(f"From: {ALICE}", f"To: {BOB}, \"Broken\" <no-at-sign>")
    draft = await sending.draft(raw)
    email = await sending.get_email(draft["id"], "to")
    bad = [a["email"] for a in email["to"] if a["email"] != BOB]
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "invalidRecipients"
    assert error["invalidRecipients"] == bad
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_explicit_envelope_is_sent_as_given(sending: Sending) -> None:
    # a given envelope, not the Email's recipients, says where the message goes
    draft = await sending.draft(to=BOB, extra_headers=f"Bcc: {CAROL}\r\n")
    await sending.created(
        identityId=await sending.identity(), emailId=draft["id"],
        envelope={"mailFrom": {"email": ALICE, "parameters": None},
                  "rcptTo": [{"email": DAVE, "parameters": None}]},
    )
    [received] = sending.received
    assert received.mail_from == ALICE
    assert received.recipients == [(DAVE, {})]
    assert b"Bcc:" not in received.data


@pytest_twisted.ensureDeferred
async def test_invalid_recipients_lists_only_the_invalid(sending: Sending) -> None:
    draft = await sending.draft()
    error = await sending.not_created(
        identityId=await sending.identity(), emailId=draft["id"],
        envelope={"mailFrom": {"email": ALICE},
                  "rcptTo": [{"email": "@example.org"}, {"email": BOB}]},
    )
    assert error["type"] == "invalidRecipients"
    assert error["invalidRecipients"] == ["@example.org"]
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_identity_and_email_by_creation_reference(sending: Sending) -> None:
    drafts = await sending.mailbox("Drafts")
    responses = await sending.request(
        ["Identity/set", {"accountId": sending.account, "create": {
            "i": {"email": OTHER, "name": "Other"},
        }}, "i0"],
        ["Email/set", {"accountId": sending.account, "create": {"d": {
            "mailboxIds": {drafts: True}, "keywords": {"$draft": True},
            "from": [{"email": OTHER}], "to": [{"email": BOB}], "bcc": [{"email": CAROL}],
            "subject": "Composed", "bodyValues": {"b": {"value": "Hi"}},
            "textBody": [{"partId": "b", "type": "text/plain"}],
        }}}, "e0"],
        ["EmailSubmission/set", {"accountId": sending.account, "create": {
            "s": {"identityId": "#i", "emailId": "#d"},
        }}, "s0"],
    )
    [[_, identity_result, _], [_, email_result, _], [_, result, _]] = responses
    assert identity_result["notCreated"] is None, identity_result
    assert email_result["notCreated"] is None, email_result
    created = result["created"]["s"]
    submission = await sending.submission(created["id"])
    assert submission["identityId"] == identity_result["created"]["i"]["id"]
    assert submission["emailId"] == email_result["created"]["d"]["id"]
    assert submission["threadId"] == email_result["created"]["d"]["threadId"]
    [received] = sending.received
    assert received.mail_from == OTHER
    assert [a for a, _ in received.recipients] == [BOB, CAROL]
    assert CAROL.encode() not in received.data


@pytest_twisted.ensureDeferred
async def test_reference_to_a_failed_email_create_is_refused(sending: Sending) -> None:
    responses = await sending.request(
        ["Email/set", {"accountId": sending.account, "create": {"d": {
            "mailboxIds": {}, "subject": "No mailbox",
        }}}, "e0"],
        ["EmailSubmission/set", {"accountId": sending.account, "create": {
            "s": {"identityId": await sending.identity(), "emailId": "#d"},
        }}, "s0"],
    )
    [[_, email_result, _], [name, result, _]] = responses
    assert email_result["created"] is None
    assert name == "EmailSubmission/set"
    assert result["created"] is None
    assert result["notCreated"]["s"]["type"] in ("invalidProperties", "notFound")
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_on_success_update_email_by_creation_id_as_a_client_sends(sending: Sending) -> None:
    draft = await sending.draft()
    drafts, sent = await sending.mailbox("Drafts"), await sending.mailbox("Sent")
    before = (await sending.ok("Email/get", ids=[]))["state"]
    responses = await sending.submission_set(
        create={"sub": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessUpdateEmail={"#sub": {
            "keywords/$draft": None, f"mailboxIds/{drafts}": None, f"mailboxIds/{sent}": True,
        }},
    )
    [[name, result, call_id], [email_name, email_result, email_call_id]] = responses
    assert (name, email_name) == ("EmailSubmission/set", "Email/set")
    assert call_id == email_call_id == "s0"
    assert result["notCreated"] is None
    assert email_result["accountId"] == sending.account
    assert email_result["oldState"] == before
    assert email_result["newState"] != before
    assert list(email_result["updated"]) == [draft["id"]]
    assert email_result["notUpdated"] is None
    assert email_result["created"] is None and email_result["destroyed"] is None
    email = await sending.get_email(draft["id"], "mailboxIds", "keywords")
    assert email == {"id": draft["id"], "mailboxIds": {sent: True}, "keywords": {}}
    changes = await sending.ok("Email/changes", sinceState=before)
    assert changes["updated"] == [draft["id"]]


@pytest_twisted.ensureDeferred
async def test_on_success_update_email_keyed_by_submission_id(sending: Sending) -> None:
    # the usual undo: cancel the held submission and put the message back in Drafts
    draft = await sending.draft()
    drafts, sent = await sending.mailbox("Drafts"), await sending.mailbox("Sent")
    responses = await sending.submission_set(
        create={"sub": {"identityId": await sending.identity(), "emailId": draft["id"],
                        "envelope": held(600)}},
        onSuccessUpdateEmail={"#sub": {
            "keywords/$draft": None, f"mailboxIds/{drafts}": None, f"mailboxIds/{sent}": True,
        }},
    )
    [[_, result, _], [_, email_result, _]] = responses
    submission_id = result["created"]["sub"]["id"]
    assert result["created"]["sub"]["undoStatus"] == "pending"
    assert list(email_result["updated"]) == [draft["id"]]

    responses = await sending.submission_set(
        update={submission_id: {"undoStatus": "canceled"}},
        onSuccessUpdateEmail={submission_id: {
            "keywords/$draft": True, f"mailboxIds/{sent}": None, f"mailboxIds/{drafts}": True,
        }},
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["updated"] == {submission_id: None}
    assert email_name == "Email/set"
    assert list(email_result["updated"]) == [draft["id"]]
    email = await sending.get_email(draft["id"], "mailboxIds", "keywords")
    assert email["mailboxIds"] == {drafts: True}
    assert email["keywords"] == {"$draft": True}
    assert (await sending.submission(submission_id))["undoStatus"] == "canceled"
    assert await sending.scheduler(time.time() + 3600).run_once() == 0
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_on_success_skips_a_failed_update(sending: Sending) -> None:
    # the submission is final: the cancel fails, so the Email is left alone
    draft = await sending.draft()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    responses = await sending.submission_set(
        update={created["id"]: {"undoStatus": "canceled"}},
        onSuccessUpdateEmail={created["id"]: {"keywords/$flagged": True}},
        onSuccessDestroyEmail=[created["id"]],
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["notUpdated"][created["id"]]["type"] == "cannotUnsend"
    assert email_name == "Email/set"
    assert not email_result.get("updated") and not email_result.get("destroyed")
    email = await sending.get_email(draft["id"], "keywords")
    assert email["keywords"] == {"$draft": True}


@pytest_twisted.ensureDeferred
async def test_on_success_destroy_email_keyed_by_submission_id(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    responses = await sending.submission_set(
        destroy=[created["id"]], onSuccessDestroyEmail=[created["id"]],
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["destroyed"] == [created["id"]]
    assert email_name == "Email/set"
    assert email_result["destroyed"] == [draft["id"]]
    found = await sending.ok("Email/get", ids=[draft["id"]])
    assert found["notFound"] == [draft["id"]]
    found = await sending.ok("EmailSubmission/get", ids=[created["id"]])
    assert found["notFound"] == [created["id"]]
    assert len(sending.received) == 1


@pytest_twisted.ensureDeferred
async def test_on_success_update_and_destroy_of_one_email(sending: Sending) -> None:
    draft = await sending.draft()
    responses = await sending.submission_set(
        create={"sub": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessUpdateEmail={"#sub": {"keywords/$seen": True}},
        onSuccessDestroyEmail=["#sub"],
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["created"]["sub"]["undoStatus"] == "final"
    assert email_name == "Email/set"
    # one Email/set: the destroy wins, the update is of an Email destroyed in the same call
    assert email_result["destroyed"] == [draft["id"]]
    assert draft["id"] not in (email_result.get("updated") or {})
    found = await sending.ok("Email/get", ids=[draft["id"]])
    assert found["notFound"] == [draft["id"]]


@pytest_twisted.ensureDeferred
async def test_no_on_success_arguments_means_no_email_set(sending: Sending) -> None:
    draft = await sending.draft()
    responses = await sending.submission_set(
        create={"sub": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessUpdateEmail=None, onSuccessDestroyEmail=None,
    )
    assert [name for name, _, _ in responses] == ["EmailSubmission/set"]


@pytest_twisted.ensureDeferred
async def test_only_undo_status_may_be_updated(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(600)
    )
    submission_id = created["id"]
    other_identity = await sending.identity(OTHER)
    for patch, name in [
        ({"identityId": other_identity}, "identityId"),
        ({"envelope": held(60)}, "envelope"),
        ({"sendAt": "2030-01-01T00:00:00Z"}, "sendAt"),
        ({"threadId": draft["threadId"] + "x"}, "threadId"),
        ({"deliveryStatus": {}}, "deliveryStatus"),
        ({"dsnBlobIds": ["x"]}, "dsnBlobIds"),
    ]:
        [[_, result, _]] = await sending.submission_set(update={submission_id: patch})
        error = result["notUpdated"][submission_id]
        assert (error["type"], error["properties"]) == ("invalidProperties", [name]), patch
    # a pending submission cannot be made final (or anything but canceled) by the client
    [[_, result, _]] = await sending.submission_set(update={submission_id: {
        "undoStatus": "final"}})
    assert result["updated"] is None
    assert result["notUpdated"][submission_id]["type"] in ("invalidProperties", "cannotUnsend")
    [[_, result, _]] = await sending.submission_set(update={submission_id: {
        "undoStatus": "sent"}})
    error = result["notUpdated"][submission_id]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["undoStatus"])
    assert (await sending.submission(submission_id))["undoStatus"] == "pending"
    # pending -> canceled, and no further
    [[_, result, _]] = await sending.submission_set(update={submission_id: {
        "undoStatus": "canceled"}})
    assert result["updated"] == {submission_id: None}
    [[_, result, _]] = await sending.submission_set(update={submission_id: {
        "undoStatus": "canceled"}})
    assert result["notUpdated"] is None  # no change at all
    [[_, result, _]] = await sending.submission_set(update={submission_id: {
        "undoStatus": "final"}})
    assert result["notUpdated"][submission_id]["type"] == "cannotUnsend"
    assert (await sending.submission(submission_id))["undoStatus"] == "canceled"
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_update_and_destroy_of_unknown_ids(sending: Sending) -> None:
    [[_, result, _]] = await sending.submission_set(
        update={"xnosuch": {"undoStatus": "canceled"}}, destroy=["xgone"],
    )
    assert result["notUpdated"]["xnosuch"]["type"] == "notFound"
    assert result["notDestroyed"]["xgone"]["type"] == "notFound"


@pytest_twisted.ensureDeferred
async def test_destroy_forgets_only_the_record(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    state = (await sending.ok("EmailSubmission/get", ids=[]))["state"]
    [[_, result, _]] = await sending.submission_set(destroy=[created["id"]])
    assert result["destroyed"] == [created["id"]]
    changes = await sending.ok("EmailSubmission/changes", sinceState=state)
    assert changes["destroyed"] == [created["id"]]
    # the Email is untouched
    email = await sending.get_email(draft["id"], "mailboxIds", "keywords")
    assert email["keywords"] == {"$draft": True}
    assert (await sending.ok("EmailSubmission/query"))["ids"] == []


@pytest_twisted.ensureDeferred
async def test_get_all_properties_of_a_pending_submission(sending: Sending) -> None:
    draft = await sending.draft()
    identity = await sending.identity()
    envelope = held(600, BOB, CAROL)
    created = await sending.created(identityId=identity, emailId=draft["id"], envelope=envelope)
    got = await sending.submission(created["id"])
    assert got == {
        "id": created["id"], "identityId": identity, "emailId": draft["id"],
        "threadId": draft["threadId"], "envelope": envelope, "sendAt": created["sendAt"],
        "undoStatus": "pending", "deliveryStatus": None, "dsnBlobIds": [], "mdnBlobIds": [],
    }
    # id is always returned, whatever properties asks for
    [only] = (await sending.ok("EmailSubmission/get", ids=[created["id"]],
                               properties=["sendAt"]))["list"]
    assert only == {"id": created["id"], "sendAt": created["sendAt"]}
    await sending.error("EmailSubmission/get", "invalidArguments", ids=[created["id"]],
                        properties=["subject"])


@pytest_twisted.ensureDeferred
async def test_query_filters_combined(sending: Sending) -> None:
    alice, other = await sending.identity(), await sending.identity(OTHER)
    first = await sending.draft(subject="First")
    second = await sending.draft(subject="Second", sender=OTHER)
    a = await sending.created(identityId=alice, emailId=first["id"], envelope=held(600))
    b = await sending.created(
        identityId=other, emailId=second["id"],
        envelope={"mailFrom": {"email": OTHER, "parameters": {"HOLDFOR": "1200"}},
                  "rcptTo": [{"email": BOB}]},
    )

    async def query(**arguments: Any) -> list[str]:
        ids: list[str] = (await sending.ok("EmailSubmission/query", **arguments))["ids"]
        return ids

    both = {"operator": "AND", "conditions": [
        {"identityIds": [alice, other]}, {"undoStatus": "pending"}]}
    assert await query(filter=both, sort=[{"property": "sentAt"}]) == [a["id"], b["id"]]
    either = {"operator": "OR", "conditions": [
        {"emailIds": [first["id"]]}, {"threadIds": [second["threadId"]]}]}
    assert await query(filter=either, sort=[{"property": "sentAt", "isAscending": False}]) == [
        b["id"], a["id"]]
    assert await query(filter={"identityIds": []}) == []
    # after is inclusive, before exclusive, and both together make a window
    window = {"after": a["sendAt"], "before": b["sendAt"]}
    assert await query(filter=window) == [a["id"]]
    await sending.error("EmailSubmission/query", "unsupportedFilter",
                        filter={"subject": "First"})


@pytest_twisted.ensureDeferred
async def test_null_envelope_is_made_from_the_email(sending: Sending) -> None:
    draft = await sending.draft(to=BOB)
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=None
    )
    assert (await sending.submission(created["id"]))["envelope"] == {
        "mailFrom": {"email": ALICE, "parameters": None},
        "rcptTo": [{"email": BOB, "parameters": None}],
    }
    [received] = sending.received
    assert (received.mail_from, received.recipients) == (ALICE, [(BOB, {})])


@pytest_twisted.ensureDeferred
async def test_too_many_recipients_in_the_headers(sending: Sending) -> None:
    many = ", ".join(f"r{n}@example.org" for n in range(101))
    draft = await sending.draft(raw_message(f"From: {ALICE}", f"To: {many}"))
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert (error["type"], error["maxRecipients"]) == ("tooManyRecipients", 100)
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_two_from_fields_are_not_sent_as_is(sending: Sending) -> None:
    # §7.5: more than one From field SHOULD be refused; at the least the foreign one may not
    # go out under this identity (forbiddenFrom)
    draft = await sending.draft(raw_message(
        "From: Mallory <mallory@example.com>", f"From: {ALICE}", f"To: {BOB}"))
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] in ("invalidEmail", "forbiddenFrom")
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_two_sender_fields_are_refused_or_the_last_one_counts(sending: Sending) -> None:
    # refused (SHOULD), or else the first address of the last Sender field (MUST)
    draft = await sending.draft(raw_message(
        f"From: {ALICE}", f"Sender: {OTHER}", f"Sender: {ALICE}", f"To: {BOB}"))
    result = await sending.submit(identityId=await sending.identity(), emailId=draft["id"])
    if result["created"] is None:
        assert result["notCreated"]["s"]["type"] == "invalidEmail"
        assert sending.received == []
    else:
        [received] = sending.received
        assert received.mail_from == ALICE


@pytest_twisted.ensureDeferred
async def test_folded_lowercase_bcc_is_not_sent_but_a_forwarded_one_is(sending: Sending) -> None:
    raw = (
        f"From: {ALICE}\r\nTo: {BOB}\r\nbcc: {CAROL},\r\n  Dave <{DAVE}>\r\nSubject: Fwd\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nSee below\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: x@example.org\r\nBcc: inner@example.org\r\nSubject: Old\r\n\r\nOld body\r\n"
        "--b--\r\n"
    ).encode()
    draft = await sending.draft(raw)
    await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [received] = sending.received
    assert [a for a, _ in received.recipients] == [BOB, CAROL, DAVE]
    assert CAROL.encode() not in received.data and DAVE.encode() not in received.data
    assert b"Bcc: inner@example.org" in received.data  # part of the body, not a field of ours


@pytest_twisted.ensureDeferred
async def test_new_states_are_the_states_after_sending(sending: Sending) -> None:
    # newState is the state once the call is done: sending (undoStatus final, deliveryStatus)
    # is part of the call, so a client with newState has nothing left to fetch
    draft = await sending.draft()
    responses = await sending.submission_set(
        create={"s": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessUpdateEmail={"#s": {"keywords/$draft": None}},
    )
    [[_, result, _], [_, email_result, _]] = responses
    assert result["created"]["s"]["undoStatus"] == "final"
    state = (await sending.ok("EmailSubmission/get", ids=[]))["state"]
    assert result["newState"] == state
    changes = await sending.ok("EmailSubmission/changes", sinceState=result["newState"])
    assert changes["created"] == changes["updated"] == changes["destroyed"] == []
    assert email_result["newState"] == (await sending.ok("Email/get", ids=[]))["state"]


@pytest_twisted.ensureDeferred
async def test_query_refuses_a_bad_undo_status(sending: Sending) -> None:
    await sending.error("EmailSubmission/query", "invalidArguments",
                        filter={"undoStatus": "sent"})
    await sending.error("EmailSubmission/query", "invalidArguments",
                        filter={"identityIds": "not a list"})
