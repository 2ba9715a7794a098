"""An HTTP Site that knows its in-flight requests, so shutdown can let them finish."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import IResource
from twisted.web.server import Request, Site


class TrackedRequest(Request):
    def process(self) -> None:
        site: DrainableSite = self.channel.site  # type: ignore[attr-defined]
        site.in_flight.add(self)
        self.notifyFinish().addBoth(lambda _: site.request_done(self))
        super().process()


class DrainableSite(Site):
    logger = Logger()
    requestFactory = TrackedRequest
    # Tracebacks go to the log, never to clients.
    displayTracebacks = False

    def __init__(self, resource: IResource, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.in_flight: set[Request] = set()
        self._drained: list[Deferred[None]] = []

    def request_done(self, request: Request) -> None:
        self.in_flight.discard(request)
        if not self.in_flight:
            waiting, self._drained = self._drained, []
            for waiter in waiting:
                waiter.callback(None)

    async def drain(self, clock: IReactorTime, timeout: float) -> None:
        """Wait for in-flight requests, then cut off whatever is still running after ``timeout``."""
        if not self.in_flight:
            return
        self.logger.info("Waiting for {count} in-flight requests", count=len(self.in_flight))
        waiter: Deferred[None] = Deferred()
        self._drained.append(waiter)
        waiter.addTimeout(timeout, clock, onTimeoutCancel=lambda *_: None)
        await waiter
        for request in list(self.in_flight):
            self.logger.warn("Aborting request {uri} still running at shutdown", uri=request.uri)
            request.channel.transport.abortConnection()  # type: ignore[union-attr]
