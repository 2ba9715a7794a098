"""The IMAP listeners of the service: ``imap`` (plain, with STARTTLS when a certificate is
configured) and ``imaps`` (implicit TLS), sharing one ServerContext."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from twisted.application.service import IService, Service
from twisted.application.strports import service as endpoint_service
from twisted.internet import ssl
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap.bridge_context import BridgeContext
from stalwart_tx.imap.fair_accept import FairAccept
from stalwart_tx.imap.protocol import ImapServerFactory
from stalwart_tx.imap.session import DEFAULT_APPEND_LIMIT, ServerContext
from stalwart_tx.imap.session_board import SessionBoard
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

    def listening(self) -> Deferred[IListeningPort]:
        """The listening port, once the endpoint listens (the service must have started)."""
        waiting: Deferred[IListeningPort] | None = getattr(self.listener, "_waitingForPort", None)
        if waiting is None:
            raise RuntimeError("the IMAP listener has not started")
        port: Deferred[IListeningPort] = Deferred()

        def tell(result: Any) -> Any:
            # passed on unchanged: the endpoint service stops the port through this Deferred
            if isinstance(result, Failure):
                port.errback(result)
            elif result is None:  # the endpoint service logged why it could not listen
                port.errback(RuntimeError("the IMAP listener could not listen"))
            else:
                port.callback(result)
            return result

        waiting.addBoth(tell)
        return port


class AdoptedPortService(Service):
    """Listens on a socket another process opened (inherited as ``fileno``)."""

    def __init__(
        self, reactor: Any, fileno: int, family: int, factory: Any, *,
        board: SessionBoard | None = None, total: Callable[[], int] | None = None,
    ) -> None:
        self.reactor = reactor
        self.fileno = fileno
        self.family = family
        self.factory = factory
        self.board = board
        self.total = total
        self.port: IListeningPort | None = None
        self.fair: FairAccept | None = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.adoptStreamPort(self.fileno, self.family, self.factory)
        # the main process and the other extra ones listen on the same socket
        connections = getattr(self.factory, "wrappedFactory", self.factory).connections
        self.fair = FairAccept(self.port, partial(len, connections), self.reactor,
                               board=self.board, total=self.total)
        # the adopted port listens on a duplicate; this one is no longer needed
        os.close(self.fileno)

    def stopService(self) -> Deferred[None]:  # type: ignore[override]
        super().stopService()
        port, self.port = self.port, None
        if self.fair is not None:
            self.fair.stop()
        if port is None:
            return succeed(None)
        stopped: Deferred[None] | None = port.stopListening()
        return stopped if stopped is not None else succeed(None)


@dataclass(frozen=True)
class ImapFactories:
    """The protocol factories of the two listeners; ``implicit_wrapped`` is what the implicit
    TLS socket is given (``implicit`` inside TLS, unless its endpoint does TLS itself)."""

    plain: ImapServerFactory | None
    implicit: ImapServerFactory | None
    implicit_wrapped: Any


@dataclass(frozen=True)
class ImapParts:
    """What every IMAP listener of a process is built from, whichever sockets it serves."""

    registry: MethodRegistry
    limits: CoreLimits
    store: Callable[[], StoreBundle]
    portal: Callable[[], Any]
    limiter: LoginRateLimiter
    hub: PushHub | None
    reactor: Any
    public_url: str
    certificate: Path | None = None
    key: Path | None = None
    append_limit: int = DEFAULT_APPEND_LIMIT


def imap_factories(
    parts: ImapParts, *, plain: bool, implicit: bool, implicit_endpoint_tls: bool
) -> ImapFactories:
    api = JMAPApi(
        parts.registry, parts.limits, store=parts.store, reactor=parts.reactor,
        urls=SessionUrls.under(parts.public_url),
        concurrency=RequestConcurrencyLimiter(IMAP_CONCURRENCY), context_factory=BridgeContext,
    )
    options = tls_options(parts.certificate, parts.key) if parts.certificate is not None else None

    def context(tls_available: bool) -> ServerContext:
        return ServerContext(portal=parts.portal, limiter=parts.limiter, api=api,
                             tls_available=tls_available, append_limit=parts.append_limit,
                             hub=parts.hub)

    plain_factory = None
    if plain:
        plain_factory = ImapServerFactory(
            context(options is not None), parts.reactor, tls_options=options
        )
    implicit_factory = None
    wrapped: Any = None
    if implicit:
        implicit_factory = wrapped = ImapServerFactory(
            context(False), parts.reactor, implicit_tls=True
        )
        if not implicit_endpoint_tls:
            if options is None:
                raise ValueError("imaps needs tls-certificate (or an ssl: endpoint)")
            wrapped = TLSMemoryBIOFactory(options, False, implicit_factory)
    return ImapFactories(plain_factory, implicit_factory, wrapped)


def imap_services(
    parts: ImapParts, *, plain: str | None, implicit: str | None
) -> list[ImapListenerService]:
    factories = imap_factories(
        parts, plain=plain is not None, implicit=implicit is not None,
        implicit_endpoint_tls=implicit is not None and implicit.startswith("ssl:"),
    )
    reactor = parts.reactor
    services: list[ImapListenerService] = []
    if plain is not None and factories.plain is not None:
        services.append(ImapListenerService(
            endpoint_service(plain, factories.plain, reactor=reactor), factories.plain
        ))
    if implicit is not None and factories.implicit is not None:
        services.append(ImapListenerService(
            endpoint_service(implicit, factories.implicit_wrapped, reactor=reactor),
            factories.implicit,
        ))
    return services
