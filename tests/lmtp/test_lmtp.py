"""LMTP delivery over a real Unix socket, driven by Python's smtplib.LMTP."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

import pytest_twisted

from tests.lmtp.conftest import LmtpServer


def message(subject: str, body: str = "Hello.", size: int = 0) -> bytes:
    text = (f"From: Carol <carol@elsewhere.test>\r\nTo: alice@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@elsewhere.test>\r\n"
            f"\r\n{body}\r\n")
    while len(text) < size:
        text += "y" * 70 + "\r\n"
    return text.encode()


def exchange(path: str, lines: list[bytes]) -> list[bytes]:
    """Send raw lines at once (pipelined) after the greeting; every reply line until QUIT's
    answer or the end of the connection."""
    return exchange_bytes(path, b"".join(line + b"\r\n" for line in lines))


def exchange_bytes(path: str, data: bytes) -> list[bytes]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(path)
        reader = sock.makefile("rb")
        greeting = reader.readline()
        assert greeting.startswith(b"220 ")
        sock.sendall(data)
        replies: list[bytes] = []
        while True:
            line = reader.readline()
            if not line:
                return replies
            replies.append(line.rstrip(b"\r\n"))
            if line.startswith(b"221 "):
                return replies


@pytest_twisted.ensureDeferred
async def test_a_message_lands_in_the_inbox_with_one_reply_per_recipient(
    lmtp_server: LmtpServer,
) -> None:
    client = await lmtp_server.client()
    code, text = await client.run(client.lmtp.ehlo, "mta.example.org")  # smtplib sends LHLO
    assert code == 250
    features = text.decode().upper()
    for name in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 65536"):
        assert name in features
    refused = await client.run(client.lmtp.sendmail, "carol@elsewhere.test",
                               ["alice@example.org", "bob@example.org"], message("first"))
    assert refused == {}
    [mail] = await lmtp_server.inbox("alice")
    assert mail["subject"] == "first" and mail["keywords"] == {}
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["first"]
    stored = await lmtp_server.stored("alice", mail)
    assert stored.startswith(b"Return-Path: <carol@elsewhere.test>\r\nReceived: from ")
    assert b"by mx.example.org with LMTP" in stored


@pytest_twisted.ensureDeferred
async def test_each_recipient_gets_its_own_answer_after_the_data(
    lmtp_server: LmtpServer,
) -> None:
    replies = await _exchange(lmtp_server, [
        b"LHLO mta", b"MAIL FROM:<carol@elsewhere.test>", b"RCPT TO:<alice@example.org>",
        b"RCPT TO:<nobody@example.org>", b"RCPT TO:<bob@other.test>",
        b"RCPT TO:<bob@example.org>", b"DATA", *message("pair").split(b"\r\n")[:-1], b".",
        b"QUIT",
    ])
    finals = [r for r in replies if r[3:4] == b" "]
    assert finals[0].startswith(b"250 ")  # the last line of LHLO's answer
    assert [r[:9] for r in finals[1:]] == [
        b"250 2.1.0", b"250 2.1.5", b"550 5.1.1", b"550 5.1.2", b"250 2.1.5", b"354 start",
        b"250 2.0.0", b"250 2.0.0", b"221 2.0.0",
    ]
    # after the dot: one reply per accepted recipient, in RCPT order, naming it
    assert b"<alice@example.org>" in finals[7] and b"<bob@example.org>" in finals[8]
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["pair"]
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["pair"]


@pytest_twisted.ensureDeferred
async def test_an_alias_and_plus_addresses_reach_each_account_once(
    lmtp_server: LmtpServer,
) -> None:
    refused = await lmtp_server.send("carol@elsewhere.test", [
        "team@example.org", "alice+lists@example.org", "ALICE@Example.org",
    ], message("for the team"))
    assert refused == {}
    # alice is named three times, bob once: each has the message once
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["for the team"]
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["for the team"]


@pytest_twisted.ensureDeferred
async def test_a_message_over_the_size_limit_is_refused_and_not_stored(
    lmtp_server: LmtpServer,
) -> None:
    declared = await _exchange(lmtp_server, [
        b"LHLO mta", b"MAIL FROM:<carol@elsewhere.test> SIZE=100000", b"QUIT",
    ])
    assert any(r.startswith(b"552 5.3.4") for r in declared)
    client = await lmtp_server.client()
    await client.run(client.lmtp.ehlo, "mta")
    refused: Any = None
    try:
        await client.run(client.lmtp.sendmail, "carol@elsewhere.test",
                         ["alice@example.org"], message("big", size=80_000))
    except Exception as error:  # smtplib raises when every recipient is refused
        refused = error
    assert refused is not None and "552" in str(refused)
    assert await lmtp_server.inbox("alice") == []
    # the connection goes on: the next message is taken
    assert await client.run(client.lmtp.sendmail, "carol@elsewhere.test",
                            ["alice@example.org"], message("small")) == {}
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["small"]


@pytest_twisted.ensureDeferred
async def test_bad_commands_get_protocol_errors_and_the_session_goes_on(
    lmtp_server: LmtpServer,
) -> None:
    replies = await _exchange(lmtp_server, [
        b"EHLO mta", b"HELO mta", b"MAIL FROM:<carol@elsewhere.test>", b"LHLO",
        b"LHLO mta", b"RCPT TO:<alice@example.org>", b"DATA", b"MAIL carol",
        b"MAIL FROM:<carol@elsewhere.test>", b"RCPT TO:<not an address>", b"RCPT alice",
        b"FROB", b"RSET", b"NOOP", b"QUIT",
    ])
    finals = [r[:9] for r in replies if r[3:4] == b" "]
    assert finals == [
        b"500 5.5.1", b"500 5.5.1", b"503 5.5.1", b"501 5.5.4",  # EHLO, HELO, early MAIL, LHLO
        finals[4], b"503 5.5.1", b"503 5.5.1", b"501 5.5.4",  # LHLO's, RCPT, DATA, bad MAIL
        b"250 2.1.0", finals[9], b"501 5.5.4", b"500 5.5.2",  # MAIL, bad path, bad RCPT, FROB
        b"250 2.0.0", b"250 2.0.0", b"221 2.0.0",
    ]
    assert finals[4].startswith(b"250 ")
    assert finals[9][:1] == b"5"  # a path that is no address is refused for good


@pytest_twisted.ensureDeferred
async def test_the_store_unavailable_gives_a_temporary_failure_per_recipient(
    lmtp_server: LmtpServer,
) -> None:
    client = await lmtp_server.client()
    await client.run(client.lmtp.ehlo, "mta")
    await client.run(client.lmtp.mail, "carol@elsewhere.test")
    assert (await client.run(client.lmtp.rcpt, "alice@example.org"))[0] == 250
    await lmtp_server.store.close()  # the store goes away between RCPT and the data
    code, text = await client.run(client.lmtp.data, message("later"))
    assert code == 451 and text.startswith(b"4.3.0")


async def _exchange(server: LmtpServer, lines: list[bytes]) -> list[bytes]:
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThreadPool

    return await deferToThreadPool(reactor, reactor.getThreadPool(), exchange, server.socket,
                                   lines)


@pytest_twisted.ensureDeferred
async def test_a_bounce_from_the_null_sender_is_delivered(lmtp_server: LmtpServer) -> None:
    assert await lmtp_server.send("", ["bob@example.org"], message("undeliverable")) == {}
    [mail] = await lmtp_server.inbox("bob")
    stored = await lmtp_server.stored("bob", mail)
    assert stored.startswith(b"Return-Path: <>\r\n")


@pytest_twisted.ensureDeferred
async def test_a_full_mailbox_refuses_for_good_and_the_others_still_get_it(
    lmtp_server: LmtpServer,
) -> None:
    from stalwart_tx.admin.quota import set_limits

    await set_limits(lmtp_server.store, lmtp_server.accounts["alice"], {"messages": 1})
    assert await lmtp_server.send(
        "carol@elsewhere.test", ["alice@example.org"], message("fits")) == {}
    replies = await _exchange(lmtp_server, [
        b"LHLO mta", b"MAIL FROM:<carol@elsewhere.test>", b"RCPT TO:<alice@example.org>",
        b"RCPT TO:<bob@example.org>", b"DATA", *message("over").split(b"\r\n")[:-1], b".",
        b"QUIT",
    ])
    after_data = [r for r in replies if r[3:4] == b" "][-3:-1]
    assert after_data[0].startswith(b"552 5.2.2 <alice@example.org>")
    assert after_data[1].startswith(b"250 2.0.0 <bob@example.org>")
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["fits"]
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["over"]


@pytest_twisted.ensureDeferred
async def test_a_retried_delivery_is_answered_but_not_stored_twice(
    lmtp_server: LmtpServer, monkeypatch: Any,
) -> None:
    from stalwart_tx.lmtp import delivery

    async def send(sender: str, data: bytes, *to: str) -> Any:
        return await lmtp_server.send(sender, list(to), data)

    first = message("again")  # Message-ID <again@elsewhere.test>
    assert await send("carol@elsewhere.test", first, "alice@example.org") == {}
    # the MTA did not hear the 250 and tries again, alice and bob now in one transaction
    assert await send("carol@elsewhere.test", first, "alice@example.org", "bob@example.org") == {}
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["again"]
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["again"]
    # the same Message-ID from another sender is another delivery
    assert await send("dave@elsewhere.test", first, "alice@example.org") == {}
    assert len(await lmtp_server.inbox("alice")) == 2
    # nothing to tell a retry by: every copy is stored
    bare = b"From: carol@elsewhere.test\r\nSubject: no id\r\n\r\nHi.\r\n"
    for _ in range(2):
        assert await send("carol@elsewhere.test", bare, "bob@example.org") == {}
    assert len(await lmtp_server.inbox("bob")) == 3
    # past the window the mark is gone
    monkeypatch.setattr(delivery, "DEDUPE_WINDOW", 0.05)
    later = message("later")
    assert await send("carol@elsewhere.test", later, "alice@example.org") == {}
    from twisted.internet import reactor, task

    await task.deferLater(reactor, 0.1, lambda: None)
    assert await send("carol@elsewhere.test", later, "alice@example.org") == {}
    assert [m["subject"] for m in await lmtp_server.inbox("alice")].count("later") == 2


def test_the_message_id_is_read_from_the_header_only() -> None:
    from stalwart_tx.lmtp.delivery import message_id_of

    assert message_id_of([b"Subject: x", b"Message-ID:", b"  <folded@x>", b"", b"b"]) == (
        "<folded@x>")
    assert message_id_of([b"message-id: <a@b>", b"To: y"]) == "<a@b>"
    assert message_id_of([b"Subject: x", b"", b"Message-ID: <in-body@x>"]) is None
    assert message_id_of([b"X-Message-ID: <other@x>"]) is None


@pytest_twisted.ensureDeferred
async def test_a_catch_all_takes_what_no_address_or_alias_of_its_domain_takes(
    lmtp_server: LmtpServer,
) -> None:
    directory = lmtp_server.store.directory
    await directory.set_alias("@example.org", [lmtp_server.accounts["bob"]])
    assert await lmtp_server.send(
        "carol@elsewhere.test", ["whoever@example.org"], message("stray")) == {}
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["stray"]
    # an owned address and a plus-address still go where they name
    assert await lmtp_server.send(
        "carol@elsewhere.test", ["alice+x@example.org"], message("direct")) == {}
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["direct"]
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["stray"]


async def _exchange_bytes(server: LmtpServer, data: bytes) -> list[bytes]:
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThreadPool

    return await deferToThreadPool(reactor, reactor.getThreadPool(), exchange_bytes,
                                   server.socket, data)


def finals(replies: list[bytes]) -> list[bytes]:
    return [r for r in replies if r[3:4] == b" "]


@pytest_twisted.ensureDeferred
async def test_bdat_chunks_make_one_message_taken_as_sent(lmtp_server: LmtpServer) -> None:
    whole = message("in chunks") + b".a line starting with a dot stays as it is\r\n"
    first, second = whole[:50], whole[50:]
    replies = await _exchange_bytes(lmtp_server, b"".join([
        b"LHLO mta\r\n", b"MAIL FROM:<carol@elsewhere.test>\r\n",
        b"RCPT TO:<alice@example.org>\r\n", b"RCPT TO:<bob@example.org>\r\n",
        b"BDAT %d\r\n" % len(first), first, b"BDAT %d LAST\r\n" % len(second), second,
        b"QUIT\r\n",
    ]))
    assert b"250-CHUNKING" in replies
    assert [r[:9] for r in finals(replies)[1:]] == [
        b"250 2.1.0", b"250 2.1.5", b"250 2.1.5", b"250 2.0.0", b"250 2.0.0", b"250 2.0.0",
        b"221 2.0.0",
    ]
    assert b"50 octets received" in finals(replies)[4]
    [mail] = await lmtp_server.inbox("bob")
    stored = await lmtp_server.stored("bob", mail)
    assert stored.endswith(b"\r\n" + whole)  # after Return-Path and Received, byte for byte
    assert [m["subject"] for m in await lmtp_server.inbox("alice")] == ["in chunks"]


@pytest_twisted.ensureDeferred
async def test_bdat_out_of_place_is_read_to_its_end_and_refused(lmtp_server: LmtpServer) -> None:
    trap = b"QUIT\r\nRSET\r\n"  # what a chunk holds is never taken for commands
    replies = await _exchange_bytes(lmtp_server, b"".join([
        b"LHLO mta\r\n", b"BDAT %d LAST\r\n" % len(trap), trap,
        b"MAIL FROM:<carol@elsewhere.test>\r\n", b"RCPT TO:<alice@example.org>\r\n",
        b"BDAT 5\r\n", b"Subje", b"DATA\r\n", b"MAIL FROM:<x@y.test>\r\n",
        b"BDAT 0 LAST\r\n", b"NOOP\r\n", b"QUIT\r\n",
    ]))
    assert [r[:9] for r in finals(replies)[1:]] == [
        b"503 5.5.1", b"250 2.1.0", b"250 2.1.5", b"250 2.0.0", b"503 5.5.1", b"503 5.5.1",
        b"250 2.0.0", b"250 2.0.0", b"221 2.0.0",
    ]
    # the five bytes and the empty last chunk made a message
    [mail] = await lmtp_server.inbox("alice")
    stored = await lmtp_server.stored("alice", mail)
    assert stored.endswith(b"\r\nSubje")


@pytest_twisted.ensureDeferred
async def test_bdat_over_the_limit_is_refused_and_a_bad_bdat_ends_the_session(
    lmtp_server: LmtpServer,
) -> None:
    big = b"y" * 40_000
    replies = await _exchange_bytes(lmtp_server, b"".join([
        b"LHLO mta\r\n", b"MAIL FROM:<carol@elsewhere.test>\r\n",
        b"RCPT TO:<alice@example.org>\r\n", b"BDAT 40000\r\n", big,
        b"BDAT 40000 LAST\r\n", big, b"BDAT many\r\n", b"NOOP\r\n",
    ]))
    assert [r[:9] for r in finals(replies)[1:]] == [
        b"250 2.1.0", b"250 2.1.5", b"250 2.0.0", b"552 5.3.4", b"501 5.5.4",
    ]  # the connection closed after the bad BDAT: NOOP got no answer
    assert await lmtp_server.inbox("alice") == []


@pytest_twisted.ensureDeferred
async def test_utf8_addresses_with_smtputf8_and_parameters_checked(
    lmtp_server: LmtpServer,
) -> None:
    await lmtp_server.store.directory.add_address(lmtp_server.accounts["bob"], "Jürgen@example.org")
    sender = "δοκιμή@παράδειγμα.test".encode()
    replies = await _exchange_bytes(lmtp_server, b"".join(line + b"\r\n" for line in [
        b"LHLO mta",
        b"MAIL FROM:<carol@elsewhere.test>", "RCPT TO:<jürgen@example.org>".encode(), b"RSET",
        b"MAIL FROM:<" + sender + b"> BODY=8BITMIME SMTPUTF8 SIZE=100",
        "RCPT TO:<JÜRGEN@example.org>".encode(), b"RCPT TO:<bob@example.org> NOTIFY=NEVER",
        b"DATA", "Subject: grüße".encode(), b"", b"Hallo.", b".",
        b"MAIL FROM:<carol@elsewhere.test> ORCPT=x", b"MAIL FROM:carol@elsewhere.test",
        b"QUIT",
    ]))
    assert b"250-SMTPUTF8" in replies
    assert [r[:9] for r in finals(replies)[1:]] == [
        b"250 2.1.0", b"553 5.6.7", b"250 2.0.0",  # no SMTPUTF8: a UTF-8 address is refused
        b"250 2.1.0", b"250 2.1.5", b"555 5.5.4", b"354 start", b"250 2.0.0",
        b"555 5.5.4", b"501 5.5.4", b"221 2.0.0",
    ]
    [mail] = await lmtp_server.inbox("bob")
    stored = await lmtp_server.stored("bob", mail)
    assert stored.startswith(b"Return-Path: <" + sender + b">\r\n")
    assert mail["subject"] == "grüße"


@pytest_twisted.ensureDeferred
async def test_a_fault_of_ours_is_a_421_and_the_listener_goes_on(
    lmtp_server: LmtpServer, monkeypatch: Any,
) -> None:
    from stalwart_tx.lmtp.protocol import LmtpServer as Protocol

    def broken(self: Any, rest: bytes) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Protocol, "do_NOOP", broken)
    replies = await _exchange(lmtp_server, [b"LHLO mta", b"NOOP", b"QUIT"])
    assert finals(replies)[-1].startswith(b"421 4.3.0")  # and closed: QUIT got no answer
    assert await lmtp_server.send(
        "carol@elsewhere.test", ["alice@example.org"], message("after")) == {}


@pytest_twisted.ensureDeferred
async def test_a_tcp_endpoint_serves_the_same(lmtp_server: LmtpServer) -> None:
    from twisted.internet import reactor
    from twisted.internet.defer import maybeDeferred
    from twisted.internet.threads import deferToThreadPool

    from stalwart_tx.jmap.limits import CoreLimits
    from stalwart_tx.jmap.methods import default_registry
    from stalwart_tx.lmtp.service import lmtp_service

    limits = CoreLimits()
    service = lmtp_service("tcp:0:interface=127.0.0.1", registry=default_registry(limits),
                           limits=limits, store=lambda: lmtp_server.store, reactor=reactor,
                           public_url="http://localhost")
    service.startService()
    port = (await service._waitingForPort).getHost().port  # type: ignore[attr-defined]

    def send() -> Any:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("mta")
            return client.sendmail("carol@elsewhere.test", ["bob@example.org"], message("tcp"))

    try:
        assert await deferToThreadPool(reactor, reactor.getThreadPool(), send) == {}
    finally:
        await maybeDeferred(service.stopService)
    assert [m["subject"] for m in await lmtp_server.inbox("bob")] == ["tcp"]
