"""INotifier on Redis pub/sub: one channel per store prefix, one subscriber connection each."""

from __future__ import annotations

import json

from twisted.logger import Logger
from zope.interface import implementer

from stalwart_tx.store.interfaces import INotifier, ISubscription
from stalwart_tx.store.memory import Listener, MemoryNotifier
from stalwart_tx.store.records import StateChange
from stalwart_tx.store.redis.connection import ChannelSubscriber, RedisConnection, as_text
from stalwart_tx.store.redis.keys import changes_channel

log = Logger()


def encode_change(change: StateChange) -> str:
    """The message format; the write script builds the same JSON itself."""
    return json.dumps({"account": change.account_id, "changed": dict(change.changed)})


def decode_change(data: str | bytes) -> StateChange:
    message = json.loads(as_text(data))
    account, changed = message["account"], message["changed"]
    # an empty Lua table encodes as {} or []; neither names a type
    if not isinstance(account, str) or not isinstance(changed, dict | list):
        raise ValueError("not a state change message")
    if isinstance(changed, list):
        changed = {}
    return StateChange(account, {str(t): str(s) for t, s in changed.items()})


@implementer(INotifier)
class RedisNotifier:
    """Publishes with PUBLISH; a dedicated connection, opened on first subscribe, hears them all.

    Messages published while the subscriber connection is down are lost (Redis pub/sub keeps no
    history); it resubscribes as soon as Redis is back. Listeners run in the reactor thread.
    """

    def __init__(self, connection: RedisConnection, *, prefix: str = "stx:") -> None:
        self._redis = connection
        self._channel = changes_channel(prefix)
        self._local = MemoryNotifier()
        self._subscriber: ChannelSubscriber | None = None

    async def publish(self, change: StateChange) -> None:
        await self._redis.publish(self._channel, encode_change(change))

    async def subscribe(self, listener: Listener) -> ISubscription:
        """Register ``listener`` once Redis confirms the subscription; StoreUnavailable if not."""
        if self._subscriber is None:
            self._subscriber = self._redis.subscriber(self._channel, self._received)
        subscription = self._local.add_listener(listener)
        try:
            await self._subscriber.wait_ready()
        except BaseException:
            await subscription.cancel()
            raise
        return subscription

    def _received(self, data: str | bytes) -> None:
        try:
            change = decode_change(data)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            log.warn("ignoring a malformed message on {channel}: {data!r}",
                     channel=self._channel, data=data[:200])
            return
        self._local.deliver(change)

    async def close(self) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            await subscriber.close()
