"""A local SMTP server for tests, on twisted.mail.smtp's ESMTP with a message delivery class.

It listens on a free port of 127.0.0.1, can offer STARTTLS with the test certificates, can
require AUTH (PLAIN, LOGIN) checked by twisted.cred, refuses chosen recipients, MAIL FROM or the
message data with chosen replies, advertises chosen extensions (FUTURERELEASE, SMTPUTF8, ...) and
refuses parameters of extensions it does not advertise. Every accepted transaction is recorded
with its envelope and the message bytes exactly as received (dot-stuffing undone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.internet.ssl import PrivateCertificate
from twisted.mail._cred import LOGINCredentials, PLAINCredentials
from twisted.mail.interfaces import IMessageDelivery, IMessageSMTP
from twisted.mail.smtp import ESMTP, SMTPServerError
from zope.interface import implementer

PARAMETER_EXTENSIONS = {
    "SIZE": "SIZE", "BODY": "8BITMIME", "SMTPUTF8": "SMTPUTF8", "HOLDFOR": "FUTURERELEASE",
    "HOLDUNTIL": "FUTURERELEASE", "RET": "DSN", "ENVID": "DSN", "NOTIFY": "DSN", "ORCPT": "DSN",
}


@dataclass
class Received:
    """One transaction the server accepted."""

    mail_from: str
    mail_from_parameters: dict[str, str | None]
    recipients: list[tuple[str, dict[str, str | None]]]
    data: bytes
    authenticated: bool
    tls: bool


@dataclass
class ServerOptions:
    # PEM paths of the server certificate and its key: STARTTLS offered when given
    certificate: str | None = None
    key: str | None = None
    # (user, password) that AUTH must present before MAIL FROM
    auth: tuple[str, str] | None = None
    # recipient address -> (code, text) refused at RCPT TO
    refuse_recipients: dict[str, tuple[int, str]] = field(default_factory=dict)
    refuse_mail_from: tuple[int, str] | None = None
    # reply to the DATA command itself, or to the end of the data, instead of accepting
    refuse_data_command: tuple[int, str] | None = None
    refuse_data: tuple[int, str] | None = None
    # extra EHLO lines, e.g. "FUTURERELEASE 604800 2030-01-01T00:00:00Z", "SMTPUTF8"
    extensions: tuple[str, ...] = ("8BITMIME", "ENHANCEDSTATUSCODES")
    # TLS from the first byte (as on port 465) with the certificate, instead of STARTTLS
    implicit_tls: bool = False


@implementer(IMessageSMTP)
class _Message:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> defer.Deferred[bytes]:
        return defer.succeed(b"".join(line + b"\r\n" for line in self.lines))

    def connectionLost(self) -> None:
        self.lines = []


@implementer(IMessageDelivery)
class _Delivery:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> None:
        return None  # keep the message byte-exact

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        refusal = self.server.options.refuse_mail_from
        if refusal is not None:
            raise SMTPServerError(refusal[0], refusal[1])
        return origin

    def validateTo(self, user: Any) -> Any:
        refusal = self.server.options.refuse_recipients.get(user)
        if refusal is not None:
            raise SMTPServerError(refusal[0], refusal[1])
        return _Message


@implementer(IRealm)
class _Realm:
    def __init__(self, delivery: _Delivery) -> None:
        self.delivery = delivery

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        if IMessageDelivery in interfaces:
            return IMessageDelivery, self.delivery, lambda: None
        raise NotImplementedError(interfaces)


_PATH = re.compile(rb"\s*(?:FROM|TO):\s*<(?P<path>[^<>]*)>(?P<params>(?:\s+\S+)*)\s*$", re.I)


def _parameters(raw: bytes) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for item in raw.decode("utf-8").split():
        name, equals, value = item.partition("=")
        result[name.upper()] = value if equals else None
    return result


class _TestESMTP(ESMTP):  # type: ignore[misc]
    server: SMTPTestServer

    def extensions(self) -> dict[bytes, Any]:
        extensions: dict[bytes, Any] = ESMTP.extensions(self)
        for line in self.server.options.extensions:
            keyword, *values = line.encode("ascii").split()
            extensions[keyword] = values or None
        return extensions

    def _advertised(self) -> set[str]:
        return {key.decode().upper() for key in self.extensions()}

    def _envelope(self, rest: bytes, what: bytes) -> tuple[str, dict[str, str | None]] | None:
        match = _PATH.match(what + b":" + rest.partition(b":")[2])
        if not match:
            self.sendCode(501, b"5.5.4 Syntax error")
            return None
        path = match.group("path")
        parameters = _parameters(match.group("params"))
        advertised = self._advertised()
        for name in parameters:
            if PARAMETER_EXTENSIONS.get(name, name) not in advertised:
                self.sendCode(555, f"5.5.4 Unsupported parameter {name}".encode())
                return None
        if not path.isascii() and "SMTPUTF8" not in advertised:
            self.sendCode(553, b"5.6.7 Non-ASCII address without SMTPUTF8")
            return None
        return path.decode("utf-8"), parameters

    def do_MAIL(self, rest: bytes) -> None:
        if self._from is not None:
            self.sendCode(503, b"5.5.1 Only one sender per message, please")
            return
        envelope = self._envelope(rest, b"FROM")
        if envelope is None:
            return
        self._to = []
        self._recipient_parameters: list[tuple[str, dict[str, str | None]]] = []
        address, self._mail_parameters = envelope
        validated = defer.maybeDeferred(self.validateFrom, self._helo, address)
        validated.addCallbacks(
            lambda origin: self._cbFromValidate(origin, msg=b"2.1.0 Sender OK"),
            self._ebFromValidate,
        )

    def do_RCPT(self, rest: bytes) -> None:
        if self._from is None:
            self.sendCode(503, b"5.5.1 Must have sender before recipient")
            return
        envelope = self._envelope(rest, b"TO")
        if envelope is None:
            return
        address, parameters = envelope

        def accepted(message_factory: Any) -> None:
            self._recipient_parameters.append((address, parameters))
            self._cbToValidate(message_factory, address, msg=b"2.1.5 Recipient OK")

        validated = defer.maybeDeferred(self.validateTo, address)
        validated.addCallbacks(accepted, self._ebToValidate)

    def do_DATA(self, rest: bytes) -> None:
        refusal = self.server.options.refuse_data_command
        if refusal is not None and self._from is not None and self._to:
            self.sendCode(refusal[0], refusal[1].encode())
            return
        if self._from is not None and self._to:
            self._transaction = (
                str(self._from), self._mail_parameters, list(self._recipient_parameters)
            )
        ESMTP.do_DATA(self, rest)

    def _messageHandled(self, results: list[tuple[bool, Any]]) -> None:
        refusal = self.server.options.refuse_data
        if refusal is not None:
            self.sendCode(refusal[0], refusal[1].encode())
            return
        if not all(success for success, _ in results):
            self.sendCode(451, b"4.3.0 Local error")
            return
        mail_from, parameters, recipients = self._transaction
        self.server.received.append(Received(
            mail_from, parameters, recipients, results[0][1],
            authenticated=self.authenticated, tls=self.startedTLS,
        ))
        self.sendCode(250, f"2.0.0 Queued as {len(self.server.received)}".encode())


class _Factory(ServerFactory):
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    def buildProtocol(self, addr: Any) -> _TestESMTP:
        options = self.server.options
        context = None if options.implicit_tls else self.server.tls_options()
        challengers = {b"PLAIN": PLAINCredentials, b"LOGIN": LOGINCredentials}
        protocol = _TestESMTP(challengers if options.auth else None, context)
        protocol.server = self.server
        protocol.host = b"smtp.test"
        protocol.noisy = False
        if options.auth:
            protocol.portal = self.server.portal
        else:
            protocol.delivery = self.server.delivery
        protocol.factory = self
        return protocol


class SMTPTestServer:
    """A listening test SMTP server; ``received`` lists the accepted transactions."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.received: list[Received] = []
        self.delivery = _Delivery(self)
        self.portal: Portal | None = None
        if options.auth:
            user, password = options.auth
            checker = InMemoryUsernamePasswordDatabaseDontUse(
                **{user: password.encode("utf-8")}
            )
            self.portal = Portal(_Realm(self.delivery), [checker])
        self._port: IListeningPort | None = None

    def tls_options(self) -> Any:
        if not (self.options.certificate and self.options.key):
            return None
        with open(self.options.certificate, "rb") as cert, open(self.options.key, "rb") as key:
            pem = cert.read() + b"\n" + key.read()
        return PrivateCertificate.loadPEM(pem).options()

    def listen(self, reactor: Any) -> SMTPTestServer:
        if self.options.implicit_tls:
            self._port = reactor.listenSSL(
                0, _Factory(self), self.tls_options(), interface="127.0.0.1"
            )
        else:
            self._port = reactor.listenTCP(0, _Factory(self), interface="127.0.0.1")
        return self

    @property
    def port(self) -> int:
        assert self._port is not None
        return int(self._port.getHost().port)

    @property
    def endpoint(self) -> str:
        kind = "tls" if self.options.implicit_tls else "tcp"
        return f"{kind}:host=127.0.0.1:port={self.port}"

    async def stop(self) -> None:
        if self._port is not None:
            port, self._port = self._port, None
            await defer.maybeDeferred(port.stopListening)


class SilentServer:
    """Accepts connections and never says anything, for timeouts."""

    def __init__(self) -> None:
        self.connections: list[Protocol] = []
        self._port: IListeningPort | None = None

    def listen(self, reactor: Any) -> SilentServer:
        server = self

        class Silent(Protocol):
            def connectionMade(self) -> None:
                server.connections.append(self)

        factory = ServerFactory.forProtocol(Silent)
        self._port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        return self

    @property
    def endpoint(self) -> str:
        assert self._port is not None
        return f"tcp:host=127.0.0.1:port={self._port.getHost().port}"

    async def stop(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.abortConnection()
        if self._port is not None:
            port, self._port = self._port, None
            await defer.maybeDeferred(port.stopListening)


__all__ = ["Received", "SMTPTestServer", "ServerOptions", "SilentServer"]
