"""Per-user concurrency limits of RFC 8620 §2: maxConcurrentRequests and maxConcurrentUpload.

The request limiter is shared by every transport (HTTP POST, WebSocket), so the limit holds per
user, not per connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stalwart_tx.jmap.errors import RequestError

# "Too many at once" is what 429 says; clients back off on it rather than treating it as a bug.
CONCURRENCY_STATUS = 429


class RequestConcurrencyLimiter:
    def __init__(
        self, limit: int, limit_name: str = "maxConcurrentRequests", noun: str = "API requests"
    ) -> None:
        if limit < 1:
            raise ValueError(f"{limit_name} must be at least 1")
        self.limit = limit
        self.limit_name = limit_name
        self.noun = noun
        self._running: dict[str, int] = {}

    def running(self, user_key: str) -> int:
        return self._running.get(user_key, 0)

    @contextmanager
    def slot(self, user_key: str) -> Iterator[None]:
        """Hold one of the user's slots for the ``with`` block; released however the block ends.

        Raises RequestError ``limit`` (named ``limit_name``) when every slot is taken.
        """
        running = self._running.get(user_key, 0)
        if running >= self.limit:
            raise RequestError.limit(
                self.limit_name,
                f"At most {self.limit} {self.noun} may run at once; wait for one to finish.",
                status=CONCURRENCY_STATUS,
            )
        self._running[user_key] = running + 1
        try:
            yield
        finally:
            left = self._running[user_key] - 1
            if left:
                self._running[user_key] = left
            else:
                del self._running[user_key]
