"""jmapc, a JMAP client library written elsewhere, against the running service over HTTPS."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from jmapc import (
    Client,
    Comparator,
    Email,
    EmailAddress,
    EmailBodyPart,
    EmailBodyValue,
    EmailQueryFilterCondition,
    MailboxQueryFilterCondition,
    Ref,
)
from jmapc.methods import (
    CoreEcho,
    CoreEchoResponse,
    EmailGet,
    EmailGetResponse,
    EmailQuery,
    EmailQueryResponse,
    EmailSet,
    EmailSetResponse,
    MailboxGet,
    MailboxGetResponse,
    MailboxQuery,
    MailboxQueryResponse,
    SearchSnippetGet,
    SearchSnippetGetResponse,
    ThreadGet,
    ThreadGetResponse,
)

from tests.certificates import make_certificates
from tests.service_process import RunningService, admin, basic, start_service

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def jmapc_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A jmapc Client of alice, against the service started over HTTPS; stopped after."""
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
        wait_until_serving(service, certs["ca"])
        yield Client.create_with_api_token(host=f"localhost:{service.port}", api_token=token)
        assert service.terminate(), service.log()
    finally:
        service.kill()


def test_session_echo_upload_download_with_jmapc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with jmapc_client(tmp_path, monkeypatch) as client:
        session = client.jmap_session
        host = session.api_url.split("/")[2]
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


def test_mail_with_jmapc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a mail client does first: find the Inbox, write a message, list, read, search."""
    with jmapc_client(tmp_path, monkeypatch) as client:
        inbox = client.request(MailboxQuery(filter=MailboxQueryFilterCondition(role="inbox")))
        assert isinstance(inbox, MailboxQueryResponse) and len(inbox.ids) == 1
        inbox_id = inbox.ids[0]
        created = client.request(EmailSet(create={"draft": Email(
            mailbox_ids={inbox_id: True},
            mail_from=[EmailAddress(name="Alice", email="alice@example.com")],
            to=[EmailAddress(name="Bob", email="bob@example.org")],
            subject="Quarterly numbers",
            body_values={"body": EmailBodyValue(value="Revenue grew in the quarter.")},
            text_body=[EmailBodyPart(part_id="body", type="text/plain")],
        )}))
        assert isinstance(created, EmailSetResponse) and created.created, created
        email_id = created.created["draft"].id

        listed = client.request([
            EmailQuery(filter=EmailQueryFilterCondition(in_mailbox=inbox_id, text="revenue"),
                       sort=[Comparator(property="receivedAt", is_ascending=False)],
                       collapse_threads=True, limit=10),
            EmailGet(ids=Ref("/ids"), properties=["subject", "from", "preview", "threadId"]),
            SearchSnippetGet(ids=Ref("/ids", method=0),
                             filter=EmailQueryFilterCondition(text="revenue")),
        ])
        query, get, snippets = (r.response for r in listed)
        assert isinstance(query, EmailQueryResponse) and query.ids == [email_id]
        assert isinstance(get, EmailGetResponse)
        [email] = get.data
        assert email.subject == "Quarterly numbers"
        assert email.mail_from == [EmailAddress(name="Alice", email="alice@example.com")]
        assert email.preview == "Revenue grew in the quarter."
        assert isinstance(snippets, SearchSnippetGetResponse)
        assert snippets.data[0].preview is not None
        assert "<mark>Revenue</mark>" in snippets.data[0].preview

        thread = client.request(ThreadGet(ids=[email.thread_id]))
        assert isinstance(thread, ThreadGetResponse) and thread.data[0].email_ids == [email_id]
        seen = client.request(EmailSet(update={email_id: {"keywords/$seen": True}}))
        assert isinstance(seen, EmailSetResponse) and seen.updated is not None
        counted = client.request(MailboxGet(ids=[inbox_id]))
        assert isinstance(counted, MailboxGetResponse)
        assert (counted.data[0].total_emails, counted.data[0].unread_emails) == (1, 0)


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
