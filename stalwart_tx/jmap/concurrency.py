"""Per-user concurrency limits of RFC 8620 §2: maxConcurrentRequests and maxConcurrentUpload.

The request limiter is shared by every transport (HTTP POST, WebSocket), so the limit holds per
user, not per connection.
"""

from __future__ import annotations

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

    def slot(self, user_key: str) -> _Slot:
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
        return _Slot(self._running, user_key)


class _Slot:
    """A slot taken, given back when its ``with`` block ends: a plain class, as every method
    call of the IMAP bridge takes one (a generator-based context manager cost a generator and
    a StopIteration each time)."""

    __slots__ = ("_running", "_user_key")

    def __init__(self, running: dict[str, int], user_key: str) -> None:
        self._running = running
        self._user_key = user_key

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        left = self._running[self._user_key] - 1
        if left:
            self._running[self._user_key] = left
        else:
            del self._running[self._user_key]
