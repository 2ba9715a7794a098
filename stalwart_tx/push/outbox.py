"""The messages waiting for one push subscription, sent one at a time, retried with backoff.

Sending one at a time keeps the pushes of a subscription in order, and makes a slow or throttling
push service (429, RFC 8620 §7.2: "MUST cause the JMAP server to reduce the frequency of pushes")
receive fewer, fuller messages: StateChanges that arrive while one is being sent or waits for its
retry are folded into one, the newest state of each type winning.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import task
from twisted.logger import Logger

from stalwart_tx.push.retry import RetryPolicy
from stalwart_tx.push.sender import Outcome, Verdict
from stalwart_tx.push.subscription import PushSubscription
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.records import JSONObject

log = Logger()

TypeStates = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Message:
    """A PushVerification, or a StateChange's ``changed`` (account id → type → state)."""

    verification_code: str | None = None
    changed: TypeStates | None = None

    @classmethod
    def verification(cls, code: str) -> Message:
        return cls(verification_code=code)

    @classmethod
    def state_change(cls, changed: TypeStates) -> Message:
        return cls(changed=changed)

    @property
    def is_state_change(self) -> bool:
        return self.changed is not None

    def merged(self, newer: Message) -> Message:
        """Both StateChanges in one; where both name a type, the newer state wins."""
        assert self.changed is not None and newer.changed is not None
        changed = {account: dict(types) for account, types in self.changed.items()}
        for account, types in newer.changed.items():
            changed.setdefault(account, {}).update(types)
        return Message.state_change(changed)

    def payload(self, subscription_id: str) -> JSONObject:
        if self.changed is not None:
            return {"@type": "StateChange", "changed": self.changed}
        return {
            "@type": "PushVerification",
            "pushSubscriptionId": subscription_id,
            "verificationCode": self.verification_code,
        }


@dataclass(frozen=True)
class OutboxTools:
    """Shared by every Outbox of a delivery service.

    ``refresh`` reads the subscription again (None once it is destroyed or expired); ``forget``
    destroys it, for a push service that says it is gone.
    """

    post: Callable[..., Awaitable[Outcome]]
    policy: RetryPolicy
    clock: Any
    ttl: int
    refresh: Callable[[str, str], Awaitable[PushSubscription | None]]
    forget: Callable[[str, str], Awaitable[None]]


class Outbox:
    def __init__(self, account_id: str, subscription: PushSubscription, tools: OutboxTools) -> None:
        self.account_id = account_id
        self.subscription = subscription
        self._tools = tools
        self._queue: list[Message] = []

    def add(self, message: Message) -> None:
        if message.is_state_change and self._queue and self._queue[-1].is_state_change:
            self._queue[-1] = self._queue[-1].merged(message)
        elif message not in self._queue:
            self._queue.append(message)

    def __bool__(self) -> bool:
        return bool(self._queue)

    async def run(self) -> None:
        """Send until the queue is empty (the caller starts one run at a time per Outbox)."""
        while self._queue:
            if not await self._send(self._queue.pop(0)):
                self._queue.clear()

    async def _send(self, message: Message) -> bool:
        """Deliver one message, retrying; False when the subscription is gone or over."""
        tools, clock = self._tools, self._tools.clock
        deadline = clock.seconds() + tools.policy.give_up_after
        failures = 0
        while True:
            subscription = self.subscription
            if subscription.is_expired(clock.seconds()):
                return False  # RFC 8620 §7.2: no request to the resource after "expires"
            if message.is_state_change and not subscription.is_verified:
                return True  # §7.2.2: nothing but the verification before it is verified
            outcome = await self._post(message)
            if outcome.verdict is Verdict.DELIVERED:
                return True
            if outcome.verdict is Verdict.GONE:
                log.info("push subscription {id} is gone (HTTP {status}); destroying it",
                         id=subscription.id, status=outcome.status)
                await tools.forget(self.account_id, subscription.id)
                return False
            if outcome.verdict is Verdict.REJECTED:
                log.warn("push subscription {id}: the push service refused a message "
                         "(HTTP {status}); dropping it", id=subscription.id, status=outcome.status)
                return True
            failures += 1
            delay = tools.policy.delay(failures, outcome.retry_after)
            if clock.seconds() + delay > deadline:
                log.warn("push subscription {id}: giving up on a message after {n} attempts "
                         "({detail})", id=subscription.id, n=failures,
                         detail=outcome.detail or f"HTTP {outcome.status}")
                return True
            await task.deferLater(clock, delay, lambda: None)
            try:
                fresh = await tools.refresh(self.account_id, subscription.id)
            except StoreUnavailable:
                fresh = subscription  # pushing need not wait for the store to come back
            if fresh is None:
                return False
            self.subscription = fresh
            if message.is_state_change and self._queue and self._queue[0].is_state_change:
                message = message.merged(self._queue.pop(0))

    async def _post(self, message: Message) -> Outcome:
        subscription = self.subscription
        body = json.dumps(
            message.payload(subscription.id), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        encoding = None
        if subscription.keys is not None:
            # RFC 8620 §7.2: with keys, everything sent to the subscription is encrypted
            body, encoding = subscription.keys.encrypt(body), "aes128gcm"
        return await self._tools.post(
            subscription.url, body, ttl=self._tools.ttl, content_encoding=encoding
        )
