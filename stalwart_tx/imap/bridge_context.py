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
# (ensure function, account) -> when it was made sure of (monotonic seconds)
_recently_ensured: dict[tuple[object, str], float] = {}


class _Remembered(set[tuple[object, str]]):
    """The request's set of what it made sure of, which also tells the process."""

    def add(self, key: tuple[object, str]) -> None:
        super().add(key)
        _recently_ensured[key] = time.monotonic()


@dataclass
class BridgeContext(RequestContext):
    def __post_init__(self) -> None:
        now = time.monotonic()
        remembered = _Remembered(self.ensured)
        for key, when in list(_recently_ensured.items()):
            if now - when > ENSURED_FOR:
                del _recently_ensured[key]
            elif key[1] == self.user.account_id:
                set.add(remembered, key)
        self.ensured = remembered
