"""One subscription per process to the store's notifier, fanned out to the connected push clients.

Every EventSource stream and push-enabled WebSocket of this process attaches here for the accounts
its user may use. The hub subscribes to ``StoreBundle.notifier`` on the first attach, since the
store may not be open before, so a single Redis pub/sub connection serves every client of the
process; a write in any process sharing the Redis reaches them all.

Bursts are coalesced per account: the first change after a quiet spell goes out at once, later
ones within ``coalesce_window`` seconds are merged (the latest state of each type wins) and go
out together when the window closes. A write storm costs a client a few events a second, not one
per write, and a lone write is not delayed at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from stalwart_tx.jmap.push_state import PushFeed, States, changed_since, decode_token
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.interfaces import ISubscription
from stalwart_tx.store.records import StateChange

DEFAULT_COALESCE_WINDOW = 0.1

Receiver = Callable[[str, Mapping[str, str]], None]
"""``receiver(account_id, {type: state})``: called in the reactor thread, must not block."""


class Attachment:
    """One client's place in the hub; ``detach`` (idempotent) is all a client must do on close."""

    def __init__(self, hub: PushHub, account_ids: frozenset[str], receiver: Receiver) -> None:
        self.hub = hub
        self.account_ids = account_ids
        self.receiver = receiver

    def detach(self) -> None:
        self.hub._detach(self)


class PushHub(Service):
    """Start/stop it with the store (``setServiceParent``); stopping drops the subscription.

    ``store`` returns the open StoreBundle or raises StoreUnavailable. ``data_types`` are the type
    names "all types" stands for when a client catches up (see ``push_state.push_data_types``).
    """

    log = Logger()

    def __init__(
        self,
        store: Callable[[], StoreBundle],
        clock: IReactorTime,
        *,
        coalesce_window: float = DEFAULT_COALESCE_WINDOW,
        data_types: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.clock = clock
        self.coalesce_window = coalesce_window
        self.data_types = frozenset(data_types)
        self._by_account: dict[str, set[Attachment]] = {}
        self._pending: dict[str, dict[str, str]] = {}
        self._windows: dict[str, IDelayedCall] = {}
        self._subscription: ISubscription | None = None
        self._subscribing = False
        self._subscribe_waiters: list[Deferred[None]] = []
        # bumped by stop(), so a subscription that completes after a stop is dropped at once
        self._generation = 0

    @property
    def client_count(self) -> int:
        return len({a for attachments in self._by_account.values() for a in attachments})

    @property
    def subscribed(self) -> bool:
        return self._subscription is not None

    async def attach(self, account_ids: Collection[str], receiver: Receiver) -> Attachment:
        """Deliver the changes of ``account_ids`` to ``receiver`` until detached.

        Returns once the notifier subscription is live, so any write that completes afterwards
        is delivered. Raises StoreUnavailable when the store is closed or the notifier cannot
        subscribe in time.
        """
        await self._subscribed()
        attachment = Attachment(self, frozenset(account_ids), receiver)
        for account in attachment.account_ids:
            self._by_account.setdefault(account, set()).add(attachment)
        return attachment

    async def follow(
        self, account_ids: Collection[str], feed: PushFeed, since: str | None
    ) -> tuple[Attachment, States]:
        """Attach ``feed`` and read where its accounts stand now; return what to catch up on.

        ``since`` is the pushState / Last-Event-ID the client came back with (None if it gave
        none): the catch-up holds the types that moved since (all wanted types for a token this
        server cannot read). The feed is attached before the read, so a write landing in between
        is pushed rather than lost. Raises StoreUnavailable, with nothing left attached.
        """
        previous = decode_token(since) if since is not None else None
        known_types = {t for types in (previous or {}).values() for t in types}
        attachment = await self.attach(account_ids, feed.receive)
        try:
            current = await self.current_states(
                account_ids, feed.wanted.names(self.data_types | known_types)
            )
        except BaseException:
            attachment.detach()
            raise
        feed.cursor.start_at(current)
        return attachment, (changed_since(previous, current) if since is not None else {})

    async def current_states(
        self, account_ids: Iterable[str], type_names: Iterable[str]
    ) -> dict[str, dict[str, str]]:
        """The current state of each type in each account, each account read at one instant."""
        changes = self.store().changes
        names = sorted(set(type_names))
        if not names:
            return {account: {} for account in account_ids}
        return {account: await changes.current_states(account, names) for account in account_ids}

    def _detach(self, attachment: Attachment) -> None:
        for account in attachment.account_ids:
            attachments = self._by_account.get(account)
            if attachments is None:
                continue
            attachments.discard(attachment)
            if not attachments:
                del self._by_account[account]
                self._pending.pop(account, None)
                window = self._windows.pop(account, None)
                if window is not None and window.active():
                    window.cancel()

    # -- the notifier subscription ------------------------------------------------------------

    async def _subscribed(self) -> None:
        if self._subscription is not None:
            return
        # Each caller waits on a Deferred of its own: a client that goes away while waiting
        # cancels only its wait, never the subscription the others are waiting for.
        waiter: Deferred[None] = Deferred()
        self._subscribe_waiters.append(waiter)
        if not self._subscribing:
            self._subscribing = True
            Deferred.fromCoroutine(self._subscribe())
        try:
            await waiter
        finally:
            if waiter in self._subscribe_waiters:
                self._subscribe_waiters.remove(waiter)

    async def _subscribe(self) -> None:
        generation = self._generation
        error: BaseException | None = None
        try:
            subscription = await self.store().notifier.subscribe(self._received)
        except Exception as failed:
            error = failed
            if not isinstance(failed, StoreUnavailable):
                self.log.failure("Subscribing to state changes failed")
                error = StoreUnavailable(f"cannot subscribe to state changes: {failed}")
        else:
            if generation == self._generation:
                self._subscription = subscription
            else:
                await subscription.cancel()
                error = StoreUnavailable("push notifications were stopped")
        finally:
            self._subscribing = False
        waiters, self._subscribe_waiters = self._subscribe_waiters, []
        for waiter in waiters:
            if error is None:
                waiter.callback(None)
            else:
                waiter.errback(error)

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        return Deferred.fromCoroutine(self.stop())

    async def stop(self) -> None:
        """Drop the subscription and every client; a later attach subscribes again."""
        self._generation += 1
        for window in self._windows.values():
            if window.active():
                window.cancel()
        self._windows.clear()
        self._pending.clear()
        self._by_account.clear()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.cancel()
            except Exception:
                self.log.failure("Cancelling the state change subscription failed")

    # -- fan-out ---------------------------------------------------------------------------

    def _received(self, change: StateChange) -> None:
        account = change.account_id
        if account not in self._by_account or not change.changed:
            return
        self._pending.setdefault(account, {}).update(change.changed)
        if account not in self._windows:
            self._flush(account)

    def _window_closed(self, account: str) -> None:
        del self._windows[account]
        if self._pending.get(account):
            self._flush(account)

    def _flush(self, account: str) -> None:
        changed = self._pending.pop(account, None)
        if not changed:
            return
        self._windows[account] = self.clock.callLater(
            self.coalesce_window, self._window_closed, account
        )
        for attachment in list(self._by_account.get(account, ())):
            try:
                attachment.receiver(account, changed)
            except Exception:
                # one broken client must not cost the others their notifications
                self.log.failure("Push receiver {receiver!r} failed", receiver=attachment.receiver)
