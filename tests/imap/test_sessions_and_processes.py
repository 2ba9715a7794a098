"""Changes from another service process reach IMAP IDLE; logins go through the shared rate
limiter; autologout timers (RFC 9051 §5.4)."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap.mail_client import USING
from stalwart_tx.imap.protocol import (
    AUTHENTICATED_TIMEOUT,
    UNAUTHENTICATED_TIMEOUT,
    ImapServerFactory,
)
from stalwart_tx.imap.session import ServerContext
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.store.backend import open_redis_store
from tests.imap.conftest import ImapServer, RawConnection, StartImap, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"


@pytest_twisted.ensureDeferred
async def test_a_write_by_another_process_reaches_idle(
    imap_server: ImapServer, redis_url: str
) -> None:
    watcher = RawConnection(imap_server)
    await watcher.line()
    await logged_in(watcher)
    await watcher.command(b"SELECT INBOX")
    await watcher.send(b"i IDLE\r\n")
    await watcher.line()
    # another process: its own store connections and API on the same Redis
    other = await open_redis_store(redis_url, reactor, timeout=5.0)
    try:
        limits = CoreLimits()
        api = JMAPApi(default_registry(limits), limits, store=lambda: other, reactor=reactor,
                      urls=SessionUrls.under("http://localhost"))
        user = MailUser(principal_id=imap_server.account, name="alice")
        blob = await other.blobs.put(imap_server.account, MESSAGE)
        inbox = next(m["id"] for m in (await imap_server.jmap("Mailbox/get"))["list"]
                     if m["role"] == "inbox")
        response = await api.process_request(user, {"using": sorted(USING), "methodCalls": [[
            "Email/import", {"accountId": imap_server.account, "emails": {
                "e": {"blobId": blob.blob_id, "mailboxIds": {inbox: True}}}}, "c",
        ]]})
        assert response["methodResponses"][0][1]["created"]
        assert await watcher.line() == b"* 1 EXISTS"
    finally:
        await other.close()
    await watcher.send(b"DONE\r\n")
    assert (await watcher.until(b"i"))[-1] == b"i OK IDLE terminated"
    watcher.close()


@pytest_twisted.ensureDeferred
async def test_failed_logins_are_rate_limited(start_imap: StartImap) -> None:
    clock = Clock()
    server = await start_imap(limiter=LoginRateLimiter(clock=clock))
    connection = RawConnection(server)
    await connection.line()
    answers = [(await connection.command(b"LOGIN alice wrong"))[-1] for _ in range(12)]
    assert answers[0] == b"t NO [AUTHENTICATIONFAILED] invalid credentials"
    assert answers[-1] == b"t NO [UNAVAILABLE] too many failed logins, try later"
    # locked out even with the right password, until the lock ends
    locked = await connection.command(b"LOGIN alice wonderland")
    assert locked[-1].startswith(b"t NO [UNAVAILABLE]")
    clock.advance(3600)
    assert (await connection.command(b"LOGIN alice wonderland"))[-1].startswith(b"t OK")
    connection.close()


def _protocol(clock: Clock) -> tuple[object, StringTransport]:
    context = ServerContext(portal=lambda: None, limiter=LoginRateLimiter(clock=clock),
                            api=None)  # type: ignore[arg-type]
    factory = ImapServerFactory(context, clock)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def test_unauthenticated_connections_are_logged_out_after_two_minutes() -> None:
    clock = Clock()
    protocol, transport = _protocol(clock)
    assert transport.value().startswith(b"* OK [CAPABILITY ")
    clock.advance(UNAUTHENTICATED_TIMEOUT - 1)
    protocol.dataReceived(b"a NOOP\r\n")  # type: ignore[attr-defined]
    clock.advance(0)
    clock.advance(UNAUTHENTICATED_TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.value().endswith(b"* BYE autologout: idle for too long\r\n")
    assert transport.disconnecting
    assert AUTHENTICATED_TIMEOUT >= 30 * 60


def test_responses_wait_while_the_client_is_slow() -> None:
    clock = Clock()
    protocol, transport = _protocol(clock)
    assert transport.producer is not None and transport.streaming
    transport.producer.pauseProducing()
    waited = Deferred.fromCoroutine(protocol.drain())  # type: ignore[attr-defined]
    assert not waited.called
    transport.producer.resumeProducing()
    assert waited.called
    assert Deferred.fromCoroutine(protocol.drain()).called  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_imaps_speaks_tls_from_the_first_byte(redis_url: str, tmp_path: Path) -> None:
    import ssl

    from stalwart_tx.auth import passwords
    from stalwart_tx.auth.portal import build_portal
    from stalwart_tx.imap.service import ImapParts, imap_services
    from stalwart_tx.jmap.push_hub import PushHub
    from tests.certificates import make_certificates

    files = make_certificates(tmp_path)
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    await bundle.directory.create_principal("alice", passwords.hash_password("wonderland"))
    limits = CoreLimits()
    portal = build_portal(bundle.directory)
    hub = PushHub(lambda: bundle, reactor)
    [service] = imap_services(ImapParts(
        registry=default_registry(limits), limits=limits, store=lambda: bundle,
        portal=lambda: portal, limiter=LoginRateLimiter(Clock()), hub=hub, reactor=reactor,
        public_url="http://localhost", certificate=Path(files["server"]),
        key=Path(files["server_key"]),
    ), plain=None, implicit="tcp:0:interface=127.0.0.1")
    service.startService()
    try:
        port = (await service.listener._waitingForPort).getHost().port  # type: ignore[attr-defined]
        context = ssl.create_default_context(cafile=files["ca"])

        def session() -> list[bytes]:
            import socket

            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                stream = tls.makefile("rwb")
                lines = [stream.readline()]
                stream.write(b"a LOGIN alice wonderland\r\nb LOGOUT\r\n")
                stream.flush()
                while not lines[-1].startswith(b"b "):
                    lines.append(stream.readline())
                return lines

        from twisted.internet.threads import deferToThread

        lines = await deferToThread(session)
        assert lines[0].startswith(b"* OK [CAPABILITY ") and b"AUTH=PLAIN" in lines[0]
        assert b"STARTTLS" not in lines[0]
        assert lines[1].startswith(b"a OK [CAPABILITY")
        assert lines[-1].startswith(b"b OK")
    finally:
        await service.stopService()
        await hub.stop()
        await bundle.close()
