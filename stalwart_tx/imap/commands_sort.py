"""SORT and THREAD, with their UID forms (RFC 5256), ESORT's RETURN (RFC 5267) and the
DISPLAYFROM/DISPLAYTO keys (RFC 5957).

The search key picks the messages exactly as SEARCH would (``Searcher``); what they are ordered
or threaded by is read with Email/get, in batches, and judged by ``threading_algorithms``. Strings
compare by i;ascii-casemap, the collation a server uses unless COMPARATOR chose another, and
every ordering ends on the message's place in the mailbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stalwart_tx.imap import syntax
from stalwart_tx.imap.commands_search import Searcher, esearch, uses_modseq
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.parse_search import SearchKey
from stalwart_tx.imap.selected import SelectedMailbox
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.imap.threading_algorithms import (
    ThreadMessage,
    ascii_casemap,
    sent_date,
    subject_collation_key,
    thread_ordered_subject,
    thread_references,
    thread_text,
)

__all__ = ["GET_BATCH", "SORT_CHARSETS", "sort", "sort_order", "thread"]

# RFC 5256 requires these two; the strings of a SORT or THREAD key are decoded by the parser,
# but answering in one charset list everywhere keeps BADCHARSET's advertised list truthful.
SORT_CHARSETS = frozenset({"UTF-8", "US-ASCII"})
# Email/get of the emails to order, this many at a time
GET_BATCH = 500

# The Email properties each sort key is made from
_SORT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "ARRIVAL": ("receivedAt",),
    "DATE": ("sentAt", "receivedAt"),
    "FROM": ("from",),
    "TO": ("to",),
    "CC": ("cc",),
    "DISPLAYFROM": ("from",),
    "DISPLAYTO": ("to",),
    "SUBJECT": ("subject",),
    "SIZE": ("size",),
}
_THREAD_PROPERTIES = ("subject", "sentAt", "receivedAt", "messageId", "inReplyTo", "references")


def _first_address(email: dict[str, Any], field: str) -> dict[str, Any]:
    addresses = email.get(field)
    if isinstance(addresses, list) and addresses and isinstance(addresses[0], dict):
        return addresses[0]
    return {}


def _addr_mailbox(address: dict[str, Any]) -> str:
    """The local part, unquoted, as ENVELOPE's addr-mailbox carries it (RFC 5256 §3)."""
    spec = str(address.get("email") or "")
    local = spec[: spec.rfind("@")] if "@" in spec else spec
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        out: list[str] = []
        escaped = False
        for char in local[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        local = "".join(out)
    return local


def _display(address: dict[str, Any]) -> str:
    """RFC 5957: the display name, or the address itself where there is none."""
    name = str(address.get("name") or "").strip()
    return name or str(address.get("email") or "")


def _key_of(name: str) -> Callable[[dict[str, Any]], Any]:
    if name == "ARRIVAL":
        return lambda e: sent_date(None, e.get("receivedAt"))
    if name == "DATE":
        return lambda e: sent_date(e.get("sentAt"), e.get("receivedAt"))
    if name == "SIZE":
        return lambda e: int(e.get("size") or 0)
    if name == "SUBJECT":
        return lambda e: subject_collation_key(e.get("subject"))
    if name in ("DISPLAYFROM", "DISPLAYTO"):
        field = "from" if name == "DISPLAYFROM" else "to"
        return lambda e: ascii_casemap(_display(_first_address(e, field)))
    field = name.lower()  # FROM, TO, CC
    return lambda e: ascii_casemap(_addr_mailbox(_first_address(e, field)))


def sort_order(
    emails: Sequence[tuple[int, dict[str, Any]]], criteria: Iterable[syntax.SortCriterion]
) -> list[int]:
    """The numbers of ``(number, email)`` pairs in the criteria's order, ties kept in number
    order (the mailbox's), whichever way each criterion runs."""
    ordered = sorted(emails, key=lambda pair: pair[0])
    # Stable sorts from the last criterion to the first give the first one precedence; a
    # reversed stable sort keeps equal items in their order, so the tie-breaker never flips.
    for criterion in reversed(tuple(criteria)):
        key = _key_of(criterion.key)
        ordered.sort(key=lambda pair: key(pair[1]), reverse=criterion.reverse)
    return [number for number, _ in ordered]


def _ordered_set(numbers: Sequence[int]) -> bytes:
    """An ESORT ALL: the numbers in their sorted order, a range only for an ascending run."""
    parts: list[bytes] = []
    index = 0
    while index < len(numbers):
        end = index
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if end > index:
            parts.append(b"%d:%d" % (numbers[index], numbers[end]))
        else:
            parts.append(b"%d" % numbers[index])
        index = end + 1
    return b",".join(parts)


async def _matching(
    session: ImapSession, charset: str, key: SearchKey
) -> tuple[SelectedMailbox, Searcher, list[int]]:
    """The view, its searcher and the UIDs the key selects, ascending."""
    session.require(State.SELECTED)
    if charset.upper() not in SORT_CHARSETS:
        raise CommandFailed.no("unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")
    view = session.view()
    searcher = Searcher(session, view)
    if uses_modseq(key):
        session.condstore = True
    return view, searcher, sorted(await searcher.uids(key))


async def _emails(
    client: MailClient, view: SelectedMailbox, uids: Sequence[int], properties: Iterable[str]
) -> list[tuple[int, dict[str, Any]]]:
    """(UID, Email data) of each UID; an email gone from the store meanwhile has no data."""
    wanted = sorted(set(properties))
    ids = {uid: view.email_at(uid) for uid in uids}
    known = [email_id for email_id in ids.values() if email_id is not None]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(known), GET_BATCH):
        answer = await client.call("Email/get", ids=known[start:start + GET_BATCH],
                                   properties=wanted)
        found.update((email["id"], email) for email in answer["list"])
    return [(uid, found.get(email_id or "", {})) for uid, email_id in ids.items()]


async def sort(session: ImapSession, command: syntax.Sort) -> str:
    view, searcher, uids = await _matching(session, command.charset, command.key)
    properties = {p for c in command.criteria for p in _SORT_PROPERTIES[c.key]}
    emails = await _emails(session.mail(), view, uids, properties)
    ordered = sort_order(emails, command.criteria)
    numbers = ordered if command.uid else [view.seq_of(uid) or 0 for uid in ordered]
    modseq = searcher.highest_modseq if numbers else 0
    if command.returns is None:
        text = b"SORT" + b"".join(b" %d" % n for n in numbers)
        if modseq:
            text += b" (MODSEQ %d)" % modseq
        session.untagged(text)
        return "SORT completed"
    options = set(command.returns) or {"ALL"}
    if "SAVE" in options:
        session.saved_uids = uids
        options.discard("SAVE")
        if not options:
            return "SORT completed, result saved"
    # RFC 5267 §3.2: MIN and MAX are the first and last in the sort order, ALL is in it
    session.untagged(esearch(command.tag, command.uid, numbers, options,
                             _ordered_set(numbers), modseq))
    return "SORT completed"


def _thread_message(number: int, email: dict[str, Any]) -> ThreadMessage:
    def ids(value: Any) -> tuple[str, ...]:
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    message_ids = ids(email.get("messageId"))
    return ThreadMessage(
        number=number,
        sent=sent_date(email.get("sentAt"), email.get("receivedAt")),
        subject=str(email.get("subject") or ""),
        message_id=message_ids[0] if message_ids else None,
        references=ids(email.get("references")),
        in_reply_to=ids(email.get("inReplyTo")),
    )


async def thread(session: ImapSession, command: syntax.Thread) -> str:
    view, _, uids = await _matching(session, command.charset, command.key)
    emails = await _emails(session.mail(), view, uids, _THREAD_PROPERTIES)
    messages = [
        _thread_message(uid if command.uid else view.seq_of(uid) or 0, email)
        for uid, email in emails
    ]
    if command.algorithm == "REFERENCES":
        threads = thread_references(messages)
    else:
        threads = thread_ordered_subject(messages)
    text = thread_text(threads)
    session.untagged(f"THREAD {text}" if text else "THREAD")
    return "THREAD completed"
