"""EmailSubmission/set refusals (RFC 8621 §7.5): nothing is sent for any of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.store.backend import open_redis_store
from tests.jmap.api.conftest import StartServer, cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import (  # noqa: F401
    ALICE,
    Sending,
    sending_fixture,
)
from tests.mail.conftest import smtp_server  # noqa: F401


@pytest_twisted.async_yield_fixture(name="unconfigured")
async def unconfigured_fixture(
    start_server: StartServer, redis_url: str  # noqa: F811
) -> AsyncIterator[Sending]:
    """A server without an SMTP relay."""
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits()
    server = await start_server(limits=limits, registry=default_registry(limits), store=bundle)
    await bundle.directory.add_address(server.user_id, ALICE)
    yield Sending(server)
    await bundle.close()


@pytest_twisted.ensureDeferred
async def test_without_a_relay_creates_are_forbidden(unconfigured: Sending) -> None:
    draft = await unconfigured.draft()
    error = await unconfigured.not_created(
        identityId=await unconfigured.identity(), emailId=draft["id"]
    )
    assert error == {"type": "forbiddenToSend", "description": "no SMTP relay configured"}
    assert (await unconfigured.ok("EmailSubmission/get"))["list"] == []
    assert (await unconfigured.ok("EmailSubmission/query"))["ids"] == []
    session = await unconfigured.server.session()
    capability = session["accounts"][unconfigured.account]["accountCapabilities"]
    assert capability["urn:ietf:params:jmap:submission"] == {
        "maxDelayedSend": 0, "submissionExtensions": {},
    }


@pytest_twisted.ensureDeferred
async def test_unknown_identity_or_email(sending: Sending) -> None:
    draft = await sending.draft()
    error = await sending.not_created(identityId="xnosuchidentity", emailId=draft["id"])
    assert (error["type"], error["properties"]) == ("invalidProperties", ["identityId"])
    error = await sending.not_created(identityId=await sending.identity(), emailId="xnosuch")
    assert (error["type"], error["properties"]) == ("invalidProperties", ["emailId"])
    error = await sending.not_created(emailId=draft["id"])
    assert (error["type"], error["properties"]) == ("invalidProperties", ["identityId"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_server_set_properties_are_refused(sending: Sending) -> None:
    draft = await sending.draft()
    for name, value in [("threadId", draft["threadId"]), ("sendAt", "2030-01-01T00:00:00Z"),
                        ("deliveryStatus", None)]:
        error = await sending.not_created(
            identityId=await sending.identity(), emailId=draft["id"], **{name: value}
        )
        assert (error["type"], error["properties"]) == ("invalidProperties", [name])
    error = await sending.not_created(
        identityId=await sending.identity(), emailId=draft["id"], undoStatus="final"
    )
    assert (error["type"], error["properties"]) == ("invalidProperties", ["undoStatus"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_forbidden_from(sending: Sending) -> None:
    draft = await sending.draft(sender="Mallory <mallory@example.com>")
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "forbiddenFrom"
    # the From address must be the identity's own, not just any address of the account
    draft = await sending.draft(sender="alice.other@example.com")
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert error["type"] == "forbiddenFrom"
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_invalid_email(sending: Sending) -> None:
    raw = b"To: bob@example.org\r\nSubject: No From\r\n\r\nBody\r\n"
    draft = await sending.draft(raw)
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert (error["type"], error["properties"]) == ("invalidEmail", ["from"])
    # two From addresses and no Sender: the envelope cannot be derived
    raw = (f"From: {ALICE}, {ALICE}\r\nTo: bob@example.org\r\nSubject: Two\r\n\r\nBody\r\n"
           .encode())
    draft = await sending.draft(raw)
    error = await sending.not_created(identityId=await sending.identity(), emailId=draft["id"])
    assert (error["type"], error["properties"]) == ("invalidEmail", ["from"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_forbidden_mail_from(sending: Sending) -> None:
    draft = await sending.draft()
    for mail_from in ["someone@elsewhere.example", "", "not an address"]:
        error = await sending.not_created(
            identityId=await sending.identity(), emailId=draft["id"],
            envelope={"mailFrom": {"email": mail_from},
                      "rcptTo": [{"email": "bob@example.org"}]},
        )
        assert error["type"] == "forbiddenMailFrom", mail_from
    # any address of the account will do, whatever the identity
    await sending.created(
        identityId=await sending.identity(), emailId=draft["id"],
        envelope={"mailFrom": {"email": "Alice.Other@EXAMPLE.com"},
                  "rcptTo": [{"email": "bob@example.org"}]},
    )
    assert [r.mail_from for r in sending.received] == ["Alice.Other@EXAMPLE.com"]


@pytest_twisted.ensureDeferred
async def test_recipients(sending: Sending) -> None:
    identity = await sending.identity()
    raw = f"From: {ALICE}\r\nSubject: Nobody\r\n\r\nBody\r\n".encode()
    nobody = await sending.draft(raw)
    error = await sending.not_created(identityId=identity, emailId=nobody["id"])
    assert error["type"] == "noRecipients"
    draft = await sending.draft()

    def envelope(*recipients: str) -> dict[str, object]:
        return {"mailFrom": {"email": ALICE}, "rcptTo": [{"email": r} for r in recipients]}

    error = await sending.not_created(
        identityId=identity, emailId=draft["id"], envelope=envelope()
    )
    assert error["type"] == "noRecipients"
    many = [f"r{n}@example.org" for n in range(101)]
    error = await sending.not_created(
        identityId=identity, emailId=draft["id"], envelope=envelope(*many)
    )
    assert (error["type"], error["maxRecipients"]) == ("tooManyRecipients", 100)
    error = await sending.not_created(
        identityId=identity, emailId=draft["id"],
        envelope=envelope("bob@example.org", "no-at-sign", "a b@example.org"),
    )
    assert error["type"] == "invalidRecipients"
    assert error["invalidRecipients"] == ["no-at-sign", "a b@example.org"]
    error = await sending.not_created(
        identityId=identity, emailId=draft["id"],
        envelope={"mailFrom": {"email": ALICE, "parameters": {"BAD KEY": None}},
                  "rcptTo": [{"email": "bob@example.org"}]},
    )
    assert (error["type"], error["properties"]) == ("invalidProperties", ["envelope"])
    error = await sending.not_created(
        identityId=identity, emailId=draft["id"], envelope={"mailFrom": {"email": ALICE}}
    )
    assert (error["type"], error["properties"]) == ("invalidProperties", ["envelope"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_hold_limits(sending: Sending) -> None:
    identity = await sending.identity()
    draft = await sending.draft()
    for parameters in [{"HOLDFOR": str(7 * 24 * 3600 + 1)}, {"HOLDFOR": "soon"},
                       {"HOLDUNTIL": "tomorrow"}, {"HOLDUNTIL": "2999-01-01T00:00:00Z"},
                       {"HOLDFOR": "10", "HOLDUNTIL": "2030-01-01T00:00:00Z"}]:
        error = await sending.not_created(
            identityId=identity, emailId=draft["id"],
            envelope={"mailFrom": {"email": ALICE, "parameters": parameters},
                      "rcptTo": [{"email": "bob@example.org"}]},
        )
        assert (error["type"], error["properties"]) == ("invalidProperties", ["envelope"])
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_immutable_properties(sending: Sending) -> None:
    draft = await sending.draft()
    other = await sending.draft(subject="Other")
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    [[_, result, _]] = await sending.submission_set(update={created["id"]: {
        "emailId": other["id"],
    }})
    error = result["notUpdated"][created["id"]]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["emailId"])
    [[_, result, _]] = await sending.submission_set(update={created["id"]: {
        "undoStatus": "pending",
    }})
    assert result["notUpdated"][created["id"]]["type"] == "cannotUnsend"
