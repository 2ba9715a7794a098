"""The push delivery service: store notifications in, Web Push requests out.

Every service process hears every StateChange (the store's notifier spans processes). For each
account it collects the changed types over a short window (``batch_window``) so a burst of writes
becomes one push, then reads the account's subscriptions and the types' *current* states, and
queues for each verified, unexpired subscription a StateChange limited to its ``types``.
PushSubscription changes are never pushed; they only make the service send the PushVerification
of a new subscription (RFC 8620 §7.2.2).

Several processes share one store, so before queueing a message a process claims it in the store
(IClaims): the StateChange of given states to a given subscription, or a subscription's
verification, is claimed by exactly one process. Processes that read the same states build the
same claim name and all but one step aside; a process that read newer states pushes those, which
is a new message, not a repeat. Each message is therefore pushed once per subscription however
many processes run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.application.service import Service
from twisted.internet import task
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from stalwart_tx.push.outbox import Message, Outbox, OutboxTools, TypeStates
from stalwart_tx.push.retry import RetryPolicy
from stalwart_tx.push.sender import WebPushSender
from stalwart_tx.push.subscription import (
    TYPE_NAME,
    PushSubscription,
    destroy_quietly,
    live_subscriptions,
)
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.interfaces import ISubscription
from stalwart_tx.store.records import StateChange

DEFAULT_BATCH_WINDOW = 0.25
# RFC 8030 §5.2: a device offline for up to a day still gets told that something changed
DEFAULT_MESSAGE_TTL = 24 * 3600
# Long enough that every process has acted on a notification before its claim can lapse.
DEFAULT_CLAIM_TTL = 600.0
DEFAULT_SWEEP_INTERVAL = 3600.0


def state_claim_name(subscription_id: str, changed: TypeStates) -> str:
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    return f"push:{subscription_id}:{digest[:32]}"


class PushDeliveryService(Service):
    """Delivers pushes for the store that ``store()`` returns once it is open.

    ``store`` is ``StoreService.store``: it raises StoreUnavailable until the store is open, so
    the service subscribes as soon as it can. Stopping cancels pending batches, retries and
    requests in flight, and closes kept-alive connections.
    """

    log = Logger()

    def __init__(
        self,
        store: Callable[[], StoreBundle],
        reactor: Any,
        *,
        batch_window: float = DEFAULT_BATCH_WINDOW,
        policy: RetryPolicy | None = None,
        message_ttl: int = DEFAULT_MESSAGE_TTL,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        connect_timeout: float = 10.0,
        exchange_timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._reactor = reactor
        self.batch_window = batch_window
        self.policy = policy or RetryPolicy()
        self.message_ttl = message_ttl
        self.claim_ttl = claim_ttl
        self.sweep_interval = sweep_interval
        self._timeouts = (connect_timeout, exchange_timeout)
        self._sender: WebPushSender | None = None
        self._subscription: ISubscription | None = None
        self._sweeper: task.LoopingCall | None = None
        self._tasks: set[Deferred[None]] = set()
        self._pending: dict[str, set[str]] = {}
        self._timers: dict[str, IDelayedCall] = {}
        self._outboxes: dict[tuple[str, str], Outbox] = {}
        self._draining: set[tuple[str, str]] = set()
        self.subscribed: Deferred[None] = Deferred()

    # -- lifecycle ------------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        connect_timeout, exchange_timeout = self._timeouts
        self._sender = WebPushSender(
            self._reactor, connect_timeout=connect_timeout, exchange_timeout=exchange_timeout
        )
        self.subscribed = Deferred()
        self._spawn(self._subscribe_when_open())
        self._sweeper = task.LoopingCall(lambda: self._spawn(self._sweep()))
        self._sweeper.clock = self._reactor
        self._sweeper.start(self.sweep_interval, now=False)

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        self._pending.clear()
        for pending in list(self._tasks):
            pending.cancel()
        self._outboxes.clear()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.cancel()
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; stopping cancels it; a failure is logged, not lost."""
        running = Deferred.fromCoroutine(work)
        self._tasks.add(running)

        def finished(result: object) -> None:
            self._tasks.discard(running)
            if isinstance(result, Failure) and not result.check(CancelledError):
                if result.check(StoreUnavailable):
                    self.log.warn("push delivery: the store is unavailable ({error})",
                                  error=result.getErrorMessage())
                else:
                    self.log.failure("push delivery failed", result)

        running.addBoth(finished)

    async def _subscribe_when_open(self) -> None:
        delay = 0.05
        while self.running:
            try:
                self._subscription = await self._store().notifier.subscribe(self._heard)
            except StoreUnavailable:
                await task.deferLater(self._reactor, delay, lambda: None)
                delay = min(delay * 2, 2.0)
                continue
            self.subscribed.callback(None)
            return

    # -- notifications and batching -------------------------------------------------------------

    def _heard(self, change: StateChange) -> None:
        if not self.running:
            return
        if TYPE_NAME in change.changed:
            self._spawn(self._verify(change.account_id))
        types = {t for t in change.changed if t != TYPE_NAME}
        if not types:
            return
        self._pending.setdefault(change.account_id, set()).update(types)
        if change.account_id not in self._timers:
            self._timers[change.account_id] = self._reactor.callLater(
                self.batch_window, self._window_closed, change.account_id
            )

    def _window_closed(self, account_id: str) -> None:
        self._timers.pop(account_id, None)
        types = self._pending.pop(account_id, set())
        if types and self.running:
            self._spawn(self._flush(account_id, types))

    async def _flush(self, account_id: str, types: set[str]) -> None:
        """Queue a StateChange of the current states of ``types`` for each due subscription."""
        bundle = self._store()
        subscriptions = [
            s for s in (
                await live_subscriptions(bundle.accounts, account_id, self._reactor.seconds())
            ).values() if s.is_verified
        ]
        wanted = sorted(t for t in types if any(s.wants(t) for s in subscriptions))
        if not wanted:
            return
        states = await bundle.changes.current_states(account_id, wanted)
        for subscription in subscriptions:
            changed = {account_id: {t: states[t] for t in wanted if subscription.wants(t)}}
            if not changed[account_id]:
                continue
            name = state_claim_name(subscription.id, changed)
            if await bundle.claims.claim(account_id, name, self.claim_ttl):
                self._enqueue(account_id, subscription, Message.state_change(changed))

    async def _verify(self, account_id: str) -> None:
        """Send the PushVerification of every new subscription of the account, once."""
        bundle = self._store()
        now = self._reactor.seconds()
        for subscription in (await live_subscriptions(bundle.accounts, account_id, now)).values():
            if subscription.is_verified:
                continue
            # claimed for the subscription's whole life: its code is pushed once, by one process
            lifetime = max(subscription.expires - now, 1.0)
            if await bundle.claims.claim(account_id, f"verify:{subscription.id}", lifetime):
                self._enqueue(
                    account_id, subscription,
                    Message.verification(subscription.server_verification_code),
                )

    async def _sweep(self) -> None:
        """Now and then, go over every account without waiting for a notification.

        Removes the expired subscriptions of idle accounts, and sends the verification of a
        subscription whose notification was lost (pub/sub keeps nothing for a process that was
        disconnected or not running when it was created).
        """
        bundle = self._store()
        for principal in await bundle.directory.list_principals():
            if await bundle.claims.claim(principal.id, "push-sweep", self.sweep_interval / 2):
                await self._verify(principal.id)

    # -- outboxes -------------------------------------------------------------------------------

    def _tools(self) -> OutboxTools:
        assert self._sender is not None
        return OutboxTools(
            post=self._sender.post, policy=self.policy, clock=self._reactor,
            ttl=self.message_ttl, refresh=self._refresh, forget=self._forget,
        )

    def _enqueue(self, account_id: str, subscription: PushSubscription, message: Message) -> None:
        if not self.running:
            return
        key = (account_id, subscription.id)
        outbox = self._outboxes.get(key)
        if outbox is None:
            outbox = self._outboxes[key] = Outbox(account_id, subscription, self._tools())
        else:
            outbox.subscription = subscription
        outbox.add(message)
        if key not in self._draining:
            self._draining.add(key)
            self._spawn(self._drain(key, outbox))

    async def _drain(self, key: tuple[str, str], outbox: Outbox) -> None:
        try:
            await outbox.run()
        finally:
            self._draining.discard(key)
            if self._outboxes.get(key) is outbox:
                del self._outboxes[key]

    async def _refresh(self, account_id: str, subscription_id: str) -> PushSubscription | None:
        found = await live_subscriptions(
            self._store().accounts, account_id, self._reactor.seconds(), [subscription_id]
        )
        return found.get(subscription_id)

    async def _forget(self, account_id: str, subscription_id: str) -> None:
        await destroy_quietly(self._store().accounts, account_id, subscription_id)
