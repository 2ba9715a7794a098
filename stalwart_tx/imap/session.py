"""One IMAP connection's state, and the dispatch of parsed commands to their handlers.

The protocol (``protocol.py``) frames and parses; a handler (``commands_*.py``) turns the
command into JMAP calls through ``MailClient`` and writes the responses. Handlers raise
``CommandFailed`` for a NO or BAD with a reason; anything else unexpected is logged and the
client gets ``NO [SERVERBUG]``, never a traceback; a store outage is ``NO [UNAVAILABLE]``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.imap import syntax
from stalwart_tx.imap.grammar import encode_mutf7
from stalwart_tx.imap.mail_client import JmapCallError, MailClient
from stalwart_tx.imap.message_values import render
from stalwart_tx.imap.selected import SelectedMailbox
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.store.errors import StoreUnavailable

log = Logger()

# APPENDLIMIT and the largest literal a client may send (the reader refuses bigger ones unread)
DEFAULT_APPEND_LIMIT = 50 * 2**20
# others' changes are caught up with at most this often (seconds) after a command that does
# not ask for them (NOOP, CHECK and IDLE do, and so does the session's own change): in a busy
# mailbox a catch-up per command is most of the work, and RFC 3501 §5.2 leaves the when to us
LOOK_INTERVAL = 0.1


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class CommandFailed(Exception):
    """The command's tagged answer: ``kind`` NO or BAD, an optional response code."""

    def __init__(self, kind: str, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text
        self.code = code

    @classmethod
    def no(cls, text: str, code: str | None = None) -> CommandFailed:
        return cls("NO", text, code)

    @classmethod
    def bad(cls, text: str, code: str | None = None) -> CommandFailed:
        return cls("BAD", text, code)


class Output(Protocol):
    def send(self, line: bytes) -> None:
        """Write one response line (CRLF added; literals inside carry their own)."""

    def write(self, data: bytes) -> None:
        """Write bytes as they are (a response sent in pieces)."""

    async def drain(self) -> None:
        """Wait while the client is slower than the responses (its send buffer is full)."""

    def read_line(self) -> Deferred[bytes]:
        """The client's next line, read raw (a SASL response, IDLE's DONE)."""

    def start_tls(self) -> None: ...

    def start_compression(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class ServerContext:
    """What every session of one listener shares."""

    portal: Callable[[], Any]
    limiter: LoginRateLimiter
    api: JMAPApi
    tls_available: bool = False
    append_limit: int = DEFAULT_APPEND_LIMIT
    server_name: str = "stalwart-tx"
    hub: PushHub | None = None


@dataclass
class ImapSession:
    server: ServerContext
    out: Output
    remote_address: str | None = None
    tls: bool = False
    state: State = State.NOT_AUTHENTICATED
    user: IMailUser | None = None
    client: MailClient | None = None
    selected: SelectedMailbox | None = None
    enabled: set[str] = field(default_factory=set)
    condstore: bool = False  # a CONDSTORE-enabling command was seen (RFC 7162 §3.1)
    saved_uids: list[int] = field(default_factory=list)  # SEARCHRES ``$``
    # keywords the selected mailbox's FLAGS response has listed to the client so far
    keywords_announced: set[str] = field(default_factory=set)
    # set by a command: the mailbox may have changed since the last refresh
    dirty: bool = True
    # the highest Email state the change notifier told of since the last refresh
    notified: str | None = None
    # when the view last caught up (time.monotonic)
    looked_at: float = 0.0
    compressing: bool = False
    # fired by the change notifier while the session is in IDLE
    wakeup: Deferred[None] | None = None
    _unwatch: Callable[[], None] | None = None

    # -- capabilities ----------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE",
                "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "LIST-EXTENDED",
                "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES",
                "WITHIN", "CONDSTORE", "QRESYNC", "BINARY", "MULTIAPPEND", "OBJECTID", "PREVIEW",
                "STATUS=SIZE", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
                "COMPRESS=DEFLATE", f"APPENDLIMIT={self.server.append_limit}", "UTF8=ACCEPT",
                "SORT", "SORT=DISPLAY", "ESORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT"]
        if self.state is State.NOT_AUTHENTICATED:
            if self.server.tls_available and not self.tls:
                caps += ["STARTTLS", "LOGINDISABLED"]
            else:
                caps += ["AUTH=PLAIN"]
        return caps

    @property
    def utf8(self) -> bool:
        # RFC 9051 §5.1: IMAP4rev2 names mailboxes in UTF-8, unlike IMAP4rev1
        return "UTF8=ACCEPT" in self.enabled or self.rev2

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    def mailbox_name(self, name: str) -> bytes:
        """A mailbox name as a response carries it: modified UTF-7, or with UTF8=ACCEPT a
        quoted UTF-8 string (RFC 6855 §3 allows 8-bit text in quoted strings then)."""
        data = (name if self.utf8 else encode_mutf7(name)).encode()
        if b"\r" in data or b"\n" in data or b"\0" in data:
            return render(data)
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'

    # -- running commands ------------------------------------------------------------------

    def send(self, line: bytes) -> None:
        self.out.send(line)

    def untagged(self, text: bytes | str) -> None:
        self.send(b"* " + (text.encode() if isinstance(text, str) else text))

    def require(self, *states: State) -> None:
        if self.state not in states:
            if self.state is State.NOT_AUTHENTICATED:
                raise CommandFailed.bad("log in first")
            if State.SELECTED in states:
                raise CommandFailed.bad("no mailbox selected")
            raise CommandFailed.bad(f"not allowed in the {self.state.value} state")

    def mail(self) -> MailClient:
        if self.client is None:
            raise CommandFailed.bad("log in first")
        return self.client

    def view(self) -> SelectedMailbox:
        if self.selected is None:
            raise CommandFailed.bad("no mailbox selected")
        return self.selected

    async def execute(self, command: syntax.ParsedCommand) -> None:
        """Run one command and write every response it has, the tagged one last."""
        from stalwart_tx.imap.commands import HANDLERS

        handler = HANDLERS.get(type(command))
        tag = command.tag
        try:
            if handler is None:
                raise CommandFailed.bad("command not implemented")
            try:
                text = await handler(self, command)
            finally:
                await self.settle(command)
        except CommandFailed as failure:
            code = f"[{failure.code}] " if failure.code else ""
            self.send(f"{tag} {failure.kind} {code}{failure.text}".encode())
            return
        except JmapCallError as error:
            log.info("IMAP {command}: {error}", command=type(command).__name__, error=error)
            self.send(f"{tag} NO {_jmap_reason(error)}".encode())
            return
        except StoreUnavailable:
            self.send(f"{tag} NO [UNAVAILABLE] the mail store is unavailable, try again".encode())
            return
        except CancelledError:
            raise
        except Exception:
            log.failure("IMAP command {command} failed", command=type(command).__name__)
            self.send(f"{tag} NO [SERVERBUG] internal error".encode())
            return
        if text is not None:  # None: the handler sent its tagged answer itself (STARTTLS)
            self.send(f"{tag} OK {text}".encode())
        if self.state is State.LOGOUT:
            self.out.close()

    async def settle(self, command: syntax.ParsedCommand) -> None:
        """Announce what changed in the selected mailbox, where the command allows it."""
        from stalwart_tx.imap.updates import announce

        if self.selected is None or self.client is None or self.state is State.LOGOUT:
            return
        may_expunge = _may_expunge(command)
        if (isinstance(command, syntax.Noop | syntax.Check | syntax.Idle) or self.needs_look()
                or (may_expunge and self.selected.pending_expunge)):
            await announce(self, allow_expunge=may_expunge)

    # -- notifications ---------------------------------------------------------------------

    async def watch_account(self) -> None:
        """Hear of the account's changes from every process (IDLE, and knowing when to look)."""
        if self.server.hub is None or self.user is None:
            return
        try:
            attachment = await self.server.hub.attach([self.user.account_id], self.changed)
        except StoreUnavailable:
            log.warn("IMAP session will not hear of changes: the notifier is unavailable")
            return
        if self.state is State.LOGOUT:
            attachment.detach()
        else:
            self._unwatch = attachment.detach

    def changed(self, account_id: str, states: Mapping[str, str]) -> None:
        # the view follows Emails alone (a mailbox's end shows as its emails leaving it)
        state = states.get("Email")
        if state is not None:
            if self.notified is None or not _position_below(state, self.notified):
                self.notified = state
            wakeup, self.wakeup = self.wakeup, None
            if wakeup is not None:
                wakeup.callback(None)

    def needs_look(self, *, at_once: bool = False) -> bool:
        """Whether to catch the view up now: a command said so, or the notifier told of an
        Email state the view is not at yet (a STORE moves the view past its own write, so that
        write's notice is no news) and the last catch-up was LOOK_INTERVAL ago (or
        ``at_once``, as in IDLE)."""
        if self.dirty:
            return True
        view, notified = self.selected, self.notified
        if notified is None:
            return False
        if view is not None and _position_below(notified, view.state, or_equal=True):
            return False
        return at_once or time.monotonic() - self.looked_at >= LOOK_INTERVAL

    def closed(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None


def _position_below(state: str, other: str, *, or_equal: bool = False) -> bool:
    """Whether the Email state ``state`` comes before ``other`` (or is it); False when either
    is not a plain position (an intermediate state of a long catch-up)."""
    if not state.isdigit() or not other.isdigit():
        return False
    return int(state) <= int(other) if or_equal else int(state) < int(other)


def _may_expunge(command: syntax.ParsedCommand) -> bool:
    """RFC 3501 §7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH (UID versions may)."""
    if isinstance(command, syntax.Fetch | syntax.Store | syntax.Search | syntax.Sort
                  | syntax.Thread):
        return bool(command.uid)
    return True


def _jmap_reason(error: JmapCallError) -> str:
    codes = {
        "overQuota": "[OVERQUOTA] ", "tooLarge": "[TOOBIG] ", "notFound": "[NONEXISTENT] ",
        "serverUnavailable": "[UNAVAILABLE] ", "rateLimit": "[LIMIT] ",
        "tooManyKeywords": "[LIMIT] ", "tooManyMailboxes": "[LIMIT] ",
    }
    return codes.get(error.type, "") + error.description.replace("\r", " ").replace("\n", " ")


Handler = Callable[[ImapSession, Any], Awaitable[str | None]]
