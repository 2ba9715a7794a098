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

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from stalwart_tx.imap.grammar import (
    ImapSyntaxError,
    ImapTagError,
    Scanner,
    SequenceSet,
    decode_base64,
)
from stalwart_tx.imap.parse_fetch import FetchAtt, parse_fetch_atts
from stalwart_tx.imap.parse_search import SearchKey, check_charset, parse_search_keys
from stalwart_tx.imap.reader import Command, Literal

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


# -- commands without arguments -------------------------------------------------------------


@dataclass(frozen=True)
class Capability:
    tag: str


@dataclass(frozen=True)
class Noop:
    tag: str


@dataclass(frozen=True)
class Logout:
    tag: str


@dataclass(frozen=True)
class StartTLS:
    tag: str


@dataclass(frozen=True)
class Namespace:
    tag: str


@dataclass(frozen=True)
class Check:
    tag: str


@dataclass(frozen=True)
class Close:
    tag: str


@dataclass(frozen=True)
class Unselect:
    tag: str


@dataclass(frozen=True)
class Idle:
    tag: str


# -- any state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticate:
    tag: str
    mechanism: str  # upper case
    initial_response: bytes | None = None  # SASL-IR, base64-decoded; "=" gives b""


@dataclass(frozen=True)
class Login:
    tag: str
    username: str
    password: str


@dataclass(frozen=True)
class Enable:
    tag: str
    capabilities: tuple[str, ...]  # upper case


@dataclass(frozen=True)
class Id:
    tag: str
    params: tuple[tuple[str, str | None], ...] | None  # None for ID NIL


@dataclass(frozen=True)
class Compress:
    tag: str
    mechanism: str  # always DEFLATE


# -- mailboxes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QResync:
    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    # (known message sequence numbers, their UIDs)
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True)
class Select:
    tag: str
    mailbox: str
    readonly: bool = False  # EXAMINE
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True)
class Create:
    tag: str
    mailbox: str
    special_use: tuple[str, ...] = ()  # RFC 6154 USE, canonical "\\Drafts" style


@dataclass(frozen=True)
class Delete:
    tag: str
    mailbox: str


@dataclass(frozen=True)
class Rename:
    tag: str
    mailbox: str
    new_name: str


@dataclass(frozen=True)
class Subscribe:
    tag: str
    mailbox: str


@dataclass(frozen=True)
class Unsubscribe:
    tag: str
    mailbox: str


@dataclass(frozen=True)
class List:
    tag: str
    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()  # SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE
    returns: frozenset[str] = frozenset()  # SUBSCRIBED CHILDREN SPECIAL-USE STATUS
    status_items: tuple[str, ...] = ()  # RETURN (STATUS (...)), RFC 5819
    extended: bool = False  # any RFC 5258 syntax was used


@dataclass(frozen=True)
class Lsub:
    tag: str
    reference: str
    pattern: str


@dataclass(frozen=True)
class Status:
    tag: str
    mailbox: str
    items: tuple[str, ...]  # upper case, from STATUS_ITEMS


@dataclass(frozen=True)
class AppendMessage:
    flags: tuple[str, ...]
    date_time: datetime.datetime | None
    literal: Literal
    utf8: bool = False  # the RFC 6855 "UTF8 (~{n}...)" form


@dataclass(frozen=True)
class Append:
    tag: str
    mailbox: str
    messages: tuple[AppendMessage, ...]  # several with MULTIAPPEND (RFC 3502)


@dataclass(frozen=True)
class GetQuota:
    tag: str
    root: str


@dataclass(frozen=True)
class GetQuotaRoot:
    tag: str
    mailbox: str


# -- messages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expunge:
    tag: str
    uid: bool = False
    sequence_set: SequenceSet | None = None  # UID EXPUNGE only


@dataclass(frozen=True)
class Search:
    tag: str
    uid: bool
    key: SearchKey
    charset: str | None = None  # upper case
    # None: no RETURN, answer "* SEARCH"; otherwise ESEARCH (RFC 4731) with these options,
    # "ALL" standing for an empty RETURN ().
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Fetch:
    tag: str
    uid: bool
    sequence_set: SequenceSet
    attributes: tuple[FetchAtt, ...]
    changed_since: int | None = None
    vanished: bool = False


@dataclass(frozen=True)
class Store:
    tag: str
    uid: bool
    sequence_set: SequenceSet
    mode: TypingLiteral["set", "add", "remove"]
    flags: tuple[str, ...]
    silent: bool = False
    unchanged_since: int | None = None


@dataclass(frozen=True)
class Copy:
    tag: str
    uid: bool
    sequence_set: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class Move:
    tag: str
    uid: bool
    sequence_set: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class SortCriterion:
    key: str  # ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO
    reverse: bool = False


@dataclass(frozen=True)
class Sort:
    tag: str
    uid: bool
    criteria: tuple[SortCriterion, ...]
    charset: str
    key: SearchKey
    returns: tuple[str, ...] | None = None  # ESORT (RFC 5267), as for Search


@dataclass(frozen=True)
class Thread:
    tag: str
    uid: bool
    algorithm: str  # REFERENCES or ORDEREDSUBJECT
    charset: str
    key: SearchKey


ParsedCommand = (
    Capability
    | Noop
    | Logout
    | StartTLS
    | Namespace
    | Check
    | Close
    | Unselect
    | Idle
    | Authenticate
    | Login
    | Enable
    | Id
    | Compress
    | Select
    | Create
    | Delete
    | Rename
    | Subscribe
    | Unsubscribe
    | List
    | Lsub
    | Status
    | Append
    | GetQuota
    | GetQuotaRoot
    | Expunge
    | Search
    | Fetch
    | Store
    | Copy
    | Move
    | Sort
    | Thread
)

STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "RECENT",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
        "MAILBOXID",
    }
)
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
_SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
_SEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
_SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)
_THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})
_SPECIAL_USES = {
    f.upper(): f
    for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
}


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


class _Parser:
    def __init__(self, command: Command, utf8: bool) -> None:
        self.tag = command.tag
        self.utf8 = utf8
        self.s = Scanner(command.line)

    def parse(self) -> ParsedCommand:
        s = self.s
        if s.at_end():
            raise ImapSyntaxError("missing command")
        name = s.span(_NAME_CHARS).decode("ascii").upper()
        if not name:
            raise ImapSyntaxError("unknown command")
        uid = False
        if name == "UID":
            s.sp()
            name = s.span(_NAME_CHARS).decode("ascii").upper()
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

    def mailbox(self) -> str:
        return self.s.mailbox(self.utf8)

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

    # -- mailboxes ------------------------------------------------------------------------

    def _select(self, readonly: bool = False) -> Select:
        s = self.s
        s.sp()
        mailbox = self.mailbox()
        condstore = False
        qresync = None
        if s.take_sp():

            def option() -> None:
                nonlocal condstore, qresync
                name = s.keyword()
                if name == "CONDSTORE":
                    condstore = True
                elif name == "QRESYNC" and qresync is None:
                    s.sp()
                    qresync = self.qresync()
                else:
                    raise ImapSyntaxError("unknown SELECT parameter")

            s.paren_list(option)
        return Select(self.tag, mailbox, readonly, condstore, qresync)

    def qresync(self) -> QResync:
        """``"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"``."""
        s = self.s
        s.expect(b"(", '"("')
        with s.nested():
            uidvalidity = s.nz_number()
            s.sp()
            modseq = s.nz_number64()
            known_uids = None
            seq_match = None
            if s.take_sp():
                if s.peek() != 0x28:
                    known_uids = s.sequence_set(allow_star=False, allow_saved=False)
                if known_uids is None or s.take_sp():
                    s.expect(b"(", '"("')
                    known_numbers = s.sequence_set(allow_star=False, allow_saved=False)
                    s.sp()
                    known_set = s.sequence_set(allow_star=False, allow_saved=False)
                    s.expect(b")", '")"')
                    seq_match = (known_numbers, known_set)
            s.expect(b")", '")"')
        return QResync(uidvalidity, modseq, known_uids, seq_match)

    def _examine(self) -> Select:
        return self._select(readonly=True)

    def _create(self) -> Create:
        s = self.s
        s.sp()
        mailbox = self.mailbox()
        uses: list[str] = []
        if s.take_sp():

            def option() -> None:
                if s.keyword() != "USE":
                    raise ImapSyntaxError("unknown CREATE option")
                s.sp()

                def use() -> str:
                    s.expect(b"\\", "special-use attribute")
                    name = "\\" + s.atom("special-use attribute")
                    if name.upper() not in _SPECIAL_USES:
                        raise ImapSyntaxError("unknown special-use attribute")
                    return _SPECIAL_USES[name.upper()]

                uses.extend(s.paren_list(use))

            s.paren_list(option, empty=False)
        return Create(self.tag, mailbox, tuple(uses))

    def _delete(self) -> Delete:
        self.s.sp()
        return Delete(self.tag, self.mailbox())

    def _rename(self) -> Rename:
        self.s.sp()
        old = self.mailbox()
        self.s.sp()
        return Rename(self.tag, old, self.mailbox())

    def _subscribe(self) -> Subscribe:
        self.s.sp()
        return Subscribe(self.tag, self.mailbox())

    def _unsubscribe(self) -> Unsubscribe:
        self.s.sp()
        return Unsubscribe(self.tag, self.mailbox())

    def _list(self) -> List:
        s = self.s
        s.sp()
        selection: set[str] = set()
        extended = False
        if s.peek() == 0x28:
            extended = True
            for option in s.paren_list(s.keyword):
                if option not in _SELECT_OPTIONS:
                    raise ImapSyntaxError("unknown LIST selection option")
                selection.add(option)
            if "RECURSIVEMATCH" in selection and not selection - {"RECURSIVEMATCH", "REMOTE"}:
                raise ImapSyntaxError("RECURSIVEMATCH needs another selection option")
            s.sp()
        reference = self.mailbox_reference()
        s.sp()
        if s.peek() == 0x28:
            extended = True
            patterns = tuple(s.paren_list(lambda: s.list_mailbox(self.utf8), empty=False))
        else:
            patterns = (s.list_mailbox(self.utf8),)
        returns: set[str] = set()
        status_items: tuple[str, ...] = ()
        if s.take_sp():
            extended = True
            if s.keyword() != "RETURN":
                raise ImapSyntaxError("expected RETURN")
            s.sp()

            def return_option() -> str:
                nonlocal status_items
                name = s.keyword()
                if name not in _RETURN_OPTIONS:
                    raise ImapSyntaxError("unknown LIST return option")
                if name == "STATUS":
                    s.sp()
                    status_items = self.status_items()
                return name

            returns.update(s.paren_list(return_option))
        return List(
            self.tag,
            reference,
            patterns,
            frozenset(selection),
            frozenset(returns),
            status_items,
            extended,
        )

    def mailbox_reference(self) -> str:
        # Some clients put wildcards in the reference too; they are kept for the session to judge.
        return self.s.list_mailbox(self.utf8)

    def _lsub(self) -> Lsub:
        s = self.s
        s.sp()
        reference = self.mailbox_reference()
        s.sp()
        return Lsub(self.tag, reference, s.list_mailbox(self.utf8))

    def status_items(self) -> tuple[str, ...]:
        def item() -> str:
            name = self.s.keyword()
            if name not in STATUS_ITEMS:
                raise ImapSyntaxError("unknown status item")
            return name

        return tuple(self.s.paren_list(item, empty=False))

    def _status(self) -> Status:
        s = self.s
        s.sp()
        mailbox = self.mailbox()
        s.sp()
        return Status(self.tag, mailbox, self.status_items())

    def _append(self) -> Append:
        s = self.s
        s.sp()
        mailbox = self.mailbox()
        messages = []
        while True:
            s.sp()
            messages.append(self.append_message())
            if s.at_end():
                return Append(self.tag, mailbox, tuple(messages))

    def append_message(self) -> AppendMessage:
        s = self.s
        flags: list[str] = []
        date_time = None
        if s.peek() == 0x28:
            flags = s.flag_list(allow_recent=False)
            s.sp()
        if s.peek() == 0x22:
            date_time = s.date_time()
            s.sp()
        if s.at_literal():
            return AppendMessage(tuple(flags), date_time, s.literal())
        if s.keyword() != "UTF8":
            raise ImapSyntaxError("expected message literal")
        s.sp()
        s.expect(b"(", '"("')
        literal = s.literal()
        if not literal.binary:
            raise ImapSyntaxError("UTF8 needs a ~{n} literal")
        s.expect(b")", '")"')
        return AppendMessage(tuple(flags), date_time, literal, utf8=True)

    def _getquota(self) -> GetQuota:
        self.s.sp()
        return GetQuota(self.tag, self.s.astring_text("quota root"))

    def _getquotaroot(self) -> GetQuotaRoot:
        self.s.sp()
        return GetQuotaRoot(self.tag, self.mailbox())

    # -- messages -------------------------------------------------------------------------

    def _expunge(self, uid: bool) -> Expunge:
        if not uid:
            return Expunge(self.tag)
        self.s.sp()
        return Expunge(self.tag, True, self.s.sequence_set())

    def search_returns(self) -> tuple[str, ...]:
        s = self.s
        options = s.paren_list(s.keyword)
        for option in options:
            if option not in _SEARCH_RETURNS:
                raise ImapSyntaxError("unknown RETURN option")
        # RFC 4731: an empty RETURN () means ALL.
        return tuple(dict.fromkeys(options)) if options else ("ALL",)

    def _search(self, uid: bool) -> Search:
        s = self.s
        s.sp()
        returns = None
        if s.take_if(b"RETURN "):
            returns = self.search_returns()
            s.sp()
        charset = None
        if s.take_if(b"CHARSET "):
            charset = check_charset(s.astring().decode("ascii", "replace"))
            s.sp()
        key = parse_search_keys(s, charset)
        return Search(self.tag, uid, key, charset, returns)

    def _fetch(self, uid: bool) -> Fetch:
        s = self.s
        s.sp()
        sequence_set = s.sequence_set()
        s.sp()
        attributes = parse_fetch_atts(s)
        changed_since = None
        vanished = False
        if s.take_sp():

            def modifier() -> None:
                nonlocal changed_since, vanished
                name = s.keyword()
                if name == "CHANGEDSINCE" and changed_since is None:
                    s.sp()
                    changed_since = s.number64()
                elif name == "VANISHED" and not vanished:
                    vanished = True
                else:
                    raise ImapSyntaxError("unknown FETCH modifier")

            s.paren_list(modifier, empty=False)
            if vanished and (not uid or changed_since is None):
                raise ImapSyntaxError("VANISHED needs UID FETCH and CHANGEDSINCE")
        return Fetch(self.tag, uid, sequence_set, attributes, changed_since, vanished)

    def _store(self, uid: bool) -> Store:
        s = self.s
        s.sp()
        sequence_set = s.sequence_set()
        s.sp()
        unchanged_since = None
        if s.peek() == 0x28:

            def modifier() -> None:
                nonlocal unchanged_since
                if s.keyword() != "UNCHANGEDSINCE" or unchanged_since is not None:
                    raise ImapSyntaxError("unknown STORE modifier")
                s.sp()
                unchanged_since = s.number64()

            s.paren_list(modifier, empty=False)
            s.sp()
        mode: TypingLiteral["set", "add", "remove"] = "set"
        if s.take_if(b"+"):
            mode = "add"
        elif s.take_if(b"-"):
            mode = "remove"
        item = s.span(_NAME_CHARS).decode("ascii").upper()
        if item not in ("FLAGS", "FLAGS.SILENT"):
            raise ImapSyntaxError("expected FLAGS")
        s.sp()
        if s.peek() == 0x28:
            flags = s.flag_list(allow_recent=False)
        else:
            flags = [s.flag(allow_recent=False)]
            while s.take_sp():
                flags.append(s.flag(allow_recent=False))
        return Store(
            self.tag,
            uid,
            sequence_set,
            mode,
            tuple(dict.fromkeys(flags)),
            item == "FLAGS.SILENT",
            unchanged_since,
        )

    def _copy(self, uid: bool) -> Copy:
        s = self.s
        s.sp()
        sequence_set = s.sequence_set()
        s.sp()
        return Copy(self.tag, uid, sequence_set, self.mailbox())

    def _move(self, uid: bool) -> Move:
        s = self.s
        s.sp()
        sequence_set = s.sequence_set()
        s.sp()
        return Move(self.tag, uid, sequence_set, self.mailbox())

    def _sort(self, uid: bool) -> Sort:
        s = self.s
        s.sp()
        returns = None
        if s.take_if(b"RETURN "):
            returns = self.search_returns()
            s.sp()

        def criterion() -> SortCriterion:
            name = s.keyword()
            reverse = name == "REVERSE"
            if reverse:
                s.sp()
                name = s.keyword()
            if name not in _SORT_KEYS:
                raise ImapSyntaxError("unknown sort key")
            return SortCriterion(name, reverse)

        criteria = tuple(s.paren_list(criterion, empty=False))
        s.sp()
        charset = check_charset(s.astring().decode("ascii", "replace"))
        s.sp()
        return Sort(self.tag, uid, criteria, charset, parse_search_keys(s, charset), returns)

    def _thread(self, uid: bool) -> Thread:
        s = self.s
        s.sp()
        algorithm = s.keyword()
        if algorithm not in _THREAD_ALGORITHMS:
            raise ImapSyntaxError("unknown threading algorithm")
        s.sp()
        charset = check_charset(s.astring().decode("ascii", "replace"))
        s.sp()
        return Thread(self.tag, uid, algorithm, charset, parse_search_keys(s, charset))


_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
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
