"""FETCH and UID FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE (RFC 7162), BINARY (RFC 3516),
OBJECTID (RFC 8474) and PREVIEW (RFC 8970).

Metadata (flags, size, dates, ids, preview) comes from Email/get; anything about the message's
content from its blob, parsed by ``message_*``. A whole BODY[] (or RFC822, BINARY[]) is not
held whole: it goes to the client in pieces read from the blob store as they are sent.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from stalwart_tx.imap import syntax
from stalwart_tx.imap.commands_write import _targets
from stalwart_tx.imap.email_facts import email_facts
from stalwart_tx.imap.flags import SEEN, flag_list, flags_of
from stalwart_tx.imap.message_envelope import envelope
from stalwart_tx.imap.message_parts import (
    UnknownEncoding,
    binary_section,
    binary_size,
    partial,
    rfc822_header,
    rfc822_text,
    section_bytes,
)
from stalwart_tx.imap.message_structure import bodystructure
from stalwart_tx.imap.message_values import Literal8, render
from stalwart_tx.imap.parse_fetch import FetchAtt
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.imap.structure_cache import STRUCTURES
from stalwart_tx.imap.updates import announce, announce_keywords

# a FETCH of at least this many messages catches the view up first and takes their MODSEQs
# from it, instead of reading each message's
CATCH_UP_FIRST = 32
# whole bodies above this size go out in pieces read one at a time
STREAM_ABOVE = 256 * 1024
STREAM_CHUNK = 64 * 1024
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CONTENT = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822", "RFC822.HEADER",
                     "RFC822.TEXT", "BINARY", "BINARY.SIZE"})
SETS_SEEN = frozenset({"RFC822", "RFC822.TEXT"})
# items kept in the structure cache (BODY only without a section: the structure, not content)
CACHED = frozenset({"ENVELOPE", "BODYSTRUCTURE"})
# items made of the message's facts alone (_simple_item)
SIMPLE = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ", "EMAILID",
                    "THREADID", "SAVEDATE", "PREVIEW"})


def internal_date(received_at: str) -> str:
    moment = datetime.datetime.strptime(received_at, "%Y-%m-%dT%H:%M:%SZ")
    return f"{moment.day:02d}-{MONTHS[moment.month - 1]}-{moment.year:04d} " \
           f"{moment:%H:%M:%S} +0000"


def without_nul(data: bytes) -> bytes:
    """Only a literal8 may carry NUL (RFC 9051 §4.3, CHAR8), and BODY[] and RFC822 answers are
    plain literals: NUL goes as 0x80, which keeps every size and offset true."""
    return data.replace(b"\x00", b"\x80") if b"\x00" in data else data


def _whole(att: FetchAtt) -> bool:
    """An item that is the whole message, unparsed: sent in pieces when big."""
    if att.name == "RFC822":
        return True
    if att.name in ("BODY", "BINARY") and att.section is not None:
        return att.section.part == () and att.section.text is None
    return False


async def fetch(session: ImapSession, command: syntax.Fetch) -> str:
    session.require(State.SELECTED)
    view = session.view()
    client = session.mail()
    atts = list(command.attributes)
    if command.changed_since is not None or any(a.name == "MODSEQ" for a in atts):
        session.condstore = True
    if command.changed_since is not None and not any(a.name == "MODSEQ" for a in atts):
        atts.append(FetchAtt("MODSEQ"))
    if command.uid and not any(a.name == "UID" for a in atts):
        atts.insert(0, FetchAtt("UID"))
    if command.vanished:
        if not session.qresync:
            raise CommandFailed.bad("VANISHED needs ENABLE QRESYNC")
        from stalwart_tx.imap.commands_select import send_vanished_since

        assert command.changed_since is not None
        await send_vanished_since(session, view, command.changed_since, command.sequence_set)
    targets = _targets(session, command.sequence_set, command.uid)
    if len(targets) >= CATCH_UP_FIRST:
        # a flag sync: one catch-up brings the MODSEQ of every message that changed, so the
        # view's then are current and none is read one by one (the catch-up's EXISTS and
        # flags go first; expunges wait, unless a UID FETCH may send them)
        shape = (len(view.uids), view.uids[-1] if view.uids else 0)
        await announce(session, allow_expunge=command.uid)
        # the view only grows at its end and shrinks by expunges: the same count and last UID
        # are the same messages
        if (len(view.uids), view.uids[-1] if view.uids else 0) != shape:
            targets = _targets(session, command.sequence_set, command.uid)
        known: dict[str, int] | None = view.modseqs
    else:
        known = None
    if not targets:
        return "FETCH completed"
    sets_seen = not view.readonly and any(
        a.name in SETS_SEEN or (a.name in ("BODY", "BINARY") and a.section is not None
                                and not a.peek) for a in atts
    )
    names = {a.name for a in atts}
    ids = [email_id for _, _, email_id in targets]
    emails, modseqs = await email_facts(client, ids, known)
    if known is not None:
        # read after the catch-up: the view knows them from here on
        view.modseqs.update(modseqs)
    if command.changed_since is not None:
        targets = [t for t in targets if modseqs.get(t[2], 0) > command.changed_since]
    if sets_seen:
        unseen = [e for e in emails.values() if SEEN not in (e.get("keywords") or {})]
        if unseen:
            await client.call("Email/set", update={
                e["id"]: {f"keywords/{SEEN}": True} for e in unseen
            })
            for changed in unseen:
                emails[changed["id"]] = {
                    **changed, "keywords": {**(changed.get("keywords") or {}), SEEN: True}
                }
            fresh = await client.call("ImapEmail/get", ids=[e["id"] for e in unseen])
            modseqs.update({e["id"]: e["modseq"] for e in fresh["list"]})
            if "FLAGS" not in names:
                atts.append(FetchAtt("FLAGS"))
            if session.condstore and "MODSEQ" not in names:
                # RFC 7162 §3.1: a flag change this FETCH caused is reported with its MODSEQ
                atts.append(FetchAtt("MODSEQ"))
    if any(a.name == "FLAGS" for a in atts):
        # the flags of every keyword any of them has, in one list
        every: set[str] = set().union(*(e.get("keywords") or () for e in emails.values()))
        announce_keywords(session, [flags_of(dict.fromkeys(every))])
    with_flags = any(a.name == "FLAGS" for a in atts)
    if all(a.name in SIMPLE for a in atts):
        missing = await _respond_simple(session, targets, emails, modseqs, atts, with_flags)
    else:
        missing = False
        for seq, uid, email_id in targets:
            email = emails.get(email_id)
            if email is None:
                missing = True
                continue
            await _respond(session, seq, uid, email, modseqs.get(email_id), atts)
            await session.out.drain()
            if with_flags and email_id in modseqs:
                view.reported[email_id] = modseqs[email_id]
    if missing and not command.uid:
        # a UID FETCH may announce the expunge itself, right after (RFC 9051 §7.5.2)
        raise CommandFailed.no("some of the messages no longer exist", "EXPUNGEISSUED")
    return "FETCH completed"


async def _respond_simple(
    session: ImapSession, targets: list[tuple[int, int, str]],
    emails: Mapping[str, Mapping[str, Any]], modseqs: Mapping[str, int], atts: list[FetchAtt],
    with_flags: bool,
) -> bool:
    """The flag sync of a whole mailbox: items made of the facts alone, so no coroutine per
    message, the lines written a batch at a time; whether some message no longer exists."""
    view = session.view()
    recent, reported = view.recent, view.reported
    names = [a.name for a in atts]
    if names == ["UID", "FLAGS"]:  # what clients sync with: its line made in one step
        def line(seq: int, uid: int, email: Mapping[str, Any], modseq: int | None) -> bytes:
            flags = flag_list(email.get("keywords"), uid in recent)
            return b"* %d FETCH (UID %d FLAGS %s)\r\n" % (seq, uid, flags)
    else:
        def line(seq: int, uid: int, email: Mapping[str, Any], modseq: int | None) -> bytes:
            is_recent = uid in recent
            return b"* %d FETCH (" % seq + b" ".join(
                [_simple_item(name, uid, email, modseq, is_recent) for name in names]
            ) + b")\r\n"
    missing = False
    lines: list[bytes] = []
    for seq, uid, email_id in targets:
        email = emails.get(email_id)
        if email is None:
            missing = True
            continue
        modseq = modseqs.get(email_id)
        lines.append(line(seq, uid, email, modseq))
        if with_flags and modseq is not None:
            reported[email_id] = modseq
        if len(lines) == 64:
            session.out.write(b"".join(lines))
            lines = []
            await session.out.drain()
    if lines:
        session.out.write(b"".join(lines))
    return missing


async def _respond(
    session: ImapSession, seq: int, uid: int, email: Mapping[str, Any], modseq: int | None,
    atts: list[FetchAtt],
) -> None:
    store = session.server.api.store()
    account = session.mail().account_id
    blob_id = str(email["blobId"])
    size = int(email["size"])
    raw: bytes | None = None
    needs_parse = any(
        a.name in CONTENT and not (_whole(a) and size > STREAM_ABOVE)
        and not (a.name in CACHED and STRUCTURES.get(blob_id, _cache_key(a)) is not None)
        for a in atts
    )
    if needs_parse:
        raw = await store.blobs.get(account, blob_id)
    pieces: list[bytes] = [b"* %d FETCH (" % seq]
    first = True

    def add(text: bytes) -> None:
        nonlocal first
        pieces.append(text if first else b" " + text)
        first = False

    recent = uid in session.view().recent
    for att in atts:
        name = att.name
        if name in SIMPLE:
            add(_simple_item(name, uid, email, modseq, recent))
        elif _whole(att) and size > STREAM_ABOVE and raw is None:
            label = att.label().replace(".PEEK", "").encode()
            binary = name == "BINARY"
            if att.partial is not None:
                start = att.partial.offset
                length = max(0, min(att.partial.length, size - start))
                data = await store.blobs.get(account, blob_id, start, length) if length else b""
                add(label + b" " + render(Literal8(data) if binary else without_nul(data)))
                continue
            add(label + (b" ~{%d}\r\n" if binary else b" {%d}\r\n") % size)
            session.out.write(b"".join(pieces))
            pieces = []
            for offset in range(0, size, STREAM_CHUNK):
                chunk = await store.blobs.get(
                    account, blob_id, offset, min(STREAM_CHUNK, size - offset)
                )
                session.out.write(chunk if binary else without_nul(chunk))
                await session.out.drain()
        elif name in CACHED and (cached := STRUCTURES.get(blob_id, _cache_key(att))):
            add(cached)
        else:
            assert raw is not None
            rendered = _content_item(att, raw)
            if name in CACHED:
                STRUCTURES.put(blob_id, _cache_key(att), rendered)
            add(rendered)
    pieces.append(b")")
    session.send(b"".join(pieces))


def _simple_item(
    name: str, uid: int, email: Mapping[str, Any], modseq: int | None, recent: bool
) -> bytes:
    """A FETCH item that needs nothing but the message's facts (``SIMPLE``)."""
    if name == "UID":
        return b"UID %d" % uid
    if name == "FLAGS":
        return b"FLAGS " + flag_list(email.get("keywords"), recent)
    if name == "INTERNALDATE":
        return b'INTERNALDATE "' + internal_date(str(email["receivedAt"])).encode() + b'"'
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % int(email["size"])
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % (modseq or 0)
    if name == "EMAILID":
        return b"EMAILID (" + str(email["id"]).encode() + b")"
    if name == "THREADID":
        return b"THREADID (" + str(email["threadId"]).encode() + b")"
    if name == "SAVEDATE":
        return b"SAVEDATE NIL"
    assert name == "PREVIEW"
    return b"PREVIEW " + render(str(email.get("preview") or ""))


def _cache_key(att: FetchAtt) -> str:
    return "BODY" if att.name == "BODY" else att.name


def _content_item(att: FetchAtt, raw: bytes) -> bytes:
    name = att.name
    if name == "ENVELOPE":
        return b"ENVELOPE " + render(envelope(raw))
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + render(bodystructure(raw, True))
    if name == "BODY" and att.section is None:
        return b"BODY " + render(bodystructure(raw, False))
    if name == "RFC822":
        return b"RFC822 " + render(without_nul(raw))
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + render(without_nul(rfc822_header(raw)))
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + render(without_nul(rfc822_text(raw)))
    section = att.section
    assert section is not None
    label = att.label().encode()
    if name == "BINARY.SIZE":
        counted = binary_size(raw, section.part)
        if isinstance(counted, UnknownEncoding):
            raise CommandFailed.no("unknown content transfer encoding", "UNKNOWN-CTE")
        return label + b" " + (b"NIL" if counted is None else b"%d" % counted)
    if name == "BINARY":
        decoded = binary_section(raw, section.part)
        if isinstance(decoded, UnknownEncoding):
            raise CommandFailed.no("unknown content transfer encoding", "UNKNOWN-CTE")
        if decoded is None:
            return label + b" NIL"
        if att.partial is not None:
            decoded = partial(decoded, att.partial.offset, att.partial.length)
        return label + b" " + render(Literal8(decoded))
    data = section_bytes(raw, section.part, section.text, section.fields)
    if data is None:
        return label + b" NIL"
    if att.partial is not None:
        data = partial(data, att.partial.offset, att.partial.length)
    return label + b" " + render(without_nul(data))
