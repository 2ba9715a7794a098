"""The service as makeService assembles it, in process on a real Redis: the session advertises the
WebSocket, both push transports deliver, and stopping ends them at once instead of after the grace.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import deferLater

from stalwart_tx.config import ServiceConfig
from stalwart_tx.jmap.capabilities import WEBSOCKET
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import open_redis_store
from stalwart_tx.store.records import WriteBatch
from tests.jmap.push.harness import EventStreamClient, WSClient, make_users
from tests.service_process import free_port


@pytest_twisted.ensureDeferred
async def test_assembled_service_pushes_and_stops_promptly(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = ServiceConfig(
        data=tmp_path, redis=redis_url, redis_server=None, redis_fsync="everysec",
        redis_timeout=5.0, jmap=f"tcp:{port}:interface=127.0.0.1", imap=None, public_url=base,
        shutdown_grace=10.0,
    )
    other_process = await open_redis_store(redis_url, reactor)
    users = await make_users(other_process)
    service = makeService(config, reactor)
    service.startService()
    try:
        auth = {"Authorization": f"Bearer {users.alice_token}"}
        session = None
        for _ in range(300):
            response = await treq.get(base + "/jmap/session", headers=auth)
            body = await response.content()
            if response.code == 200:
                session = json.loads(body)
                break
            await deferLater(reactor, 0.02, lambda: None)
        assert session is not None, "the service did not come up"
        assert session["capabilities"][WEBSOCKET] == {
            "url": f"ws://127.0.0.1:{port}/jmap/ws/", "supportsPush": True,
        }
        _, stream = await EventStreamClient.open(
            session["eventSourceUrl"].format(types="*", closeafter="no", ping="0"), auth
        )
        assert stream is not None
        socket = await WSClient.connect(session["capabilities"][WEBSOCKET]["url"],
                                        users.alice_token)
        await socket.send({"@type": "WebSocketPushEnable", "dataTypes": None})
        pushed_at = None
        result = None
        for _ in range(100):  # until the WebSocket's push is enabled
            result = await other_process.accounts.write(
                users.alice_id, WriteBatch().create("Mailbox", f"m{time.monotonic_ns()}", {})
            )
            try:
                message, pushed_at = await socket.recv_raw(timeout=0.05)
                break
            except TimeoutError:
                continue
        assert result is not None and pushed_at is not None
        assert json.loads(message)["changed"][users.alice_id]["Mailbox"]
        event = await stream.state(timeout=1)
        assert event.json()["changed"][users.alice_id]["Mailbox"]
        started = time.monotonic()
        await maybeDeferred(service.stopService)
        assert time.monotonic() - started < 3, "streams did not hold shutdown for the grace"
        while (ended := await stream.next(timeout=1)) is not None:
            assert ended.event == "state"
    finally:
        if service.running:
            await maybeDeferred(service.stopService)
        await other_process.close()
