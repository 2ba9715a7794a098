"""The service that owns the open store and the cred portal built on its directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.service import Service
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from stalwart_tx.auth.cache import VerifiedCredentialsCache
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.memory import DEFAULT_MAX_TOMBSTONES


class StoreService(Service):
    log = Logger()

    def __init__(
        self,
        redis_url: str,
        reactor: Any,
        timeout: float,
        extra_checkers: Sequence[ICredentialsChecker] = (),
        auto_provision: bool = True,
        wait_for: Callable[[], Deferred[None]] | None = None,
        hashing_pool: ThreadPool | None = None,
        max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
        auth_cache: VerifiedCredentialsCache | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.reactor = reactor
        self.timeout = timeout
        self.extra_checkers = tuple(extra_checkers)
        self.auto_provision = auto_provision
        # The embedded Redis's readiness: no point connecting before it answers.
        self.wait_for = wait_for
        self.hashing_pool = hashing_pool
        self.max_tombstones = max_tombstones
        # one cache for the life of the service: every portal built on reopening shares it
        self.auth_cache = auth_cache
        self.bundle: StoreBundle | None = None
        self._portal: Portal | None = None

    def startService(self) -> Deferred[None]:  # type: ignore[override]
        super().startService()
        return Deferred.fromCoroutine(self._open())

    async def _open(self) -> None:
        if self.wait_for is not None:
            await self.wait_for()
        self.bundle = await open_redis_store(
            self.redis_url, self.reactor, timeout=self.timeout,
            max_tombstones=self.max_tombstones,
        )
        self._portal = build_portal(
            self.bundle.directory, self.extra_checkers, auto_provision=self.auto_provision,
            reactor=self.reactor, threadpool=self.hashing_pool, cache=self.auth_cache,
        )

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        bundle, self.bundle, self._portal = self.bundle, None, None
        if bundle is not None:
            await bundle.close()

    def portal(self) -> Portal:
        """The portal over the open store; StoreUnavailable while the store is not open."""
        if self._portal is None:
            raise StoreUnavailable("the store is not open")
        return self._portal

    def store(self) -> StoreBundle:
        """The open store bundle; StoreUnavailable while the store is not open."""
        if self.bundle is None:
            raise StoreUnavailable("the store is not open")
        return self.bundle
