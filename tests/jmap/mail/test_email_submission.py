"""EmailSubmission/set sending (RFC 8621 §7.5) through a real local SMTP server, on Redis."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import SUBMISSION
from stalwart_tx.mail.outgoing import without_bcc
from tests.jmap.api.conftest import cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import ALICE, Sending, sending_fixture  # noqa: F401
from tests.mail.conftest import smtp_server  # noqa: F401

BOB = "bob@example.org"
CAROL = "carol@example.net"
DAVE = "dave@example.com"


@pytest_twisted.ensureDeferred
async def test_session_advertises_delayed_sending(sending: Sending) -> None:
    session = await sending.server.session()
    account = session["accounts"][sending.account]["accountCapabilities"][SUBMISSION]
    assert account["maxDelayedSend"] == 7 * 24 * 3600
    release = account["submissionExtensions"]["FUTURERELEASE"]
    assert release[0] == str(7 * 24 * 3600) and release[1].endswith("Z")


@pytest_twisted.ensureDeferred
async def test_send_to_two_recipients(sending: Sending) -> None:
    draft = await sending.draft(to=f"Bob <{BOB}>, {CAROL}")
    identity = await sending.identity()
    created = await sending.created(identityId=identity, emailId=draft["id"])

    [received] = sending.received
    assert received.mail_from == ALICE
    assert [address for address, _ in received.recipients] == [BOB, CAROL]
    # the message exactly as stored: the server sends it unaltered
    stored = await sending.server.store.blobs.get(sending.account, draft["blobId"])
    assert received.data == stored == draft["raw"]

    assert created["undoStatus"] == "final"
    assert created["threadId"] == draft["threadId"]
    status = {"smtpReply": "250 2.1.5 Recipient OK", "delivered": "queued", "displayed": "unknown"}
    assert created["deliveryStatus"] == {BOB: status, CAROL: status}
    got = await sending.submission(created["id"])
    assert got == {
        "id": created["id"], "identityId": identity, "emailId": draft["id"],
        "threadId": draft["threadId"],
        "envelope": {
            "mailFrom": {"email": ALICE, "parameters": None},
            "rcptTo": [{"email": BOB, "parameters": None}, {"email": CAROL, "parameters": None}],
        },
        "sendAt": created["sendAt"], "undoStatus": "final",
        "deliveryStatus": {BOB: status, CAROL: status}, "dsnBlobIds": [], "mdnBlobIds": [],
    }


@pytest_twisted.ensureDeferred
async def test_envelope_derived_from_to_cc_and_bcc(sending: Sending) -> None:
    # Bcc recipients are in the envelope; the Bcc field itself never leaves (it would show every
    # recipient who they are), every other byte goes as stored
    draft = await sending.draft(
        to=f"{BOB}, Carol <{CAROL}>",
        extra_headers=f"Cc: {BOB.upper()}, {DAVE}\r\nBcc: hidden@example.org, {CAROL}\r\n",
    )
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [received] = sending.received
    assert [a for a, _ in received.recipients] == [BOB, CAROL, DAVE, "hidden@example.org"]
    assert b"hidden@example.org" not in received.data
    assert received.data == without_bcc(draft["raw"])
    assert received.data != draft["raw"]
    envelope = (await sending.submission(created["id"]))["envelope"]
    assert [r["email"] for r in envelope["rcptTo"]] == [BOB, CAROL, DAVE, "hidden@example.org"]


@pytest_twisted.ensureDeferred
async def test_sender_header_gives_mail_from(sending: Sending) -> None:
    draft = await sending.draft(extra_headers="Sender: alice.other@example.com\r\n")
    await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    # the Sender is not the identity's address: the identity's is used instead
    assert sending.received[0].mail_from == ALICE
    draft = await sending.draft(sender="Alice <alice.other@example.com>")
    await sending.created(
        identityId=await sending.identity("alice.other@example.com"), emailId=draft["id"]
    )
    assert sending.received[1].mail_from == "alice.other@example.com"


@pytest_twisted.ensureDeferred
async def test_explicit_envelope_with_parameters(sending: Sending) -> None:
    draft = await sending.draft()
    envelope = {
        "mailFrom": {"email": ALICE, "parameters": {"BODY": "8BITMIME"}},
        "rcptTo": [{"email": DAVE, "parameters": None}],
    }
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=envelope
    )
    [received] = sending.received
    assert received.mail_from_parameters == {"BODY": "8BITMIME"}
    assert received.recipients == [(DAVE, {})]
    assert "envelope" not in created  # as given


@pytest_twisted.ensureDeferred
async def test_partly_refused_recipients(sending: Sending) -> None:
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_recipients[CAROL] = (550, "5.1.1 No such user here")
    draft = await sending.draft(to=f"{BOB}, {CAROL}")
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    assert created["undoStatus"] == "final"
    assert created["deliveryStatus"] == {
        BOB: {"smtpReply": "250 2.1.5 Recipient OK", "delivered": "queued",
              "displayed": "unknown"},
        CAROL: {"smtpReply": "550 5.1.1 No such user here", "delivered": "no",
                "displayed": "unknown"},
    }
    [received] = sending.received
    assert [a for a, _ in received.recipients] == [BOB]


@pytest_twisted.ensureDeferred
async def test_every_recipient_refused(sending: Sending) -> None:
    assert sending.relay_server is not None
    refusals = sending.relay_server.options.refuse_recipients
    refusals[BOB] = (550, "5.1.1 No such user")
    refusals[CAROL] = (553, "5.1.3 Bad address")
    draft = await sending.draft(to=f"{BOB}, {CAROL}")
    before = (await sending.ok("EmailSubmission/get", ids=None))["state"]
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "invalidRecipients"
    assert error["invalidRecipients"] == [BOB, CAROL]
    assert "550 5.1.1 No such user" in error["description"]
    assert "553 5.1.3 Bad address" in error["description"]
    assert sending.received == []
    # destroyed again: nothing to see, nothing left to change
    assert (await sending.ok("EmailSubmission/get"))["list"] == []
    changes = await sending.ok("EmailSubmission/changes", sinceState=before)
    assert changes["created"] == changes["updated"] == changes["destroyed"] == []


@pytest_twisted.ensureDeferred
async def test_mail_from_refused(sending: Sending) -> None:
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_mail_from = (550, "5.7.1 Not allowed to send")
    draft = await sending.draft()
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "forbiddenToSend"
    assert "550 5.7.1 Not allowed to send" in error["description"]
    assert (await sending.ok("EmailSubmission/get"))["list"] == []


@pytest_twisted.ensureDeferred
async def test_on_success_update_email_moves_the_draft_to_sent(sending: Sending) -> None:
    draft = await sending.draft()
    drafts, sent = await sending.mailbox("Drafts"), await sending.mailbox("Sent")
    responses = await sending.submission_set(
        create={"s": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessUpdateEmail={"#s": {
            f"mailboxIds/{drafts}": None, f"mailboxIds/{sent}": True, "keywords/$draft": None,
        }},
    )
    [[name, result, call_id], [email_name, email_result, email_call_id]] = responses
    assert (name, call_id) == ("EmailSubmission/set", "s0")
    assert (email_name, email_call_id) == ("Email/set", "s0")
    assert result["created"]["s"]["undoStatus"] == "final"
    assert list(email_result["updated"]) == [draft["id"]]
    email = await sending.get_email(draft["id"], "mailboxIds", "keywords")
    assert email["mailboxIds"] == {sent: True}
    assert email["keywords"] == {}


@pytest_twisted.ensureDeferred
async def test_on_success_destroy_email(sending: Sending) -> None:
    draft = await sending.draft()
    kept = await sending.draft(subject="Not this one")
    responses = await sending.submission_set(
        create={"s": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessDestroyEmail=["#s", "#unknown"],
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["created"]["s"]["undoStatus"] == "final"
    assert email_name == "Email/set"
    assert email_result["destroyed"] == [draft["id"]]
    found = (await sending.ok("Email/get", ids=[draft["id"], kept["id"]]))
    assert [e["id"] for e in found["list"]] == [kept["id"]]
    assert found["notFound"] == [draft["id"]]


@pytest_twisted.ensureDeferred
async def test_no_implicit_email_set_for_a_refused_submission(sending: Sending) -> None:
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_mail_from = (550, "5.7.1 No")
    draft = await sending.draft()
    responses = await sending.submission_set(
        create={"s": {"identityId": await sending.identity(), "emailId": draft["id"]}},
        onSuccessDestroyEmail=["#s"],
    )
    [[_, result, _], [email_name, email_result, _]] = responses
    assert result["notCreated"]["s"]["type"] == "forbiddenToSend"
    assert email_name == "Email/set"
    assert email_result["destroyed"] is None
    assert (await sending.get_email(draft["id"], "id"))["id"] == draft["id"]


@pytest_twisted.ensureDeferred
async def test_email_created_in_the_same_request(sending: Sending) -> None:
    drafts = await sending.mailbox("Drafts")
    identity = await sending.identity()
    responses = await sending.request(
        ["Email/set", {"accountId": sending.account, "create": {"d": {
            "mailboxIds": {drafts: True}, "keywords": {"$draft": True},
            "from": [{"email": ALICE}], "to": [{"email": BOB}], "subject": "Composed",
            "bodyValues": {"b": {"value": "Hi Bob"}},
            "textBody": [{"partId": "b", "type": "text/plain"}],
        }}}, "e0"],
        ["EmailSubmission/set", {"accountId": sending.account, "create": {
            "s": {"identityId": identity, "emailId": "#d"},
        }}, "s0"],
    )
    [[_, email_result, _], [_, result, _]] = responses
    assert email_result["notCreated"] is None, email_result
    assert result["created"]["s"]["undoStatus"] == "final", result
    [received] = sending.received
    assert received.recipients == [(BOB, {})]
    assert b"Subject: Composed" in received.data


@pytest_twisted.ensureDeferred
async def test_data_refused(sending: Sending) -> None:
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_data = (554, "5.6.0 Message content rejected")
    draft = await sending.draft()
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "forbiddenToSend"
    assert "554 5.6.0 Message content rejected" in error["description"]
    assert sending.received == []
