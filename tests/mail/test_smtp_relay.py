"""The SMTP relay client against a real local SMTP server over real sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from stalwart_tx.config import build_config
from stalwart_tx.mail.smtp_relay import (
    RecipientResult,
    RelayConfig,
    RelayError,
    RelayResult,
    join_reply,
    relay_config,
    send_via_relay,
    wire_data,
)
from tests.smtp_server import SilentServer, SMTPTestServer

MESSAGE = (
    b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hello\r\n"
    b"Message-ID: <1@example.org>\r\n\r\nHello Bob.\r\n"
)
Start = Callable[..., SMTPTestServer]


def config(server: SMTPTestServer | SilentServer, **overrides: Any) -> RelayConfig:
    values: dict[str, Any] = {
        "endpoint": server.endpoint, "starttls": "off", "helo": "mail.example.org",
        "timeout": 5.0,
    }
    values.update(overrides)
    return RelayConfig(**values)


async def send(
    relay: RelayConfig,
    recipients: Sequence[str | tuple[str, Mapping[str, str | None]]] = ("bob@example.net",),
    message: bytes = MESSAGE,
    mail_from: str = "alice@example.org",
    mail_from_parameters: Mapping[str, str | None] | None = None,
) -> RelayResult:
    envelope = [(r, {}) if isinstance(r, str) else r for r in recipients]
    return await send_via_relay(
        reactor, relay, mail_from, mail_from_parameters or {}, envelope, message
    )


async def refused(relay: RelayConfig, **kwargs: Any) -> RelayError:
    with pytest.raises(RelayError) as caught:
        await send(relay, **kwargs)
    return caught.value


@pytest_twisted.ensureDeferred
async def test_plain_delivery(smtp_server: Start) -> None:
    server = smtp_server()
    result = await send(config(server), ["bob@example.net", "carol@example.net"])
    assert result.delivered
    assert result.mail_from_reply == "250 2.1.0 Sender OK"
    assert result.recipients == (
        RecipientResult("bob@example.net", 250, "250 2.1.5 Recipient OK", True),
        RecipientResult("carol@example.net", 250, "250 2.1.5 Recipient OK", True),
    )
    assert result.data_reply == "250 2.0.0 Queued as 1"
    [received] = server.received
    assert received.mail_from == "alice@example.org"
    assert [r for r, _ in received.recipients] == ["bob@example.net", "carol@example.net"]
    assert received.data == MESSAGE
    assert not received.tls and not received.authenticated


@pytest_twisted.ensureDeferred
async def test_null_reverse_path(smtp_server: Start) -> None:
    server = smtp_server()
    result = await send(config(server), mail_from="")
    assert result.delivered
    assert server.received[0].mail_from == ""


@pytest_twisted.ensureDeferred
async def test_starttls_required(smtp_server: Start, smtp_certificates: dict[str, str]) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"])
    relay = config(server, starttls="required", trust_roots=smtp_certificates["ca"])
    result = await send(relay)
    assert result.delivered
    assert server.received[0].tls


@pytest_twisted.ensureDeferred
async def test_starttls_opportunistic_uses_tls_when_offered(
    smtp_server: Start, smtp_certificates: dict[str, str]
) -> None:
    with_tls = smtp_server(certificate=smtp_certificates["server"],
                           key=smtp_certificates["server_key"])
    without = smtp_server()
    for server in (with_tls, without):
        relay = config(server, starttls="opportunistic", trust_roots=smtp_certificates["ca"])
        assert (await send(relay)).delivered
    assert with_tls.received[0].tls
    assert not without.received[0].tls


@pytest_twisted.ensureDeferred
async def test_starttls_required_but_not_offered(smtp_server: Start) -> None:
    server = smtp_server()
    error = await refused(config(server, starttls="required"))
    assert not error.permanent
    assert "STARTTLS" in str(error)
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_starttls_certificate_not_trusted(
    smtp_server: Start, smtp_certificates: dict[str, str]
) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"])
    error = await refused(config(server, starttls="required",
                                 trust_roots=smtp_certificates["other_ca"]))
    assert not error.permanent
    assert "TLS" in str(error)
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_starttls_certificate_for_another_name(
    smtp_server: Start, smtp_certificates: dict[str, str]
) -> None:
    server = smtp_server(certificate=smtp_certificates["other_server"],
                         key=smtp_certificates["other_server_key"])
    error = await refused(config(server, starttls="required",
                                 trust_roots=smtp_certificates["other_ca"]))
    assert not error.permanent
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_tls_endpoint(smtp_server: Start, smtp_certificates: dict[str, str]) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"], implicit_tls=True,
                         auth=("relayuser", "pw"))
    assert server.endpoint.startswith("tls:")
    relay = config(server, trust_roots=smtp_certificates["ca"], username="relayuser",
                   password="pw")
    assert (await send(relay)).delivered
    # without the test CA the relay's certificate is not trusted
    error = await refused(config(server, username="relayuser", password="pw"))
    assert not error.permanent
    assert server.received[0].authenticated and len(server.received) == 1


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_over_starttls(
    smtp_server: Start, smtp_certificates: dict[str, str], mechanism: str
) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"], auth=("relayuser", "s3cret pw"))
    server.options.extensions += (f"AUTH {mechanism}",)
    relay = config(server, starttls="required", trust_roots=smtp_certificates["ca"],
                   username="relayuser", password="s3cret pw")
    assert (await send(relay)).delivered
    assert server.received[0].authenticated and server.received[0].tls


@pytest_twisted.ensureDeferred
async def test_auth_wrong_password_is_permanent(
    smtp_server: Start, smtp_certificates: dict[str, str]
) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"], auth=("relayuser", "right"))
    relay = config(server, starttls="required", trust_roots=smtp_certificates["ca"],
                   username="relayuser", password="wrong-secret")
    error = await refused(relay)
    assert error.permanent
    assert error.reply == "535 Authentication failed"
    assert "wrong-secret" not in str(error) and "wrong-secret" not in repr(relay)
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_auth_needed_but_not_given(smtp_server: Start) -> None:
    server = smtp_server(auth=("relayuser", "pw"))
    error = await refused(config(server))
    assert error.permanent
    assert error.reply.startswith("550 ")
    assert "MAIL FROM" in str(error)


@pytest_twisted.ensureDeferred
async def test_no_password_over_plain_connection(smtp_server: Start) -> None:
    server = smtp_server(auth=("relayuser", "pw"))
    relay = config(server, username="relayuser", password="pw")
    error = await refused(relay)
    assert not error.permanent
    assert "unencrypted" in str(error)
    allowed = config(server, username="relayuser", password="pw", allow_plain_auth=True)
    assert (await send(allowed)).delivered


@pytest_twisted.ensureDeferred
async def test_some_recipients_refused(smtp_server: Start) -> None:
    server = smtp_server(refuse_recipients={
        "nobody@example.net": (550, "5.1.1 No such user here"),
        "later@example.net": (451, "4.3.2 Try again later"),
    })
    result = await send(config(server), [
        "bob@example.net", "nobody@example.net", "later@example.net", "carol@example.net",
    ])
    assert result.delivered
    assert [(r.email, r.code, r.reply, r.accepted) for r in result.recipients] == [
        ("bob@example.net", 250, "250 2.1.5 Recipient OK", True),
        ("nobody@example.net", 550, "550 5.1.1 No such user here", False),
        ("later@example.net", 451, "451 4.3.2 Try again later", False),
        ("carol@example.net", 250, "250 2.1.5 Recipient OK", True),
    ]
    [received] = server.received
    assert [r for r, _ in received.recipients] == ["bob@example.net", "carol@example.net"]


@pytest_twisted.ensureDeferred
async def test_all_recipients_refused(smtp_server: Start) -> None:
    server = smtp_server(refuse_recipients={"nobody@example.net": (550, "5.1.1 Unknown")})
    result = await send(config(server), ["nobody@example.net"])
    assert not result.delivered
    assert result.data_reply is None
    assert result.recipients == (
        RecipientResult("nobody@example.net", 550, "550 5.1.1 Unknown", False),
    )
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_mail_from_refused(smtp_server: Start) -> None:
    server = smtp_server(refuse_mail_from=(553, "5.7.1 Sender not allowed"))
    error = await refused(config(server))
    assert error.permanent
    assert error.reply == "553 5.7.1 Sender not allowed"
    temporary = smtp_server(refuse_mail_from=(451, "4.7.1 Greylisted"))
    error = await refused(config(temporary))
    assert not error.permanent
    assert error.reply == "451 4.7.1 Greylisted"


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize(("code", "permanent"), [(452, False), (554, True)])
@pytest.mark.parametrize("when", ["refuse_data", "refuse_data_command"])
async def test_data_refused(smtp_server: Start, code: int, permanent: bool, when: str) -> None:
    server = smtp_server(**{when: (code, f"{code // 100}.3.0 Not now")})
    error = await refused(config(server))
    assert error.permanent is permanent
    assert error.reply == f"{code} {code // 100}.3.0 Not now"
    assert error.result is not None and not error.result.delivered
    assert error.result.recipients[0].reply == "250 2.1.5 Recipient OK"
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_dot_stuffing_and_line_ends_round_trip(smtp_server: Start) -> None:
    server = smtp_server()
    message = (
        b"Subject: dots\n\n.leading dot\n..two dots\n.\nmiddle . dot\r\nbare cr\rend"
    )
    assert (await send(config(server), message=message)).delivered
    assert server.received[0].data == (
        b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n"
        b"bare cr\r\nend\r\n"
    )


@pytest_twisted.ensureDeferred
async def test_eight_bit_body_byte_exact(smtp_server: Start) -> None:
    server = smtp_server(extensions=("8BITMIME", "SIZE 100000"))
    message = (
        "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, 日本語, ελληνικά\r\n"
    ).encode() + b"latin-1 \xe9\xff\r\n"
    assert (await send(config(server), message=message)).delivered
    [received] = server.received
    assert received.data == message
    assert received.mail_from_parameters == {"BODY": "8BITMIME", "SIZE": str(len(message))}


@pytest_twisted.ensureDeferred
async def test_message_larger_than_advertised_size(smtp_server: Start) -> None:
    server = smtp_server(extensions=("SIZE 100",))
    error = await refused(config(server), message=MESSAGE + b"x" * 200 + b"\r\n")
    assert error.permanent
    assert "larger" in str(error)


@pytest_twisted.ensureDeferred
async def test_futurerelease_parameters_pass_through(smtp_server: Start) -> None:
    server = smtp_server(extensions=("FUTURERELEASE 604800 2030-01-01T00:00:00Z", "DSN"))
    until = {"HOLDUNTIL": "2029-12-24T18:00:00Z"}
    assert (await send(config(server), mail_from_parameters=until)).delivered
    assert (await send(
        config(server), mail_from_parameters={"HOLDFOR": "3600", "RET": "HDRS"},
        recipients=[("bob@example.net", {"NOTIFY": "FAILURE,DELAY"})],
    )).delivered
    assert server.received[0].mail_from_parameters == until
    assert server.received[1].mail_from_parameters == {"HOLDFOR": "3600", "RET": "HDRS"}
    assert server.received[1].recipients == [("bob@example.net", {"NOTIFY": "FAILURE,DELAY"})]


@pytest_twisted.ensureDeferred
async def test_parameters_of_extensions_not_advertised(smtp_server: Start) -> None:
    server = smtp_server(extensions=())
    error = await refused(config(server), mail_from_parameters={"HOLDFOR": "3600"})
    assert error.permanent
    assert "HOLDFOR" in str(error) and "FUTURERELEASE" in str(error)
    error = await refused(
        config(server), recipients=[("bob@example.net", {"NOTIFY": "NEVER"})]
    )
    assert error.permanent and "DSN" in str(error)
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_malformed_parameters_never_reach_the_wire(smtp_server: Start) -> None:
    server = smtp_server()
    for parameters in ({"HOLDFOR": "1\r\nRSET"}, {"BAD NAME": None}, {"X": "a=b"}):
        error = await refused(config(server), mail_from_parameters=parameters)
        assert error.permanent
    error = await refused(config(server), recipients=["bob@example.net>\r\nDATA"])
    assert error.permanent
    assert server.received == []


@pytest_twisted.ensureDeferred
async def test_international_addresses_need_smtputf8(smtp_server: Start) -> None:
    server = smtp_server(extensions=("8BITMIME", "SMTPUTF8"))
    result = await send(config(server), ["jürgen@bücher.example"], mail_from="ñandú@example.org")
    assert result.delivered
    [received] = server.received
    assert received.mail_from == "ñandú@example.org"
    assert received.mail_from_parameters == {"SMTPUTF8": None}
    assert received.recipients == [("jürgen@bücher.example", {})]

    plain = smtp_server(extensions=("8BITMIME",))
    error = await refused(config(plain), recipients=["jürgen@bücher.example"])
    assert error.permanent
    assert "SMTPUTF8" in str(error)
    assert plain.received == []


@pytest_twisted.ensureDeferred
async def test_timeout_when_the_relay_never_answers(silent_server: SilentServer) -> None:
    error = await refused(config(silent_server, timeout=0.3))
    assert not error.permanent
    assert "did not answer" in str(error)


@pytest_twisted.ensureDeferred
async def test_connection_refused() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more
    relay = RelayConfig(endpoint=f"tcp:host=127.0.0.1:port={port}", starttls="off", timeout=5)
    error = await refused(relay)
    assert not error.permanent
    assert "cannot connect" in str(error)


@pytest_twisted.ensureDeferred
async def test_no_recipients() -> None:
    relay = RelayConfig(endpoint="tcp:host=127.0.0.1:port=1", starttls="off")
    error = await refused(relay, recipients=[])
    assert error.permanent


def test_wire_data() -> None:
    assert wire_data(b"") == b"\r\n"
    assert wire_data(b"a\nb") == b"a\r\nb\r\n"
    assert wire_data(b".\r\n.x\n") == b"..\r\n..x\r\n"
    assert wire_data(b"a\r\r\nb") == b"a\r\n\r\nb\r\n"


def test_join_reply_follows_rfc_8621() -> None:
    assert join_reply(["250 2.1.5 OK"]) == "250 2.1.5 OK"
    assert join_reply([
        "550-5.7.1 Our system has detected that this message is",
        "550 5.7.1 likely spam.",
    ]) == "550 5.7.1 Our system has detected that this message is likely spam."
    assert join_reply(["451-first", "451 second"]) == "451 first second"
    assert join_reply(["250"]) == "250"


@pytest_twisted.ensureDeferred
async def test_cancelling_closes_the_connection(silent_server: SilentServer) -> None:
    sending = defer.ensureDeferred(send(config(silent_server, timeout=30)))
    while not silent_server.connections:
        await deferLater(reactor, 0.01, lambda: None)
    sending.cancel()
    with pytest.raises(defer.CancelledError):
        await sending
    connection = silent_server.connections[0]
    for _ in range(100):
        if not connection.transport.connected:  # type: ignore[union-attr]
            break
        await deferLater(reactor, 0.01, lambda: None)
    assert not connection.transport.connected  # type: ignore[union-attr]


@pytest_twisted.ensureDeferred
async def test_relay_from_service_settings(
    smtp_server: Start, smtp_certificates: dict[str, str], tmp_path: Path
) -> None:
    server = smtp_server(certificate=smtp_certificates["server"],
                         key=smtp_certificates["server_key"], auth=("submitter", "pass word"))
    password = tmp_path / "relay-password"
    password.write_text("pass word\n")
    relay = relay_config(build_config({
        "public-url": "https://mail.example.org",
        "smtp-relay": server.endpoint,
        "smtp-relay-user": "submitter",
        "smtp-relay-password-file": str(password),
        "smtp-relay-ca": smtp_certificates["ca"],
        "smtp-relay-timeout": "5",
    }))
    assert relay is not None and relay.starttls == "required"
    assert (await send(relay)).delivered
    assert server.received[0].authenticated and server.received[0].tls


@pytest_twisted.ensureDeferred
async def test_utf8_header_sent_as_smtputf8_when_offered(smtp_server: Start) -> None:
    message = "Subject: Grüße\r\n\r\nbody\r\n".encode()
    server = smtp_server(extensions=("8BITMIME", "SMTPUTF8"))
    legacy = smtp_server(extensions=("8BITMIME",))
    assert (await send(config(server), message=message)).delivered
    assert (await send(config(legacy), message=message)).delivered
    assert server.received[0].mail_from_parameters == {"SMTPUTF8": None, "BODY": "8BITMIME"}
    assert legacy.received[0].mail_from_parameters == {"BODY": "8BITMIME"}
    assert server.received[0].data == legacy.received[0].data == message
