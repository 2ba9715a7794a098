"""SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
WITHIN (RFC 5032), CONDSTORE's MODSEQ key, and OBJECTID's EMAILID/THREADID.

A search is the set of the view's UIDs its key selects. What Email/query can say (flags, dates
of arrival, sizes, full text, header presence) goes to the store as one query per key, joined
into one filter where the whole key can be; the rest is judged here over the email data: header
substrings (RFC 3501 asks for substrings, which word indexes cannot answer), sent dates,
sequence numbers, \\Recent, MODSEQ, object ids.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from stalwart_tx.imap import syntax
from stalwart_tx.imap.flags import keyword_of
from stalwart_tx.imap.grammar import SequenceSet
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.parse_search import (
    AgeKey,
    All,
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    ObjectIdKey,
    Or,
    SearchKey,
    SequenceKey,
    SizeKey,
    TextKey,
)
from stalwart_tx.imap.selected import SelectedMailbox
from stalwart_tx.imap.sequence_text import sequence_text
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.mail.encoded_words import as_text

ADDRESS_FIELDS = ("from", "to", "cc", "bcc")
# Email/get of the emails a local condition judges, this many at a time
GET_BATCH = 500


def _utc(day: datetime.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _utc_seconds(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jmap_filter(key: SearchKey) -> dict[str, Any] | None:
    """The Email/query filter equal to the key, or None when the store cannot judge it."""
    if isinstance(key, All):
        return {}
    if isinstance(key, FlagKey):
        if key.flag == "\\Recent":
            return None
        keyword = keyword_of(key.flag)
        return {"hasKeyword" if key.present else "notKeyword": keyword}
    if isinstance(key, TextKey):
        return {"text" if key.whole else "body": key.value}
    if isinstance(key, HeaderKey) and key.value == "" and key.field not in ADDRESS_FIELDS:
        return {"header": [key.field]}
    if isinstance(key, DateKey) and key.field != "sent":
        if key.op == "before":
            return {"before": _utc(key.date)}
        if key.op == "since":
            return {"after": _utc(key.date)}
        return {"operator": "AND", "conditions": [
            {"after": _utc(key.date)}, {"before": _utc(key.date + datetime.timedelta(days=1))},
        ]}
    if isinstance(key, SizeKey):
        if key.op == "larger":
            return {"minSize": key.size + 1}
        return {"maxSize": key.size}
    if isinstance(key, AgeKey):
        edge = _utc_seconds(time.time() - key.seconds)
        return {"before": edge} if key.op == "older" else {"after": edge}
    if isinstance(key, Not):
        inner = jmap_filter(key.key)
        return None if inner is None else {"operator": "NOT", "conditions": [inner]}
    if isinstance(key, Or | And):
        parts = [key.left, key.right] if isinstance(key, Or) else list(key.keys)
        translated = [jmap_filter(p) for p in parts]
        if any(t is None for t in translated):
            return None
        return {"operator": "OR" if isinstance(key, Or) else "AND",
                "conditions": [t for t in translated if t is not None]}
    return None


class Searcher:
    def __init__(self, session: ImapSession, view: SelectedMailbox) -> None:
        self.session = session
        self.view = view
        self.client: MailClient = session.mail()
        self.all = set(view.uids)
        self._emails: dict[str, dict[str, Any]] = {}
        self._modseqs: dict[str, int] | None = None
        self.highest_modseq = 0

    async def uids(self, key: SearchKey) -> set[int]:
        translated = jmap_filter(key)
        if translated is not None:
            return await self._query(translated)
        if isinstance(key, And):
            result = set(self.all)
            for part in key.keys:
                result &= await self.uids(part)
            return result
        if isinstance(key, Or):
            return await self.uids(key.left) | await self.uids(key.right)
        if isinstance(key, Not):
            return self.all - await self.uids(key.key)
        if isinstance(key, FlagKey):  # \Recent
            return set(self.view.recent) if key.present else self.all - self.view.recent
        if isinstance(key, SequenceKey):
            return self._sequence(key.sequence_set, key.uid)
        if isinstance(key, ModSeqKey):
            modseqs = await self._all_modseqs()
            found = {self.view.uid_of(e) for e, m in modseqs.items() if m >= key.modseq}
            matched = {u for u in found if u is not None}
            self.highest_modseq = max(
                [modseqs[e] for e in modseqs if self.view.uid_of(e) in matched] or [0]
            )
            return matched
        if isinstance(key, ObjectIdKey):
            if key.kind == "emailid":
                uid = self.view.uid_of(key.value)
                return {uid} if uid is not None else set()
            emails = await self._load(["threadId"])
            return self._where(emails, lambda e: e.get("threadId") == key.value)
        if isinstance(key, HeaderKey):
            return await self._header(key)
        if isinstance(key, DateKey):  # the Date header's day
            emails = await self._load(["sentAt"])
            return self._where(emails, lambda e: _day_matches(e.get("sentAt"), key))
        raise CommandFailed.no("this search is not supported", "CANNOT")

    def _sequence(self, sequence_set: SequenceSet, uid: bool) -> set[int]:
        if sequence_set.saved:
            return set(self.session.saved_uids) & self.all
        if not uid and self.view.out_of_range(sequence_set):
            # RFC 9051 §9 (seq-number): beyond EXISTS is BAD in a search key as anywhere
            raise CommandFailed.bad("no such message sequence number")
        return {found_uid for _, found_uid, _ in self.view.messages(sequence_set, uid)}

    async def _query(self, condition: dict[str, Any]) -> set[int]:
        if not self.view.uids:
            return set()
        if not condition:
            return set(self.all)
        filter_ = {"operator": "AND", "conditions": [{"inMailbox": self.view.mailbox_id},
                                                      condition]}
        found = await self.client.call("ImapEmail/query", filter=filter_)
        uids = (self.view.uid_of(email_id) for email_id in found["ids"])
        return {uid for uid in uids if uid is not None}

    async def _load(self, properties: list[str]) -> dict[str, dict[str, Any]]:
        missing = [e for e in self.view.ids if e not in self._emails
                   or any(p not in self._emails[e] for p in properties)]
        for start in range(0, len(missing), GET_BATCH):
            chunk = missing[start:start + GET_BATCH]
            found = await self.client.call("Email/get", ids=chunk, properties=properties)
            for email in found["list"]:
                self._emails.setdefault(email["id"], {}).update(email)
        return self._emails

    def _where(self, emails: dict[str, dict[str, Any]], test: Any) -> set[int]:
        result = set()
        for email_id, email in emails.items():
            uid = self.view.uid_of(email_id)
            if uid is not None and test(email):
                result.add(uid)
        return result

    async def _all_modseqs(self) -> dict[str, int]:
        if self._modseqs is None:
            self._modseqs = {}
            ids = list(self.view.ids)
            step = GET_BATCH * 4
            for start in range(0, len(ids), step):
                found = await self.client.call("ImapEmail/get", ids=ids[start:start + step])
                self._modseqs.update({e["id"]: e["modseq"] for e in found["list"]})
        return self._modseqs

    async def _header(self, key: HeaderKey) -> set[int]:
        wanted = key.value.casefold()
        if key.field in ADDRESS_FIELDS:
            emails = await self._load([key.field])
            return self._where(emails, lambda e: wanted in _addresses_text(e.get(key.field)))
        if key.field == "subject":
            emails = await self._load(["subject"])
            return self._where(emails, lambda e: wanted in (e.get("subject") or "").casefold())
        prop = f"header:{key.field}:asRaw:all"
        emails = await self._load([prop])
        return self._where(emails, lambda e: any(
            wanted in as_text(v or "").casefold() for v in (e.get(prop) or [])
        ))


def _addresses_text(addresses: Any) -> str:
    parts = []
    for address in addresses or []:
        name = address.get("name") or ""
        email = address.get("email") or ""
        parts.append(f"{name} <{email}>" if name else email)
    return ", ".join(parts).casefold()


def _day_matches(sent_at: Any, key: DateKey) -> bool:
    if not isinstance(sent_at, str) or len(sent_at) < 10:
        return False
    try:
        day = datetime.date.fromisoformat(sent_at[:10])
    except ValueError:
        return False
    if key.op == "before":
        return day < key.date
    if key.op == "since":
        return day >= key.date
    return day == key.date


async def search(session: ImapSession, command: syntax.Search) -> str:
    session.require(State.SELECTED)
    view = session.view()
    searcher = Searcher(session, view)
    if uses_modseq(command.key):
        session.condstore = True
    try:
        uids = sorted(await searcher.uids(command.key))
    except Exception as failure:
        # RFC 5182 §2.1: a SEARCH with SAVE answered NO empties the saved result, one
        # answered BAD leaves it be
        bad = isinstance(failure, CommandFailed) and failure.kind == "BAD"
        if "SAVE" in (command.returns or ()) and not bad:
            session.saved_uids = []
        raise
    numbers = uids if command.uid else [view.seq_of(u) or 0 for u in uids]
    returns = command.returns
    if returns is None and session.rev2:
        returns = ("ALL",)
    if returns is None:
        text = b"SEARCH" + b"".join(b" %d" % n for n in numbers)
        if searcher.highest_modseq and numbers:
            text += b" (MODSEQ %d)" % searcher.highest_modseq
        session.untagged(text)
        return "SEARCH completed"
    options = set(returns) or {"ALL"}
    if "SAVE" in options:
        options.discard("SAVE")
        session.saved_uids = _saved(uids, options)
        if not options:
            return "SEARCH completed, result saved"
    session.untagged(esearch(command.tag, command.uid, numbers, options,
                             sequence_text(numbers), searcher.highest_modseq))
    return "SEARCH completed"


def esearch(
    tag: str, uid: bool, numbers: list[int], options: set[str], all_text: bytes, modseq: int
) -> bytes:
    """An ESEARCH response (RFC 4731; RFC 5267 for SORT): MIN and MAX are the first and last of
    ``numbers`` as ordered, ALL is ``all_text``."""
    items = [b'ESEARCH (TAG "' + tag.encode() + b'")']
    if uid:
        items.append(b"UID")
    if numbers:
        if "MIN" in options:
            items.append(b"MIN %d" % numbers[0])
        if "MAX" in options:
            items.append(b"MAX %d" % numbers[-1])
        if "ALL" in options:
            items.append(b"ALL " + all_text)
    if "COUNT" in options:
        items.append(b"COUNT %d" % len(numbers))
    if modseq and numbers:
        items.append(b"MODSEQ %d" % modseq)
    return b" ".join(items)


def _saved(uids: list[int], options: set[str]) -> list[int]:
    """RFC 5182 §2.1: SAVE beside MIN and/or MAX alone keeps only those messages."""
    if not uids or not options or options - {"MIN", "MAX"}:
        return uids
    kept = ([uids[0]] if "MIN" in options else []) + ([uids[-1]] if "MAX" in options else [])
    return sorted(set(kept))


def uses_modseq(key: SearchKey) -> bool:
    if isinstance(key, ModSeqKey):
        return True
    if isinstance(key, Not):
        return uses_modseq(key.key)
    if isinstance(key, Or):
        return uses_modseq(key.left) or uses_modseq(key.right)
    if isinstance(key, And):
        return any(uses_modseq(k) for k in key.keys)
    return False
