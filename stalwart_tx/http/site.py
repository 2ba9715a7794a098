"""An HTTP Site that knows its in-flight requests, so shutdown can let them finish."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import Logger
from twisted.web.resource import IResource
from twisted.web.server import Request, Site


class TrackedRequest(Request):
    # Set by a long-lived response (event stream, WebSocket) to end itself when draining starts.
    end_when_draining: Callable[[], object] | None = None

    def process(self) -> None:
        site: DrainableSite = self.channel.site  # type: ignore[attr-defined]
        site.in_flight.add(self)
        self.notifyFinish().addBoth(lambda _: site.request_done(self))
        if site.draining:
            close_after(self)
        super().process()


def close_after(request: Request) -> None:
    """Make the connection close once this response is sent, instead of being kept alive."""
    if not request.startedWriting:
        request.setHeader(b"Connection", b"close")
    request.channel.persistent = False  # type: ignore[union-attr]


class DrainableSite(Site):
    logger = Logger()
    requestFactory = TrackedRequest
    # Tracebacks go to the log, never to clients.
    displayTracebacks = False

    def __init__(self, resource: IResource, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.in_flight: set[Request] = set()
        self.draining = False
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._drained: list[Deferred[None]] = []

    def buildProtocol(self, addr: IAddress | None) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            self._connections.add(protocol)
        return protocol

    def request_done(self, request: Request) -> None:
        self.in_flight.discard(request)
        if not self.in_flight:
            waiting, self._drained = self._drained, []
            for waiter in waiting:
                waiter.callback(None)

    def _close_idle_connections(self) -> None:
        busy = {request.channel for request in self.in_flight}
        for protocol in list(self._connections):
            channel = getattr(protocol, "_channel", protocol)
            transport = getattr(channel, "transport", None)
            if channel not in busy and transport is not None:
                transport.loseConnection()

    async def drain(self, clock: IReactorTime, timeout: float) -> None:
        """Let in-flight requests finish (closing their connections after), then cut the rest.

        Call after the listening port has stopped; keep-alive connections would otherwise go on
        carrying new requests.
        """
        self.draining = True
        for request in list(self.in_flight):
            close_after(request)
            end = getattr(request, "end_when_draining", None)
            if end is not None:
                end()
        self._close_idle_connections()
        if self.in_flight:
            self.logger.info("Waiting for {count} in-flight requests", count=len(self.in_flight))
            waiter: Deferred[None] = Deferred()
            self._drained.append(waiter)
            waiter.addTimeout(timeout, clock, onTimeoutCancel=lambda *_: None)
            await waiter
        for request in list(self.in_flight):
            self.logger.warn("Aborting request {uri} still running at shutdown", uri=request.uri)
            request.channel.transport.abortConnection()  # type: ignore[union-attr]
        self._close_idle_connections()
