"""EmailSubmission through a relay configured by the service settings: STARTTLS and AUTH,
in process and through the real ``twistd -n stalwart``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor

from stalwart_tx.config import build_config
from stalwart_tx.jmap.capabilities import CORE, MAIL, SUBMISSION
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.mail.smtp_relay import relay_config
from stalwart_tx.store.backend import open_redis_store
from tests.jmap.api.conftest import StartServer, cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import ALICE, Sending
from tests.mail.conftest import smtp_certificates, smtp_server  # noqa: F401
from tests.service_process import admin, basic, start_service
from tests.smtp_server import SMTPTestServer

BOB = "bob@example.org"


def relay_settings(
    server: SMTPTestServer, certificates: dict[str, str], tmp_path: Path
) -> dict[str, str]:
    password = tmp_path / "relay-password"
    password.write_text("s3cret pass\n")
    return {
        "smtp-relay": server.endpoint,
        "smtp-relay-starttls": "required",
        "smtp-relay-user": "submitter",
        "smtp-relay-password-file": str(password),
        "smtp-relay-ca": certificates["ca"],
        "smtp-relay-timeout": "10",
    }


def tls_auth_server(
    smtp_server: Callable[..., SMTPTestServer], certificates: dict[str, str]  # noqa: F811
) -> SMTPTestServer:
    return smtp_server(
        certificate=certificates["server"], key=certificates["server_key"],
        auth=("submitter", "s3cret pass"),
    )


@pytest_twisted.ensureDeferred
async def test_starttls_and_auth_from_the_settings(
    start_server: StartServer,  # noqa: F811
    redis_url: str,
    smtp_server: Callable[..., SMTPTestServer],  # noqa: F811
    smtp_certificates: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    relay_server = tls_auth_server(smtp_server, smtp_certificates)
    config = build_config(relay_settings(relay_server, smtp_certificates, tmp_path))
    relay = relay_config(config)
    assert relay is not None
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    try:
        limits = CoreLimits()
        server = await start_server(
            limits=limits, registry=default_registry(limits, relay=relay), store=bundle
        )
        await bundle.directory.add_address(server.user_id, ALICE)
        sending = Sending(server, relay_server=relay_server, relay=relay)
        draft = await sending.draft()
        created = await sending.created(identityId=await sending.identity(), emailId=draft["id"])
        assert created["undoStatus"] == "final"
        [received] = relay_server.received
        assert received.tls and received.authenticated
        assert received.data == draft["raw"]
    finally:
        await bundle.close()


async def api(port: int, token: str, *calls: list[Any]) -> list[list[Any]]:
    headers: dict[bytes | str, bytes | str] = {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
    }
    response = await treq.post(
        f"http://127.0.0.1:{port}/jmap/api/",
        json.dumps({"using": [CORE, MAIL, SUBMISSION], "methodCalls": list(calls)}).encode(),
        headers=headers,
    )
    assert response.code == 200
    body: dict[str, Any] = json.loads(await response.content())
    responses: list[list[Any]] = body["methodResponses"]
    return responses


@pytest.mark.slow
@pytest_twisted.ensureDeferred
async def test_sending_through_the_running_service(
    smtp_server: Callable[..., SMTPTestServer],  # noqa: F811
    smtp_certificates: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    relay_server = tls_auth_server(smtp_server, smtp_certificates)
    data = tmp_path / "data"
    for command in (["user", "add", "alice", "--password", "wonderland"],
                    ["user", "address", "add", "alice", ALICE]):
        done = admin("--data", str(data), *command)
        assert done.returncode == 0, done.stderr
    token = admin("--data", str(data), "token", "create", "alice").stdout.strip()
    settings = relay_settings(relay_server, smtp_certificates, tmp_path)
    options = [part for key, value in settings.items() for part in (f"--{key}", value)]
    service = start_service(tmp_path, "--data", str(data), *options)
    try:
        session = json.loads(service.wait_for(basic("alice", "wonderland")))
        account = session["primaryAccounts"][SUBMISSION]
        capability = session["accounts"][account]["accountCapabilities"][SUBMISSION]
        assert "FUTURERELEASE" in capability["submissionExtensions"]
        [[_, identities, _], [_, mailboxes, _]] = await api(
            service.port, token,
            ["Identity/get", {"accountId": account}, "i"],
            ["Mailbox/query", {"accountId": account, "filter": {"role": "drafts"}}, "m"],
        )
        [identity] = identities["list"]
        [drafts] = mailboxes["ids"]
        responses = await api(
            service.port, token,
            ["Email/set", {"accountId": account, "create": {"d": {
                "mailboxIds": {drafts: True}, "keywords": {"$draft": True},
                "from": [{"email": ALICE}], "to": [{"email": BOB}], "subject": "Via twistd",
                "bodyValues": {"b": {"value": "Sent by the service."}},
                "textBody": [{"partId": "b", "type": "text/plain"}],
            }}}, "e"],
            ["EmailSubmission/set", {
                "accountId": account,
                "create": {"s": {"identityId": identity["id"], "emailId": "#d"}},
                "onSuccessUpdateEmail": {"#s": {"keywords/$draft": None}},
            }, "s"],
        )
        [[_, email_set, _], [name, result, _], [implicit, updated, call_id]] = responses
        assert email_set["notCreated"] is None, email_set
        assert name == "EmailSubmission/set", result
        assert result["created"]["s"]["undoStatus"] == "final", result
        assert (implicit, call_id) == ("Email/set", "s")
        assert list(updated["updated"]) == [email_set["created"]["d"]["id"]]
        [received] = relay_server.received
        assert received.tls and received.authenticated
        assert received.mail_from == ALICE and received.recipients == [(BOB, {})]
        assert b"Subject: Via twistd" in received.data
        assert service.terminate(), service.log()
    finally:
        service.kill()
