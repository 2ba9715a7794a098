"""A delivery reaches the clients watching the account: an IMAP session in IDLE and a push
listener (what EventSource and WebSocket clients are fed from), over one real store."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThreadPool

from stalwart_tx.auth import passwords
from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap.service import ImapParts, imap_services
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.lmtp.service import lmtp_service
from stalwart_tx.store.backend import open_redis_store


@pytest_twisted.async_yield_fixture
async def listeners(redis_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    bundle = await open_redis_store(redis_url, reactor, timeout=5.0)
    alice = await bundle.directory.create_principal("alice", passwords.hash_password("pw"))
    await bundle.directory.add_domain("example.org")
    await bundle.directory.add_address(alice.id, "alice@example.org")
    limits = CoreLimits()
    registry = default_registry(limits)
    hub = PushHub(lambda: bundle, reactor)
    portal = build_portal(bundle.directory)
    [imap] = imap_services(ImapParts(
        registry=registry, limits=limits, store=lambda: bundle, portal=lambda: portal,
        limiter=LoginRateLimiter(Clock()), hub=hub, reactor=reactor,
        public_url="http://localhost",
    ), plain="tcp:0:interface=127.0.0.1", implicit=None)
    imap.startService()
    port = await imap.listener._waitingForPort  # type: ignore[attr-defined]
    path = str(tmp_path / "lmtp.sock")
    lmtp = lmtp_service(f"unix:{path}", registry=registry, limits=limits, store=lambda: bundle,
                        reactor=reactor, public_url="http://localhost")
    lmtp.startService()
    await lmtp._waitingForPort  # type: ignore[attr-defined]
    yield {"imap": port.getHost().port, "lmtp": path, "hub": hub, "account": alice.id}
    await maybeDeferred(lmtp.stopService)
    await maybeDeferred(imap.stopService)
    await hub.stop()
    await bundle.close()
    passwords.use_hasher(previous)


def idle_until_exists(port: int, deliver: Any) -> tuple[float, bytes]:
    """Log in, SELECT, IDLE; deliver; the seconds until the untagged EXISTS, and its line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()

        def command(text: bytes, tag: bytes) -> list[bytes]:
            sock.sendall(tag + b" " + text + b"\r\n")
            lines = []
            while not (line := reader.readline()).startswith(tag + b" "):
                lines.append(line)
            assert line.startswith(tag + b" OK"), line
            return lines

        command(b"LOGIN alice pw", b"a")
        command(b"SELECT INBOX", b"b")
        sock.sendall(b"c IDLE\r\n")
        assert reader.readline().startswith(b"+ ")
        deliver()
        delivered = time.monotonic()
        seen = []
        while not (line := reader.readline()).endswith(b" EXISTS\r\n"):
            seen.append(line)
        waited, exists = time.monotonic() - delivered, line
        sock.sendall(b"DONE\r\n")
        while not (line := reader.readline()).startswith(b"c "):
            seen.append(line)
        assert line.startswith(b"c OK"), line
        return waited, exists


@pytest_twisted.ensureDeferred
async def test_a_delivery_wakes_an_idle_session_and_the_push_listeners(
    listeners: dict[str, Any],
) -> None:
    changes: list[Mapping[str, str]] = []
    heard: Deferred[None] = Deferred()

    def receiver(account_id: str, states: Mapping[str, str]) -> None:
        changes.append(states)
        if "Email" in states and not heard.called:
            heard.callback(None)

    attachment = await listeners["hub"].attach([listeners["account"]], receiver)

    def deliver() -> None:
        with smtplib.LMTP(listeners["lmtp"], timeout=10) as client:
            client.ehlo("mta")
            assert client.sendmail("carol@elsewhere.test", ["alice@example.org"],
                                   b"Subject: racing\r\n\r\nNow.\r\n") == {}

    waited, exists = await deferToThreadPool(
        reactor, reactor.getThreadPool(), idle_until_exists, listeners["imap"], deliver
    )
    assert exists == b"* 1 EXISTS\r\n"
    assert waited < 1.0  # IDLE hears of it within a second
    await heard  # and the push listener was told of the new Email state
    assert {"Email", "Mailbox", "Thread"} <= {name for states in changes for name in states}
    attachment.detach()


@pytest_twisted.ensureDeferred
async def test_a_delivery_in_one_process_is_an_event_on_another_s_event_source(
    redis_url: str, tmp_path: Path,
) -> None:
    """The LMTP listener on one store bundle, the JMAP EventSource on another over the same
    Redis, as two service processes: the delivery's 250 is followed by a StateChange event."""
    from tests.jmap.push.harness import EventStreamClient, make_users, start_server

    http_store = await open_redis_store(redis_url, reactor, timeout=5.0)
    users = await make_users(http_store)
    await http_store.directory.add_domain("example.org")
    await http_store.directory.add_address(users.alice_id, "alice@example.org")
    http = start_server(http_store, users)
    lmtp_store = await open_redis_store(redis_url, reactor, timeout=5.0)
    limits = CoreLimits()
    path = str(tmp_path / "lmtp.sock")
    lmtp = lmtp_service(f"unix:{path}", registry=default_registry(limits), limits=limits,
                        store=lambda: lmtp_store, reactor=reactor, public_url="http://localhost")
    lmtp.startService()
    await lmtp._waitingForPort  # type: ignore[attr-defined]
    try:
        response, stream = await EventStreamClient.open(http.event_source_url(), http.auth())
        assert response.code == 200 and stream is not None

        def deliver() -> None:
            with smtplib.LMTP(path, timeout=10) as client:
                client.ehlo("mta")
                assert client.sendmail("carol@elsewhere.test", ["alice@example.org"],
                                       b"Subject: pushed\r\n\r\nHi.\r\n") == {}

        await deferToThreadPool(reactor, reactor.getThreadPool(), deliver)
        # the account's first use made its mailboxes first: a Mailbox event may come before
        changed: set[str] = set()
        while "Email" not in changed:
            event = await stream.state(timeout=3.0)
            changed |= set(event.json()["changed"][users.alice_id])
        assert {"Email", "Mailbox", "Thread"} <= changed
        stream.disconnect()
    finally:
        await maybeDeferred(lmtp.stopService)
        await http.stop()
        await lmtp_store.close()
        await http_store.close()
