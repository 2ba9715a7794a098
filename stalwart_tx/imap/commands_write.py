"""Commands that change messages: STORE (with UNCHANGEDSINCE), COPY, MOVE (RFC 6851), EXPUNGE
and UID EXPUNGE (RFC 4315), APPEND (with MULTIAPPEND, RFC 3502). Each is Email/set or
Email/import; UIDs of the results come from the store (COPYUID, APPENDUID)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, cast

from stalwart_tx.gathering import gather
from stalwart_tx.imap import syntax
from stalwart_tx.imap.email_facts import email_facts
from stalwart_tx.imap.flags import DELETED, flag_of, flags_of, keyword_of, keywords_of
from stalwart_tx.imap.grammar import SequenceSet
from stalwart_tx.imap.mail_client import JmapCallError, MailClient
from stalwart_tx.imap.mailbox_trees import mailbox_tree
from stalwart_tx.imap.names import ImapMailbox
from stalwart_tx.imap.reader import Literal
from stalwart_tx.imap.selected import Delta, SelectedMailbox
from stalwart_tx.imap.sequence_text import sequence_text
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.imap.updates import announce, announce_keywords, apply_delta

# Email/set updates sent per call: bounded so one STORE of a huge range stays many small writes
UPDATE_BATCH = 256
# attempts at a conditional STORE (UNCHANGEDSINCE) racing other writers
CONDITIONAL_ATTEMPTS = 8
# appended messages up to this size go to the blob store in one piece
SMALL_BLOB = 256 * 1024
UPLOAD_CHUNK = 64 * 1024


def _targets(
    session: ImapSession, sequence_set: SequenceSet, uid: bool
) -> list[tuple[int, int, str]]:
    view = session.view()
    if sequence_set.saved:
        saved = set(session.saved_uids)
        return [m for m in view.messages(SequenceSet(((1, 2**32 - 1),)), True) if m[1] in saved]
    if not uid and view.out_of_range(sequence_set):
        raise CommandFailed.bad("no such message sequence number")
    return view.messages(sequence_set, uid)


async def store(session: ImapSession, command: syntax.Store) -> str:
    session.require(State.SELECTED)
    view = session.view()
    if view.readonly:
        raise CommandFailed.no("the mailbox is read-only", "READ-ONLY")
    client = session.mail()
    targets = _targets(session, command.sequence_set, command.uid)
    if command.unchanged_since is not None:
        session.condstore = True
    keywords = keywords_of(command.flags)
    modified: list[int] = []
    before: dict[str, int] = {}
    # the Email state the view reaches by this command's own writes, while they follow each
    # other from the view's state with no one else's in between
    reached: str | None = view.state
    written: dict[str, int] = {}
    for start in range(0, len(targets), UPDATE_BATCH):
        chunk = targets[start:start + UPDATE_BATCH]
        chunk_modified, chunk_before, moved = await _store_chunk(
            client, chunk, command, keywords
        )
        modified += chunk_modified
        before.update(chunk_before)
        if moved is not None:
            written.update(_written_modseqs(chunk, moved))
            if reached is not None:
                reached = moved[1] if moved[0] == reached else None
    skipped = set(modified)
    done = [m for m in targets if m[1] not in skipped]
    if done:
        await _report_flags(session, view, done, command, before, written)
    if reached is not None and session.selected is view:
        # the flags just reported are all that changed since the view's state: the view is
        # at the state after the writes without asking again (the notification of them is
        # then no news, see ImapSession.changed)
        view.state = reached
    if modified:
        text = sequence_text(modified if command.uid else
                             [seq for seq, uid, _ in targets if uid in skipped])
        return f"[MODIFIED {text.decode()}] conditional STORE failed for some"
    return "STORE completed"


async def _store_chunk(
    client: MailClient, chunk: list[tuple[int, int, str]], command: syntax.Store,
    keywords: dict[str, bool],
) -> tuple[list[int], dict[str, int], tuple[str, str] | None]:
    """Apply the flag change to these messages: the UIDs UNCHANGEDSINCE kept unchanged, for
    each changed message the MODSEQ it had before, when the change is known to have been made
    on exactly that version (empty when another writer came between), and the Email state
    before and after the write (None when it is not known)."""
    conditional = command.unchanged_since is not None or command.silent
    if not conditional:
        # a message expunged meanwhile is just not updated (notUpdated), as if done before
        answer = await client.call("Email/set", update={
            e: _patch(command.mode, keywords) for _, _, e in chunk
        })
        return [], {}, (answer["oldState"], answer["newState"])
    for _attempt in range(CONDITIONAL_ATTEMPTS):
        found = await client.call("ImapEmail/get", ids=[e for _, _, e in chunk])
        modseqs = {e["id"]: e["modseq"] for e in found["list"]}
        modified: list[int] = []
        if command.unchanged_since is not None:
            modified = [uid for _, uid, e in chunk
                        if e in modseqs and modseqs[e] > command.unchanged_since]
        ids = [e for _, uid, e in chunk if uid not in modified and e in modseqs]
        update = {email_id: _patch(command.mode, keywords) for email_id in ids}
        if not update:
            return modified, {}, None
        try:
            answer = await client.call("Email/set", update=update, ifInState=found["state"])
        except JmapCallError as error:
            if error.type == "stateMismatch":
                continue
            raise
        return modified, {e: modseqs[e] for e in ids}, (answer["oldState"], answer["newState"])
    if command.unchanged_since is not None:
        raise CommandFailed.no("the messages keep changing, try again", "INUSE")
    # a silent STORE racing other writers still happens; its flags are announced later
    await client.call("Email/set", update={
        e: _patch(command.mode, keywords) for _, _, e in chunk
    })
    return [], {}, None


def _patch(mode: str, keywords: dict[str, bool]) -> dict[str, Any]:
    if mode == "set":
        return {"keywords": dict(keywords)}
    value = True if mode == "add" else None
    return {f"keywords/{keyword}": value for keyword in keywords}


def _written_modseqs(
    chunk: list[tuple[int, int, str]], moved: tuple[str, str]
) -> dict[str, int]:
    """The MODSEQ this command's write gave a message, where the write's Email states tell it:
    a write of one message's keywords moves the Email state to that message's MODSEQ (a write
    of several numbers them in an order the answer does not give; those are read)."""
    old, new = moved
    if len(chunk) != 1 or old == new or not new.isdigit():
        return {}
    return {chunk[0][2]: int(new)}


async def _report_flags(
    session: ImapSession, view: SelectedMailbox, done: list[tuple[int, int, str]],
    command: syntax.Store, before: dict[str, int], written: dict[str, int],
) -> None:
    client = session.mail()
    ids = [email_id for _, _, email_id in done]
    # the MODSEQ before the flags: a change landing between them is then announced again
    # later (its MODSEQ is newer than the one recorded), never taken as already told; the
    # flags at the MODSEQ of this command's own write are kept from the write (BridgeContext),
    # and that MODSEQ is known when the write tells it (one message)
    facts, modseqs = await email_facts(client, ids, written if written.keys() >= set(ids)
                                       else None)
    # read after the write: the view may know them from here on (see SelectedMailbox.modseqs)
    view.modseqs.update((i, m) for i, m in modseqs.items() if view.uid_of(i) is not None)
    keywords = {i: e.get("keywords") or {} for i, e in facts.items()}
    quiet = command.silent and not session.condstore
    if not command.silent:
        announce_keywords(session, (flags_of(k) for k in keywords.values()))
    for seq, uid, email_id in done:
        if email_id not in keywords:
            continue
        if quiet:
            # the client knows the flags after its silent change only if it knew them before
            # (others' earlier changes must still be announced)
            known = view.reported.get(email_id)
            if known is not None and known == before.get(email_id) and email_id in modseqs:
                view.reported[email_id] = modseqs[email_id]
            continue
        if email_id in modseqs:
            view.reported[email_id] = modseqs[email_id]
        items: list[str] = []
        if command.uid:
            items.append(f"UID {uid}")
        if not command.silent:
            flags = flags_of(keywords[email_id])
            if uid in view.recent:
                flags = ["\\Recent", *flags]
            items.append(f"FLAGS ({' '.join(flags)})")
        if session.condstore and email_id in modseqs:
            items.append(f"MODSEQ ({modseqs[email_id]})")
        if items:
            session.untagged(f"{seq} FETCH ({' '.join(items)})")


async def target_mailbox(client: MailClient, name: str) -> ImapMailbox:
    found = (await mailbox_tree(client)).find(name)
    if found is None:
        raise CommandFailed.no(f"no mailbox named {name!r}", "TRYCREATE")
    return found


async def copy(session: ImapSession, command: syntax.Copy | syntax.Move) -> str:
    session.require(State.SELECTED)
    view = session.view()
    moving = isinstance(command, syntax.Move)
    if moving and view.readonly:
        raise CommandFailed.no("the mailbox is read-only", "READ-ONLY")
    client = session.mail()
    target = await target_mailbox(client, command.mailbox)
    targets = _targets(session, command.sequence_set, command.uid)
    if not targets:
        return f"{'MOVE' if moving else 'COPY'} completed, nothing to do"
    same = target.id == view.mailbox_id
    pending = [e for _, _, e in targets]
    found = await client.call("Email/get", ids=pending, properties=[
        "mailboxIds", "keywords", "blobId", "receivedAt",
    ])
    emails = {e["id"]: e for e in found["list"]}
    if any(e not in emails for e in pending) and not moving:
        raise CommandFailed.no("some of the messages no longer exist", "EXPUNGEISSUED")
    planned = _plan([emails[e] for e in pending if e in emails], target.id, view.mailbox_id,
                    moving)
    updates, duplicates = planned.updates, planned.duplicates
    items = list(updates.items())
    for start in range(0, len(items), UPDATE_BATCH):
        answer = await client.call("Email/set", update=dict(items[start:start + UPDATE_BATCH]))
        if answer.get("notUpdated"):
            problem = next(iter(answer["notUpdated"].values()))
            raise CommandFailed.no(problem.get("description") or "cannot copy", _code(problem))
    created: dict[str, str] = {}
    if duplicates:
        answer = await client.call("Email/import", emails=duplicates)
        if answer.get("notCreated"):
            problem = next(iter(answer["notCreated"].values()))
            raise CommandFailed.no(problem.get("description") or "cannot copy", _code(problem))
        created = {key: value["id"] for key, value in answer["created"].items()}
    new_ids = [created.get(email_id, email_id) for _, _, email_id in targets
               if email_id in emails and (email_id in created or email_id in updates)]
    source_uids = [uid for _, uid, email_id in targets
                   if email_id in emails and (email_id in created or email_id in updates)]
    answer = await uids_in(client, new_ids, target.id)
    uid_of = {e["id"]: e["uid"] for e in answer["list"]}
    validity = answer.get("uidValidity")
    pairs = [(s, uid_of[n]) for s, n in zip(source_uids, new_ids, strict=True)
             if uid_of.get(n) is not None]
    code = ""
    if pairs and validity is not None:
        code = (f"[COPYUID {validity} {_uid_list([s for s, _ in pairs])} "
                f"{_uid_list([d for _, d in pairs])}] ")
    if moving:
        if code:
            session.untagged(f"OK {code}moved")
        session.dirty = True
        await announce(session, allow_expunge=True)
        return "MOVE completed"
    if same:
        session.dirty = True
    return f"{code}COPY completed"


@dataclass
class _Plan:
    updates: dict[str, Any] = field(default_factory=dict)  # Email id -> Email/set patch
    duplicates: dict[str, dict[str, Any]] = field(default_factory=dict)  # -> Email/import entry


def _plan(emails: list[dict[str, Any]], target: str, source: str, moving: bool) -> _Plan:
    """What COPY or MOVE writes for each message as read: another mailbox for the same Email,
    or a new Email when the target holds it already (a COPY into its own mailbox)."""
    plan = _Plan()
    for email in emails:
        email_id = email["id"]
        if target in email["mailboxIds"] or target == source:
            if moving and target == source:
                continue
            if not moving or target == source:
                plan.duplicates[email_id] = {
                    "blobId": email["blobId"], "mailboxIds": {target: True},
                    "keywords": email["keywords"], "receivedAt": email["receivedAt"],
                }
                continue
            # the target again too: if another writer takes it out of the target meanwhile,
            # the message still ends where MOVE puts it
            plan.updates[email_id] = {f"mailboxIds/{source}": None, f"mailboxIds/{target}": True}
        else:
            patch: dict[str, Any] = {f"mailboxIds/{target}": True}
            if moving:
                patch[f"mailboxIds/{source}"] = None
            plan.updates[email_id] = patch
    return plan


def _uid_list(uids: list[int]) -> str:
    """UIDs in the order given, as COPYUID pairs them (ranges only where they ascend by 1)."""
    parts: list[str] = []
    start = previous = None
    for uid in uids:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}:{previous}")
    return ",".join(parts)


def _code(problem: dict[str, Any]) -> str:
    kind = problem.get("type")
    return {"overQuota": "OVERQUOTA", "tooLarge": "TOOBIG", "notFound": "EXPUNGEISSUED",
            "tooManyMailboxes": "LIMIT", "tooManyKeywords": "LIMIT"}.get(str(kind), "CANNOT")


async def expunge(session: ImapSession, command: syntax.Expunge) -> str:
    session.require(State.SELECTED)
    view = session.view()
    if view.readonly:
        raise CommandFailed.no("the mailbox is read-only", "READ-ONLY")
    limit = command.sequence_set if command.uid else None
    own = await expunge_deleted(session, view, limit)
    if own is not None and own[0] == view.state and not view.ahead and session.selected is view:
        # the write came right after the view's state: what it took out is all that changed
        # since, so the view moves past it without asking again (its notification is then no
        # news, see ImapSession.needs_look)
        view.state = own[1]
        gone = [view.uid_of(email_id) for email_id in own[2]]
        await apply_delta(session, Delta(expunged=[u for u in gone if u is not None]),
                          allow_expunge=True)
        return "EXPUNGE completed"
    session.dirty = True
    await announce(session, allow_expunge=True)
    return "EXPUNGE completed"


async def expunge_deleted(
    session: ImapSession, view: SelectedMailbox, limit: SequenceSet | None
) -> tuple[str, str, list[str]] | None:
    """Take the messages flagged \\Deleted (within ``limit``, UIDs) out of the mailbox; an
    email in no other mailbox is destroyed. When one write did it all: the Email states
    before and after it, and the ids it took out."""
    client = session.mail()
    if limit is None:
        # the write finds them itself: no query first (a call that took none ends it, even if
        # the indexes list more than the emails bear out)
        calls = 0
        while True:
            done = await client.call("ImapEmail/expunge", mailboxId=view.mailbox_id)
            calls += 1
            if not done["hasMore"] or not done["expunged"]:
                if calls > 1:
                    return None
                return done["oldState"], done["newState"], list(done["expunged"])
    found = await client.call(
        "ImapEmail/query", filter={"inMailbox": view.mailbox_id, "hasKeyword": DELETED}
    )
    allowed = {e for _, _, e in view.messages(limit, True)}
    ids = [e for e in found["ids"] if e in allowed]
    for start in range(0, len(ids), UPDATE_BATCH):
        # each still \Deleted and still here when the write reads it leaves (destroyed when
        # in no other mailbox; elsewhere it keeps its copy's flags without \Deleted)
        await client.call("ImapEmail/expunge", mailboxId=view.mailbox_id,
                          ids=ids[start:start + UPDATE_BATCH])
    return None


async def append(session: ImapSession, command: syntax.Append) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    store = session.server.api.store()
    entries: dict[str, dict[str, Any]] = {}
    target: ImapMailbox | None = None
    for n, message in enumerate(command.messages):
        if message.literal.size == 0:
            raise CommandFailed.no("an empty message cannot be appended", "CANNOT")
        if message.literal.size > session.server.append_limit:
            raise CommandFailed.no("the message is too big", "TOOBIG")
        upload = _store_literal(store, client.account_id, message.literal)
        if target is None:
            # the mailbox is looked up while the first message goes to the blob store, in the
            # same round trip; if there is no such mailbox the blob is left unreferenced, and
            # the blob sweep deletes it as any upload nothing came to use
            found, stored = await gather(target_mailbox(client, command.mailbox), upload)
            target, blob_id = cast(ImapMailbox, found), str(stored)
        else:
            blob_id = await upload
        entry: dict[str, Any] = {
            "blobId": blob_id, "mailboxIds": {target.id: True},
            "keywords": {keyword_of(f): True for f in message.flags},
        }
        if message.date_time is not None:
            entry["receivedAt"] = _utc(message.date_time)
        entries[f"m{n}"] = entry
    assert target is not None  # the grammar gives an APPEND one message at least
    answer = await client.call("Email/import", emails=entries)
    created = answer.get("created") or {}
    if answer.get("notCreated"):
        if created:
            await client.call("Email/set", destroy=[c["id"] for c in created.values()])
        problem = next(iter(answer["notCreated"].values()))
        raise CommandFailed.no(problem.get("description") or "cannot append", _code(problem))
    ids = [created[f"m{n}"]["id"] for n in range(len(command.messages))]
    view = session.selected
    if view is not None and view.mailbox_id == target.id:
        # RFC 3501 §6.3.11: the new messages are announced at once; the view then knows
        # their UIDs (the same mailbox id, so the same UIDVALIDITY)
        session.dirty = True
        await announce(session, allow_expunge=True)
        seen = [view.uid_of(i) for i in ids]
        if session.selected is view and all(uid is not None for uid in seen):
            listed = [uid for uid in seen if uid is not None]
            return f"[APPENDUID {view.uid_validity} {_uid_list(listed)}] APPEND completed"
    uids = await uids_in(client, ids, target.id)
    uid_of = {e["id"]: e["uid"] for e in uids["list"]}
    listed = [uid_of[i] for i in ids if uid_of.get(i) is not None]
    if len(listed) != len(ids) or uids.get("uidValidity") is None:
        return "APPEND completed"
    return f"[APPENDUID {uids['uidValidity']} {_uid_list(listed)}] APPEND completed"


async def uids_in(client: MailClient, ids: list[str], mailbox_id: str) -> dict[str, Any]:
    """ImapEmail/get of the emails in the mailbox (their UIDs, its UIDVALIDITY); a mailbox made
    before IMAP state existed gets it first (ImapMailbox/get numbers its emails)."""
    answer = await client.call("ImapEmail/get", ids=ids, mailboxId=mailbox_id, uidValidity=True)
    if ids and answer.get("uidValidity") is None:
        await client.call("ImapMailbox/get", ids=[mailbox_id])
        answer = await client.call(
            "ImapEmail/get", ids=ids, mailboxId=mailbox_id, uidValidity=True
        )
    return answer


def _check_octets(literal: Literal, chunk: bytes) -> None:
    if not literal.binary and b"\x00" in chunk:
        # RFC 9051 §9: a plain literal is CHAR8, NUL excluded; NUL needs ~{n} (RFC 3516)
        raise CommandFailed.bad("NUL in a literal: send the message as a literal8 (~{n})")


async def _store_literal(store: Any, account_id: str, literal: Literal) -> str:
    if literal.size <= SMALL_BLOB:
        data = b"".join(literal.chunks())
        literal.close()
        _check_octets(literal, data)
        return str((await store.blobs.put(account_id, data)).blob_id)
    upload = await store.blobs.open_upload(account_id)
    try:
        for chunk in literal.chunks(UPLOAD_CHUNK):
            _check_octets(literal, chunk)
            await upload.write(chunk)
        info = await upload.commit()
    except BaseException:
        await upload.abort()
        raise
    finally:
        literal.close()
    return str(info.blob_id)


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["append", "copy", "expunge", "expunge_deleted", "flag_of", "store"]
