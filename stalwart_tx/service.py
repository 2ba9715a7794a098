"""makeService: the one place the running service is assembled from a ServiceConfig.

Start order is embedded Redis, store, listeners; stop order is the reverse, one after the other, so
listeners close and drain before the store closes, and Redis flushes its AOF last.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.application.strports import service as endpoint_service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.blob_sweeper import BlobSweeper
from stalwart_tx.config import ServiceConfig
from stalwart_tx.http.app import JMAPHttpApp
from stalwart_tx.http.eventsource import EventStreams
from stalwart_tx.http.site import UPLOAD_PATH, DrainableSite
from stalwart_tx.http.websocket import JMAPWebSockets
from stalwart_tx.imap.processes import ImapProcesses
from stalwart_tx.imap.service import ImapParts, imap_services
from stalwart_tx.imap.worker_spec import worker_settings
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.analysis_workers import AnalysisWorkers
from stalwart_tx.jmap.mail.email_submission_scheduler import SubmissionScheduler
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.push_state import push_data_types
from stalwart_tx.lmtp.service import default_endpoint, lmtp_service
from stalwart_tx.mail.smtp_relay import relay_config
from stalwart_tx.push.service import PushDeliveryService
from stalwart_tx.service_parts import (
    SequentialMultiService,
    ThreadPoolService,
    authentication,
    method_registry,
    store_service,
)
from stalwart_tx.store.embedded import EmbeddedRedisService

__all__ = ["DrainingListenerService", "SequentialMultiService", "ThreadPoolService",
           "makeService"]

# Seconds an idle keep-alive connection is kept; long-lived push streams will send pings.
HTTP_IDLE_TIMEOUT = 300


class DrainingListenerService(Service):
    """A listener that, when stopped, stops accepting and lets in-flight requests finish."""

    def __init__(self, listener: IService, site: DrainableSite, clock: IReactorTime,
                 grace: float) -> None:
        self.listener = listener
        self.site = site
        self.clock = clock
        self.grace = grace

    def startService(self) -> None:
        super().startService()
        self.listener.startService()

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        await maybeDeferred(self.listener.stopService)
        await self.site.drain(self.clock, self.grace)


def body_limit(limits: CoreLimits, path: bytes) -> int:
    """The largest body a request to ``path`` may carry (checked before it is read)."""
    if path.startswith(UPLOAD_PATH):
        return limits.maxSizeUpload
    return limits.maxSizeRequest


def when_ready_or_stop(embedded: EmbeddedRedisService, reactor: Any) -> Deferred[None]:
    """The embedded Redis's readiness; if it cannot start, the service stops rather than limp."""

    def fatal(failure: Failure) -> Failure:
        Logger().critical(
            "The embedded Redis could not start: {reason}. Stopping.",
            reason=failure.getErrorMessage(),
        )
        if reactor.running:
            reactor.stop()
        return failure

    return embedded.whenReady().addErrback(fatal)


def makeService(config: ServiceConfig, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    top = SequentialMultiService()
    auth = authentication(config, reactor)
    auth.hashing.setServiceParent(top)
    redis_url = config.redis
    wait_for = None
    redis_ready = None
    if redis_url is None:
        embedded = EmbeddedRedisService(
            config.data, reactor, redis_server_path=config.redis_server, fsync=config.redis_fsync
        )
        embedded.setServiceParent(top)
        redis_url = embedded.url
        wait_for = partial(when_ready_or_stop, embedded, reactor)
        redis_ready = embedded.whenReady
    store = store_service(config, redis_url, reactor, auth, wait_for)
    store.setServiceParent(top)
    BlobSweeper(store.store, reactor, config.blob_expiry).setServiceParent(top)
    # after the store, so it stops (cancelling pushes in flight) before the store closes
    PushDeliveryService(
        store.store, reactor, batch_window=config.push_batch_window
    ).setServiceParent(top)
    # EmailSubmission: sent through the relay, held and retried ones by the scheduler, which
    # stops (finishing a send in progress) before the store closes
    relay = relay_config(config)
    SubmissionScheduler(store.store, reactor, relay).setServiceParent(top)
    # messages being stored are analysed in child processes, started at the first one; added
    # before the listener, so the children are stopped only once requests have drained
    analyzer = AnalysisWorkers(reactor, config.analysis_workers)
    analyzer.setServiceParent(top)

    limiter = LoginRateLimiter(clock=reactor)
    limits, registry = method_registry(config, relay, analyzer)
    # after the store and before the listener: stops once streams have ended, before the store
    hub = PushHub(store.store, reactor, data_types=push_data_types(registry))
    hub.setServiceParent(top)
    http_app = JMAPHttpApp(
        store.portal, limiter, config.public_url, limits,
        registry=registry,
        store=store.store, reactor=reactor,
        event_streams=EventStreams(hub, reactor),
        web_sockets=JMAPWebSockets(
            hub, public_url=config.public_url, allowed_origins=config.websocket_origins
        ),
    )
    site = DrainableSite(
        http_app.resource(), timeout=HTTP_IDLE_TIMEOUT, body_limit=partial(body_limit, limits),
        access_log=config.access_log,
    )
    listener = endpoint_service(config.jmap, site, reactor=reactor)
    DrainingListenerService(listener, site, reactor, config.shutdown_grace).setServiceParent(top)
    # the IMAP bridge: another client of the same method registry, store and push hub
    imap_listeners = imap_services(ImapParts(
        registry=registry, limits=limits, store=store.store, portal=store.portal,
        limiter=limiter, hub=hub, reactor=reactor, public_url=config.public_url,
        certificate=config.tls_certificate, key=config.tls_key,
    ), plain=config.imap, implicit=config.imaps)
    for imap in imap_listeners:
        imap.setServiceParent(top)
    if config.lmtp is not None:
        if config.lmtp == default_endpoint(config.data):
            # its socket's directory, there before the listener (an external Redis makes none)
            config.data.mkdir(parents=True, exist_ok=True)
        # deliveries from the MTA: one more client of the method layer, like the bridge
        lmtp_service(
            config.lmtp, registry=registry, limits=limits, store=store.store, reactor=reactor,
            public_url=config.public_url, relay=relay, vacation_interval=config.vacation_interval,
        ).setServiceParent(top)
    if config.imap_processes > 1 and imap_listeners:
        # last: the children stop (telling their sessions BYE) before this process's IMAP
        # listeners, the store and the embedded Redis they use
        ImapProcesses(
            reactor, config.imap_processes - 1, imap_listeners,
            worker_settings(config, redis_url), ready=redis_ready, grace=config.shutdown_grace,
        ).setServiceParent(top)
    return top
