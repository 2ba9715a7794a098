"""SELECT and EXAMINE (with CONDSTORE and QRESYNC, RFC 7162), CLOSE and UNSELECT (RFC 9051
§6.3.2, §6.4.1, RFC 3691)."""

from __future__ import annotations

from stalwart_tx.imap import syntax
from stalwart_tx.imap.commands_mailboxes import attributes, find_mailbox, oldname
from stalwart_tx.imap.flags import MAILBOX_FLAGS
from stalwart_tx.imap.grammar import SequenceSet
from stalwart_tx.imap.mailbox_trees import beside_shape, kept_mailbox
from stalwart_tx.imap.names import ImapMailbox
from stalwart_tx.imap.selected import Delta, SelectedMailbox, refresh
from stalwart_tx.imap.sequence_text import sequence_text
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.imap.updates import send_flags

# MODSEQs read per call when looking for what changed
MODSEQ_BATCH = 2000


async def select(session: ImapSession, command: syntax.Select) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    previous = session.selected
    if previous is not None:
        session.selected = None
        session.state = State.AUTHENTICATED
        # RFC 7162 §3.2.11: a server supporting QRESYNC marks the end of the closed
        # mailbox's responses, whether or not the client enabled it
        session.untagged("OK [CLOSED] previous mailbox closed")
    if command.qresync is not None and not session.qresync:
        raise CommandFailed.bad("ENABLE QRESYNC first")
    if command.condstore:
        session.condstore = True
    view: SelectedMailbox | None = None
    first_unseen: int | None = None

    def reselects(mailbox: ImapMailbox) -> bool:
        return (previous is not None and previous.mailbox_id == mailbox.id
                and previous.readonly == command.readonly and command.qresync is None)

    kept = kept_mailbox(client, command.mailbox)
    if kept is not None and reselects(kept[1]):
        assert previous is not None
        shape, known = kept
        # the catch-up is the view's own mailbox's whatever the names; the name must still be
        # that mailbox's
        (view, first_unseen), held = await beside_shape(
            client, shape, _reopened(session, previous, known.name)
        )
        mailbox = known if held else await find_mailbox(client, command.mailbox)
        if view is not None and mailbox.id != view.mailbox_id:
            view = None  # the name is another mailbox's now
        elif view is not None:
            view.name = mailbox.name
    else:
        mailbox = await find_mailbox(client, command.mailbox)
        if reselects(mailbox):
            assert previous is not None
            view, first_unseen = await _reopened(session, previous, mailbox.name)
    if view is None:
        view, first_unseen = await _opened(session, mailbox.id, mailbox.name, command.readonly)
    session.dirty = False
    flags = " ".join(MAILBOX_FLAGS)
    session.untagged(f"FLAGS ({flags})")
    session.untagged(f"{view.exists} EXISTS")
    if session.rev2:
        # RFC 9051 §6.3.2: the mailbox's name as the server spells it, with its attributes
        session.untagged(f"LIST {attributes(mailbox)} \"/\" ".encode()
                         + session.mailbox_name(mailbox.name) + oldname(session, command.mailbox))
    else:
        session.untagged(f"{len(view.recent)} RECENT")
        seq = view.seq_of(first_unseen) if first_unseen is not None else None
        if seq is not None:
            session.untagged(f"OK [UNSEEN {seq}] first unseen message")
    permanent = "()" if command.readonly else f"({flags} \\*)"
    session.untagged(f"OK [PERMANENTFLAGS {permanent}] flags that stay")
    session.untagged(f"OK [UIDVALIDITY {view.uid_validity}] UIDs valid")
    session.untagged(f"OK [UIDNEXT {view.uid_next}] predicted next UID")
    session.untagged(f"OK [HIGHESTMODSEQ {int(view.state.partition(':')[0])}] highest")
    session.untagged(f"OK [MAILBOXID ({mailbox.id})] mailbox id")
    session.selected = view
    session.keywords_announced = set()
    session.state = State.SELECTED
    # RFC 5182 §2.1: UIDs saved in another mailbox must not name messages of this one
    session.saved_uids = []
    resync = command.qresync
    if resync is not None and resync.uidvalidity == view.uid_validity:
        await resynchronise(session, view, resync.modseq, resync.known_uids)
    mode = "READ-ONLY" if command.readonly else "READ-WRITE"
    return f"[{mode}] {'EXAMINE' if command.readonly else 'SELECT'} completed"


async def _opened(
    session: ImapSession, mailbox_id: str, name: str, readonly: bool
) -> tuple[SelectedMailbox, int | None]:
    """A new view of the mailbox from one read of all its UIDs, \\Recent taken for rev1
    (EXAMINE only looks); with the first unseen UID for rev1."""
    client = session.mail()
    # the UIDs are read at the very state the view starts from (one read of the store), the
    # \Recent mark with them, raised over them all by a read-write rev1 view
    recent = {} if session.rev2 else {"recent": "read" if readonly else "claim"}
    answer = await client.call(
        "ImapMailbox/get", ids=[mailbox_id], uids=True, firstUnseen=not session.rev2, **recent
    )
    if not answer["list"]:
        raise CommandFailed.no("the mailbox is gone", "NONEXISTENT")
    entry = answer["list"][0]
    view = SelectedMailbox(
        mailbox_id=mailbox_id, name=name, uid_validity=entry["uidValidity"],
        readonly=readonly, state=answer["state"],
        uids=[uid for uid, _ in entry["uids"]], ids=[e for _, e in entry["uids"]],
        uid_next=entry["uidNext"],
    )
    if recent:
        view.recent = {uid for uid in view.uids if uid > entry["recentMark"]}
    return view, entry.get("firstUnseen")


async def _reopened(
    session: ImapSession, view: SelectedMailbox, name: str
) -> tuple[SelectedMailbox | None, int | None]:
    """The selected mailbox selected again: its view caught up with the changes since, which
    the new selection's EXISTS reports (the client numbers its messages afresh), instead of
    reading every UID again; None when the view cannot be caught up so (the log no longer
    reaches back, a new UIDVALIDITY, the mailbox gone), and the caller reads it whole.

    The view then ends as ``_opened`` would make it at the same state: the same UIDs, and for
    rev1 the \\Recent messages those above the mark its catch-up read finds (and, read-write,
    raises over them in that read).
    """
    client = session.mail()
    delta = await refresh(client, view, first_unseen=not session.rev2, recent=not session.rev2)
    entry = delta.mailbox
    if entry is None or entry["uidValidity"] != view.uid_validity:
        return None, None
    for uid in sorted(set(delta.expunged) | view.pending_expunge, reverse=True):
        view.remove(uid)
    for uid, email_id in delta.added:
        view.append(uid, email_id)
    view.name = name
    view.uid_next = entry["uidNext"]
    view.pending_expunge = set()
    view.reported = {}
    view.recent = set()
    if not session.rev2 and view.uids:
        taken = delta.recent_of(view.uids)
        if taken is not None:
            view.recent = taken
        else:
            await _take_recent(session, view, delta)
    return view, entry.get("firstUnseen")


async def _take_recent(session: ImapSession, view: SelectedMailbox, earlier: Delta) -> None:
    """rev1: the view's \\Recent messages, those above the mark before this session raised it
    to its last UID; EXAMINE shows them without taking them (a claim of 0 only reads it).
    ``earlier``'s read may have taken the first of them already."""
    claim = 0 if view.readonly else view.uids[-1]
    claimed = await session.mail().call(
        "ImapMailbox/claimRecent", mailboxId=view.mailbox_id, uid=claim
    )
    view.recent = {uid for uid in view.uids if uid > claimed["previous"]}
    view.recent |= earlier.recent_of([u for u in view.uids if u <= earlier.recent_top]) or set()


async def resynchronise(
    session: ImapSession, view: SelectedMailbox, modseq: int, known: SequenceSet | None
) -> None:
    """QRESYNC (RFC 7162 §3.2.5): what the client missed since ``modseq``: the UIDs expunged
    since, as VANISHED (EARLIER), then the messages changed since, as FETCH."""
    await send_vanished_since(session, view, modseq, known)
    changed = await changed_since(session, view, modseq, known)
    if changed:
        await send_flags(session, changed)


async def send_vanished_since(
    session: ImapSession, view: SelectedMailbox, modseq: int, within: SequenceSet | None
) -> None:
    answer = await session.mail().call(
        "ImapMailbox/vanished", mailboxId=view.mailbox_id, sinceModseq=modseq
    )
    largest = view.uids[-1] if view.uids else 0
    if not answer.get("complete", True):
        # the records that old were dropped: every UID the client may know of that is not
        # here now (RFC 7162 §3.2.5.2 allows answering from the known UIDs)
        top = max(view.uid_next - 1, largest)
        spans = within.resolve(top) if within is not None else [(1, top)]
        text = absent_ranges(spans, view.uids)
        if text:
            session.untagged(b"VANISHED (EARLIER) " + text)
        return
    gone = [uid for uid in answer["uids"] if view.seq_of(uid) is None
            and (within is None or within.contains(uid, max(largest, uid)))]
    if gone:
        session.untagged(b"VANISHED (EARLIER) " + sequence_text(gone))


def absent_ranges(spans: list[tuple[int, int]], present: list[int]) -> bytes:
    """The numbers of the sorted inclusive ``spans`` that are not in ``present`` (ascending),
    as a sequence set; ranges are written without listing every number."""
    parts: list[bytes] = []
    index = 0
    for first, last in spans:
        start = first
        while index < len(present) and present[index] < first:
            index += 1
        while index < len(present) and present[index] <= last:
            if present[index] > start:
                parts.append(_span(start, present[index] - 1))
            start = present[index] + 1
            index += 1
        if start <= last:
            parts.append(_span(start, last))
    return b",".join(parts)


def _span(first: int, last: int) -> bytes:
    return b"%d" % first if first == last else b"%d:%d" % (first, last)


async def changed_since(
    session: ImapSession, view: SelectedMailbox, modseq: int, within: SequenceSet | None
) -> list[str]:
    """The Email ids of the view (within the UID set) whose MODSEQ is above ``modseq``."""
    largest = view.uids[-1] if view.uids else 0
    ids = [e for u, e in zip(view.uids, view.ids, strict=True)
           if within is None or within.contains(u, largest)]
    changed: list[str] = []
    for start in range(0, len(ids), MODSEQ_BATCH):
        found = await session.mail().call("ImapEmail/get", ids=ids[start:start + MODSEQ_BATCH])
        changed += [e["id"] for e in found["list"] if e["modseq"] > modseq]
    return changed


async def close(session: ImapSession, command: syntax.Close | syntax.Unselect) -> str:
    session.require(State.SELECTED)
    view = session.view()
    if isinstance(command, syntax.Close) and not view.readonly:
        from stalwart_tx.imap.commands_write import expunge_deleted

        await expunge_deleted(session, view, None)
    session.selected = None
    session.state = State.AUTHENTICATED
    return f"{type(command).__name__.upper()} completed"
