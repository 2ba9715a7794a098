"""Stopping the HTTP listener: in-flight requests finish, or are cut once the grace is over."""

from __future__ import annotations

import time

import pytest
import pytest_twisted
import treq
from twisted.application.strports import service as endpoint_service
from twisted.internet import reactor
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from stalwart_tx.http.site import DrainableSite
from stalwart_tx.service import DrainingListenerService
from tests.service_process import free_port


class Slow(Resource):
    isLeaf = True

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def render_GET(self, request: Request) -> object:
        def finish() -> None:
            if not request.finished and not request._disconnected:
                request.write(b"done")
                request.finish()

        reactor.callLater(self.delay, finish)
        return NOT_DONE_YET


async def start(delay: float, grace: float) -> tuple[DrainingListenerService, DrainableSite, str]:
    port = free_port()
    site = DrainableSite(Slow(delay))
    listener = endpoint_service(f"tcp:{port}:interface=127.0.0.1", site, reactor=reactor)
    service = DrainingListenerService(listener, site, reactor, grace)
    service.startService()
    await deferLater(reactor, 0.05, lambda: None)
    return service, site, f"http://127.0.0.1:{port}/"


async def until_in_flight(site: DrainableSite) -> None:
    for _ in range(200):
        if site.in_flight:
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the request never arrived")


@pytest_twisted.ensureDeferred
async def test_in_flight_request_finishes_during_shutdown() -> None:
    service, site, url = await start(delay=0.5, grace=10)
    pending = treq.get(url)
    await until_in_flight(site)
    started = time.monotonic()
    await service.stopService()
    assert time.monotonic() - started >= 0.3, "stop waited for the request"
    response = await pending
    assert response.code == 200
    assert await response.content() == b"done"
    with pytest.raises(ConnectionRefusedError):
        await treq.get(url)


@pytest_twisted.ensureDeferred
async def test_request_past_the_grace_is_cut() -> None:
    service, site, url = await start(delay=30, grace=0.3)
    pending = treq.get(url)
    await until_in_flight(site)
    started = time.monotonic()
    await service.stopService()
    assert time.monotonic() - started < 5
    with pytest.raises(Exception):  # noqa: B017 - the connection is aborted, whatever the type
        await pending
    assert not site.in_flight
