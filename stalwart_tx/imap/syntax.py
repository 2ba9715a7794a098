"""IMAP commands parsed into frozen dataclasses: ``parse_command(command, utf8=False)``.

``command`` is a ``reader.Command``; ``utf8`` says the session has enabled UTF8=ACCEPT
(RFC 6855), so mailbox names are raw UTF-8 rather than modified UTF-7. The result is one of the
dataclasses below, each with the command's ``tag``; errors are ``grammar.ImapSyntaxError`` (answer
``tag BAD reason``), of which ``grammar.ImapTagError`` means the tag itself is unusable (answer
``* BAD reason``) and ``parse_search.BadCharsetError`` an unknown SEARCH/SORT/THREAD charset
(answer ``tag NO [BADCHARSET (UTF-8 US-ASCII)]``). Nothing else is ever raised.

Shapes of the arguments:

* mailbox names are ``str``, ``"INBOX"`` canonical; LIST patterns likewise decoded;
* sequence sets are ``grammar.SequenceSet`` (``*`` symbolic, ``$`` as ``saved``); commands that
  take one have ``uid: bool`` for the UID prefix;
* flags are ``str``: system flags canonically capitalised (``\\Seen``), keywords as sent;
* search keys are a ``parse_search.SearchKey`` tree; FETCH items ``parse_fetch.FetchAtt``;
* literals kept as sent (APPEND messages) are ``reader.Literal``: ``LiteralBytes`` or
  ``SpooledLiteral``, which the session closes when done.
"""

from __future__ import annotations

from collections.abc import Callable

from stalwart_tx.imap.grammar import (
    NAME_CHARS,
    ImapSyntaxError,
    ImapTagError,
    Scanner,
    decode_base64,
)
from stalwart_tx.imap.parse_commands import (
    STATUS_ITEMS,
    Append,
    AppendMessage,
    Authenticate,
    Capability,
    Check,
    Close,
    Compress,
    Copy,
    Create,
    Delete,
    Enable,
    Expunge,
    Fetch,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    ParsedCommand,
    QResync,
    Rename,
    Search,
    Select,
    Sort,
    SortCriterion,
    StartTLS,
    Status,
    Store,
    Subscribe,
    Thread,
    Unselect,
    Unsubscribe,
)
from stalwart_tx.imap.parse_mailboxes import MailboxParser
from stalwart_tx.imap.parse_messages import MessageParser
from stalwart_tx.imap.reader import Command

__all__ = [
    "STATUS_ITEMS",
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Compress",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Expunge",
    "Fetch",
    "GetQuota",
    "GetQuotaRoot",
    "Id",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "ParsedCommand",
    "QResync",
    "Rename",
    "Search",
    "Select",
    "Sort",
    "SortCriterion",
    "StartTLS",
    "Status",
    "Store",
    "Subscribe",
    "Thread",
    "Unselect",
    "Unsubscribe",
    "decode_sasl_response",
    "parse_command",
]

_NO_ARGUMENTS: dict[str, Callable[[str], ParsedCommand]] = {
    "CAPABILITY": Capability,
    "NOOP": Noop,
    "LOGOUT": Logout,
    "STARTTLS": StartTLS,
    "NAMESPACE": Namespace,
    "CHECK": Check,
    "CLOSE": Close,
    "UNSELECT": Unselect,
    "IDLE": Idle,
}
_UID_COMMANDS = frozenset({"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE"})


def _valid_tag(tag: str) -> bool:
    return bool(tag) and all(0x21 <= ord(c) <= 0x7E and c not in '(){%*"\\+' for c in tag)


def parse_command(command: Command, *, utf8: bool = False) -> ParsedCommand:
    if not _valid_tag(command.tag):
        raise ImapTagError("bad tag" if command.tag else "missing tag")
    try:
        return _Parser(command, utf8).parse()
    except RecursionError as error:
        # The grammar's nesting limits keep well inside the stack; this is the last guard.
        raise ImapSyntaxError("too deeply nested") from error


def decode_sasl_response(line: bytes) -> bytes | None:
    """A line answering an AUTHENTICATE challenge: base64, or ``*`` (None) to cancel."""
    if line.strip() == b"*":
        return None
    return decode_base64(line.strip()) if line.strip() else b""


class _Parser(MailboxParser, MessageParser):
    def __init__(self, command: Command, utf8: bool) -> None:
        self.tag = command.tag
        self.utf8 = utf8
        self.s = Scanner(command.line)

    def parse(self) -> ParsedCommand:
        s = self.s
        if s.at_end():
            raise ImapSyntaxError("missing command")
        name = s.span(NAME_CHARS).decode("ascii").upper()
        if not name:
            raise ImapSyntaxError("unknown command")
        uid = False
        if name == "UID":
            s.sp()
            name = s.span(NAME_CHARS).decode("ascii").upper()
            if name not in _UID_COMMANDS:
                raise ImapSyntaxError("unknown UID command")
            uid = True
        if name in _NO_ARGUMENTS:
            s.end()
            return _NO_ARGUMENTS[name](self.tag)
        if name not in _COMMANDS:
            raise ImapSyntaxError("unknown command")
        handler = getattr(self, "_" + name.lower())
        result: ParsedCommand
        if name in _UID_COMMANDS:
            result = handler(uid)
        else:
            result = handler()
        s.end()
        return result

    # -- any state ------------------------------------------------------------------------

    def _authenticate(self) -> Authenticate:
        s = self.s
        s.sp()
        mechanism = s.keyword()
        initial = None
        if s.take_sp():
            initial = s.base64()
        return Authenticate(self.tag, mechanism, initial)

    def _login(self) -> Login:
        s = self.s
        s.sp()
        username = s.astring_text("user name")
        s.sp()
        return Login(self.tag, username, s.astring_text("password"))

    def _enable(self) -> Enable:
        s = self.s
        s.sp()
        capabilities = [s.keyword()]
        while s.take_sp():
            capabilities.append(s.keyword())
        return Enable(self.tag, tuple(capabilities))

    def _id(self) -> Id:
        s = self.s
        s.sp()
        if s.nil():
            return Id(self.tag, None)

        def pair() -> tuple[str, str | None]:
            field = s.string().decode("utf-8", "replace")
            s.sp()
            value = s.nstring()
            return field, None if value is None else value.decode("utf-8", "replace")

        return Id(self.tag, tuple(s.paren_list(pair)))

    def _compress(self) -> Compress:
        s = self.s
        s.sp()
        mechanism = s.keyword()
        if mechanism != "DEFLATE":
            raise ImapSyntaxError("unknown compression mechanism")
        return Compress(self.tag, mechanism)


_COMMANDS = frozenset(
    {
        "AUTHENTICATE",
        "LOGIN",
        "ENABLE",
        "ID",
        "COMPRESS",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "GETQUOTA",
        "GETQUOTAROOT",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "SORT",
        "THREAD",
    }
)
