"""The parts of the service that the main process (``makeService``) and the extra IMAP processes
(``imap.worker``) both build from a ServiceConfig, so each is built in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from stalwart_tx.auth.cache import VerifiedCredentialsCache
from stalwart_tx.auth.checkers import parse_auth_option
from stalwart_tx.config import ServiceConfig
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store_service import StoreService


class SequentialMultiService(MultiService):
    """Stops its children one at a time, last started first."""

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_in_turn())

    async def _stop_in_turn(self) -> None:
        for child in reversed(list(self)):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                Logger().failure("Error while stopping {service}", service=child)


class ThreadPoolService(Service):
    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:  # type: ignore[override]
        super().stopService()
        # Joins the workers; each finishes at most one hash, well under a second.
        self.pool.stop()


@dataclass(frozen=True)
class Authentication:
    """What checks passwords: its thread pool (a service to start), cache and checkers."""

    hashing: ThreadPoolService
    cache: VerifiedCredentialsCache
    checkers: list[ICredentialsChecker]


def authentication(config: ServiceConfig, reactor: Any) -> Authentication:
    # argon2id spends 64 MiB and ~0.2 s per check: a pool of its own keeps a login flood from
    # starving the reactor's shared pool (DNS lookups and other deferToThread work).
    hashing = ThreadPoolService(ThreadPool(minthreads=0, maxthreads=2, name="password-hashing"))
    # Successful password logins are remembered for auth-cache-ttl seconds (auth/cache.py), so
    # clients that send Basic auth with every request do not pay a verification each time.
    cache = VerifiedCredentialsCache(reactor, ttl=config.auth_cache_ttl)
    checkers = [
        parse_auth_option(spec, reactor=reactor, threadpool=hashing.pool, cache=cache)
        for spec in config.auth
    ]
    return Authentication(hashing, cache, checkers)


def store_service(
    config: ServiceConfig, redis_url: str, reactor: Any, auth: Authentication,
    wait_for: Callable[[], Deferred[None]] | None = None,
) -> StoreService:
    return StoreService(
        redis_url, reactor, config.redis_timeout, auth.checkers,
        auto_provision=config.auto_provision, wait_for=wait_for, hashing_pool=auth.hashing.pool,
        max_tombstones=config.changelog_max_tombstones, auth_cache=auth.cache,
    )


def method_registry(
    config: ServiceConfig, relay: RelayConfig | None, analyzer: MessageAnalyzer | None,
) -> tuple[CoreLimits, MethodRegistry]:
    limits = CoreLimits(maxConcurrentRequests=config.max_concurrent_requests)
    registry = default_registry(
        limits, public_url=config.public_url, relay=relay, analyzer=analyzer
    )
    return limits, registry
