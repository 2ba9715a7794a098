"""The service as a user runs it takes mail over LMTP on the socket in its data directory."""

from __future__ import annotations

import json
import smtplib
import stat
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.service_process import admin, basic, start_service

pytestmark = pytest.mark.slow


def jmap(url: str, user: str, password: str, *calls: list[Any]) -> list[list[Any]]:
    body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                       "methodCalls": list(calls)}).encode()
    request = urllib.request.Request(
        url, data=body, headers={**basic(user, password), "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        responses: list[list[Any]] = json.load(response)["methodResponses"]
        return responses


def test_mail_handed_over_on_the_data_socket_lands_in_the_inbox(tmp_path: Path) -> None:
    data = tmp_path / "d"
    for args in (("user", "add", "alice", "--password", "wonderland"),
                 ("domain", "add", "example.org"),
                 ("user", "address", "add", "alice", "alice@example.org")):
        done = admin("--data", str(data), *args)
        assert done.returncode == 0, done.stderr
    service = start_service(tmp_path, "--data", str(data))
    try:
        session = json.loads(service.wait_for(basic("alice", "wonderland")))
        socket_path = data / "lmtp.sock"
        assert stat.S_ISSOCK(socket_path.stat().st_mode)
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o660
        with smtplib.LMTP(str(socket_path), timeout=20) as client:
            client.ehlo("mta.example.org")
            text = b"From: carol@elsewhere.test\r\nSubject: hello\r\n\r\nHi.\r\n"
            refused = client.sendmail("carol@elsewhere.test", ["alice@example.org"], text)
            assert refused == {}
            assert client.mail("carol@elsewhere.test")[0] == 250
            assert client.rcpt("nobody@example.org")[0] == 550
        account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        responses = jmap(session["apiUrl"], "alice", "wonderland",
                         ["Email/query", {"accountId": account}, "q"],
                         ["Email/get", {"accountId": account, "properties": ["subject"],
                                        "#ids": {"resultOf": "q", "name": "Email/query",
                                                 "path": "/ids"}}, "g"])
        assert [e["subject"] for e in responses[1][1]["list"]] == ["hello"]
        assert service.terminate(), service.log()
        assert "Traceback" not in service.log()
    finally:
        service.kill()
