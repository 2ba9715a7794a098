"""The running service analyses imported messages in worker processes and ends them on stop."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stalwart_tx.jmap.capabilities import CORE, MAIL
from tests.jmap.mail.test_analysis_workers import golden_messages, worker_children
from tests.service_process import admin, basic, pid_alive, start_service

pytestmark = pytest.mark.slow


def post(url: str, token: str, body: bytes, content_type: str) -> Any:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type,
    })
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201)
        return json.loads(response.read())


def api(session: dict[str, Any], token: str, *calls: list[Any]) -> list[list[Any]]:
    body = json.dumps({"using": [CORE, MAIL], "methodCalls": list(calls)}).encode()
    responses: list[list[Any]] = post(
        session["apiUrl"], token, body, "application/json"
    )["methodResponses"]
    return responses


def test_imports_are_analysed_by_workers_that_end_with_the_service(tmp_path: Path) -> None:
    data = tmp_path / "d"
    added = admin("--data", str(data), "user", "add", "alice", "--password", "wonderland")
    assert added.returncode == 0, added.stderr
    token = admin("--data", str(data), "token", "create", "alice").stdout.strip()
    service = start_service(tmp_path, "--data", str(data), "--analysis-workers", "2")
    try:
        session = json.loads(service.wait_for(basic("alice", "wonderland")))
        assert worker_children(service.process.pid) == []  # none before the first message
        account = session["primaryAccounts"][MAIL]
        [[_, found, _]] = api(session, token, [
            "Mailbox/query", {"accountId": account, "filter": {"role": "inbox"}}, "q",
        ])
        [inbox] = found["ids"]
        messages = golden_messages()[:6]
        upload_url = session["uploadUrl"].replace("{accountId}", account)
        blobs = [post(upload_url, token, raw, "message/rfc822")["blobId"] for raw in messages]
        [[name, imported, _]] = api(session, token, ["Email/import", {
            "accountId": account,
            "emails": {str(i): {"blobId": blob, "mailboxIds": {inbox: True}}
                       for i, blob in enumerate(blobs)},
        }, "i"])
        assert name == "Email/import", imported
        assert imported["notCreated"] is None, imported["notCreated"]
        assert [imported["created"][str(i)]["size"] for i in range(len(messages))] == [
            len(raw) for raw in messages
        ]
        [[name, created, _]] = api(session, token, ["Email/set", {
            "accountId": account,
            "create": {"d": {
                "mailboxIds": {inbox: True}, "subject": "Composed",
                "bodyValues": {"b": {"value": "Analysed in a worker too."}},
                "textBody": [{"partId": "b", "type": "text/plain"}],
            }},
        }, "s"])
        assert name == "Email/set" and created["notCreated"] is None, created
        [[_, got, _]] = api(session, token, ["Email/get", {
            "accountId": account, "ids": [created["created"]["d"]["id"]],
            "properties": ["subject", "preview"],
        }, "g"])
        assert got["list"][0]["subject"] == "Composed"
        assert got["list"][0]["preview"] == "Analysed in a worker too."

        workers = worker_children(service.process.pid)
        assert 1 <= len(workers) <= 2, workers
        assert service.terminate(), service.log()
        assert not any(pid_alive(pid) for pid in workers), "an analysis worker outlived the service"
        assert "Traceback" not in service.log()
    finally:
        service.kill()
