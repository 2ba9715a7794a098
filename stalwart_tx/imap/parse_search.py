"""SEARCH keys (RFC 3501 section 6.4.4, RFC 9051 section 6.4.4 and extensions) as a tree.

Every key is a frozen dataclass; the tree is what a SEARCH, SORT or THREAD command carries in
``key``. Several keys in a row are an ``And``; ``OR a b`` an ``Or``; ``NOT k`` a ``Not``; a
parenthesised group an ``And`` of its keys (or the key itself when alone).

Mapping of RFC keys:

* ALL → ``All()``
* ANSWERED DELETED DRAFT FLAGGED SEEN RECENT / their UN- forms, KEYWORD k / UNKEYWORD k →
  ``FlagKey(flag, present)`` with system flags canonically capitalised (``\\Seen``); NEW →
  ``And((FlagKey("\\Recent", True), FlagKey("\\Seen", False)))``; OLD → ``FlagKey("\\Recent",
  False)``
* BCC CC FROM SUBJECT TO → ``HeaderKey(field, value)`` with the field lower-cased; HEADER f v →
  ``HeaderKey(f lower-cased, v)``
* BODY v / TEXT v → ``TextKey(value, whole=False / True)``
* BEFORE ON SINCE / SENTBEFORE SENTON SENTSINCE / SAVEDBEFORE SAVEDON SAVEDSINCE →
  ``DateKey(field "internal" | "sent" | "saved", op "before" | "on" | "since", date)``
* LARGER n / SMALLER n → ``SizeKey(op "larger" | "smaller", size)``
* a sequence set / UID set → ``SequenceKey(sequence_set, uid)``
* MODSEQ [entry type] n (RFC 7162) → ``ModSeqKey(modseq, entry, entry_type)``
* OLDER n / YOUNGER n (RFC 5032) → ``AgeKey(op "older" | "younger", seconds)``
* EMAILID id / THREADID id (RFC 8474) → ``ObjectIdKey(kind "emailid" | "threadid", value)``

String values are decoded with the command's CHARSET (UTF-8 when none is given); a charset the
server cannot decode raises ``BadCharsetError``, which the protocol answers with
``NO [BADCHARSET (UTF-8 US-ASCII)]`` rather than BAD.
"""

from __future__ import annotations

import codecs
import datetime
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from stalwart_tx.imap.grammar import MAX_NESTING, ImapSyntaxError, Scanner, SequenceSet

__all__ = [
    "AgeKey",
    "All",
    "And",
    "BadCharsetError",
    "DateKey",
    "FlagKey",
    "HeaderKey",
    "ModSeqKey",
    "Not",
    "ObjectIdKey",
    "Or",
    "SearchKey",
    "SequenceKey",
    "SizeKey",
    "TextKey",
    "check_charset",
    "parse_search_keys",
]


class BadCharsetError(ImapSyntaxError):
    """The CHARSET is not one the server can decode: answer ``NO [BADCHARSET ...]``."""


@dataclass(frozen=True)
class All:
    pass


@dataclass(frozen=True)
class FlagKey:
    flag: str
    present: bool


@dataclass(frozen=True)
class HeaderKey:
    field: str
    value: str


@dataclass(frozen=True)
class TextKey:
    value: str
    whole: bool


@dataclass(frozen=True)
class DateKey:
    field: TypingLiteral["internal", "sent", "saved"]
    op: TypingLiteral["before", "on", "since"]
    date: datetime.date


@dataclass(frozen=True)
class SizeKey:
    op: TypingLiteral["larger", "smaller"]
    size: int


@dataclass(frozen=True)
class SequenceKey:
    sequence_set: SequenceSet
    uid: bool


@dataclass(frozen=True)
class ModSeqKey:
    modseq: int
    entry: str | None = None
    entry_type: TypingLiteral["priv", "shared", "all"] | None = None


@dataclass(frozen=True)
class AgeKey:
    op: TypingLiteral["older", "younger"]
    seconds: int


@dataclass(frozen=True)
class ObjectIdKey:
    kind: TypingLiteral["emailid", "threadid"]
    value: str


@dataclass(frozen=True)
class Not:
    key: SearchKey


@dataclass(frozen=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class And:
    keys: tuple[SearchKey, ...]


SearchKey = (
    All
    | FlagKey
    | HeaderKey
    | TextKey
    | DateKey
    | SizeKey
    | SequenceKey
    | ModSeqKey
    | AgeKey
    | ObjectIdKey
    | Not
    | Or
    | And
)

_FLAG_KEYS: dict[str, tuple[str, bool]] = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "RECENT": ("\\Recent", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
    "OLD": ("\\Recent", False),
}
_HEADER_KEYS = frozenset({"BCC", "CC", "FROM", "SUBJECT", "TO"})
_DATE_FIELDS: dict[str, TypingLiteral["internal", "sent", "saved"]] = {
    "": "internal",
    "SENT": "sent",
    "SAVED": "saved",
}
_DATE_OPS: dict[str, TypingLiteral["before", "on", "since"]] = {
    "BEFORE": "before",
    "ON": "on",
    "SINCE": "since",
}
_DATE_KEYS = {
    prefix + op: (field, _DATE_OPS[op])
    for prefix, field in _DATE_FIELDS.items()
    for op in _DATE_OPS
}
_KEYS_WITH_ARGUMENTS = frozenset(
    {"KEYWORD", "UNKEYWORD", "HEADER", "BODY", "TEXT", "LARGER", "SMALLER", "UID", "NOT", "OR"}
    | {"MODSEQ", "OLDER", "YOUNGER", "EMAILID", "THREADID"}
    | _HEADER_KEYS
    | _DATE_KEYS.keys()
)
# Charsets decodable for search strings; a wider list would let a client name any Python codec.
_CHARSETS = frozenset(
    {"UTF-8", "US-ASCII", "ASCII", "UTF-16", "UTF-7", "KOI8-R", "KOI8-U", "BIG5", "GB2312"}
    | {"GBK", "GB18030", "SHIFT_JIS", "EUC-JP", "ISO-2022-JP", "EUC-KR"}
    | {f"ISO-8859-{n}" for n in range(1, 17) if n != 12}
    | {f"WINDOWS-{n}" for n in range(1250, 1259)}
)


def check_charset(charset: str) -> str:
    name = charset.upper()
    if name not in _CHARSETS:
        raise BadCharsetError("unsupported charset")
    try:
        codecs.lookup(name)
    except LookupError as error:
        raise BadCharsetError("unsupported charset") from error
    return name


class _SearchParser:
    def __init__(self, scanner: Scanner, charset: str | None) -> None:
        self.scanner = scanner
        self.charset = charset or "UTF-8"

    def value(self) -> str:
        data = self.scanner.astring()
        try:
            return data.decode(self.charset)
        except UnicodeDecodeError as error:
            raise ImapSyntaxError(f"search string is not {self.charset}") from error

    def keys(self) -> SearchKey:
        """``search-key *(SP search-key)`` to the end of the command."""
        keys = [self.key()]
        while not self.scanner.at_end():
            if not self.scanner.take_sp():
                raise ImapSyntaxError("unexpected text at end of command")
            keys.append(self.key())
        return keys[0] if len(keys) == 1 else And(tuple(keys))

    def key(self) -> SearchKey:
        scanner = self.scanner
        scanner.depth += 1
        try:
            if scanner.depth > MAX_NESTING * 4:
                raise ImapSyntaxError("search too deeply nested")
            return self._key()
        finally:
            scanner.depth -= 1

    def _key(self) -> SearchKey:
        scanner = self.scanner
        if scanner.peek() == 0x28:
            group = scanner.paren_list(self.key, empty=False)
            return group[0] if len(group) == 1 else And(tuple(group))
        if scanner.starts_sequence_set():
            return SequenceKey(scanner.sequence_set(), uid=False)
        name = scanner.keyword()
        if name == "ALL":
            return All()
        if name in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[name]
            return FlagKey(flag, present)
        if name == "NEW":
            return And((FlagKey("\\Recent", True), FlagKey("\\Seen", False)))
        if name not in _KEYS_WITH_ARGUMENTS:
            raise ImapSyntaxError("unknown search key")
        scanner.sp()
        if name in ("KEYWORD", "UNKEYWORD"):
            flag = scanner.atom("keyword")
            return FlagKey(flag, name == "KEYWORD")
        if name in _HEADER_KEYS:
            return HeaderKey(name.lower(), self.value())
        if name == "HEADER":
            field = scanner.header_field_name().lower()
            scanner.sp()
            return HeaderKey(field, self.value())
        if name in ("BODY", "TEXT"):
            return TextKey(self.value(), whole=name == "TEXT")
        if name in _DATE_KEYS:
            field, op = _DATE_KEYS[name]
            return DateKey(field, op, scanner.date())
        if name == "LARGER":
            return SizeKey("larger", scanner.number64())
        if name == "SMALLER":
            return SizeKey("smaller", scanner.number64())
        if name == "UID":
            return SequenceKey(scanner.sequence_set(), uid=True)
        if name == "NOT":
            return Not(self.key())
        if name == "OR":
            left = self.key()
            scanner.sp()
            return Or(left, self.key())
        if name == "MODSEQ":
            return self._modseq()
        if name == "OLDER":
            return AgeKey("older", scanner.nz_number())
        if name == "YOUNGER":
            return AgeKey("younger", scanner.nz_number())
        if name in ("EMAILID", "THREADID"):
            value = scanner.atom("object id")
            if len(value) > 255 or not all(c.isalnum() or c in "-_" for c in value):
                raise ImapSyntaxError("bad object id")
            return ObjectIdKey("emailid" if name == "EMAILID" else "threadid", value)
        raise ImapSyntaxError("unknown search key")

    def _modseq(self) -> ModSeqKey:
        scanner = self.scanner
        if scanner.peek() != 0x22:
            return ModSeqKey(scanner.number64())
        entry = scanner.quoted().decode("ascii", "replace")
        if not entry.lower().startswith("/flags/") or len(entry) == len("/flags/"):
            raise ImapSyntaxError("bad MODSEQ entry name")
        scanner.sp()
        kind = scanner.keyword().lower()
        if kind not in ("priv", "shared", "all"):
            raise ImapSyntaxError("bad MODSEQ entry type")
        scanner.sp()
        entry_type: TypingLiteral["priv", "shared", "all"] = (
            "priv" if kind == "priv" else "shared" if kind == "shared" else "all"
        )
        return ModSeqKey(scanner.number64(), entry, entry_type)


def parse_search_keys(scanner: Scanner, charset: str | None) -> SearchKey:
    """The keys from the scanner's position to the end of the command."""
    return _SearchParser(scanner, charset).keys()
