"""Password hashing with argon2id.

Hashing and verifying cost tens of milliseconds of CPU and 64 MiB of memory by design, so
verification always runs in a thread; ``hash_password`` is synchronous because its callers (admin
tools, account creation) decide where to run it. Clear passwords are never stored or logged here.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

log = Logger()

# OWASP's argon2id baseline (2023+): 64 MiB, 3 passes, one lane.
TIME_COST = 3
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 1
HASH_LEN = 32
SALT_LEN = 16

ARGON2ID_PREFIX = "$argon2id$"

_T = TypeVar("_T")


def make_hasher(
    time_cost: int = TIME_COST,
    memory_cost_kib: int = MEMORY_COST_KIB,
    parallelism: int = PARALLELISM,
) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost_kib,
        parallelism=parallelism,
        hash_len=HASH_LEN,
        salt_len=SALT_LEN,
        type=Type.ID,
    )


_hasher = make_hasher()
_dummy_lock = threading.Lock()
_dummy: tuple[PasswordHasher, str] | None = None


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the process-wide hasher and return the previous one.

    Meant for tests, which swap in cheap parameters; production keeps the module defaults.
    """
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def hash_password(password: str | bytes) -> str:
    """A new argon2id hash (with a random salt) of ``password``."""
    return _hasher.hash(password)


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with other parameters (or is no argon2id hash at all).

    Logins do not rehash on their own: IDirectory has no compare-and-set, and a rehash racing an
    administrator's password reset would silently restore the old password.
    """
    if not stored_hash.startswith(ARGON2ID_PREFIX):
        return True
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def is_argon2id_hash(value: str) -> bool:
    """Whether ``value`` is a well-formed argon2id hash (not whether any password matches it)."""
    if not value.startswith(ARGON2ID_PREFIX):
        return False
    try:
        extract_parameters(value)
    except InvalidHashError:
        return False
    return True


def _verify_blocking(stored_hash: str, password: str | bytes) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError):
        # A corrupt hash in the store; say so without echoing it.
        log.error("stored password hash is not a valid argon2 hash")
        return False


def _dummy_hash() -> str:
    """A hash of a random, forgotten password, made with the current hasher's parameters.

    Verifying against it costs what a real verification costs, so an unknown user and a wrong
    password take the same time. Made lazily (in a worker thread) and remade if the hasher changes.
    """
    global _dummy
    with _dummy_lock:
        hasher = _hasher
        if _dummy is None or _dummy[0] is not hasher:
            _dummy = (hasher, hasher.hash(secrets.token_urlsafe(32)))
        return _dummy[1]


def _spend_blocking(password: str | bytes) -> bool:
    _verify_blocking(_dummy_hash(), password)
    return False


async def _in_thread(
    f: Callable[..., _T],
    *args: object,
    reactor: IReactorThreads | None,
    threadpool: ThreadPool | None,
) -> _T:
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor  # type: ignore[assignment]
    assert reactor is not None
    if threadpool is None:
        threadpool = reactor.getThreadPool()
    return await deferToThreadPool(reactor, threadpool, f, *args)


async def verify_password(
    stored_hash: str,
    password: str | bytes,
    *,
    reactor: IReactorThreads | None = None,
    threadpool: ThreadPool | None = None,
) -> bool:
    """Whether ``password`` matches ``stored_hash``; runs in a worker thread.

    A malformed stored hash is a mismatch (and is logged), never an exception.
    """
    return await _in_thread(
        _verify_blocking, stored_hash, password, reactor=reactor, threadpool=threadpool
    )


async def spend_verify_time(
    password: str | bytes,
    *,
    reactor: IReactorThreads | None = None,
    threadpool: ThreadPool | None = None,
) -> bool:
    """Verify ``password`` against the dummy hash and return False.

    Call this wherever there is no real hash to check (unknown user, principal without a password)
    so that failure takes as long as a wrong password does.
    """
    return await _in_thread(_spend_blocking, password, reactor=reactor, threadpool=threadpool)
