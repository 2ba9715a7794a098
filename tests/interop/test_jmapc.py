"""jmapc, a JMAP client library written elsewhere, against the running service over HTTPS."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import requests
from jmapc import Client, EmailBodyPart
from jmapc.methods import CoreEcho, CoreEchoResponse

from tests.certificates import make_certificates
from tests.service_process import RunningService, admin, basic, start_service

pytestmark = pytest.mark.slow


def test_session_echo_upload_download_with_jmapc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d"
    certs = make_certificates(tmp_path / "certs", server_names=("localhost", "127.0.0.1"))
    created = admin("--data", str(data), "user", "add", "alice", "--password", "pw")
    assert created.returncode == 0, created.stderr
    token = admin("--data", str(data), "token", "create", "alice").stdout.strip()
    # jmapc speaks HTTPS only: the service gets a certificate from a private CA it trusts.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certs["ca"])
    service = start_service(
        tmp_path, "--data", str(data), "--public-url", "https://localhost:{port}",
        jmap=f"ssl:{{port}}:interface=127.0.0.1:privateKey={certs['server_key']}"
             f":certKey={certs['server']}",
    )
    try:
        host = f"localhost:{service.port}"
        wait_until_serving(service, certs["ca"])

        client = Client.create_with_api_token(host=host, api_token=token)
        session = client.jmap_session
        assert session.username == "alice"
        assert session.api_url == f"https://{host}/jmap/api/"
        account_id = client.account_id

        echoed = client.request(CoreEcho(data={"hello": [1, "two", {"three": None}]}))
        assert isinstance(echoed, CoreEchoResponse)
        assert echoed.data == {"hello": [1, "two", {"three": None}]}

        payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
        upload = tmp_path / "report.pdf"
        upload.write_bytes(payload)
        blob = client.upload_blob(upload)
        assert blob.size == len(payload)
        assert blob.type == "application/pdf"

        downloaded = tmp_path / "downloaded.pdf"
        client.download_attachment(
            EmailBodyPart(blob_id=blob.id, name="report.pdf", type="application/pdf"), downloaded
        )
        assert hashlib.sha256(downloaded.read_bytes()).digest() == hashlib.sha256(payload).digest()
        assert account_id == session.primary_accounts.core
        assert service.terminate(), service.log()
    finally:
        service.kill()


def wait_until_serving(service: RunningService, ca: str) -> None:
    deadline = time.monotonic() + 30
    url = f"https://localhost:{service.port}/.well-known/jmap"
    while time.monotonic() < deadline:
        try:
            if requests.get(url, verify=ca, timeout=5,
                            headers=basic("alice", "pw")).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(service.log())
