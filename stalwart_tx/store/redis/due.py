"""IDueAccounts on Redis: one sorted set per name, account id -> earliest due time.

The set lists accounts, so it lives outside every account's hash tag, under a tag of its own
(``keys.due_index``); see IDueAccounts for how writers and the scheduler keep it right.
"""

from __future__ import annotations

from zope.interface import implementer

from stalwart_tx.store.interfaces import IDueAccounts
from stalwart_tx.store.memory import check_account_id
from stalwart_tx.store.memory_due import check_due, check_due_name
from stalwart_tx.store.records import check_score
from stalwart_tx.store.redis.connection import RedisConnection, as_text
from stalwart_tx.store.redis.keys import due_index


@implementer(IDueAccounts)
class RedisDueAccounts:
    def __init__(self, connection: RedisConnection, *, prefix: str = "stx:") -> None:
        self._redis = connection
        self._prefix = prefix

    async def note_due(self, name: str, account_id: str, at: float) -> None:
        check_due(account_id, name, at)
        await self._redis.execute(
            "ZADD", due_index(self._prefix, name), "LT", repr(float(at)), account_id
        )

    async def set_due(self, name: str, account_id: str, at: float | None) -> None:
        check_due(account_id, name, at)
        key = due_index(self._prefix, name)
        if at is None:
            await self._redis.execute("ZREM", key, account_id)
        else:
            await self._redis.execute("ZADD", key, repr(float(at)), account_id)

    async def due_accounts(self, name: str, until: float, limit: int) -> list[tuple[str, float]]:
        check_due_name(name)
        check_score(until)
        if limit <= 0:
            return []
        key = due_index(self._prefix, name)
        reply = await self._redis.execute(
            "ZRANGEBYSCORE", key, "-inf", repr(float(until)), "WITHSCORES", "LIMIT", 0, limit
        )
        found: list[tuple[str, float]] = []
        for member, score in zip(reply[::2], reply[1::2], strict=True):
            account = as_text(member)
            try:
                check_account_id(account)
            except ValueError:
                await self._redis.execute("ZREM", key, account)  # not ours: a stray member
                continue
            found.append((account, float(as_text(score))))
        return found


__all__ = ["RedisDueAccounts"]
