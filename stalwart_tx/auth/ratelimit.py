"""Failed-login throttling per account name and per remote address.

Each key keeps the times of its recent failures (a sliding window). Reaching the limit locks the key
for ``lockout`` seconds, doubling with each further lockout up to ``max_lockout``; the doubling is
forgotten after ``window + max_lockout`` seconds without failures. Counting per account stops a
spread-out guess at one password; counting per address stops one client from trying many accounts.
IPv6 addresses count per /64, since one host usually owns a whole /64.

Memory is bounded: each table holds at most ``max_entries`` keys and at most ``limit`` timestamps
per key; quiet keys are dropped as new failures arrive, and when a table is full the key that
failed least recently is evicted.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger()

MAX_FAILURES_PER_ACCOUNT = 10
MAX_FAILURES_PER_ADDRESS = 30
WINDOW = 5 * 60.0
LOCKOUT = 30.0
MAX_LOCKOUT = 15 * 60.0
MAX_ENTRIES = 10_000
# Longest e-mail address (RFC 5321); longer names are cut so one key cannot grow without bound.
MAX_NAME_LENGTH = 320


def account_key(name: str | None) -> str | None:
    if name is None:
        return None
    key = name.strip().lower()[:MAX_NAME_LENGTH]
    return key or None


def address_key(address: str | None) -> str | None:
    """The IP address, or its /64 for IPv6; None when it is no IP address (e.g. a UNIX socket)."""
    if not address:
        return None
    text = address.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    strikes: int = 0
    last_failure: float = 0.0


class _Table:
    def __init__(
        self, kind: str, limit: int, window: float, lockout: float, max_lockout: float,
        max_entries: int,
    ) -> None:
        if limit < 1 or max_entries < 1:
            raise ValueError("limits must be at least 1")
        self.kind = kind
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        self.max_entries = max_entries
        self.forget_after = window + max_lockout
        # Ordered by last failure, oldest first, so stale keys are found at the front.
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self._warned_full = False

    def retry_after(self, key: str, now: float) -> float | None:
        entry = self.entries.get(key)
        if entry is None or entry.locked_until <= now:
            return None
        return entry.locked_until - now

    def fail(self, key: str, now: float) -> float | None:
        """Count a failure; the lockout length when this failure started one."""
        self._purge(now)
        entry = self.entries.get(key)
        if entry is None:
            if len(self.entries) >= self.max_entries:
                self.entries.popitem(last=False)
                if not self._warned_full:
                    # Once per episode: under a flood, a line per eviction would drown the log.
                    log.warn("login limiter {kind} table full ({count} keys); forgetting the"
                             " quietest", kind=self.kind, count=self.max_entries)
                    self._warned_full = True
            entry = self.entries[key] = _Entry()
        else:
            self.entries.move_to_end(key)
        entry.last_failure = now
        failures = entry.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return None
        failures.clear()
        # The exponent is capped so a long attack cannot overflow the float.
        duration = min(self.lockout * 2.0 ** min(entry.strikes, 30), self.max_lockout)
        entry.strikes += 1
        entry.locked_until = now + duration
        return duration

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)

    def _purge(self, now: float) -> None:
        # A lockout always ends before forget_after has passed, so stale keys are never locked.
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            if now - entry.last_failure < self.forget_after:
                return
            del self.entries[key]
            self._warned_full = False


class LoginRateLimiter:
    def __init__(
        self,
        clock: IReactorTime,
        max_failures: int = MAX_FAILURES_PER_ACCOUNT,
        window: float = WINDOW,
        lockout: float = LOCKOUT,
        *,
        max_address_failures: int = MAX_FAILURES_PER_ADDRESS,
        max_lockout: float = MAX_LOCKOUT,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._accounts = _Table("account", max_failures, window, lockout, max_lockout, max_entries)
        self._addresses = _Table(
            "address", max_address_failures, window, lockout, max_lockout, max_entries
        )

    def check(self, name: str | None, address: str | None) -> float | None:
        """Seconds until a login may be tried (for Retry-After), or None when it may be now."""
        now = float(self._clock.seconds())
        waits = []
        if (account := account_key(name)) is not None:
            waits.append(self._accounts.retry_after(account, now))
        if (addr := address_key(address)) is not None:
            waits.append(self._addresses.retry_after(addr, now))
        locked = [w for w in waits if w is not None]
        return max(locked) if locked else None

    def record_failure(self, name: str | None, address: str | None) -> None:
        now = float(self._clock.seconds())
        account = account_key(name)
        addr = address_key(address)
        log.info("login failed for {name!r} from {address!r}", name=account, address=address)
        for table, key in ((self._accounts, account), (self._addresses, addr)):
            if key is None:
                continue
            duration = table.fail(key, now)
            if duration is not None:
                log.warn("too many failed logins for {kind} {key!r}: locked for {seconds:.0f} s",
                         kind=table.kind, key=key, seconds=duration)

    def record_success(self, name: str | None, address: str | None) -> None:
        """Forget the account's failures.

        The address keeps its count: otherwise an attacker holding one valid account could reset
        its address budget between guesses at other accounts.
        """
        account = account_key(name)
        if account is not None:
            self._accounts.clear(account)
