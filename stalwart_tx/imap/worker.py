"""An extra IMAP process (``imap.processes``): serves IMAP on listening sockets it inherits.

Its stdin carries one WorkerSpec line, then stays open: end of input means the main process is
gone, and this one stops as on SIGTERM (sessions told BYE, store closed, exit 0). It logs to
stderr, one ``<level> <text>`` line per line of an event, which the main process logs.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

from twisted.application.service import MultiService
from twisted.internet import protocol, stdio
from twisted.logger import FileLogObserver, eventAsText, globalLogBeginner
from twisted.python.failure import Failure

from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.config import ServiceConfig
from stalwart_tx.imap.service import (
    AdoptedPortService,
    ImapListenerService,
    ImapParts,
    imap_factories,
)
from stalwart_tx.imap.session_board import SessionBoard
from stalwart_tx.imap.worker_spec import WorkerSpec
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.push_state import push_data_types
from stalwart_tx.mail.smtp_relay import relay_config
from stalwart_tx.service_parts import (
    SequentialMultiService,
    authentication,
    method_registry,
    store_service,
)


def worker_service(config: ServiceConfig, spec: WorkerSpec, reactor: Any) -> MultiService:
    """The IMAP side of makeService, on the main process's Redis and inherited sockets; stop
    order is the reverse of this start order, as there."""
    assert config.redis is not None  # the spec names the main process's Redis
    top = SequentialMultiService()
    auth = authentication(config, reactor)
    auth.hashing.setServiceParent(top)
    store = store_service(config, config.redis, reactor, auth)
    store.setServiceParent(top)
    # messages appended here are analysed in this process's threads (no analysis workers)
    limits, registry = method_registry(config, relay_config(config), analyzer=None)
    hub = PushHub(store.store, reactor, data_types=push_data_types(registry))
    hub.setServiceParent(top)
    factories = imap_factories(ImapParts(
        registry=registry, limits=limits, store=store.store, portal=store.portal,
        limiter=LoginRateLimiter(clock=reactor), hub=hub, reactor=reactor,
        public_url=config.public_url, certificate=config.tls_certificate, key=config.tls_key,
    ), plain=spec.plain is not None, implicit=spec.implicit is not None,
        implicit_endpoint_tls=False)
    board = None if spec.board is None else SessionBoard(
        spec.board.fd, spec.board.slots, spec.board.slot
    )
    served = [f for f in (factories.plain, factories.implicit) if f is not None]

    def total() -> int:
        return sum(len(factory.connections) for factory in served)

    if spec.plain is not None and factories.plain is not None:
        ImapListenerService(
            AdoptedPortService(reactor, spec.plain.fd, spec.plain.family, factories.plain,
                               board=board, total=total),
            factories.plain,
        ).setServiceParent(top)
    if spec.implicit is not None and factories.implicit is not None:
        ImapListenerService(
            AdoptedPortService(reactor, spec.implicit.fd, spec.implicit.family,
                               factories.implicit_wrapped, board=board, total=total),
            factories.implicit,
        ).setServiceParent(top)
    return top


class _ParentWatch(protocol.Protocol):
    """Stops the reactor when stdin ends: the main process has exited."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.reactor.running:
            self.reactor.stop()


def log_line(event: dict[str, Any]) -> str | None:
    text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    if not text:
        return None
    level = event["log_level"].name
    namespace = event.get("log_namespace", "-")
    return "".join(f"{level} [{namespace}] {line}\n" for line in text.splitlines())


def read_spec(fd: int = 0) -> WorkerSpec:
    """The first line of ``fd``, read without buffering past it (the rest is for the watch)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            raise SystemExit("stdin ended before the worker spec")
        line += chunk
    return WorkerSpec.from_line(line)


def main(stderr: TextIO = sys.stderr) -> None:
    # the main process stops this one (SIGTERM); a Ctrl-C at its terminal is for it alone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = read_spec()
    globalLogBeginner.beginLoggingTo(
        [FileLogObserver(stderr, log_line)], redirectStandardIO=False
    )
    from twisted.internet import reactor

    top = worker_service(spec.config(), spec, reactor)
    stdio.StandardIO(_ParentWatch(reactor))
    reactor.callWhenRunning(top.startService)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()


if __name__ == "__main__":
    main()
