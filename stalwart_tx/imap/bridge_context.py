"""The RequestContext of the bridge's JMAP requests: first-use checks made once a minute, and
the facts of written emails kept.

Every mail method first makes sure the account has its default mailboxes (``first_use``), a
store read per request. An IMAP session sends a request or more per command, so the bridge
remembers, per process, which accounts were made sure of in the last minute and lets those
requests skip the read. A minute later the check runs again, so an account a JMAP client left
with no mailbox still gets its defaults back.

The bridge's requests write through an account store that, after a write, keeps the facts of
every email it wrote (``email_facts``) under the MODSEQ the write gave it: what the value is at
that MODSEQ is exactly what was written, so the flags a STORE reports, and those every other
session of the process announces after it, need no read of the email.

The same account store keeps the emails it reads with their state, and those it writes, in the
process's ``ObjectCache``: a STORE or EXPUNGE of an email the process read or wrote before then
writes without reading it first, on condition that it is unchanged since (``WorkingSet``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Final

from zope.interface import implementer

from stalwart_tx.imap.email_facts import FACTS_CACHE, facts_of_stored
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.mail.email_model import EMAIL
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.interfaces import IAccountStore
from stalwart_tx.store.object_cache import ObjectCache
from stalwart_tx.store.records import JSONObject, WriteBatch, WriteResult

ENSURED_FOR: Final = 60.0
# account -> (ensure function, account) -> when it was made sure of (monotonic seconds); by
# account, so a request looks at its own account's entries, however many accounts are active
_recently_ensured: dict[str, dict[tuple[object, str], float]] = {}
# when every account's stale entries are dropped next (accounts that make no more requests)
_next_sweep = 0.0


class _Remembered(set[tuple[object, str]]):
    """The request's set of what it made sure of, which also tells the process."""

    def add(self, key: tuple[object, str]) -> None:
        super().add(key)
        _recently_ensured.setdefault(key[1], {})[key] = time.monotonic()


@implementer(IAccountStore)
class _FactsKeepingAccounts:
    """The account store, whose writes also keep the facts of the emails they wrote, and whose
    reads and writes of emails keep them in ``cache``."""

    def __init__(self, inner: IAccountStore, cache: ObjectCache) -> None:
        self._inner = inner
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_with_state(
        self, account_id: str, type_name: str, ids: list[str] | None, at_most: int | None = None
    ) -> tuple[str, dict[str, JSONObject]]:
        state, found = await self._inner.get_with_state(account_id, type_name, ids, at_most)
        if type_name == EMAIL and ids is not None:
            # each as it is at the state read with it
            position = int(state)
            for object_id in ids:
                value = found.get(object_id)
                if value is None:
                    self._cache.forget(account_id, EMAIL, [object_id])
                else:
                    self._cache.put(account_id, EMAIL, object_id, value, position)
        return state, found

    async def write(self, account_id: str, batch: WriteBatch) -> WriteResult:
        try:
            result = await self._inner.write(account_id, batch)
        except Exception:
            # refused (some object it was computed from changed), or not known to be applied:
            # none of them is known as it is now
            self._cache.forget(account_id, EMAIL, _emails_of(batch))
            raise
        adjusted = {i for t, i, _, _ in batch.adjusts if t == EMAIL}
        for type_name, object_id, value in (*batch.creates, *batch.updates):
            modseq = result.modseqs.get((type_name, object_id))
            if type_name == EMAIL and modseq is not None:
                facts = facts_of_stored(object_id, value)
                if facts is not None:
                    FACTS_CACHE.put(account_id, facts, modseq)
                if object_id in adjusted:
                    self._cache.forget(account_id, EMAIL, [object_id])
                else:
                    self._cache.put(account_id, EMAIL, object_id, value, modseq)
        self._cache.forget(account_id, EMAIL, (i for t, i in batch.destroys if t == EMAIL))
        return result


def _emails_of(batch: WriteBatch) -> set[str]:
    """The emails a batch writes or is conditional on."""
    found = {i for t, i, _ in (*batch.creates, *batch.updates, *batch.unchanged_since)
             if t == EMAIL}
    found.update(i for t, i in batch.destroys if t == EMAIL)
    found.update(i for t, i, _, _ in batch.adjusts if t == EMAIL)
    return found


# the last store bundle seen and the same with the facts-keeping account store (a process has
# one bundle: its requests share one wrapped copy)
_wrapped: tuple[StoreBundle, StoreBundle] | None = None


def _facts_keeping(store: StoreBundle) -> StoreBundle:
    global _wrapped
    if _wrapped is None or _wrapped[0] is not store:
        cache = ObjectCache()
        _wrapped = (store, replace(store, accounts=_FactsKeepingAccounts(store.accounts, cache),
                                   object_cache=cache))
    return _wrapped[1]


@dataclass
class BridgeContext(RequestContext):
    def __post_init__(self) -> None:
        global _next_sweep
        if isinstance(self.store, StoreBundle):
            self.store = _facts_keeping(self.store)
        now = time.monotonic()
        if now >= _next_sweep:
            _next_sweep = now + ENSURED_FOR
            for account_id, held in list(_recently_ensured.items()):
                if all(now - when > ENSURED_FOR for when in held.values()):
                    del _recently_ensured[account_id]
        remembered = _Remembered(self.ensured)
        account = self.user.account_id
        entries = _recently_ensured.get(account)
        if entries:
            for key, when in list(entries.items()):
                if now - when > ENSURED_FOR:
                    del entries[key]
                else:
                    set.add(remembered, key)
            if not entries:
                del _recently_ensured[account]
        self.ensured = remembered
