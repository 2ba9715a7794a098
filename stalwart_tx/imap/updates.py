"""Telling a session's client what others changed: EXPUNGE/VANISHED, EXISTS, RECENT, FETCH.

``announce`` catches the view up (``selected.refresh``) and writes the untagged responses in
the order that keeps every sequence number right: expunges first (highest first, so the
numbers of those still to come do not move), then EXISTS with the new messages, then flags.
Expunges the command in progress may not announce stay pending in the view, their messages
still numbered, until a command that may.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from stalwart_tx.imap.email_facts import email_facts
from stalwart_tx.imap.flags import MAILBOX_FLAGS, flags_of
from stalwart_tx.imap.selected import Delta, refresh
from stalwart_tx.imap.sequence_text import sequence_text

if TYPE_CHECKING:
    from stalwart_tx.imap.session import ImapSession


async def announce(session: ImapSession, *, allow_expunge: bool) -> None:
    view = session.selected
    client = session.client
    if view is None or client is None:
        return
    session.dirty = False
    session.notified = None
    session.looked_at = time.monotonic()
    delta = await refresh(client, view, recent=not session.rev2)
    await apply_delta(session, delta, allow_expunge=allow_expunge)


async def apply_delta(session: ImapSession, delta: Delta, *, allow_expunge: bool) -> None:
    view = session.selected
    client = session.client
    assert view is not None and client is not None
    view.pending_expunge.update(u for u in delta.expunged if view.seq_of(u) is not None)
    if allow_expunge and view.pending_expunge:
        gone = sorted(view.pending_expunge, reverse=True)
        if session.qresync:
            for uid in gone:
                view.remove(uid)
            session.untagged(b"VANISHED " + sequence_text(sorted(gone)))
        else:
            for uid in gone:
                seq = view.remove(uid)
                if seq is not None:
                    session.untagged(b"%d EXPUNGE" % seq)
    before = view.exists
    added = [(uid, email_id) for uid, email_id in delta.added if view.append(uid, email_id)]
    if added or view.exists != before:
        session.untagged(b"%d EXISTS" % view.exists)
        if not session.rev2:
            new_uids = [uid for uid, _ in added]
            taken = delta.recent_of(new_uids)
            if taken is not None:
                view.recent |= taken
            elif new_uids:
                claim = 0 if view.readonly else new_uids[-1]  # EXAMINE takes nothing
                answer = await client.call(
                    "ImapMailbox/claimRecent", mailboxId=view.mailbox_id, uid=claim
                )
                # the catch-up's read may have claimed the first of them already
                early = delta.recent_of([u for u in new_uids if u <= delta.recent_top])
                view.recent |= early or set()
                view.recent.update(u for u in new_uids if u > answer["previous"])
            session.untagged(b"%d RECENT" % len(view.recent))
    changed = [e for e in delta.changed if view.uid_of(e) is not None]
    if changed:
        await send_flags(session, changed, delta.modseqs)


def announce_keywords(session: ImapSession, flag_lists: Iterable[list[str]]) -> None:
    """Before a FETCH shows a keyword the client was not told of, send the mailbox's FLAGS
    (and PERMANENTFLAGS) again with it: RFC 3501 §7.2.6, clients check FLAGS against them."""
    new = {flag for flags in flag_lists for flag in flags
           if not flag.startswith("\\") and flag not in session.keywords_announced}
    if not new:
        return
    session.keywords_announced |= new
    listed = " ".join([*MAILBOX_FLAGS, *sorted(session.keywords_announced)])
    session.untagged(f"FLAGS ({listed})")
    view = session.selected
    if view is not None and not view.readonly:
        session.untagged(f"OK [PERMANENTFLAGS ({listed} \\*)] flags that stay")


async def send_flags(
    session: ImapSession, email_ids: list[str], modseqs: Mapping[str, int] | None = None
) -> None:
    """Untagged FETCH (UID FLAGS [MODSEQ]) of these messages, as they are now; ``modseqs``
    read before, when the caller has them."""
    view = session.selected
    client = session.client
    assert view is not None and client is not None
    # the MODSEQ before the flags: a change landing between them is then announced again
    # later (its MODSEQ is newer than the one recorded), never taken as already told; the
    # flags of a MODSEQ some session of this process read already are kept (email_facts)
    facts, modseqs = await email_facts(client, email_ids, modseqs)
    keywords = {i: e.get("keywords") or {} for i, e in facts.items()}
    announce_keywords(session, (flags_of(k) for k in keywords.values()))
    lines = []
    for email_id in email_ids:
        uid = view.uid_of(email_id)
        if uid is None or email_id not in keywords:
            continue
        seq = view.seq_of(uid)
        flags = flags_of(keywords[email_id])
        if uid in view.recent:
            flags = ["\\Recent", *flags]
        items = b"UID %d FLAGS (%s)" % (uid, " ".join(flags).encode())
        if session.condstore and email_id in modseqs:
            items += b" MODSEQ (%d)" % modseqs[email_id]
        lines.append((seq or 0, b"%d FETCH (%s)" % (seq or 0, items)))
        if email_id in modseqs:
            view.reported[email_id] = modseqs[email_id]
    for _, line in sorted(lines):
        session.untagged(line)
