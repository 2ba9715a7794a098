"""When to try a push again: exponential backoff, Retry-After, and a bound on the total time."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Delays after the 1st, 2nd, ... failure: ``initial_delay`` doubling up to ``max_delay``.

    Each delay is shortened by up to ``jitter`` (a fraction) so that the pushes of many
    subscriptions that failed together do not all come back at the same instant. No attempt is
    made later than ``give_up_after`` seconds after the first.
    """

    initial_delay: float = 1.0
    max_delay: float = 60.0
    give_up_after: float = 600.0
    jitter: float = 0.2
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` failed attempts; never less than ``retry_after``."""
        backoff = min(self.max_delay, self.initial_delay * 2.0 ** max(0, failures - 1))
        backoff *= 1 - self.jitter * self.random()
        return max(backoff, retry_after or 0.0)


def parse_retry_after(value: bytes | str | None, now: float) -> float | None:
    """Seconds from ``now`` that a Retry-After header (RFC 9110 §10.2.3) asks to wait.

    Delay-seconds or an HTTP-date; None when absent or unreadable (the backoff applies then).
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)
