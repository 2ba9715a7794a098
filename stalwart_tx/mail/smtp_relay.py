"""Sending one message through an SMTP relay, as JMAP EmailSubmission does (RFC 8621 §7).

``send_via_relay`` opens one connection to the configured relay, says EHLO, secures the
connection with STARTTLS as configured (certificate and host name verified), authenticates with
AUTH PLAIN or LOGIN when a user is configured, and runs one mail transaction: MAIL FROM with the
envelope's parameters, one RCPT TO per recipient (each reply kept, RFC 8621 ``smtpReply``), and
DATA to the recipients the relay accepted. The message is sent with CRLF line ends and dot-stuffed.

Envelope parameters are passed through only when the relay advertised the extension that defines
them (SIZE, 8BITMIME for BODY, FUTURERELEASE for HOLDFOR/HOLDUNTIL of RFC 4865, DSN, ...);
otherwise the submission fails with a permanent ``RelayError`` before anything is sent. Non-ASCII
addresses need SMTPUTF8 (RFC 6531) in the same way.

Everything runs on the reactor; nothing blocks. The password is sent base64-encoded inside the
TLS session and appears in no log, exception, or repr.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet import defer
from twisted.internet import error as net_error
from twisted.internet.endpoints import (
    HostnameEndpoint,
    _parse,  # type: ignore[attr-defined]
    wrapClientTLS,
)
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates
from twisted.mail.smtp import ESMTPClient
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure

from stalwart_tx.config import ServiceConfig, read_password_file

STARTTLS_MODES = ("required", "opportunistic", "off")
DEFAULT_TIMEOUT = 60.0

# The EHLO keyword a MAIL FROM / RCPT TO parameter needs; a parameter not listed here needs a
# keyword of its own name.
_PARAMETER_EXTENSIONS: Mapping[str, str] = {
    "SIZE": "SIZE",
    "BODY": "8BITMIME",
    "SMTPUTF8": "SMTPUTF8",
    "HOLDFOR": "FUTURERELEASE",
    "HOLDUNTIL": "FUTURERELEASE",
    "RET": "DSN",
    "ENVID": "DSN",
    "NOTIFY": "DSN",
    "ORCPT": "DSN",
    "BY": "DELIVERBY",
    "MT-PRIORITY": "MT-PRIORITY",
    "REQUIRETLS": "REQUIRETLS",
    "AUTH": "AUTH",
}
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
# esmtp-value (RFC 5321 §4.1.2): printable US-ASCII but "="; UTF-8 allowed by RFC 6531.
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+\Z")
_BAD_ADDRESS_CHARACTER = re.compile(r"[\x00-\x20\x7f<>]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class RelayConfig:
    """How to reach the relay. The password is left out of repr."""

    endpoint: str
    starttls: str = "required"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    helo: str = "localhost"
    timeout: float = DEFAULT_TIMEOUT
    trust_roots: str | None = None
    allow_plain_auth: bool = False


@dataclass(frozen=True)
class RecipientResult:
    """The relay's reply to one RCPT TO; ``reply`` is the whole reply, e.g. "250 2.1.5 OK"."""

    email: str
    code: int
    reply: str
    accepted: bool


@dataclass(frozen=True)
class RelayResult:
    """One transaction: ``delivered`` when the relay accepted the message data."""

    mail_from_reply: str
    recipients: tuple[RecipientResult, ...]
    data_reply: str | None
    delivered: bool


class RelayError(Exception):
    """The message was not handed to the relay.

    ``permanent`` when the relay refused with a 5xx reply, or when the envelope cannot be sent
    through this relay at all (an extension it lacks); temporary for 4xx replies, the network,
    TLS, timeouts and local configuration. ``reply`` is the relay's reply ("535 5.7.8 ...") or,
    when there was none, a description. ``result`` holds the recipients' replies when the
    failure came at DATA.
    """

    def __init__(
        self, message: str, *, permanent: bool, reply: str | None = None,
        result: RelayResult | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reply = reply if reply is not None else message
        self.result = result


def join_reply(lines: Sequence[str]) -> str:
    """A multi-line SMTP reply as one string, the way RFC 8621 §7 asks for ``smtpReply``.

    The hyphen after the code becomes a space, whatever the later lines share with the first
    line's code and enhanced status code is dropped, and the lines are joined with spaces.
    """
    if not lines:
        return ""
    first = lines[0][:3] + " " + lines[0][4:]
    if len(lines) == 1:
        return first.rstrip()
    match = re.match(r"\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?", lines[0])
    prefix = match.group(0)[4:] if match else ""
    parts = [first.rstrip()]
    for line in lines[1:]:
        text = line[4:]
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
        parts.append(text.strip())
    return " ".join(part for part in parts if part)


def wire_data(message: bytes) -> bytes:
    """The message as sent after DATA, without the final ".": CRLF line ends, dot-stuffed."""
    data = _LINE_BREAK.sub(b"\r\n", message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data)


def _check_address(email: str, what: str, *, empty_allowed: bool = False) -> None:
    if not email and not empty_allowed:
        raise RelayError(f"{what}: an empty address", permanent=True)
    if _BAD_ADDRESS_CHARACTER.search(email):
        raise RelayError(f"{what}: {email!r} is not an SMTP address", permanent=True)


def _check_parameters(parameters: Mapping[str, str | None], what: str) -> None:
    for name, value in parameters.items():
        if not _KEYWORD.match(name):
            raise RelayError(f"{what}: {name!r} is not an SMTP parameter name", permanent=True)
        if value is not None and not _VALUE.match(value):
            raise RelayError(
                f"{what}: {value!r} is not a valid value of parameter {name}", permanent=True
            )


def _needs_smtputf8(text: str) -> bool:
    return not text.isascii()


def _extension_for(name: str, value: str | None) -> str:
    upper = name.upper()
    if upper == "BODY" and (value or "").upper() == "BINARYMIME":
        return "BINARYMIME"
    return _PARAMETER_EXTENSIONS.get(upper, upper)


def _format_parameters(parameters: Mapping[str, str | None]) -> bytes:
    return b"".join(
        b" " + name.upper().encode("ascii")
        + (b"" if value is None else b"=" + value.encode("utf-8"))
        for name, value in parameters.items()
    )


def _tls_failure(reason: Failure) -> str | None:
    value = reason.value
    if not isinstance(value, SSL.Error):
        return None
    details = str(value)
    if value.args and isinstance(value.args[0], list):
        details = "; ".join(
            str(part[2]) for part in value.args[0] if isinstance(part, tuple) and len(part) == 3
        ) or details
    return f"TLS with the relay failed: {details}"


def _reason_text(reason: Failure) -> str:
    return _tls_failure(reason) or str(reason.value) or type(reason.value).__name__


class _RelayProtocol(ESMTPClient):  # type: ignore[misc]
    """One SMTP session running one transaction; fires ``done`` once the connection is closed.

    The inherited ESMTPClient supplies the line handling and the STARTTLS switch; every state
    after the greeting is its own so that each reply is kept whole and failures carry it.
    """

    debug = False  # the inherited session log would hold the AUTH exchange
    transport: Any

    def __init__(
        self,
        config: RelayConfig,
        tls: IOpenSSLClientConnectionCreator | None,
        mail_from: str,
        mail_from_parameters: Mapping[str, str | None],
        recipients: Sequence[tuple[str, Mapping[str, str | None]]],
        data: bytes,
    ) -> None:
        helo = config.helo or "localhost"
        super().__init__(None, tls, helo.encode("ascii" if helo.isascii() else "idna"))
        self.timeout = config.timeout  # type: ignore[assignment]
        self.done: defer.Deferred[RelayResult] = defer.Deferred(self._cancel)
        self._config = config
        self._mail_from = mail_from
        self._mail_from_parameters = mail_from_parameters
        self._recipients = list(recipients)
        self._data = data
        self._lines: list[str] = []
        self._reply = ""
        self._extensions: dict[str, str] = {}
        self._outcome: RelayResult | RelayError | None = None
        self._closing = False
        self._mail_from_reply = ""
        self._results: list[RecipientResult] = []
        self._next_recipient = 0
        self._data_sent = False

    # -- replies ---------------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        self.resetTimeout()
        text = line.decode("utf-8", "replace")
        if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
            self._fail(RelayError(
                f"the relay sent a malformed reply: {text[:200]!r}", permanent=False
            ))
            return
        self._lines.append(text)
        if text[3:4] == "-":
            return
        lines, self._lines = self._lines, []
        code = int(text[:3])
        self._reply = join_reply(lines)
        response = "\n".join(reply_line[4:] for reply_line in lines).encode("utf-8")
        handler = self._okresponse if code in self._expected else self._failresponse
        handler(code, response)

    def _expect(
        self, codes: Sequence[int] | range, ok: Callable[[int, bytes], None],
        fail: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self._expected = list(codes)
        self._okresponse = ok
        self._failresponse = fail or self._refused

    def _refused(self, code: int, response: bytes) -> None:
        self._fail(self._reply_error("the relay refused the connection", code))

    def _reply_error(
        self, what: str, code: int, result: RelayResult | None = None
    ) -> RelayError:
        return RelayError(
            f"{what}: {self._reply}", permanent=500 <= code < 600, reply=self._reply,
            result=result,
        )

    # -- connection ------------------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()  # notes whether the transport is TLS already; expects 220
        self._expect([220], self._ehlo, self._refused)

    def timeoutConnection(self) -> None:
        error = RelayError(
            f"the relay did not answer within {self._config.timeout:g} seconds", permanent=False
        )
        if self._data_sent and self._outcome is None:
            error = RelayError(
                f"the relay did not answer the message data within {self._config.timeout:g} "
                "seconds; it may or may not deliver it", permanent=False,
            )
        if self._outcome is None:
            self._outcome = error
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = net_error.ConnectionDone) -> None:  # type: ignore[assignment]
        super().connectionLost(reason)
        outcome = self._outcome
        if outcome is None:
            if self._data_sent:
                outcome = RelayError(
                    "the connection to the relay was lost after the message was sent; "
                    f"it may or may not deliver it ({_reason_text(reason)})", permanent=False,
                )
            else:
                outcome = RelayError(
                    _tls_failure(reason)
                    or f"the connection to the relay was lost: {_reason_text(reason)}",
                    permanent=False,
                )
        done = self.done
        if done.called:  # cancelled
            return
        if isinstance(outcome, RelayError):
            done.errback(outcome)
        else:
            done.callback(outcome)

    def _cancel(self, done: defer.Deferred[RelayResult]) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    def _fail(self, error: RelayError) -> None:
        if self._outcome is None:
            self._outcome = error
        self._quit()

    def _finish(self, result: RelayResult) -> None:
        self._outcome = result
        self._quit()

    def _quit(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._expect(range(1000), self._close, self._close)
        self.sendLine(b"QUIT")

    def _close(self, code: int = 0, response: bytes = b"") -> None:
        self.transport.loseConnection()

    # -- EHLO, STARTTLS, AUTH --------------------------------------------------------------

    def _ehlo(self, code: int = 0, response: bytes = b"") -> None:
        self._expect(range(200, 300), self._server_config, self._ehlo_refused)
        self.sendLine(b"EHLO " + self.identity)

    def _ehlo_refused(self, code: int, response: bytes) -> None:
        if code in (421, 554) or self._needs_esmtp():
            self._fail(self._reply_error("the relay refused EHLO", code))
            return
        self._expect(range(200, 300), lambda code, response: self._mail())
        self.sendLine(b"HELO " + self.identity)

    def _needs_esmtp(self) -> bool:
        return self._config.username is not None or (
            self._config.starttls == "required" and not self._tlsMode
        )

    def _server_config(self, code: int, response: bytes) -> None:
        self._extensions = {}
        for line in response.decode("utf-8", "replace").splitlines()[1:]:
            keyword, _, value = line.strip().partition(" ")
            if keyword:
                self._extensions[keyword.upper()] = value.strip()
        if not self._tlsMode and self._config.starttls != "off":
            if "STARTTLS" in self._extensions and self.context is not None:
                self._expect([220], self._start_tls, self._starttls_refused)
                self.sendLine(b"STARTTLS")
                return
            if self._config.starttls == "required":
                self._fail(RelayError(
                    "the relay does not offer STARTTLS, which smtp-relay-starttls requires",
                    permanent=False,
                ))
                return
        self._authenticate()

    def _starttls_refused(self, code: int, response: bytes) -> None:
        if self._config.starttls == "required" or code == 421:
            self._fail(self._reply_error("the relay refused STARTTLS", code))
        else:
            self._authenticate()

    def _start_tls(self, code: int, response: bytes) -> None:
        try:
            self.transport.startTLS(self.context)
        except Exception as error:
            self._outcome = RelayError(f"cannot start TLS with the relay: {error}",
                                       permanent=False)
            self.transport.abortConnection()
            return
        self._tlsMode = True
        self._ehlo()

    def _authenticate(self) -> None:
        username, password = self._config.username, self._config.password
        if username is None:
            self._mail()
            return
        if not self._tlsMode and not self._config.allow_plain_auth:
            self._fail(RelayError(
                "refusing to send the relay password over an unencrypted connection",
                permanent=False,
            ))
            return
        offered = self._extensions.get("AUTH", "").upper().split()
        user = username.encode("utf-8")
        secret = (password or "").encode("utf-8")
        if "PLAIN" in offered:
            self._expect([235], lambda code, response: self._mail(), self._auth_refused)
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            self.sendLine(b"AUTH PLAIN " + token)
        elif "LOGIN" in offered:
            def send_password(code: int, response: bytes) -> None:
                self._expect([235], lambda code, response: self._mail(), self._auth_refused)
                self.sendLine(base64.b64encode(secret))

            def send_user(code: int, response: bytes) -> None:
                self._expect([334], send_password, self._auth_refused)
                self.sendLine(base64.b64encode(user))

            self._expect([334], send_user, self._auth_refused)
            self.sendLine(b"AUTH LOGIN")
        else:
            self._fail(RelayError(
                "the relay offers no AUTH mechanism this client has (PLAIN, LOGIN): "
                f"{' '.join(offered) or 'none'}", permanent=False,
            ))

    def _auth_refused(self, code: int, response: bytes) -> None:
        self._fail(self._reply_error(
            f"the relay refused the credentials of {self._config.username!r}", code
        ))

    # -- the transaction -------------------------------------------------------------------

    def _unsupported(self, parameters: Mapping[str, str | None], what: str) -> RelayError | None:
        for name, value in parameters.items():
            extension = _extension_for(name, value)
            if extension == "BINARYMIME":
                return RelayError(
                    f"{what}: BODY=BINARYMIME needs BDAT, which this client does not send",
                    permanent=True,
                )
            if extension not in self._extensions:
                return RelayError(
                    f"{what}: the relay does not support parameter {name.upper()} "
                    f"(it advertises no {extension} extension)", permanent=True,
                )
        return None

    def _mail(self) -> None:
        parameters = dict(self._mail_from_parameters)
        names = {name.upper() for name in parameters}
        addresses = [self._mail_from] + [email for email, _ in self._recipients]
        international = [a for a in addresses if _needs_smtputf8(a)]
        error = self._unsupported(parameters, "MAIL FROM")
        for email, recipient_parameters in self._recipients:
            error = error or self._unsupported(recipient_parameters, f"RCPT TO <{email}>")
        if error is None and international and "SMTPUTF8" not in self._extensions:
            error = RelayError(
                f"the relay does not support SMTPUTF8 (RFC 6531), needed for the address "
                f"{international[0]!r}", permanent=True,
            )
        limit = self._extensions.get("SIZE", "")
        if error is None and limit.isdigit() and 0 < int(limit) < len(self._data):
            error = RelayError(
                f"the message ({len(self._data)} octets) is larger than the relay accepts "
                f"({limit} octets)", permanent=True,
            )
        if error is not None:
            self._fail(error)
            return
        header = self._data.partition(b"\r\n\r\n")[0]
        utf8_header = not header.isascii() and "SMTPUTF8" in self._extensions
        if (international or utf8_header) and "SMTPUTF8" not in names:
            parameters["SMTPUTF8"] = None  # RFC 6532 header fields go as SMTPUTF8 when possible
        if "SIZE" in self._extensions and "SIZE" not in names:
            parameters["SIZE"] = str(len(self._data))
        if "8BITMIME" in self._extensions and "BODY" not in names and not self._data.isascii():
            parameters["BODY"] = "8BITMIME"
        self._expect(range(200, 300), self._mail_accepted, self._mail_refused)
        self.sendLine(
            b"MAIL FROM:<" + self._mail_from.encode("utf-8") + b">"
            + _format_parameters(parameters)
        )

    def _mail_refused(self, code: int, response: bytes) -> None:
        self._fail(self._reply_error(f"the relay refused MAIL FROM <{self._mail_from}>", code))

    def _mail_accepted(self, code: int, response: bytes) -> None:
        self._mail_from_reply = self._reply
        self._expect(range(1000), self._rcpt_answered, self._rcpt_answered)
        self._send_rcpt()

    def _send_rcpt(self) -> None:
        email, parameters = self._recipients[self._next_recipient]
        self.sendLine(
            b"RCPT TO:<" + email.encode("utf-8") + b">" + _format_parameters(parameters)
        )

    def _rcpt_answered(self, code: int, response: bytes) -> None:
        email = self._recipients[self._next_recipient][0]
        if code == 421:
            self._fail(self._reply_error("the relay closed the session", code))
            return
        self._results.append(RecipientResult(email, code, self._reply, 200 <= code < 300))
        self._next_recipient += 1
        if self._next_recipient < len(self._recipients):
            self._send_rcpt()
        elif any(result.accepted for result in self._results):
            self._expect([354], self._send_data, self._data_refused)
            self.sendLine(b"DATA")
        else:
            self._finish(self._result(None, delivered=False))

    def _result(self, data_reply: str | None, *, delivered: bool) -> RelayResult:
        return RelayResult(self._mail_from_reply, tuple(self._results), data_reply, delivered)

    def _data_refused(self, code: int, response: bytes) -> None:
        self._fail(self._reply_error(
            "the relay refused the message", code, self._result(self._reply, delivered=False)
        ))

    def _send_data(self, code: int, response: bytes) -> None:
        self._expect(range(200, 300), self._data_accepted, self._data_refused)
        self._data_sent = True

        def progress(chunk: bytes) -> bytes:
            self.resetTimeout()
            return chunk

        sender = FileSender()
        sending = sender.beginFileTransfer(BytesIO(self._data), self.transport, progress)
        sending.addCallbacks(lambda _: self.transport.write(b".\r\n"), lambda _: None)

    def _data_accepted(self, code: int, response: bytes) -> None:
        self._data_sent = False
        self._finish(self._result(self._reply, delivered=True))


def _read_trust_roots(path: str) -> Any:
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        raise RelayError(
            f"cannot read the relay's CA file {path}: {error.strerror}", permanent=False
        ) from None
    marker = b"-----END CERTIFICATE-----"
    blocks = [
        block + marker for block in pem.split(marker) if b"-----BEGIN CERTIFICATE-----" in block
    ]
    if not blocks:
        raise RelayError(f"{path} holds no PEM certificate", permanent=False)
    try:
        return trustRootFromCertificates(  # type: ignore[no-untyped-call]
            [Certificate.loadPEM(block) for block in blocks]
        )
    except Exception as error:
        raise RelayError(f"{path} is not a PEM certificate file: {error}", permanent=False) \
            from None


@dataclass(frozen=True)
class _Endpoint:
    kind: str
    host: str
    port: int
    options: Mapping[str, str]


def _parse_endpoint(endpoint: str) -> _Endpoint:
    try:
        args, kwargs = _parse(endpoint)
    except Exception as error:
        raise ValueError(f"{endpoint!r} is not an endpoint string: {error}") from None
    kind = str(args[0]).lower() if args else ""
    if kind not in ("tcp", "tls"):
        raise ValueError(
            f"{endpoint!r}: a relay endpoint is tcp:host=NAME:port=N or tls:host=NAME:port=N"
        )
    positional = [str(a) for a in args[1:]]
    host = kwargs.get("host") or (positional.pop(0) if positional else "")
    port = kwargs.get("port") or (positional.pop(0) if positional else "")
    if positional:
        raise ValueError(f"{endpoint!r}: unexpected {':'.join(positional)!r}")
    if not host:
        raise ValueError(f"{endpoint!r}: no host")
    if not (str(port).isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{endpoint!r}: no port between 1 and 65535")
    options = {k: str(v) for k, v in kwargs.items() if k not in ("host", "port")}
    unknown = set(options) - {"timeout", "bindAddress"}
    if unknown:
        raise ValueError(
            f"{endpoint!r}: unsupported option {', '.join(sorted(unknown))} "
            "(a relay endpoint takes host, port, timeout and bindAddress; CAs come from "
            "smtp-relay-ca)"
        )
    if "timeout" in options:
        try:
            if not float(options["timeout"]) > 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"{endpoint!r}: timeout is not a positive number") from None
    return _Endpoint(kind, str(host), int(port), options)


def parse_relay_option(value: str) -> RelayConfig:
    """The relay configuration for an ``smtp-relay`` value (an endpoint string).

    STARTTLS is required on ``tcp:`` and off on ``tls:`` (already encrypted). Raises ValueError
    for anything that is not a ``tcp:`` or ``tls:`` client endpoint with host and port.
    """
    endpoint = _parse_endpoint(value.strip())
    return RelayConfig(
        endpoint=value.strip(), starttls="off" if endpoint.kind == "tls" else "required"
    )


def relay_config(config: ServiceConfig) -> RelayConfig | None:
    """The relay the service's settings describe, or None when submission is not configured.

    Reads the password file now (so a changed password is used by the next call); raises
    ConfigError naming smtp-relay-password-file when it cannot.
    """
    if config.smtp_relay is None:
        return None
    password = None
    if config.smtp_relay_password_file is not None:
        password = read_password_file(config.smtp_relay_password_file)
    return RelayConfig(
        endpoint=config.smtp_relay,
        starttls=config.smtp_relay_starttls,
        username=config.smtp_relay_user,
        password=password,
        helo=config.smtp_relay_helo,
        timeout=config.smtp_relay_timeout,
        trust_roots=str(config.smtp_relay_ca) if config.smtp_relay_ca else None,
    )


def _connector(reactor: Any, config: RelayConfig) -> tuple[
    IStreamClientEndpoint, IOpenSSLClientConnectionCreator | None
]:
    try:
        endpoint = _parse_endpoint(config.endpoint)
    except ValueError as error:
        raise RelayError(f"smtp-relay: {error}", permanent=False) from None
    if config.starttls not in STARTTLS_MODES:
        raise RelayError(f"smtp-relay-starttls: {config.starttls!r} is not one of "
                         f"{', '.join(STARTTLS_MODES)}", permanent=False)
    trust = _read_trust_roots(config.trust_roots) if config.trust_roots else None
    tls = optionsForClientTLS(endpoint.host, trustRoot=trust)
    bind = endpoint.options.get("bindAddress")
    tcp = HostnameEndpoint(
        reactor, endpoint.host, endpoint.port,
        timeout=float(endpoint.options.get("timeout", config.timeout)),
        bindAddress=(bind, 0) if bind else None,
    )
    if endpoint.kind == "tls":
        return wrapClientTLS(tls, tcp), None
    return tcp, tls


async def send_via_relay(
    reactor: Any,
    config: RelayConfig,
    mail_from: str,
    mail_from_parameters: Mapping[str, str | None],
    recipients: Sequence[tuple[str, Mapping[str, str | None]]],
    message: bytes,
) -> RelayResult:
    """Send ``message`` to ``recipients`` through the relay in one SMTP transaction.

    Returns the replies to MAIL FROM, to each RCPT TO (in order) and to the data. When the relay
    refuses every recipient no data is sent and ``delivered`` is False. Raises RelayError when
    the message could not be handed over (connection, TLS, AUTH, MAIL FROM, DATA, timeout).
    """
    _check_address(mail_from, "MAIL FROM", empty_allowed=True)
    _check_parameters(mail_from_parameters, "MAIL FROM")
    if not recipients:
        raise RelayError("no recipients", permanent=True)
    for email, parameters in recipients:
        _check_address(email, "RCPT TO")
        _check_parameters(parameters, f"RCPT TO <{email}>")
    endpoint, tls = _connector(reactor, config)
    if config.starttls == "off":
        tls = None
    data = wire_data(message)
    protocol = _RelayProtocol(config, tls, mail_from, mail_from_parameters, recipients, data)

    connecting = endpoint.connect(Factory.forProtocol(lambda: protocol))
    connecting.addTimeout(config.timeout, reactor)
    try:
        await connecting
    except defer.TimeoutError:
        raise RelayError(
            f"cannot connect to the relay {config.endpoint}: no connection within "
            f"{config.timeout:g} seconds", permanent=False,
        ) from None
    except Exception as error:
        raise RelayError(
            f"cannot connect to the relay {config.endpoint}: {error}", permanent=False
        ) from None
    return await protocol.done
