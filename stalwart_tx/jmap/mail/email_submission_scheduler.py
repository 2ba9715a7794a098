"""The service that sends held EmailSubmissions when due and retries deferred ones.

Every ``interval`` seconds it asks the store for the accounts with a submission due
(IDueAccounts ``EmailSubmission``, earliest first, at most ``batch`` of them), and in each the
due submissions from the account's ``EmailSubmission:due`` index (at most ``batch``), which it
sends with ``SubmissionSender`` (one process per attempt, through its claim). Then it lists the
account again at its new earliest due time, or takes it off the list, reading the index once
more afterwards so a submission stored meanwhile is never left unlisted (see IDueAccounts).

A run while the store is unreachable is skipped; any other failure is logged and the next run
tries again. Stopping waits for a run in progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from twisted.logger import Logger

from stalwart_tx.jmap.mail.email_submission import DUE_INDEX, DUE_LIST
from stalwart_tx.jmap.mail.email_submission_send import SKIPPED, SubmissionSender
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.periodic import PeriodicService
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.records import Index, ScoreRange

DEFAULT_INTERVAL: Final = 15.0
DEFAULT_BATCH: Final = 100


class SubmissionScheduler(PeriodicService):
    log = Logger()
    run_at_start = True

    def __init__(
        self,
        store: Callable[[], StoreBundle],
        reactor: Any,
        relay: RelayConfig | None,
        *,
        clock: Any = None,
        interval: float = DEFAULT_INTERVAL,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        super().__init__(clock if clock is not None else reactor, interval)
        self.store = store
        self.reactor = reactor
        self.relay = relay
        self.batch = batch

    @property
    def enabled(self) -> bool:
        return self.relay is not None  # without a relay nothing can be sent, nothing is due

    async def run_once(self) -> int:
        """One bounded run; how many submissions it sent or settled. Never raises."""
        if self.relay is None:
            return 0
        done = 0
        try:
            store = self.store()
            sender = SubmissionSender(store, self.reactor, self.relay, clock=self.clock)
            now = self.clock.seconds()
            for account_id, _ in await store.due.due_accounts(DUE_LIST, now, self.batch):
                done += await self._run_account(store, sender, account_id, now)
        except StoreUnavailable:
            return done
        except Exception:
            self.log.failure("Sending due submissions failed; trying again later")
        return done

    async def _run_account(
        self, store: StoreBundle, sender: SubmissionSender, account_id: str, now: float
    ) -> int:
        done = 0
        try:
            page = await store.indexes.index_query(
                account_id, ScoreRange(DUE_INDEX, below=math.nextafter(now, math.inf)),
                limit=self.batch,
            )
            for submission_id in page.ids:
                delivery = await sender.deliver(account_id, submission_id)
                done += delivery.outcome != SKIPPED
        finally:
            await self._relist(store, account_id)
        return done

    async def _relist(self, store: StoreBundle, account_id: str) -> None:
        earliest = await self._earliest(store, account_id)
        await store.due.set_due(DUE_LIST, account_id, earliest)
        again = await self._earliest(store, account_id)
        if again is not None:
            await store.due.note_due(DUE_LIST, account_id, again)

    @staticmethod
    async def _earliest(store: StoreBundle, account_id: str) -> float | None:
        page = await store.indexes.index_query(account_id, Index(DUE_INDEX), limit=1)
        return page.members[0][1] if page.members else None


__all__ = ["SubmissionScheduler"]
