"""Upload, download and the blob methods through the service makeService assembles, on a real
Redis: the session's upload and download templates lead to working endpoints."""

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
from stalwart_tx.jmap.capabilities import BLOB, CORE
from stalwart_tx.service import makeService
from stalwart_tx.store.backend import open_redis_store
from tests.service_process import free_port


@pytest_twisted.ensureDeferred
async def test_blobs_through_the_assembled_service(redis_url: str, tmp_path: Path) -> None:
    admin = await open_redis_store(redis_url, reactor)
    try:
        alice = await admin.directory.create_principal("alice", None)
        token, record = new_token(alice.id, "test", time.time())
        await admin.directory.add_token(record)
    finally:
        await admin.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = build_config({
        "data": str(tmp_path), "redis": redis_url, "jmap": f"tcp:{port}:interface=127.0.0.1",
        "public-url": base,
    })
    service = makeService(config, reactor)
    await maybeDeferred(service.startService)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        session = json.loads(
            await (await treq.get(base + "/jmap/session", headers=headers)).content()
        )
        assert BLOB in session["accounts"][alice.id]["accountCapabilities"]
        upload_url = session["uploadUrl"].replace("{accountId}", alice.id)
        response = await treq.post(
            upload_url, data=b"hello, blob", headers={**headers, "Content-Type": "text/plain"}
        )
        assert response.code == 201
        uploaded = json.loads(await response.content())
        assert uploaded["type"] == "text/plain" and uploaded["size"] == 11
        download_url = (
            session["downloadUrl"].replace("{accountId}", alice.id)
            .replace("{blobId}", uploaded["blobId"]).replace("{name}", "hello.txt")
            .replace("{type}", "text%2Fplain")
        )
        response = await treq.get(download_url, headers={**headers, "Range": "bytes=7-"})
        assert response.code == 206
        assert await response.content() == b"blob"
        request = {"using": [CORE, BLOB], "methodCalls": [
            ["Blob/get", {"accountId": alice.id, "ids": [uploaded["blobId"]],
                          "properties": ["data:asText", "digest:sha-256"]}, "g"],
        ]}
        response = await treq.post(
            session["apiUrl"], headers={**headers, "Content-Type": "application/json"},
            data=json.dumps(request).encode(),
        )
        [[name, result, _]] = json.loads(await response.content())["methodResponses"]
        assert name == "Blob/get"
        assert result["list"][0]["data:asText"] == "hello, blob"
    finally:
        await maybeDeferred(service.stopService)
