"""IDueAccounts in memory: per name, a dict of account -> earliest due time."""

from __future__ import annotations

import re

from zope.interface import implementer

from stalwart_tx.store.interfaces import IDueAccounts
from stalwart_tx.store.memory import check_account_id
from stalwart_tx.store.records import check_score

_NAME = re.compile(r"[A-Za-z0-9:._-]{1,64}\Z")


def check_due_name(name: str) -> str:
    """A due-list name: 1-64 letters, digits and ``:._-`` (it becomes part of a Redis key)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"not a valid due-list name: {name!r:.80}")
    return name


def check_due(account_id: str, name: str, at: float | None) -> None:
    check_due_name(name)
    check_account_id(account_id)
    if at is not None:
        check_score(at)


@implementer(IDueAccounts)
class MemoryDueAccounts:
    def __init__(self) -> None:
        self._lists: dict[str, dict[str, float]] = {}

    async def note_due(self, name: str, account_id: str, at: float) -> None:
        check_due(account_id, name, at)
        listed = self._lists.setdefault(name, {})
        listed[account_id] = min(listed.get(account_id, float(at)), float(at))

    async def set_due(self, name: str, account_id: str, at: float | None) -> None:
        check_due(account_id, name, at)
        listed = self._lists.setdefault(name, {})
        if at is None:
            listed.pop(account_id, None)
        else:
            listed[account_id] = float(at)

    async def due_accounts(self, name: str, until: float, limit: int) -> list[tuple[str, float]]:
        check_due_name(name)
        check_score(until)
        found = sorted(
            (at, account) for account, at in self._lists.get(name, {}).items() if at <= until
        )
        return [(account, at) for at, account in found[:max(limit, 0)]]


__all__ = ["MemoryDueAccounts", "check_due", "check_due_name"]
