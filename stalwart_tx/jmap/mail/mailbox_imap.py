"""IMAP's per-mailbox state, kept by the same writes that change mailboxes and emails.

IMAP names a message by its UID in a mailbox (RFC 3501 §2.3.1.1): a number given when the message
enters the mailbox, larger than every UID the mailbox gave before, and valid as long as the
mailbox's UIDVALIDITY stays. Here both live in the store and move in the same atomic write as the
data they describe, so no IMAP session keeps numbers of its own that could drift:

* the stored Mailbox value holds, under ``IMAP_KEY`` (not a declared property: /get, /set and
  patches never see it), ``{"uidValidity": v, "uidNext": n}``;
* index ``Email:uid:<mailbox id>``: the emails of the mailbox, each scored by its UID there;
* index ``Email:expunged:<mailbox id>``: UIDs that left the mailbox, each scored by a modseq
  greater than every modseq a client could have seen before the removal and not greater than
  the Email state after it (that state itself: ``WriteBatch.index_add_at_state``, as the write
  need not be conditional on the Email state), which is what QRESYNC's VANISHED (EARLIER)
  needs (RFC 7162 §3.2.5). At most ``MAX_EXPUNGED`` of them
  are kept per mailbox (the Mailbox's hidden value counts them, ``expunged``): a write that
  takes the count past ``MAX_EXPUNGED + EXPUNGED_SLACK`` drops the oldest down to
  ``MAX_EXPUNGED`` and raises ``vanishedFloor`` to the highest score it dropped, below which
  the records are no longer complete;
* map ``Mailbox:imap``, field ``uidValidity``: the last UIDVALIDITY the account handed out, so a
  mailbox created again under an old name never gets an old UIDVALIDITY back;
* map ``Mailbox:recent``: per mailbox the highest UID some session has already taken as
  \\Recent (raised with ``map_raise``, outside writes: it is session bookkeeping).

Every Email change goes through ``EmailWork``, which tells the helper here the mailboxIds each
email had when the computation first touched it; at ``finish`` the helper compares them with
the final ones and stages UIDs for the mailboxes an email entered, in the order they were
entered, and expunge records for those it left. An email that leaves a mailbox and enters it
again within one computation keeps its UID: to every reader it never left.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stalwart_tx.jmap.mail.email_model import EMAIL, mailbox_index
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX
from stalwart_tx.jmap.standard.retry import Conflict
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import Index, JSONObject, WriteBatch

IMAP_KEY: Final = "imap"
ACCOUNT_MAP: Final = "Mailbox:imap"
RECENT_MAP: Final = "Mailbox:recent"
WORK_KEY: Final = "mailbox-imap"
UID_NEXT_PATH: Final = f"{IMAP_KEY}.uidNext"
MAX_UID: Final = 2**32 - 1
# expunge records kept per mailbox, and how far past that a mailbox goes before a trim
MAX_EXPUNGED: Final = 10_000
EXPUNGED_SLACK: Final = 1_000


def uid_index(mailbox_id: str) -> str:
    return f"Email:uid:{mailbox_id}"


def expunged_index(mailbox_id: str) -> str:
    return f"Email:expunged:{mailbox_id}"


@dataclass(frozen=True)
class ImapMailboxState:
    uid_validity: int
    uid_next: int
    # expunge records held, and the modseq at or below which some were dropped (0: none)
    expunged: int = 0
    vanished_floor: int = 0


def imap_state_of(stored: Mapping[str, Any]) -> ImapMailboxState | None:
    """The IMAP state in a stored Mailbox value; None for a mailbox made before it existed."""
    found = stored.get(IMAP_KEY)
    if not isinstance(found, dict):
        return None
    return ImapMailboxState(
        int(found["uidValidity"]), int(found["uidNext"]), int(found.get("expunged", 0)),
        int(found.get("vanishedFloor", 0)),
    )


def keep_imap_state(old: JSONObject, new: JSONObject) -> None:
    """Carry the IMAP state over a client's update (the generic /set keeps declared properties
    only)."""
    if IMAP_KEY in old:
        new[IMAP_KEY] = old[IMAP_KEY]


def mailbox_imap_work(objects: WorkingSet) -> MailboxImapWork:
    return objects.attached(WORK_KEY, MailboxImapWork)


@dataclass
class MailboxImapWork:
    """Stages the IMAP state changes of one computation (see the module docstring)."""

    objects: WorkingSet
    # email id -> its mailboxIds before this computation touched it
    _original: dict[str, frozenset[str]] = field(default_factory=dict)
    # (email id, mailbox id) in the order the computation put emails into mailboxes
    _entered: dict[tuple[str, str], None] = field(default_factory=dict)
    _created_mailboxes: dict[str, None] = field(default_factory=dict)
    _destroyed_mailboxes: set[str] = field(default_factory=set)
    _last_validity: int | None = None
    # (mailbox id, email id) -> the email's UID there (None: none), as read
    _uids: dict[tuple[str, str], float | None] = field(default_factory=dict)

    # -- what the computation does --------------------------------------------------------

    def email_changed(
        self, email_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        before = frozenset((old or {}).get("mailboxIds") or {})
        self._original.setdefault(email_id, before)
        for mailbox_id in (new or {}).get("mailboxIds") or {}:
            if mailbox_id not in before:
                self._entered.setdefault((email_id, mailbox_id), None)

    def mailbox_created(self, mailbox_id: str) -> None:
        self._created_mailboxes[mailbox_id] = None

    def mailbox_destroyed(self, mailbox_id: str) -> None:
        self._destroyed_mailboxes.add(mailbox_id)

    # -- finishing ------------------------------------------------------------------------

    async def finish(self) -> None:
        for mailbox_id in self._created_mailboxes:
            value = await self.objects.get_one(MAILBOX, mailbox_id)
            if value is not None and imap_state_of(value) is None:
                value[IMAP_KEY] = await self.new_state()
                self.objects.update(MAILBOX, mailbox_id, value)
        self._created_mailboxes.clear()
        if self._original:
            await self._stage_emails()
        for mailbox_id in sorted(self._destroyed_mailboxes):
            await self._forget_mailbox(mailbox_id)
        self._destroyed_mailboxes.clear()

    async def new_state(self) -> dict[str, int]:
        """A fresh state: a UIDVALIDITY above every one the account gave (the clock's seconds,
        as servers commonly use, unless that would repeat one), and no UID given yet."""
        if self._last_validity is None:
            await self.objects.state(MAILBOX)  # the map's content is then a precondition
            found = await self.objects.store.indexes.map_get(
                self.objects.account_id, ACCOUNT_MAP, ["uidValidity"]
            )
            self._last_validity = int(found.get("uidValidity", "0"))
        validity = max(int(time.time()) % MAX_UID, self._last_validity + 1)
        if validity > MAX_UID:
            validity = 1
        self._last_validity = validity
        last = str(validity)
        self.objects.stage_derived(lambda b: b.map_set(ACCOUNT_MAP, "uidValidity", last))
        return {"uidValidity": validity, "uidNext": 1}

    async def _stage_emails(self) -> None:
        emails = await self.objects.view(EMAIL, list(self._original))
        final = {i: frozenset(emails[i].get("mailboxIds") or {}) if i in emails else frozenset()
                 for i in self._original}
        left: dict[str, list[str]] = {}
        for email_id, before in self._original.items():
            for mailbox_id in sorted(before - final[email_id]):
                left.setdefault(mailbox_id, []).append(email_id)
        entered: dict[str, list[str]] = {}
        for email_id, mailbox_id in self._entered:
            if mailbox_id in final[email_id] and mailbox_id not in self._original[email_id]:
                entered.setdefault(mailbox_id, []).append(email_id)
        self._original.clear()
        self._entered.clear()
        for mailbox_id, email_ids in sorted(left.items()):
            await self._stage_left(mailbox_id, email_ids)
        if left:
            await self._trim_expunged(sorted(left))
        mailboxes = await self.objects.peek(MAILBOX, sorted(entered))
        for mailbox_id, email_ids in sorted(entered.items()):
            value = mailboxes.get(mailbox_id)
            if value is None:
                continue  # the email check refused it; nothing of it is staged
            await self._stage_entered(
                mailbox_id, value, email_ids, left.get(mailbox_id, [])
            )

    async def read_uids(self, mailbox_id: str, email_ids: list[str]) -> dict[str, float]:
        """The UIDs the emails have in the mailbox (those that have one); read once per
        computation, so a caller that knows which emails will leave can read them early,
        beside its other reads (EmailWork.prepare_removal)."""
        wanted = [i for i in dict.fromkeys(email_ids) if (mailbox_id, i) not in self._uids]
        if wanted:
            found = await self.objects.store.indexes.index_scores(
                self.objects.account_id, uid_index(mailbox_id), wanted
            )
            for email_id in wanted:
                self._uids[(mailbox_id, email_id)] = found.get(email_id)
        return {i: uid for i in email_ids if (uid := self._uids[(mailbox_id, i)]) is not None}

    async def _stage_left(self, mailbox_id: str, email_ids: list[str]) -> None:
        uids = await self.read_uids(mailbox_id, email_ids)
        index, expunged = uid_index(mailbox_id), expunged_index(mailbox_id)
        gone = mailbox_id in self._destroyed_mailboxes

        def write(batch: WriteBatch) -> None:
            for email_id in email_ids:
                batch.index_remove(index, email_id)
                if email_id in uids and not gone:
                    # scored by the Email state the write itself reaches (the module docstring)
                    batch.index_add_at_state(expunged, str(int(uids[email_id])), EMAIL)

        self.objects.stage_derived(write)
        recorded = sum(1 for email_id in email_ids if email_id in uids)
        found = (await self.objects.peek(MAILBOX, [mailbox_id])).get(mailbox_id)
        if recorded and not gone and found is not None and isinstance(found.get(IMAP_KEY), dict):
            self.objects.adjust(MAILBOX, mailbox_id, {f"{IMAP_KEY}.expunged": recorded})

    async def _trim_expunged(self, mailbox_ids: list[str]) -> None:
        """Drop the oldest expunge records of a mailbox holding too many (module docstring).
        Only a trim makes the mailbox a condition of the write (its count read exactly)."""
        held = await self.objects.peek(MAILBOX, mailbox_ids)
        due = [
            mailbox_id for mailbox_id, value in sorted(held.items())
            if (state := imap_state_of(value)) is not None
            and state.expunged + self._pending_expunged(mailbox_id) > MAX_EXPUNGED + EXPUNGED_SLACK
        ]
        mailboxes = await self.objects.get(MAILBOX, due) if due else {}
        for mailbox_id, value in sorted(mailboxes.items()):
            state = imap_state_of(value)
            pending = self._pending_expunged(mailbox_id)
            if state is None or state.expunged + pending <= MAX_EXPUNGED + EXPUNGED_SLACK:
                continue
            # counted with the records this write adds, which the update below keeps
            state = ImapMailboxState(state.uid_validity, state.uid_next,
                                     state.expunged + pending, state.vanished_floor)
            log = expunged_index(mailbox_id)
            # the oldest stored, not counting the ones this write adds (they are the newest)
            oldest = await self.objects.store.indexes.index_query(
                self.objects.account_id, Index(log), limit=state.expunged - MAX_EXPUNGED,
                count=False,
            )
            dropped = [(uid, score) for uid, score in oldest.members]
            floor = max([state.vanished_floor, *(int(score) for _, score in dropped)])

            def write(batch: WriteBatch, log: str = log, dropped: list[Any] = dropped) -> None:
                for uid, _ in dropped:
                    batch.index_remove(log, uid)

            self.objects.stage_derived(write)
            # the update takes the pending adjust in (WorkingSet.update): it is left out here
            value[IMAP_KEY] = {**value[IMAP_KEY],
                               "expunged": state.expunged - pending - len(dropped),
                               "vanishedFloor": floor}
            self.objects.update(MAILBOX, mailbox_id, value)

    def _pending_expunged(self, mailbox_id: str) -> int:
        return self.objects.pending_adjust(MAILBOX, mailbox_id, f"{IMAP_KEY}.expunged")

    async def _stage_entered(
        self, mailbox_id: str, value: JSONObject, email_ids: list[str], leaving: list[str]
    ) -> None:
        state = imap_state_of(value)
        index = uid_index(mailbox_id)
        if state is not None and not self.objects.is_staged(MAILBOX, mailbox_id):
            # the UIDs come from the stored UIDNEXT as the write finds it, which the write
            # moves past them: appends to one mailbox at once never conflict over it
            def numbered(batch: WriteBatch) -> None:
                for offset, email_id in enumerate(email_ids):
                    batch.index_add_at_counter(
                        index, email_id, MAILBOX, mailbox_id, UID_NEXT_PATH, offset
                    )

            self.objects.stage_derived(numbered)
            self.objects.adjust(MAILBOX, mailbox_id, {UID_NEXT_PATH: len(email_ids)})
            return
        # a mailbox this computation writes whole (or one from before IMAP state): numbered
        # from its value, under the condition its read or its staging set
        read = await self.objects.get_one(MAILBOX, mailbox_id)
        if read is None:
            raise Conflict(f"mailbox {mailbox_id} went away while emails entered it")
        value = read
        state = imap_state_of(value)
        earlier: list[str] = []
        if state is None:
            # a mailbox from before IMAP state: the emails it holds get their UIDs first, in
            # receivedAt order (as on first sight), so none is left without one
            await self.objects.state(EMAIL)  # the mailbox index is then a precondition
            page = await self.objects.store.indexes.index_query(
                self.objects.account_id, Index(mailbox_index(mailbox_id))
            )
            skip = {*email_ids, *leaving}
            earlier = [i for i in page.ids if i not in skip]
            value[IMAP_KEY] = {**await self.new_state(), "uidNext": len(earlier) + 1}
            state = imap_state_of(value)
            assert state is not None
        first = state.uid_next

        def write(batch: WriteBatch) -> None:
            for uid, email_id in enumerate(earlier, start=1):
                batch.index_add(index, email_id, float(uid))
            for offset, email_id in enumerate(email_ids):
                batch.index_add(index, email_id, float(first + offset))

        self.objects.stage_derived(write)
        value[IMAP_KEY] = {**value[IMAP_KEY], "uidValidity": state.uid_validity,
                           "uidNext": first + len(email_ids)}
        self.objects.update(MAILBOX, mailbox_id, value)

    async def _forget_mailbox(self, mailbox_id: str) -> None:
        """A destroyed mailbox leaves no IMAP record behind (its emails left it already)."""
        account = self.objects.account_id
        expunged = await self.objects.store.indexes.index_query(
            account, Index(expunged_index(mailbox_id))
        )
        members = list(expunged.ids)
        log = expunged_index(mailbox_id)

        def write(batch: WriteBatch) -> None:
            for member in members:
                batch.index_remove(log, member)
            batch.map_delete(RECENT_MAP, mailbox_id)

        self.objects.stage_derived(write)
