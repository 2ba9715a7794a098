"""A cache of recently verified passwords, so a client sending Basic auth on every request does not
cost an argon2id verification (~0.2 s of CPU) every time, as Dovecot's auth cache does for IMAP.

Only successes are remembered, and only as an opaque key: HMAC-SHA256, under a random key made
when the cache is (so per process, never stored), of the checker's identity, the principal or
login name, the presented password and the *stored hash* the password was verified against. The
checkers read the stored hash on every login anyway (a cheap directory or file read), so a password
change, a re-hash or a deleted user makes the old entry unreachable at once, in every process,
with no invalidation messages. Nothing in the cache can be turned back into a password, and an
entry says nothing about a password that was not verified.

Misses cost a real verification, as before: a wrong password, an unknown user and a principal
without a password take one argon2id verification each (the checkers spend one on a dummy hash
where there is no real one), so the cache does not make them distinguishable, and failures reach
the login rate limiter unchanged. A cache hit can only ever answer "yes" to credentials that were
verified within the TTL against the same stored hash.

Bounded: an entry lives ``ttl`` seconds from its verification (a hit does not extend it, so an
active client is re-verified at least once per TTL), and at most ``max_entries`` are kept, the least
recently used going first. Time comes from the reactor's clock. Everything runs on the reactor
thread; the cache does no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime

DEFAULT_TTL = 300.0
DEFAULT_MAX_ENTRIES = 10_000


def _field(value: str | bytes) -> bytes:
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    # Length-prefixed, so no two different tuples of fields give the same message.
    return len(data).to_bytes(8, "big") + data


class VerifiedCredentialsCache:
    """Keys of credentials verified within the last ``ttl`` seconds (``ttl`` 0: nothing cached)."""

    def __init__(
        self,
        clock: IReactorTime,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self._secret = secrets.token_bytes(32)
        # key → expiry time, least recently used first
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    def key(
        self, checker: str, name: str, password: str | bytes, stored_hash: str
    ) -> bytes | None:
        """The opaque key of these credentials checked against ``stored_hash``; None if disabled."""
        if not self.enabled:
            return None
        message = b"".join(_field(part) for part in (checker, name, password, stored_hash))
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def hit(self, key: bytes | None) -> bool:
        """Whether ``key`` was remembered and has not expired (a use makes it most recent)."""
        if key is None:
            return False
        expires = self._entries.get(key)
        if expires is None:
            self.misses += 1
            return False
        if expires <= self._now():
            del self._entries[key]
            self.misses += 1
            return False
        self._entries.move_to_end(key)
        self.hits += 1
        return True

    def remember(self, key: bytes | None) -> None:
        """Record a successful verification of ``key``, now."""
        if key is None:
            return
        now = self._now()
        self._entries[key] = now + self.ttl
        self._entries.move_to_end(key)
        # Expired entries at the cold end go first; then the least recently used, if still full.
        while self._entries:
            oldest, expires = next(iter(self._entries.items()))
            if expires > now and len(self._entries) <= self.max_entries:
                break
            del self._entries[oldest]

    def clear(self) -> None:
        self._entries.clear()

    def _now(self) -> float:
        return float(self._clock.seconds())


@dataclass(frozen=True)
class Probe:
    """What the cheap part of a password check says, before any verification.

    ``hit``: the credentials were verified recently; ``avatar_id`` is the answer. ``refused``:
    this checker has no password for the name and would refuse (after spending a verification's
    time). Neither: only a real verification can tell.
    """

    hit: bool = False
    refused: bool = False
    avatar_id: Any = None


NEEDS_VERIFICATION = Probe()
NO_PASSWORD = Probe(refused=True)
