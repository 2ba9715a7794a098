"""Held (FUTURERELEASE) and retried EmailSubmissions: undo, the scheduler, one send only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from stalwart_tx.config import build_config
from stalwart_tx.jmap.mail.email_model import date_seconds
from stalwart_tx.jmap.mail.email_submission import DUE_INDEX, DUE_LIST, claim_name
from stalwart_tx.jmap.mail.email_submission_scheduler import SubmissionScheduler
from stalwart_tx.jmap.mail.email_submission_send import (
    FIRST_RETRY,
    MAX_RETRY_AGE,
    SubmissionSender,
)
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.service import makeService
from tests.jmap.api.conftest import cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import (  # noqa: F401
    ALICE,
    Sending,
    sending_fixture,
)
from tests.mail.conftest import smtp_server  # noqa: F401

BOB = "bob@example.org"


def held(seconds: int) -> dict[str, Any]:
    return {"mailFrom": {"email": ALICE, "parameters": {"HOLDFOR": str(seconds)}},
            "rcptTo": [{"email": BOB, "parameters": None}]}


async def due_accounts(sending: Sending) -> list[str]:
    found = await sending.server.store.due.due_accounts(DUE_LIST, 1e12, 100)
    return [account for account, _ in found]


@pytest_twisted.ensureDeferred
async def test_held_submission_is_sent_by_the_scheduler_when_due(sending: Sending) -> None:
    draft = await sending.draft()
    before = time.time()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(3600)
    )
    assert created["undoStatus"] == "pending"
    assert before + 3599 <= date_seconds(created["sendAt"]) <= time.time() + 3600
    assert sending.received == []
    assert await due_accounts(sending) == [sending.account]

    # not yet due: nothing happens
    assert await sending.scheduler(time.time() + 60).run_once() == 0
    assert sending.received == []
    assert await due_accounts(sending) == [sending.account]

    assert await sending.scheduler(time.time() + 3601).run_once() == 1
    [received] = sending.received
    # the hold was the server's: the relay gets the message without it
    assert received.mail_from_parameters == {}
    assert received.recipients == [(BOB, {})]
    assert received.data == draft["raw"]
    got = await sending.submission(created["id"])
    assert got["undoStatus"] == "final"
    assert got["deliveryStatus"][BOB]["delivered"] == "queued"
    assert got["sendAt"] == created["sendAt"]
    # nothing left to do: the account is off the list and a later run sends nothing more
    assert await due_accounts(sending) == []
    assert await sending.scheduler(time.time() + 7200).run_once() == 0
    assert len(sending.received) == 1


@pytest_twisted.ensureDeferred
async def test_holdfor_and_holduntil_set_send_at(sending: Sending) -> None:
    identity = await sending.identity()
    draft = await sending.draft()
    at = time.time() + 86400
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    envelope: dict[str, Any] = {
        "mailFrom": {"email": ALICE, "parameters": {"HOLDUNTIL": until}},
        "rcptTo": [{"email": BOB}],
    }
    created = await sending.created(identityId=identity, emailId=draft["id"], envelope=envelope)
    assert created["sendAt"] == until
    # a date in the past is no hold at all
    envelope["mailFrom"]["parameters"] = {"HOLDUNTIL": "2001-01-01T00:00:00+01:00"}
    created = await sending.created(identityId=identity, emailId=draft["id"], envelope=envelope)
    assert created["undoStatus"] == "final"


@pytest_twisted.ensureDeferred
async def test_cancel_a_held_submission(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(600)
    )
    [[_, result, _]] = await sending.submission_set(
        update={created["id"]: {"undoStatus": "canceled"}}
    )
    assert result["updated"] == {created["id"]: None}, result
    assert (await sending.submission(created["id"]))["undoStatus"] == "canceled"
    assert await sending.scheduler(time.time() + 3600).run_once() == 0
    assert sending.received == []
    assert await due_accounts(sending) == []
    # canceled is final too
    [[_, result, _]] = await sending.submission_set(
        update={created["id"]: {"undoStatus": "pending"}}
    )
    assert result["notUpdated"][created["id"]]["type"] == "cannotUnsend"


@pytest_twisted.ensureDeferred
async def test_destroying_a_held_submission_cancels_it(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(600)
    )
    [[_, result, _]] = await sending.submission_set(destroy=[created["id"]])
    assert result["destroyed"] == [created["id"]]
    assert await sending.scheduler(time.time() + 3600).run_once() == 0
    assert sending.received == []


@pytest_twisted.ensureDeferred
async def test_cannot_unsend_after_final(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    assert created["undoStatus"] == "final"
    [[_, result, _]] = await sending.submission_set(
        update={created["id"]: {"undoStatus": "canceled"}}
    )
    assert result["notUpdated"][created["id"]]["type"] == "cannotUnsend"
    # a sent submission may be destroyed: it only forgets the record
    [[_, result, _]] = await sending.submission_set(destroy=[created["id"]])
    assert result["destroyed"] == [created["id"]]
    assert len(sending.received) == 1


@pytest_twisted.ensureDeferred
async def test_a_held_message_survives_its_email(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(60)
    )
    destroyed = await sending.ok("Email/set", destroy=[draft["id"]])
    assert destroyed["destroyed"] == [draft["id"]]
    assert await sending.scheduler(time.time() + 61).run_once() == 1
    [received] = sending.received
    assert received.data == draft["raw"]
    assert (await sending.submission(created["id"]))["undoStatus"] == "final"


@pytest_twisted.ensureDeferred
async def test_temporary_failure_is_retried_until_the_relay_accepts(sending: Sending) -> None:
    assert sending.relay_server is not None
    options = sending.relay_server.options
    options.refuse_mail_from = (451, "4.3.2 Try again later")
    draft = await sending.draft()
    start = time.time()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    assert created["undoStatus"] == "pending"
    assert created["deliveryStatus"] == {BOB: {
        "smtpReply": "451 4.3.2 Try again later", "delivered": "queued", "displayed": "unknown",
    }}
    assert sending.received == []

    # still refusing at the next attempt: deferred again, longer
    assert await sending.scheduler(start + FIRST_RETRY + 1).run_once() == 1
    scores = await sending.server.store.indexes.index_scores(
        sending.account, DUE_INDEX, [created["id"]]
    )
    assert scores[created["id"]] > start + 2 * FIRST_RETRY
    assert sending.received == []

    options.refuse_mail_from = None
    assert await sending.scheduler(start + 600).run_once() == 1
    assert len(sending.received) == 1
    got = await sending.submission(created["id"])
    assert got["undoStatus"] == "final"
    assert got["deliveryStatus"][BOB]["smtpReply"] == "250 2.1.5 Recipient OK"
    # sent once: later runs find nothing due
    assert await sending.scheduler(start + 86400).run_once() == 0
    assert len(sending.received) == 1


@pytest_twisted.ensureDeferred
async def test_relay_unreachable_then_given_up(sending: Sending) -> None:
    assert sending.relay_server is not None
    await sending.relay_server.stop()  # nothing listens there any more
    draft = await sending.draft()
    start = time.time()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    assert created["undoStatus"] == "pending"
    assert "cannot connect" in created["deliveryStatus"][BOB]["smtpReply"]
    # retried with growing pauses until five days have gone by, then given up
    assert await sending.scheduler(start + MAX_RETRY_AGE + 1).run_once() == 1
    got = await sending.submission(created["id"])
    assert got["undoStatus"] == "final"
    assert got["deliveryStatus"][BOB]["delivered"] == "no"
    assert await due_accounts(sending) == []


@pytest_twisted.ensureDeferred
async def test_late_permanent_refusal_is_final_and_not_delivered(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(60)
    )
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_recipients[BOB] = (550, "5.1.1 Gone")
    assert await sending.scheduler(time.time() + 61).run_once() == 1
    got = await sending.submission(created["id"])
    assert got["undoStatus"] == "final"
    assert got["deliveryStatus"] == {BOB: {
        "smtpReply": "550 5.1.1 Gone", "delivered": "no", "displayed": "unknown",
    }}


@pytest_twisted.ensureDeferred
async def test_only_one_of_concurrent_senders_sends(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(60)
    )
    schedulers = [sending.scheduler(time.time() + 61) for _ in range(4)]
    assert sending.relay is not None
    relay: RelayConfig = sending.relay
    senders = [SubmissionSender(sending.server.store, reactor, relay, clock=s.clock)
                for s in schedulers]
    outcomes = await defer.gatherResults([
        defer.Deferred.fromCoroutine(sender.deliver(sending.account, created["id"]))
        for sender in senders
    ])
    assert sorted(o.outcome for o in outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(sending.received) == 1
    # and a cancel racing with a send in progress loses: the sender holds the attempt's claim
    draft = await sending.draft(subject="Second")
    second = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(60)
    )
    store = sending.server.store
    due = (await store.indexes.index_scores(sending.account, DUE_INDEX, [second["id"]]))
    assert await store.claims.claim(
        sending.account, claim_name(second["id"], due[second["id"]]), 60
    )
    [[_, result, _]] = await sending.submission_set(
        update={second["id"]: {"undoStatus": "canceled"}}, destroy=[created["id"]]
    )
    assert result["notUpdated"][second["id"]]["type"] == "cannotUnsend"
    assert result["destroyed"] == [created["id"]]  # a final one is no send in progress


@pytest_twisted.ensureDeferred
async def test_late_data_refusal_gives_every_recipient_the_data_reply(sending: Sending) -> None:
    draft = await sending.draft(to=f"{BOB}, carol@example.net")
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"],
        envelope={**held(60), "rcptTo": [{"email": BOB}, {"email": "carol@example.net"}]},
    )
    assert sending.relay_server is not None
    options = sending.relay_server.options
    options.refuse_data = (554, "5.6.0 Rejected")
    options.refuse_recipients["carol@example.net"] = (550, "5.1.1 Unknown")
    assert await sending.scheduler(time.time() + 61).run_once() == 1
    got = await sending.submission(created["id"])
    assert got["undoStatus"] == "final"
    assert got["deliveryStatus"] == {
        BOB: {"smtpReply": "554 5.6.0 Rejected", "delivered": "no", "displayed": "unknown"},
        "carol@example.net": {"smtpReply": "550 5.1.1 Unknown", "delivered": "no",
                              "displayed": "unknown"},
    }


@pytest_twisted.ensureDeferred
async def test_the_scheduler_service_runs_on_its_clock(sending: Sending) -> None:
    draft = await sending.draft()
    created = await sending.created(
        identityId=await sending.identity(), emailId=draft["id"], envelope=held(60)
    )
    scheduler = sending.scheduler(time.time())
    scheduler.interval = 30.0
    scheduler.startService()  # a first run at once: nothing due yet
    try:
        for _ in range(50):
            await deferLater(reactor, 0.02, lambda: None)
        assert sending.received == []
        scheduler.clock.advance(61)  # the next run finds the message due
        for _ in range(250):
            if sending.received:
                break
            await deferLater(reactor, 0.02, lambda: None)
        assert len(sending.received) == 1
    finally:
        await scheduler.stopService()
    assert (await sending.submission(created["id"]))["undoStatus"] == "final"


def test_the_service_has_a_scheduler_with_the_configured_relay(tmp_path: Path) -> None:
    config = build_config({
        "data": str(tmp_path / "data"), "smtp-relay": "tcp:host=127.0.0.1:port=2525",
    })
    service = makeService(config, reactor=reactor)
    [scheduler] = [s for s in service if isinstance(s, SubmissionScheduler)]
    assert scheduler.relay is not None
    assert scheduler.relay.endpoint == "tcp:host=127.0.0.1:port=2525"
    unconfigured = makeService(build_config({"data": str(tmp_path / "data")}), reactor=reactor)
    [idle] = [s for s in unconfigured if isinstance(s, SubmissionScheduler)]
    assert idle.relay is None


@pytest_twisted.ensureDeferred
async def test_recipients_refused_for_now_are_retried_alone(sending: Sending) -> None:
    assert sending.relay_server is not None
    options = sending.relay_server.options
    carol, dave = "carol@example.net", "dave@example.com"
    options.refuse_recipients[carol] = (450, "4.2.1 Mailbox busy")
    options.refuse_recipients[dave] = (550, "5.1.1 No such user")
    draft = await sending.draft(to=f"{BOB}, {carol}, {dave}")
    start = time.time()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    # relayed to Bob: final, however the others fare
    assert created["undoStatus"] == "final"
    assert created["deliveryStatus"] == {
        BOB: {"smtpReply": "250 2.1.5 Recipient OK", "delivered": "queued",
              "displayed": "unknown"},
        carol: {"smtpReply": "450 4.2.1 Mailbox busy", "delivered": "queued",
                "displayed": "unknown"},
        dave: {"smtpReply": "550 5.1.1 No such user", "delivered": "no", "displayed": "unknown"},
    }
    [first] = sending.received
    assert [a for a, _ in first.recipients] == [BOB]
    [[_, result, _]] = await sending.submission_set(
        update={created["id"]: {"undoStatus": "canceled"}}
    )
    assert result["notUpdated"][created["id"]]["type"] == "cannotUnsend"

    del options.refuse_recipients[carol]
    assert await sending.scheduler(start + FIRST_RETRY + 1).run_once() == 1
    [_, second] = sending.received
    assert [a for a, _ in second.recipients] == [carol]  # nobody gets it twice
    assert second.data == draft["raw"]
    got = await sending.submission(created["id"])
    assert got["deliveryStatus"][carol] == {
        "smtpReply": "250 2.1.5 Recipient OK", "delivered": "queued", "displayed": "unknown",
    }
    assert got["deliveryStatus"][BOB] == created["deliveryStatus"][BOB]
    assert got["deliveryStatus"][dave]["delivered"] == "no"
    assert await sending.scheduler(start + 86400).run_once() == 0
    assert len(sending.received) == 2
    assert await due_accounts(sending) == []


@pytest_twisted.ensureDeferred
async def test_destroying_stops_the_retries(sending: Sending) -> None:
    assert sending.relay_server is not None
    sending.relay_server.options.refuse_recipients["carol@example.net"] = (451, "4.3.0 Later")
    draft = await sending.draft(to=f"{BOB}, carol@example.net")
    start = time.time()
    created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
    assert created["undoStatus"] == "final"
    [[_, result, _]] = await sending.submission_set(destroy=[created["id"]])
    assert result["destroyed"] == [created["id"]]
    sending.relay_server.options.refuse_recipients.clear()
    assert await sending.scheduler(start + 3600).run_once() == 0
    assert len(sending.received) == 1
    assert await due_accounts(sending) == []
