"""The LMTP listener of the service: an endpoint (by default a Unix socket in the data
directory, where a local MTA such as Postfix hands mail over) serving ``LmtpServer``."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import IService
from twisted.application.strports import service as endpoint_service

from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.lmtp.delivery import Delivery
from stalwart_tx.lmtp.protocol import DEFAULT_SIZE_LIMIT, LmtpContext, LmtpFactory
from stalwart_tx.lmtp.vacation import DEFAULT_INTERVAL, Vacation
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store.backend import StoreBundle


def default_endpoint(data: Path) -> str:
    """A Unix socket in the data directory, readable and writable by its owner and group (the
    MTA's user joins the group); the lock file beside it lets a new run take over the
    socket an earlier one left behind."""
    path = str(data.resolve() / "lmtp.sock").replace(":", r"\:")
    return f"unix:{path}:mode=660:lockfile=1"


def lmtp_service(
    endpoint: str, *, registry: MethodRegistry, limits: CoreLimits,
    store: Callable[[], StoreBundle], reactor: Any, public_url: str,
    size_limit: int = DEFAULT_SIZE_LIMIT, hostname: str | None = None,
    relay: RelayConfig | None = None, vacation_interval: float = DEFAULT_INTERVAL,
) -> IService:
    api = JMAPApi(registry, limits, store=store, reactor=reactor,
                  urls=SessionUrls.under(public_url))
    context = LmtpContext(
        directory=lambda: store().directory, delivery=Delivery(api, store),
        hostname=hostname or socket.getfqdn(), size_limit=size_limit,
        vacation=Vacation(api, store, relay, reactor, vacation_interval),
    )
    return endpoint_service(endpoint, LmtpFactory(context), reactor=reactor)
