"""Arguments of the message commands: EXPUNGE, SEARCH (RFC 4731 RETURN), FETCH (CHANGEDSINCE,
VANISHED), STORE (UNCHANGEDSINCE), COPY, MOVE, SORT (RFC 5256, RFC 5267, RFC 5957) and THREAD.

``MessageParser`` is a part of ``syntax``'s command parser; every method takes ``uid``, whether the
command came with the UID prefix.
"""

from __future__ import annotations

from typing import Literal as TypingLiteral

from stalwart_tx.imap.grammar import NAME_CHARS, ImapSyntaxError, Scanner
from stalwart_tx.imap.parse_commands import (
    Copy,
    Expunge,
    Fetch,
    Move,
    Search,
    Sort,
    SortCriterion,
    Store,
    Thread,
)
from stalwart_tx.imap.parse_fetch import parse_fetch_atts
from stalwart_tx.imap.parse_search import check_charset, parse_search_keys

__all__ = ["MessageParser"]

_SEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
_SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)
_THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})


class MessageParser:
    s: Scanner
    tag: str
    utf8: bool

    def target_mailbox(self) -> str:
        return self.s.mailbox(self.utf8)

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
        item = s.span(NAME_CHARS).decode("ascii").upper()
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
        return Copy(self.tag, uid, sequence_set, self.target_mailbox())

    def _move(self, uid: bool) -> Move:
        s = self.s
        s.sp()
        sequence_set = s.sequence_set()
        s.sp()
        return Move(self.tag, uid, sequence_set, self.target_mailbox())

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
