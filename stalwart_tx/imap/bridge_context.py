"""The RequestContext of the bridge's JMAP requests: first-use checks made once a minute.

Every mail method first makes sure the account has its default mailboxes (``first_use``), a
store read per request. An IMAP session sends a request or more per command, so the bridge
remembers, per process, which accounts were made sure of in the last minute and lets those
requests skip the read. A minute later the check runs again, so an account a JMAP client left
with no mailbox still gets its defaults back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from stalwart_tx.jmap.context import RequestContext

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


@dataclass
class BridgeContext(RequestContext):
    def __post_init__(self) -> None:
        global _next_sweep
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
