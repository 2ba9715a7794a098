"""The IMAP listeners of the service: ``imap`` (plain, with STARTTLS when a certificate is
configured) and ``imaps`` (implicit TLS), sharing one ServerContext."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import IService, Service
from twisted.application.strports import service as endpoint_service
from twisted.internet import ssl
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.protocols.tls import TLSMemoryBIOFactory

from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap.bridge_context import BridgeContext
from stalwart_tx.imap.protocol import ImapServerFactory
from stalwart_tx.imap.session import DEFAULT_APPEND_LIMIT, ServerContext
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.concurrency import RequestConcurrencyLimiter
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.store.backend import StoreBundle

# IMAP sessions of one user running a command at once (each session runs one at a time)
IMAP_CONCURRENCY = 256


def tls_options(certificate: Path, key: Path | None) -> Any:
    """Server TLS options from PEM files (the key may be in the certificate's file)."""
    pem = certificate.read_bytes()
    if key is not None:
        pem += b"\n" + key.read_bytes()
    return ssl.PrivateCertificate.loadPEM(pem).options()


class ImapListenerService(Service):
    """A listener whose open sessions get ``* BYE`` when the service stops."""

    def __init__(self, listener: IService, factory: ImapServerFactory) -> None:
        self.listener = listener
        self.factory = factory

    def startService(self) -> None:
        super().startService()
        self.listener.startService()

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        stopped: Deferred[None] = maybeDeferred(self.listener.stopService)
        for connection in list(self.factory.connections):
            connection.send(b"* BYE the server is shutting down")
            connection.close()
        return stopped


def imap_services(
    *,
    plain: str | None,
    implicit: str | None,
    registry: MethodRegistry,
    limits: CoreLimits,
    store: Callable[[], StoreBundle],
    portal: Callable[[], Any],
    limiter: LoginRateLimiter,
    hub: PushHub | None,
    reactor: Any,
    public_url: str,
    certificate: Path | None = None,
    key: Path | None = None,
    append_limit: int = DEFAULT_APPEND_LIMIT,
) -> list[IService]:
    api = JMAPApi(
        registry, limits, store=store, reactor=reactor, urls=SessionUrls.under(public_url),
        concurrency=RequestConcurrencyLimiter(IMAP_CONCURRENCY), context_factory=BridgeContext,
    )
    options = tls_options(certificate, key) if certificate is not None else None
    services: list[IService] = []
    if plain is not None:
        context = ServerContext(portal=portal, limiter=limiter, api=api,
                                tls_available=options is not None, append_limit=append_limit,
                                hub=hub)
        factory = ImapServerFactory(context, reactor, tls_options=options)
        services.append(ImapListenerService(
            endpoint_service(plain, factory, reactor=reactor), factory
        ))
    if implicit is not None:
        context = ServerContext(portal=portal, limiter=limiter, api=api, tls_available=False,
                                append_limit=append_limit, hub=hub)
        factory = ImapServerFactory(context, reactor, implicit_tls=True)
        wrapped: Any = factory
        if not implicit.startswith("ssl:"):
            if options is None:
                raise ValueError("imaps needs tls-certificate (or an ssl: endpoint)")
            wrapped = TLSMemoryBIOFactory(options, False, factory)
        services.append(ImapListenerService(
            endpoint_service(implicit, wrapped, reactor=reactor), factory
        ))
    return services
