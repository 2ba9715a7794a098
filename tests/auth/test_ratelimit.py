from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.logger import LogEvent, globalLogPublisher

from stalwart_tx.auth.ratelimit import LoginRateLimiter, address_key


def fail(limiter: LoginRateLimiter, times: int, name: str | None, address: str | None) -> None:
    for _ in range(times):
        limiter.record_failure(name, address)


def test_defaults() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock)
    fail(limiter, 9, "alice", None)
    assert limiter.check("alice", None) is None
    fail(limiter, 1, "alice", None)
    assert limiter.check("alice", None) == 30.0
    # 30 per address, spread over many names.
    for i in range(29):
        limiter.record_failure(f"user{i}", "192.0.2.1")
    assert limiter.check("someone", "192.0.2.1") is None
    limiter.record_failure("user29", "192.0.2.1")
    assert limiter.check("someone", "192.0.2.1") == 30.0


def test_per_account_lock_is_case_insensitive_and_across_addresses() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=3, window=60, lockout=10)
    limiter.record_failure("Alice", "192.0.2.1")
    limiter.record_failure("alice ", "198.51.100.7")
    assert limiter.check("alice", "203.0.113.9") is None
    limiter.record_failure("ALICE", "2001:db8::1")
    assert limiter.check("alice", "203.0.113.9") == 10.0
    assert limiter.check("bob", "203.0.113.9") is None


def test_retry_after_counts_down_and_lock_ends() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=2, window=60, lockout=10)
    fail(limiter, 2, "alice", None)
    clock.advance(4)
    assert limiter.check("alice", None) == pytest.approx(6.0)
    clock.advance(6)
    assert limiter.check("alice", None) is None


def test_sliding_window_forgets_old_failures() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=3, window=60, lockout=10)
    fail(limiter, 2, "alice", None)
    clock.advance(61)
    fail(limiter, 2, "alice", None)
    assert limiter.check("alice", None) is None
    fail(limiter, 1, "alice", None)
    assert limiter.check("alice", None) == 10.0


def test_per_address_lock_spans_names() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=100, max_address_failures=3, lockout=10)
    for name in ("a", "b", "c"):
        limiter.record_failure(name, "192.0.2.1")
    assert limiter.check("d", "192.0.2.1") == 10.0
    assert limiter.check("d", "192.0.2.2") is None
    assert limiter.check("d", None) is None


def test_ipv6_is_grouped_by_64() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=100, max_address_failures=3, lockout=10)
    limiter.record_failure("a", "2001:db8:1:2::1")
    limiter.record_failure("b", "2001:db8:1:2:ffff:ffff:ffff:ffff")
    limiter.record_failure("c", "[2001:db8:1:2:abcd::9]")
    assert limiter.check("x", "2001:db8:1:2::77") == 10.0
    assert limiter.check("x", "2001:db8:1:3::1") is None


def test_address_keys() -> None:
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key(" 192.0.2.1 ") == "192.0.2.1"
    assert address_key("/run/stx.sock") is None
    assert address_key("") is None
    assert address_key(None) is None


def test_lockout_doubles_up_to_the_cap_and_is_forgotten() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(
        clock, max_failures=2, window=60, lockout=30, max_lockout=200
    )
    seen = []
    for _ in range(5):
        fail(limiter, 2, "alice", None)
        wait = limiter.check("alice", None)
        assert wait is not None
        seen.append(wait)
        clock.advance(wait)
    assert seen == [30.0, 60.0, 120.0, 200.0, 200.0]
    # Quiet for window + max_lockout: the doubling starts over.
    clock.advance(60 + 200)
    fail(limiter, 2, "alice", None)
    assert limiter.check("alice", None) == 30.0


def test_check_reports_the_longer_of_both_locks() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=2, max_address_failures=2, lockout=10)
    fail(limiter, 2, "alice", "192.0.2.1")
    clock.advance(10)
    fail(limiter, 2, "alice", "192.0.2.1")  # second lock of both: 20 s
    clock.advance(20)
    fail(limiter, 2, "alice", "192.0.2.9")  # third lock of alice only: 40 s
    assert limiter.check("alice", "192.0.2.1") == 40.0
    assert limiter.check("bob", "192.0.2.9") == 10.0


def test_success_clears_the_account_but_not_the_address() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=3, max_address_failures=3, lockout=10)
    fail(limiter, 2, "alice", "192.0.2.1")
    limiter.record_success("Alice", "192.0.2.1")
    fail(limiter, 1, "alice", "192.0.2.2")
    assert limiter.check("alice", None) is None  # only 1 failure since the success
    limiter.record_failure("bob", "192.0.2.1")  # third for this address
    assert limiter.check("carol", "192.0.2.1") == 10.0


def test_table_is_bounded() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(clock, max_failures=2, lockout=10, max_entries=5)
    for i in range(50):
        limiter.record_failure(f"user{i}", None)
    assert len(limiter._accounts.entries) == 5
    assert set(limiter._accounts.entries) == {f"user{i}" for i in range(45, 50)}
    # Quiet keys are purged as new failures arrive.
    clock.advance(10_000)
    limiter.record_failure("late", None)
    assert list(limiter._accounts.entries) == ["late"]


def test_long_names_are_cut() -> None:
    limiter = LoginRateLimiter(Clock(), max_failures=2)
    fail(limiter, 2, "x" * 10_000, None)
    (key,) = limiter._accounts.entries
    assert len(key) == 320
    assert limiter.check("x" * 5_000, None) is not None


def test_every_failure_is_logged_without_secrets() -> None:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        limiter = LoginRateLimiter(Clock(), max_failures=2, lockout=10)
        fail(limiter, 2, "Alice", "192.0.2.1")
    finally:
        globalLogPublisher.removeObserver(events.append)
    failures = [e for e in events if e.get("log_format", "").startswith("login failed")]
    assert len(failures) == 2
    assert all(e["name"] == "alice" and e["address"] == "192.0.2.1" for e in failures)
    assert any("locked" in e.get("log_format", "") for e in events)
