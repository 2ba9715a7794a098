"""IClaims on Redis: one ``SET NX PX`` per claim, under the account's hash tag."""

from __future__ import annotations

import math

from zope.interface import implementer

from stalwart_tx.store.interfaces import IClaims
from stalwart_tx.store.memory import check_claim
from stalwart_tx.store.redis.connection import RedisConnection
from stalwart_tx.store.redis.keys import account_keys


@implementer(IClaims)
class RedisClaims:
    """A claim is a key that exists until its TTL runs out; SET NX makes the first writer win.

    Redis expires the key itself, so a claim needs no release and no clean-up, and a process that
    dies holding one blocks nobody past the TTL.
    """

    def __init__(self, connection: RedisConnection, *, prefix: str = "stx:") -> None:
        self._redis = connection
        self._prefix = prefix

    async def claim(self, account_id: str, name: str, ttl: float) -> bool:
        check_claim(account_id, name, ttl)
        key = account_keys(self._prefix, account_id).claim(name)
        # PX takes whole milliseconds; rounding up keeps a tiny ttl from becoming 0 (an error)
        reply = await self._redis.execute("SET", key, "1", "NX", "PX", math.ceil(ttl * 1000))
        return reply is not None

    async def held(self, account_id: str, name: str) -> bool:
        check_claim(account_id, name, 1.0)
        key = account_keys(self._prefix, account_id).claim(name)
        return bool(await self._redis.execute("EXISTS", key))
