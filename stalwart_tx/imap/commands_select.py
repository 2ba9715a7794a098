"""SELECT and EXAMINE (with CONDSTORE), CLOSE and UNSELECT (RFC 9051 §6.3.2, §6.4.1, RFC 3691)."""

from __future__ import annotations

from stalwart_tx.imap import syntax
from stalwart_tx.imap.commands_mailboxes import find_mailbox
from stalwart_tx.imap.flags import MAILBOX_FLAGS
from stalwart_tx.imap.selected import SelectedMailbox
from stalwart_tx.imap.session import CommandFailed, ImapSession, State


async def select(session: ImapSession, command: syntax.Select) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    if session.selected is not None:
        session.selected = None
        session.state = State.AUTHENTICATED
        if session.rev2 or "QRESYNC" in session.enabled:
            session.untagged("OK [CLOSED] previous mailbox closed")
    if command.qresync is not None:
        raise CommandFailed.bad("QRESYNC is not enabled")
    if command.condstore:
        session.condstore = True
    mailbox = await find_mailbox(client, command.mailbox)
    answer = await client.call("ImapMailbox/get", ids=[mailbox.id], uids=True)
    if not answer["list"]:
        raise CommandFailed.no("the mailbox is gone", "NONEXISTENT")
    entry = answer["list"][0]
    view = SelectedMailbox(
        mailbox_id=mailbox.id, name=mailbox.name, uid_validity=entry["uidValidity"],
        readonly=command.readonly, state=answer["state"],
        uids=[uid for uid, _ in entry["uids"]], ids=[e for _, e in entry["uids"]],
        uid_next=entry["uidNext"],
    )
    session.dirty = False
    flags = " ".join(MAILBOX_FLAGS)
    session.untagged(f"FLAGS ({flags})")
    session.untagged(f"{view.exists} EXISTS")
    if not session.rev2:
        if view.uids and not command.readonly:
            claimed = await client.call(
                "ImapMailbox/claimRecent", mailboxId=mailbox.id, uid=view.uids[-1]
            )
            view.recent = {uid for uid in view.uids if uid > claimed["previous"]}
        session.untagged(f"{len(view.recent)} RECENT")
        first_unseen = await _first_unseen(session, view)
        if first_unseen is not None:
            session.untagged(f"OK [UNSEEN {first_unseen}] first unseen message")
    permanent = "()" if command.readonly else f"({flags} \\*)"
    session.untagged(f"OK [PERMANENTFLAGS {permanent}] flags that stay")
    session.untagged(f"OK [UIDVALIDITY {view.uid_validity}] UIDs valid")
    session.untagged(f"OK [UIDNEXT {view.uid_next}] predicted next UID")
    session.untagged(f"OK [HIGHESTMODSEQ {int(view.state.partition(':')[0])}] highest")
    session.untagged(f"OK [MAILBOXID ({mailbox.id})] mailbox id")
    session.selected = view
    session.state = State.SELECTED
    mode = "READ-ONLY" if command.readonly else "READ-WRITE"
    return f"[{mode}] {'EXAMINE' if command.readonly else 'SELECT'} completed"


async def _first_unseen(session: ImapSession, view: SelectedMailbox) -> int | None:
    if not view.uids:
        return None
    found = await session.mail().call(
        "ImapEmail/query", filter={"inMailbox": view.mailbox_id, "notKeyword": "$seen"}
    )
    uids = [view.uid_of(email_id) for email_id in found["ids"]]
    known = [uid for uid in uids if uid is not None]
    return view.seq_of(min(known)) if known else None


async def close(session: ImapSession, command: syntax.Close | syntax.Unselect) -> str:
    session.require(State.SELECTED)
    view = session.view()
    if isinstance(command, syntax.Close) and not view.readonly:
        from stalwart_tx.imap.commands_write import expunge_deleted

        await expunge_deleted(session, view, None)
    session.selected = None
    session.state = State.AUTHENTICATED
    return f"{type(command).__name__.upper()} completed"
