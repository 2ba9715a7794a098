"""Vacation auto-replies of LMTP deliveries, sent through a local SMTP relay (RFC 3834 rules)."""

from __future__ import annotations

import email
import smtplib
from collections.abc import AsyncIterator
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.defer import maybeDeferred
from twisted.internet.threads import deferToThreadPool

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.capabilities import CORE, VACATION_RESPONSE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.lmtp.service import lmtp_service
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store.backend import open_redis_store
from tests.smtp_server import ServerOptions, SMTPTestServer


@pytest_twisted.async_yield_fixture
async def on_vacation(redis_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    relay = SMTPTestServer(ServerOptions()).listen(reactor)
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    directory = bundle.directory
    await directory.add_domain("example.org")
    accounts = {}
    for name in ("alice", "bob"):
        principal = await directory.create_principal(name, None)
        accounts[name] = principal.id
        await directory.add_address(principal.id, f"{name}@example.org")
    limits = CoreLimits()
    registry = default_registry(limits)
    api = JMAPApi(registry, limits, store=lambda: bundle, reactor=reactor,
                  urls=SessionUrls.under("http://localhost"))
    [(name, answer, _)] = await api.run_calls(
        MailUser(accounts["alice"], "alice"), frozenset({CORE, VACATION_RESPONSE}),
        [("VacationResponse/set", {"accountId": accounts["alice"], "update": {"singleton": {
            "isEnabled": True, "subject": "Away until Monday",
            "textBody": "Back on Monday.",
        }}}, "v")],
    )
    assert name == "VacationResponse/set" and answer["notUpdated"] is None, answer
    path = str(tmp_path / "lmtp.sock")
    service = lmtp_service(
        f"unix:{path}", registry=registry, limits=limits, store=lambda: bundle,
        reactor=reactor, public_url="http://localhost", hostname="mx.example.org",
        relay=RelayConfig(endpoint=relay.endpoint, starttls="off"),
    )
    service.startService()
    await service._waitingForPort  # type: ignore[attr-defined]
    yield {"socket": path, "relay": relay}
    await maybeDeferred(service.stopService)
    await bundle.close()
    await relay.stop()


def send(path: str, sender: str, to: str, headers: str = "", recipient: str = "") -> None:
    text = (f"From: {sender or 'daemon@elsewhere.test'}\r\nTo: {to}\r\n{headers}"
            f"Subject: hello\r\nMessage-ID: <{abs(hash((sender, to, headers)))}@elsewhere.test>"
            f"\r\n\r\nHi.\r\n")
    with smtplib.LMTP(path, timeout=10) as client:
        client.ehlo("mta")
        assert client.sendmail(sender, [recipient or to], text.encode()) == {}


async def deliver(path: str, sender: str, to: str, headers: str = "",
                  recipient: str = "") -> None:
    """``send`` in a thread: smtplib blocks, the server answers in the reactor."""
    await deferToThreadPool(reactor, reactor.getThreadPool(), send, path, sender, to, headers,
                            recipient)


async def replies(relay: SMTPTestServer, count: int) -> list[Any]:
    """The relay's transactions once there are ``count`` (or after 5 s)."""
    for _ in range(100):
        if len(relay.received) >= count:
            break
        await task.deferLater(reactor, 0.05, lambda: None)
    return list(relay.received)


@pytest_twisted.ensureDeferred
async def test_one_reply_per_sender_and_none_where_rfc_3834_says_not_to(
    on_vacation: dict[str, Any],
) -> None:
    path, relay = on_vacation["socket"], on_vacation["relay"]
    await deliver(path, "carol@elsewhere.test", "alice@example.org")
    [sent] = await replies(relay, 1)
    assert sent.mail_from == "" and [r for r, _ in sent.recipients] == ["carol@elsewhere.test"]
    reply = email.message_from_bytes(sent.data, policy=SMTP)
    assert reply["From"] == "alice@example.org" and reply["To"] == "carol@elsewhere.test"
    assert reply["Subject"] == "Away until Monday"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"].endswith("@elsewhere.test>")
    assert reply.get_content().strip() == "Back on Monday."
    # none of these gets one
    # another message from carol (another Message-ID): she had her reply already
    await deliver(path, "carol@elsewhere.test", "alice@example.org", "X-Second: yes\r\n")
    for automatic in ("List-Id: <l.elsewhere.test>\r\n", "Precedence: bulk\r\n",
                      "Auto-Submitted: auto-generated\r\n"):
        await deliver(path, "dave@elsewhere.test", "alice@example.org", automatic)
    await deliver(path, "", "alice@example.org")  # a bounce
    await deliver(path, "MAILER-DAEMON@elsewhere.test", "alice@example.org")
    await deliver(path, "dave@elsewhere.test", "others@elsewhere.test",
                  recipient="alice@example.org")  # a Bcc: To names someone else
    await deliver(path, "dave@elsewhere.test", "bob@example.org")  # bob is not away
    # and another sender does
    await deliver(path, "eve@elsewhere.test", "Alice <alice@example.org>")
    sent = await replies(relay, 2)
    await task.deferLater(reactor, 0.3, lambda: None)
    assert [[r for r, _ in t.recipients] for t in relay.received] == [
        ["carol@elsewhere.test"], ["eve@elsewhere.test"]]
