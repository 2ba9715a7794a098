"""The selected mailbox as one IMAP session sees it, and how it catches up with the store.

IMAP numbers messages by sequence, and a client's numbering may only change when the server
tells it (EXISTS, EXPUNGE, VANISHED). So each session keeps its *view*: the UIDs it has
announced, in order, with the Email id of each. The view is not a copy of mail data (UIDs,
flags, MODSEQs are read from the store every time); it is the session's position in the
conversation, caught up from the Email change log at the points RFC 3501 §7.4.1 allows.

Catching up (``refresh``): the Email changes since the state the view was last brought to,
then for the touched emails their UID in this mailbox. An email whose UID is gone or changed
was expunged here (held back as *pending* while the command in progress may not announce
expunges); a UID not in the view is a new message; an email whose UID stayed may have new
flags. When the log no longer reaches back that far, the whole UID list is compared instead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.imap.grammar import SequenceSet
from stalwart_tx.imap.mail_client import JmapCallError, MailClient
from stalwart_tx.jmap.mail.email_model import EMAIL

# Email/changes asked in pages of this many ids
CHANGES_PAGE = 2048


@dataclass
class Delta:
    expunged: list[int] = field(default_factory=list)  # UIDs
    added: list[tuple[int, str]] = field(default_factory=list)  # (UID, Email id), ascending
    changed: list[str] = field(default_factory=list)  # Email ids whose data may have changed
    # the MODSEQs of the changed ones, read with the changes (before any value of theirs)
    modseqs: dict[str, int] = field(default_factory=dict)
    # the mailbox's ImapMailbox/get entry read with the changes (UIDVALIDITY, UIDNEXT, and
    # firstUnseen when asked); None when it is gone or the view was compared whole instead
    mailbox: dict[str, Any] | None = None
    # rev1's \Recent, when the catch-up read it: the UIDs above ``recent_mark`` up to
    # ``recent_top`` are this session's (a claim took them; EXAMINE only looked)
    recent_mark: int | None = None
    recent_top: int = 0

    def recent_of(self, uids: list[int]) -> set[int] | None:
        """Which of these new UIDs are \\Recent for the session, from the catch-up's read;
        None when the read did not reach them all (another read must claim the rest)."""
        if self.recent_mark is None or (uids and uids[-1] > self.recent_top):
            return None
        return {uid for uid in uids if uid > self.recent_mark}


@dataclass
class SelectedMailbox:
    mailbox_id: str
    name: str
    uid_validity: int
    readonly: bool
    state: str  # the Email state the view was brought to
    uids: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    recent: set[int] = field(default_factory=set)
    # expunged in the store, still in the view: not announced yet
    pending_expunge: set[int] = field(default_factory=set)
    # Email id -> the MODSEQ this session last reported its flags at (its own STORE)
    reported: dict[str, int] = field(default_factory=dict)
    # Email id -> its MODSEQ as last read, for messages of the view: at least as new as the
    # view's state (a catch-up brings every one that changed since), so right after a
    # catch-up each is the current one
    modseqs: dict[str, int] = field(default_factory=dict)
    # Email id -> a state: emails the view took from a UID read that may be newer than the
    # view's state. The change log from the view's state omits an email created and destroyed
    # after it, so until the view's state reaches the given one, these are checked by id.
    ahead: dict[str, int] = field(default_factory=dict)
    uid_next: int = 1

    def __post_init__(self) -> None:
        self._uid_of = dict(zip(self.ids, self.uids, strict=True))

    # -- reading the view -----------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def uid_of(self, email_id: str) -> int | None:
        return self._uid_of.get(email_id)

    def email_at(self, uid: int) -> str | None:
        index = bisect.bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return self.ids[index]
        return None

    def seq_of(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return index + 1
        return None

    def messages(self, sequence_set: SequenceSet, uid: bool) -> list[tuple[int, int, str]]:
        """(seq, UID, Email id) of the messages the set names, ascending; sequence numbers past
        the end are the caller's to refuse (``out_of_range``)."""
        found: list[tuple[int, int, str]] = []
        uids, ids = self.uids, self.ids
        if not uids:
            return found
        # resolve() gives sorted, disjoint ranges: the slices follow each other in order
        for first, last in sequence_set.resolve(uids[-1] if uid else len(uids)):
            if uid:
                start = bisect.bisect_left(uids, first)
                end = bisect.bisect_right(uids, last)
            else:
                start, end = max(first, 1) - 1, min(last, len(uids))
            if start < end:
                numbers = range(start + 1, end + 1)
                found.extend(zip(numbers, uids[start:end], ids[start:end], strict=True))
        return found

    def out_of_range(self, sequence_set: SequenceSet) -> bool:
        """Whether a message sequence set names a number beyond EXISTS (RFC 9051 §6.4.5 calls
        for BAD); ``*`` is fine even in an empty mailbox only for UID sets."""
        if sequence_set.saved:
            return False
        largest = len(self.uids)
        return any(last > largest or first > largest or first == 0
                   for first, last in sequence_set.resolve(largest))

    # -- changing the view ----------------------------------------------------------------

    def append(self, uid: int, email_id: str) -> bool:
        if self.uids and uid <= self.uids[-1]:
            return False
        self.uids.append(uid)
        self.ids.append(email_id)
        self._uid_of[email_id] = uid
        self.uid_next = max(self.uid_next, uid + 1)
        return True

    def remove(self, uid: int) -> int | None:
        """Take the UID out of the view; its sequence number before, or None."""
        seq = self.seq_of(uid)
        if seq is None:
            return None
        email_id = self.ids.pop(seq - 1)
        self.uids.pop(seq - 1)
        if self._uid_of.get(email_id) == uid:
            del self._uid_of[email_id]
        self.recent.discard(uid)
        self.pending_expunge.discard(uid)
        self.reported.pop(email_id, None)
        self.modseqs.pop(email_id, None)
        return seq


async def changed_since(
    client: MailClient, state: str
) -> tuple[str, list[str], list[str], list[str]] | None:
    """(new state, created, updated, destroyed) Email ids since ``state``; None when the log no
    longer reaches back that far."""
    created: list[str] = []
    updated: list[str] = []
    destroyed: list[str] = []
    while True:
        try:
            answer = await client.call(
                "Email/changes", sinceState=state, maxChanges=CHANGES_PAGE
            )
        except JmapCallError as error:
            if error.type == "cannotCalculateChanges":
                return None
            raise
        created += answer["created"]
        updated += answer["updated"]
        destroyed += answer["destroyed"]
        state = answer["newState"]
        if not answer["hasMoreChanges"]:
            return state, created, updated, destroyed


async def refresh(
    client: MailClient, view: SelectedMailbox, *, first_unseen: bool = False,
    recent: bool = False,
) -> Delta:
    """What changed in the mailbox since the view's state; moves the view's state, and leaves
    applying the delta (announcing it) to the caller. ``first_unseen`` asks for the lowest
    unseen UID too (``Delta.mailbox``), read at the same instant; ``recent`` (rev1) reads the
    \\Recent mark there too, and for a read-write view claims every UID above it
    (``Delta.recent_of``): no claim of its own is needed for what the read found.

    New messages are read from the mailbox's UID index at one instant (every UID above the
    view's last), never pieced together from separate reads: UIDs are given in commit order,
    so that read holds every message added up to it, in order, and nothing added later can
    have a lower UID. The change log tells which of the view's messages left (their UID
    there is gone or different) or may have new flags.
    """
    delta = Delta()
    last = view.uids[-1] if view.uids else 0
    # one call, one store read: the changes, the new UIDs, and the UIDs now of what changed
    # (and of what the view took ahead of its state)
    try:
        arguments: dict[str, Any] = {}
        if recent:
            arguments["recent"] = "read" if view.readonly else "claim"
        answer = await client.call(
            "ImapMailbox/get", ids=[view.mailbox_id], uids=True, uidsAbove=last,
            emailChangesSince=view.state, maxChanges=CHANGES_PAGE, alsoIds=sorted(view.ahead),
            firstUnseen=first_unseen, **arguments,
        )
    except JmapCallError as error:
        if error.type == "cannotCalculateChanges":
            return await _resync(client, view)
        raise
    changes = answer["emailChanges"]
    state = changes["newState"]
    if answer["list"]:
        delta.mailbox = answer["list"][0]
        if recent:
            delta.recent_mark = delta.mailbox["recentMark"]
            delta.recent_top = delta.mailbox["recentTop"]
    destroyed = list(changes["destroyed"]) + [e for e in answer["emailsNotFound"]
                                              if e in view.ahead]
    entries = answer["emails"]
    if changes["hasMoreChanges"]:
        # a long absence: the rest of the log, page by page, then their UIDs; the mailbox
        # entry belongs to the first page's state, not to where the view ends
        delta.mailbox = None
        rest = await changed_since(client, state)
        if rest is None:
            return await _resync(client, view)
        state, more_created, more_updated, more_destroyed = rest
        destroyed += more_destroyed
        touched = [e for e in dict.fromkeys(more_created + more_updated)
                   if view.uid_of(e) is not None]
        if touched:
            more = await client.call("ImapEmail/get", ids=touched, mailboxId=view.mailbox_id)
            entries += more["list"]
    if state == view.state and not view.ahead:
        return delta
    listed = answer["list"]
    if not listed:  # the mailbox is gone: everything left it
        delta.expunged = list(view.uids)
        view.state = state
        return delta
    current: dict[str, int | None] = {e: None for e in destroyed if view.uid_of(e) is not None}
    modseqs: dict[str, int] = {}
    for entry in entries:
        current[entry["id"]] = entry["uid"]
        modseqs[entry["id"]] = entry["modseq"]
    for email_id, uid in current.items():
        old = view.uid_of(email_id)
        if old is None:
            continue
        if old != uid:
            delta.expunged.append(old)
        elif view.reported.get(email_id) != modseqs.get(email_id):
            delta.changed.append(email_id)
            if email_id in modseqs:
                delta.modseqs[email_id] = modseqs[email_id]
    for email_id, uid in current.items():
        if uid is None:  # gone from the mailbox: unknown until read again
            view.modseqs.pop(email_id, None)
        elif email_id in modseqs:
            view.modseqs[email_id] = modseqs[email_id]
    read_after = _position(answer["stateAfter"])
    for uid, email_id in listed[0]["uids"]:
        old = view.uid_of(email_id)
        if old is not None and old != uid and old not in delta.expunged:
            delta.expunged.append(old)  # it left and came back: a new message
        delta.added.append((uid, email_id))
        if read_after > _position(state):
            view.ahead[email_id] = read_after
    view.state = state
    reached = _position(state)
    gone = {email_id for email_id, uid in current.items() if uid is None}
    for email_id, until in list(view.ahead.items()):
        if until <= reached or email_id in gone:
            del view.ahead[email_id]
    return delta


def _position(state: str) -> int:
    return int(state.partition(":")[0])


async def _resync(client: MailClient, view: SelectedMailbox) -> Delta:
    answer = await client.call("ImapMailbox/get", ids=[view.mailbox_id], uids=True)
    delta = Delta()
    view.state = answer["state"]
    view.modseqs.clear()  # no log to say which changed: every one is read again when needed
    if not answer["list"]:
        delta.expunged = list(view.uids)
        return delta
    listed = {uid: email_id for uid, email_id in answer["list"][0]["uids"]}
    delta.expunged = [uid for uid in view.uids if uid not in listed]
    delta.added = sorted((u, e) for u, e in listed.items() if view.email_at(u) is None)
    delta.changed = [e for u, e in zip(view.uids, view.ids, strict=True) if u in listed]
    return delta


__all__ = ["EMAIL", "Delta", "SelectedMailbox", "changed_since", "refresh"]
