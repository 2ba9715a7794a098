"""The per-subscription outbox on a Clock: backoff, Retry-After, the give-up bound, folding newer
states into a retry, and no request after expiry. ``post`` is scripted here; the real sender is
exercised over HTTP in test_delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from stalwart_tx.push.outbox import Message, Outbox, OutboxTools
from stalwart_tx.push.retry import RetryPolicy, parse_retry_after
from stalwart_tx.push.sender import Outcome, Verdict, classify
from stalwart_tx.push.subscription import PushSubscription

POLICY = RetryPolicy(initial_delay=1.0, max_delay=8.0, give_up_after=60.0, jitter=0)


@dataclass
class Harness:
    clock: Clock = field(default_factory=Clock)
    answers: list[Outcome] = field(default_factory=list)
    posted: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    current: PushSubscription | None = None

    async def post(self, url: str, body: bytes, *, ttl: int,
                   content_encoding: str | None = None) -> Outcome:
        self.posted.append((self.clock.seconds(), json.loads(body)))
        return self.answers.pop(0) if self.answers else Outcome(Verdict.DELIVERED, 201)

    async def refresh(self, account: str, subscription_id: str) -> PushSubscription | None:
        return self.current

    async def forget(self, account: str, subscription_id: str) -> None:
        self.forgotten.append(subscription_id)

    def outbox(self, subscription: PushSubscription, policy: RetryPolicy = POLICY) -> Outbox:
        self.current = subscription
        tools = OutboxTools(post=self.post, policy=policy, clock=self.clock, ttl=60,
                            refresh=self.refresh, forget=self.forget)
        return Outbox("A", subscription, tools)

    def times(self) -> list[float]:
        return [at for at, _ in self.posted]


def subscription(expires: float = 1e6, verified: bool = True) -> PushSubscription:
    return PushSubscription(
        id="P1", device_client_id="d", url="https://push.example.net/", keys=None,
        expires=expires, types=None, server_verification_code="code",
        verification_code="code" if verified else None,
    )


def run(harness: Harness, outbox: Outbox, until: float = 100.0) -> Deferred[None]:
    running = Deferred.fromCoroutine(outbox.run())
    while harness.clock.seconds() < until and not running.called:
        harness.clock.advance(0.5)
    return running


def retry(retry_after: float | None = None, status: int = 503) -> Outcome:
    return Outcome(Verdict.RETRY, status, retry_after)


def test_exponential_backoff_up_to_the_cap() -> None:
    harness = Harness(answers=[retry()] * 6)
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox).called
    assert harness.times() == [0, 1, 3, 7, 15, 23, 31]  # waits 1, 2, 4, 8, 8, 8
    assert all(body["changed"] == {"A": {"Email": "5"}} for _, body in harness.posted)


def test_retry_after_is_honoured() -> None:
    harness = Harness(answers=[retry(30, 429), retry(None, 429)])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    run(harness, outbox)
    assert harness.times() == [0, 30, 32]


def test_total_time_is_bounded() -> None:
    harness = Harness(answers=[retry()] * 100)
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox, until=200).called
    assert harness.times()[-1] <= POLICY.give_up_after
    # a Retry-After beyond the bound ends it at once
    harness = Harness(answers=[retry(3600, 429)])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox).called
    assert harness.times() == [0]


def test_newer_states_are_folded_into_the_retry() -> None:
    harness = Harness(answers=[retry(10, 429)])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    running = Deferred.fromCoroutine(outbox.run())
    harness.clock.advance(1)
    outbox.add(Message.state_change({"A": {"Email": "6", "Mailbox": "6"}}))
    outbox.add(Message.state_change({"A": {"Thread": "7"}}))
    harness.clock.advance(10)
    assert running.called
    # during the 429 wait, three changes became one push: fewer, fuller messages
    assert [body["changed"] for _, body in harness.posted] == [
        {"A": {"Email": "5"}}, {"A": {"Email": "6", "Mailbox": "6", "Thread": "7"}}]


def test_no_request_after_expiry() -> None:
    harness = Harness(answers=[retry()] * 10)
    outbox = harness.outbox(subscription(expires=5.5))
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox).called
    assert harness.times() == [0, 1, 3]  # the attempt due at 7 is after "expires"


def test_destroyed_meanwhile_ends_the_retries() -> None:
    harness = Harness(answers=[retry()])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    harness.current = None
    assert run(harness, outbox).called
    assert harness.times() == [0]


def test_gone_forgets_and_rejected_drops() -> None:
    harness = Harness(answers=[Outcome(Verdict.GONE, 410)])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    outbox.add(Message.verification("code"))
    assert run(harness, outbox).called
    assert harness.forgotten == ["P1"] and len(harness.posted) == 1
    harness = Harness(answers=[Outcome(Verdict.REJECTED, 400)])
    outbox = harness.outbox(subscription())
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox).called
    assert harness.forgotten == [] and len(harness.posted) == 1


def test_unverified_gets_only_the_verification() -> None:
    harness = Harness()
    outbox = harness.outbox(subscription(verified=False))
    outbox.add(Message.verification("code"))
    outbox.add(Message.state_change({"A": {"Email": "5"}}))
    assert run(harness, outbox).called
    assert [body for _, body in harness.posted] == [
        {"@type": "PushVerification", "pushSubscriptionId": "P1", "verificationCode": "code"}]


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.DELIVERED), (201, Verdict.DELIVERED), (202, Verdict.DELIVERED),
    (404, Verdict.GONE), (410, Verdict.GONE), (429, Verdict.RETRY), (500, Verdict.RETRY),
    (503, Verdict.RETRY), (301, Verdict.REJECTED), (400, Verdict.REJECTED),
    (401, Verdict.REJECTED), (413, Verdict.REJECTED),
])
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status, None).verdict is verdict


def test_parse_retry_after() -> None:
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(b"120", now) == 120
    assert parse_retry_after("0", now) == 0
    assert parse_retry_after(b"Wed, 21 Oct 2015 07:30:00 GMT", now) == 120
    assert parse_retry_after(b"Wed, 21 Oct 2015 07:00:00 GMT", now) == 0  # in the past
    for junk in (None, b"", b"-5", b"soon", b"1.5", b"\xff\xfe"):
        assert parse_retry_after(junk, now) is None


def test_jitter_only_shortens() -> None:
    assert RetryPolicy(jitter=0.5, random=lambda: 1.0).delay(1) == 0.5
    assert RetryPolicy(jitter=0.5, random=lambda: 0.0).delay(3) == 4.0
    assert RetryPolicy(jitter=0.5, random=lambda: 1.0).delay(1, retry_after=9) == 9
