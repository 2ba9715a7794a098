"""The parsed IMAP commands: one frozen dataclass per command, each with the command's ``tag``.

``syntax.parse_command`` builds them and ``syntax`` re-exports every name; see its docstring for
the shapes of the arguments.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from stalwart_tx.imap.grammar import SequenceSet
from stalwart_tx.imap.parse_fetch import FetchAtt
from stalwart_tx.imap.parse_search import SearchKey
from stalwart_tx.imap.reader import Literal

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
