"""makeService wires the API route to the default registry and the service's store: a Core/echo
through the assembled service, on a real Redis, answers with the session's state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred

from stalwart_tx.auth.tokens import new_token
from stalwart_tx.config import build_config
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import open_redis_store
from tests.service_process import free_port


@pytest_twisted.ensureDeferred
async def test_api_through_the_assembled_service(redis_url: str, tmp_path: Path) -> None:
    admin = await open_redis_store(redis_url, reactor)
    try:
        alice = await admin.directory.create_principal("alice", None)
        token, record = new_token(alice.id, "test", time.time())
        await admin.directory.add_token(record)
    finally:
        await admin.close()

    port = free_port()
    config = build_config({
        "data": str(tmp_path), "redis": redis_url, "jmap": f"tcp:{port}:interface=127.0.0.1",
        "public-url": "https://mail.example.org",
    })
    service = makeService(config, reactor)
    await maybeDeferred(service.startService)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        request = {"using": [CORE], "methodCalls": [["Core/echo", {"x": 1}, "c"]]}
        response = await treq.post(
            base + "/jmap/api/", headers=headers, data=json.dumps(request).encode()
        )
        assert response.code == 200
        answer = json.loads(await response.content())
        assert answer["methodResponses"] == [["Core/echo", {"x": 1}, "c"]]
        session = json.loads(await (await treq.get(base + "/jmap/session", headers=headers))
                             .content())
        assert answer["sessionState"] == session["state"]
        assert session["apiUrl"] == "https://mail.example.org/jmap/api/"
        assert CORE in session["capabilities"]
    finally:
        await maybeDeferred(service.stopService)
