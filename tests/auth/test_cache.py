"""The verified-credentials cache: alone, in the directory and password-file checkers, through the
portal and the login rate limiter, on the memory directory and on a real Redis.

Verifications are counted by a PasswordHasher whose ``verify`` is argon2's own, counted: nothing of
the hashing is mocked, and dummy verifications (unknown user, no password) count as well.
"""

from __future__ import annotations

import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from argon2 import PasswordHasher, Type
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import reactor
from twisted.internet.task import Clock

from stalwart_tx.admin.cli import build_parser, run
from stalwart_tx.auth import passwords
from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.cache import VerifiedCredentialsCache
from stalwart_tx.auth.checkers import (
    DirectoryPasswordChecker,
    FirstSuccessChecker,
    parse_auth_option,
)
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.htpasswd import HtpasswdFileChecker
from stalwart_tx.auth.portal import authenticate, build_portal
from stalwart_tx.auth.ratelimit import MAX_FAILURES_PER_ACCOUNT, LoginRateLimiter
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.memory_directory import MemoryDirectory


class CountingHasher(PasswordHasher):
    """argon2id with the cheapest parameters, counting its verifications (from any thread)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16,
                         type=Type.ID)
        self._lock = threading.Lock()
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> Iterator[CountingHasher]:
    counting = CountingHasher()
    previous = passwords.use_hasher(counting)
    yield counting
    passwords.use_hasher(previous)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> VerifiedCredentialsCache:
    return VerifiedCredentialsCache(clock, ttl=300)


class Directory:
    """A directory on one backend, and how an administrator changes a password on it."""

    def __init__(self, directory: IDirectory, bundle: StoreBundle | None, redis_url: str | None):
        self.directory = directory
        self.bundle = bundle
        self.redis_url = redis_url

    async def passwd(self, name: str, password: str) -> None:
        if self.redis_url is not None:
            # what `stalwart-admin user passwd` does, run as that command
            args = build_parser().parse_args(
                ["--redis", self.redis_url, "--timeout", "2", "user", "passwd", name,
                 "--password", password]
            )
            await run(reactor, args, io.StringIO(), io.StringIO())
        else:
            principal = await self.directory.find_principal(name)
            await self.directory.set_password_hash(principal.id, passwords.hash_password(password))


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Directory]:
    if request.param == "memory":
        yield Directory(MemoryDirectory(), None, None)
        return
    redis_url = request.getfixturevalue("redis_url")
    bundle = await open_redis_store(redis_url, reactor, timeout=2)
    try:
        yield Directory(bundle.directory, bundle, redis_url)
    finally:
        await bundle.close()


def creds(name: str, password: str) -> UsernamePassword:
    return UsernamePassword(name.encode(), password.encode())


async def refused(checker: Any, name: str, password: str) -> bool:
    try:
        await checker.requestAvatarId(creds(name, password))
    except UnauthorizedLogin:
        return True
    return False


# -- the cache on its own ------------------------------------------------------------------------


def test_key_is_opaque_and_depends_on_every_field(cache: VerifiedCredentialsCache) -> None:
    parts = ("directory", "p1", "secret password", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")
    key = cache.key(*parts)
    assert key is not None and len(key) == 32
    assert b"secret" not in key
    assert cache.key(*parts) == key
    for i in range(4):
        changed = list(parts)
        changed[i] += "x"
        assert cache.key(*changed) != key
    # fields cannot run into each other
    assert cache.key("ab", "c", "d", "e") != cache.key("a", "bc", "d", "e")
    # bytes and text passwords are the same password
    assert cache.key(parts[0], parts[1], parts[2].encode(), parts[3]) == key
    # another process (another cache) has another secret
    assert VerifiedCredentialsCache(Clock()).key(*parts) != key


def test_entries_expire_ttl_after_verification(
    clock: Clock, cache: VerifiedCredentialsCache
) -> None:
    key = cache.key("c", "n", "p", "h")
    assert not cache.hit(key)
    cache.remember(key)
    clock.advance(299)
    assert cache.hit(key)  # a hit does not extend the entry
    clock.advance(1)
    assert not cache.hit(key)
    assert len(cache) == 0


def test_least_recently_used_goes_first(clock: Clock) -> None:
    cache = VerifiedCredentialsCache(clock, ttl=300, max_entries=3)
    keys = [cache.key("c", str(i), "p", "h") for i in range(5)]
    for key in keys[:3]:
        cache.remember(key)
    assert cache.hit(keys[0])  # now the most recently used
    cache.remember(keys[3])
    assert len(cache) == 3
    assert not cache.hit(keys[1])
    assert [cache.hit(k) for k in (keys[0], keys[2], keys[3])] == [True, True, True]
    for i in range(1000):
        cache.remember(cache.key("c", f"flood{i}", "p", "h"))
    assert len(cache) == 3


def test_expired_entries_are_dropped_when_new_ones_arrive(clock: Clock) -> None:
    cache = VerifiedCredentialsCache(clock, ttl=10, max_entries=100)
    for i in range(50):
        cache.remember(cache.key("c", str(i), "p", "h"))
    clock.advance(11)
    cache.remember(cache.key("c", "new", "p", "h"))
    assert len(cache) == 1


def test_ttl_zero_caches_nothing(clock: Clock) -> None:
    cache = VerifiedCredentialsCache(clock, ttl=0)
    assert not cache.enabled
    assert cache.key("c", "n", "p", "h") is None
    cache.remember(None)
    assert not cache.hit(None)
    assert len(cache) == 0


def test_bad_bounds_are_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="ttl"):
        VerifiedCredentialsCache(clock, ttl=-1)
    with pytest.raises(ValueError, match="max_entries"):
        VerifiedCredentialsCache(clock, max_entries=0)


# -- the directory checker -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_second_login_does_not_verify_again(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    alice = await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    assert await checker.requestAvatarId(creds("alice", "pw")) == alice.id
    assert hasher.verifications == 1
    for _ in range(5):
        assert await checker.requestAvatarId(creds("alice", "pw")) == alice.id
    assert await checker.requestAvatarId(creds("ALICE", "pw")) == alice.id
    assert hasher.verifications == 1
    assert cache.hits == 6


@pytest_twisted.ensureDeferred
async def test_wrong_password_after_success_is_refused_and_verified(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    alice = await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    await checker.requestAvatarId(creds("alice", "pw"))
    for attempt in range(1, 4):
        assert await refused(checker, "alice", "PW")
        assert hasher.verifications == 1 + attempt  # each one verified, none remembered
    assert len(cache) == 1
    assert await checker.requestAvatarId(creds("alice", "pw")) == alice.id
    assert hasher.verifications == 4


@pytest_twisted.ensureDeferred
async def test_misses_cost_the_same_whether_user_or_password_is_wrong(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    await backend.directory.create_principal("ext", None)
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    await checker.requestAvatarId(creds("alice", "pw"))
    for name, password in (("alice", "nope"), ("nobody", "pw"), ("ext", "pw"), ("", "pw")):
        before = hasher.verifications
        assert await refused(checker, name, password)
        assert hasher.verifications == before + 1, (name, password)


@pytest_twisted.ensureDeferred
async def test_password_change_invalidates_at_once(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    alice = await backend.directory.create_principal("alice", passwords.hash_password("old"))
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    await checker.requestAvatarId(creds("alice", "old"))
    await checker.requestAvatarId(creds("alice", "old"))
    assert hasher.verifications == 1
    await backend.passwd("alice", "new")
    assert await refused(checker, "alice", "old")
    assert hasher.verifications == 2
    assert await checker.requestAvatarId(creds("alice", "new")) == alice.id
    assert await checker.requestAvatarId(creds("alice", "new")) == alice.id
    assert hasher.verifications == 3
    # the same password set again is a new hash (new salt): verified once more, then cached
    await backend.passwd("alice", "new")
    assert await checker.requestAvatarId(creds("alice", "new")) == alice.id
    assert await checker.requestAvatarId(creds("alice", "new")) == alice.id
    assert hasher.verifications == 4


@pytest_twisted.ensureDeferred
async def test_a_second_checker_sees_the_change_too(
    backend: Directory, hasher: CountingHasher, clock: Clock
) -> None:
    # Two processes: two caches, each with its own secret, over one directory.
    alice = await backend.directory.create_principal("alice", passwords.hash_password("old"))
    first = DirectoryPasswordChecker(backend.directory, cache=VerifiedCredentialsCache(clock))
    second = DirectoryPasswordChecker(backend.directory, cache=VerifiedCredentialsCache(clock))
    for checker in (first, second):
        assert await checker.requestAvatarId(creds("alice", "old")) == alice.id
    await backend.passwd("alice", "new")
    for checker in (first, second):
        assert await refused(checker, "alice", "old")


@pytest_twisted.ensureDeferred
async def test_deleted_user_is_refused(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    alice = await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    await checker.requestAvatarId(creds("alice", "pw"))
    await backend.directory.delete_principal(alice.id)
    assert await refused(checker, "alice", "pw")
    assert hasher.verifications == 2  # the dummy verification of an unknown user
    # a new alice with the same password is another principal with another hash
    again = await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    assert await checker.requestAvatarId(creds("alice", "pw")) == again.id
    assert hasher.verifications == 3


@pytest_twisted.ensureDeferred
async def test_entries_expire_with_the_clock(
    backend: Directory, hasher: CountingHasher, clock: Clock, cache: VerifiedCredentialsCache
) -> None:
    await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    await checker.requestAvatarId(creds("alice", "pw"))
    clock.advance(299.5)
    await checker.requestAvatarId(creds("alice", "pw"))
    assert hasher.verifications == 1
    clock.advance(0.5)
    await checker.requestAvatarId(creds("alice", "pw"))
    assert hasher.verifications == 2
    await checker.requestAvatarId(creds("alice", "pw"))
    assert hasher.verifications == 2


@pytest_twisted.ensureDeferred
async def test_entry_count_is_bounded(
    backend: Directory, hasher: CountingHasher, clock: Clock
) -> None:
    cache = VerifiedCredentialsCache(clock, ttl=300, max_entries=2)
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    for name in ("a", "b", "c"):
        await backend.directory.create_principal(name, passwords.hash_password("pw"))
        await checker.requestAvatarId(creds(name, "pw"))
    assert len(cache) == 2
    assert hasher.verifications == 3
    await checker.requestAvatarId(creds("c", "pw"))
    await checker.requestAvatarId(creds("b", "pw"))
    assert hasher.verifications == 3
    await checker.requestAvatarId(creds("a", "pw"))  # evicted: verified again
    assert hasher.verifications == 4


@pytest_twisted.ensureDeferred
async def test_ttl_zero_verifies_every_time(
    backend: Directory, hasher: CountingHasher, clock: Clock
) -> None:
    await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    cache = VerifiedCredentialsCache(clock, ttl=0)
    checker = DirectoryPasswordChecker(backend.directory, cache=cache)
    for _ in range(3):
        await checker.requestAvatarId(creds("alice", "pw"))
    assert hasher.verifications == 3
    assert len(cache) == 0


# -- the password file ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_password_file_checker_caches_on_the_hash_line(
    tmp_path: Path, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"dora:{passwords.hash_password('explorer')}\n")
    checker = parse_auth_option(f"file:{path}", cache=cache)
    assert isinstance(checker, HtpasswdFileChecker)
    for _ in range(3):
        assert await checker.requestAvatarId(creds("Dora", "explorer")) == LoginName("dora")
    assert hasher.verifications == 1
    assert await refused(checker, "dora", "wrong")
    assert hasher.verifications == 2
    # a new hash line (the size changes, so the file is seen to change) invalidates the entry
    path.write_text(f"# changed\ndora:{passwords.hash_password('boots')}\n")
    assert await refused(checker, "dora", "explorer")
    assert await checker.requestAvatarId(creds("dora", "boots")) == LoginName("dora")
    assert await checker.requestAvatarId(creds("dora", "boots")) == LoginName("dora")
    assert hasher.verifications == 4
    path.write_text("# nobody\n")
    assert await refused(checker, "dora", "boots")


@pytest_twisted.ensureDeferred
async def test_file_user_with_a_provisioned_principal_costs_nothing_when_cached(
    backend: Directory, tmp_path: Path, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"dora:{passwords.hash_password('explorer')}\n")
    portal = build_portal(
        backend.directory, [parse_auth_option(f"file:{path}", cache=cache)],
        auto_provision=True, cache=cache,
    )
    limiter = LoginRateLimiter(Clock())
    user = await authenticate(portal, creds("dora", "explorer"), limiter, "dora", "192.0.2.1")
    # the first login: the directory had no dora (a dummy verification), the file verified
    assert hasher.verifications == 2
    for _ in range(3):
        again = await authenticate(portal, creds("dora", "explorer"), limiter, "dora", "192.0.2.1")
        assert again.principal_id == user.principal_id
    # dora now has a principal without a password: the directory would refuse, the file's
    # cached entry answers, and nothing is verified at all
    assert hasher.verifications == 2
    with pytest.raises(AuthenticationFailed):
        await authenticate(portal, creds("dora", "wrong"), limiter, "dora", "192.0.2.1")
    assert hasher.verifications == 4  # a miss costs what it always did


@pytest_twisted.ensureDeferred
async def test_directory_answers_before_the_file_when_both_know_the_user(
    backend: Directory, tmp_path: Path, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    alice = await backend.directory.create_principal("alice", passwords.hash_password("dir"))
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{passwords.hash_password('file')}\n")
    checker = FirstSuccessChecker(
        IUsernamePassword,
        [DirectoryPasswordChecker(backend.directory, cache=cache),
         HtpasswdFileChecker(path, cache=cache)],
    )
    assert await checker.requestAvatarId(creds("alice", "dir")) == alice.id
    assert await checker.requestAvatarId(creds("alice", "file")) == LoginName("alice")
    assert hasher.verifications == 3
    assert await checker.requestAvatarId(creds("alice", "dir")) == alice.id
    assert hasher.verifications == 3
    # the directory has a hash for alice, so a cached file entry cannot jump the queue: the
    # directory verifies (and refuses), then the file answers from its cache
    assert await checker.requestAvatarId(creds("alice", "file")) == LoginName("alice")
    assert hasher.verifications == 4


# -- through the portal: rate limiting and wiring ------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_failures_are_still_rate_limited_after_a_cached_success(
    backend: Directory, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    portal = build_portal(backend.directory, cache=cache)
    limiter = LoginRateLimiter(Clock())
    await authenticate(portal, creds("alice", "pw"), limiter, "alice", "192.0.2.1")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(AuthenticationFailed):
            await authenticate(portal, creds("alice", "guess"), limiter, "alice", "192.0.2.1")
    assert hasher.verifications == 1 + MAX_FAILURES_PER_ACCOUNT
    # locked: even the cached right password is turned away before any check
    with pytest.raises(RateLimited):
        await authenticate(portal, creds("alice", "pw"), limiter, "alice", "192.0.2.1")
    assert hasher.verifications == 1 + MAX_FAILURES_PER_ACCOUNT


@pytest_twisted.ensureDeferred
async def test_every_checker_of_a_portal_shares_its_cache(
    backend: Directory, tmp_path: Path, hasher: CountingHasher, cache: VerifiedCredentialsCache
) -> None:
    await backend.directory.create_principal("alice", passwords.hash_password("pw"))
    path = tmp_path / "htpasswd"
    path.write_text(f"dora:{passwords.hash_password('explorer')}\n")
    extra = [parse_auth_option(f"file:{path}", cache=cache), parse_auth_option("memory:carol:pw")]
    portal = build_portal(backend.directory, extra, auto_provision=True, cache=cache)
    limiter = LoginRateLimiter(Clock())
    for name, password in (("alice", "pw"), ("dora", "explorer"), ("carol", "pw")):
        for _ in range(2):
            await authenticate(portal, creds(name, password), limiter, name, None)
    # alice: 1; dora: dummy + file, once; carol: twice (directory dummy + file dummy), the strcred
    # memory checker being neither cached nor probed
    assert hasher.verifications == 1 + 2 + 4
    # the store reopened: a new portal over the same cache still hits
    reopened = build_portal(backend.directory, cache=cache)
    await authenticate(reopened, creds("alice", "pw"), limiter, "alice", None)
    assert hasher.verifications == 7
