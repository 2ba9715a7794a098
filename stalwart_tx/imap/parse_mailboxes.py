"""Arguments of the mailbox commands: SELECT/EXAMINE (CONDSTORE, QRESYNC), CREATE (USE),
DELETE, RENAME, (UN)SUBSCRIBE, LIST (RFC 5258, RFC 5819, RFC 6154), LSUB, STATUS, APPEND
(MULTIAPPEND, RFC 6855 UTF8), GETQUOTA and GETQUOTAROOT.

``MailboxParser`` is a part of ``syntax``'s command parser: each method reads one command's
arguments from ``self.s`` (a ``grammar.Scanner`` placed just after the command name).
"""

from __future__ import annotations

from stalwart_tx.imap.grammar import ImapSyntaxError, Scanner
from stalwart_tx.imap.parse_commands import (
    STATUS_ITEMS,
    Append,
    AppendMessage,
    Create,
    Delete,
    GetQuota,
    GetQuotaRoot,
    List,
    Lsub,
    QResync,
    Rename,
    Select,
    Status,
    Subscribe,
    Unsubscribe,
)

__all__ = ["MailboxParser"]

_SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
_SPECIAL_USES = {
    f.upper(): f
    for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
}


class MailboxParser:
    s: Scanner
    tag: str
    utf8: bool

    def mailbox(self) -> str:
        return self.s.mailbox(self.utf8)

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
