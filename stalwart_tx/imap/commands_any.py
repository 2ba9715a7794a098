"""Commands of any state and of the not-authenticated state (RFC 9051 §6.1, §6.2), plus ENABLE,
ID (RFC 2971), NAMESPACE (RFC 2342) and IDLE (RFC 2177)."""

from __future__ import annotations

from typing import Any

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.portal import authenticate
from stalwart_tx.imap import syntax
from stalwart_tx.imap.grammar import decode_base64
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.imap.updates import announce

# ENABLE answers the extensions it turned on (RFC 5161); the others are ignored.
ENABLEABLE = {"CONDSTORE", "QRESYNC", "IMAP4REV2", "UTF8=ACCEPT"}


async def capability(session: ImapSession, command: syntax.Capability) -> str:
    session.untagged("CAPABILITY " + " ".join(session.capabilities()))
    return "CAPABILITY completed"


async def noop(session: ImapSession, command: syntax.Noop | syntax.Check) -> str:
    if isinstance(command, syntax.Check):
        session.require(State.SELECTED)
    return f"{type(command).__name__.upper()} completed"


async def logout(session: ImapSession, command: syntax.Logout) -> str:
    session.untagged("BYE logging out")
    session.state = State.LOGOUT
    return "LOGOUT completed"


async def id_(session: ImapSession, command: syntax.Id) -> str:
    session.untagged(f'ID ("name" "{session.server.server_name}")')
    return "ID completed"


async def enable(session: ImapSession, command: syntax.Enable) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    turned_on = []
    for name in command.capabilities:
        if name in ENABLEABLE and name not in session.enabled:
            session.enabled.add(name)
            turned_on.append(name)
            if name in ("CONDSTORE", "QRESYNC"):
                # QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)
                session.condstore = True
    session.untagged(" ".join(["ENABLED", *(_shown(n) for n in turned_on)]))
    return "ENABLE completed"


def _shown(name: str) -> str:
    return "IMAP4rev2" if name == "IMAP4REV2" else name


async def namespace(session: ImapSession, command: syntax.Namespace) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    session.untagged('NAMESPACE (("" "/")) NIL NIL')
    return "NAMESPACE completed"


async def starttls(session: ImapSession, command: syntax.StartTLS) -> str | None:
    session.require(State.NOT_AUTHENTICATED)
    if not session.server.tls_available or session.tls:
        raise CommandFailed.bad("STARTTLS is not available")
    session.send(f"{command.tag} OK begin TLS now".encode())
    session.out.start_tls()
    session.tls = True
    return None


async def compress(session: ImapSession, command: syntax.Compress) -> None:
    session.require(State.AUTHENTICATED, State.SELECTED)
    if session.compressing:
        raise CommandFailed.no("compression is on already", "COMPRESSIONACTIVE")
    session.send(f"{command.tag} OK DEFLATE active".encode())
    session.out.start_compression()
    session.compressing = True
    return None


async def login(session: ImapSession, command: syntax.Login) -> str:
    session.require(State.NOT_AUTHENTICATED)
    if session.server.tls_available and not session.tls:
        raise CommandFailed.no("log in over TLS (STARTTLS first)", "PRIVACYREQUIRED")
    await _log_in(session, command.username, command.password)
    return f"[CAPABILITY {' '.join(session.capabilities())}] logged in"


async def authenticate_command(session: ImapSession, command: syntax.Authenticate) -> str:
    session.require(State.NOT_AUTHENTICATED)
    if command.mechanism != "PLAIN":
        raise CommandFailed.no("unsupported mechanism", "CANNOT")
    if session.server.tls_available and not session.tls:
        raise CommandFailed.no("authenticate over TLS (STARTTLS first)", "PRIVACYREQUIRED")
    response = command.initial_response
    if response is None:
        session.send(b"+ ")
        line = (await session.out.read_line()).strip()
        if line == b"*":
            raise CommandFailed.bad("authentication cancelled")
        try:
            response = decode_base64(line) if line != b"=" else b""
        except ValueError:
            raise CommandFailed.bad("the response is not base64") from None
    parts = response.split(b"\x00")
    if len(parts) != 3:
        raise CommandFailed.bad("a PLAIN response is authzid NUL authcid NUL password")
    authzid, authcid, password = parts
    try:
        name, secret = authcid.decode(), password.decode()
        wanted = authzid.decode()
    except UnicodeDecodeError:
        raise CommandFailed.no("invalid credentials", "AUTHENTICATIONFAILED") from None
    if wanted and wanted.lower() != name.lower():
        raise CommandFailed.no("acting as another user is not allowed", "AUTHORIZATIONFAILED")
    await _log_in(session, name, secret)
    return f"[CAPABILITY {' '.join(session.capabilities())}] logged in"


async def _log_in(session: ImapSession, name: str, password: str) -> None:
    credentials = UsernamePassword(name.encode(), password.encode())
    try:
        user: IMailUser = await authenticate(
            session.server.portal(), credentials, session.server.limiter,
            name.strip().lower(), session.remote_address,
        )
    except RateLimited:
        raise CommandFailed.no("too many failed logins, try later", "UNAVAILABLE") from None
    except AuthenticationFailed:
        raise CommandFailed.no("invalid credentials", "AUTHENTICATIONFAILED") from None
    session.user = user
    session.client = MailClient(session.server.api, user)
    session.state = State.AUTHENTICATED
    await session.watch_account()


async def idle(session: ImapSession, command: syntax.Idle) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    session.send(b"+ idling")
    line = session.out.read_line()

    def line_came(result: Any) -> Any:
        wakeup, session.wakeup = session.wakeup, None
        if wakeup is not None:
            wakeup.callback(None)
        return result

    line.addBoth(line_came)
    while not line.called:
        if session.needs_look(at_once=True) and session.selected is not None:
            await announce(session, allow_expunge=True)
            continue
        wakeup: Deferred[None] = Deferred()
        session.wakeup = wakeup
        await wakeup
    done = (await line).strip()
    if done.upper() != b"DONE":
        raise CommandFailed.bad("IDLE ends with DONE")
    return "IDLE terminated"
