"""Every change to Emails goes through here: import, create, copy, update, destroy, delivery.

One ``EmailWork`` per computation of a write (a /set, /import, /copy attempt) stages, in the
caller's WorkingSet, everything an Email change implies, so it lands in the same atomic write:

* the Email object and its indexes (``email_model``), full-text postings (``email_search``)
  and the claim on its message blob; a new email's postings are written later and a destroyed
  email's removed later, many emails at a time (``FLUSH_AT``, ``SWEEP_AT``);
* its Thread: joining, creating, merging threads (``thread_linking`` decides; merged threads'
  emails move to the survivor), leaving (an emptied thread is destroyed), and the link map;
* the counts of every Mailbox concerned (totalEmails, unreadEmails, totalThreads,
  unreadThreads), computed per thread before and after, so they stay exact however emails,
  keywords, mailboxes and merges combine;
* quota usage, checked before anything of an email is staged (``overQuota``).

Checks come before staging in each operation, so a refused operation stages nothing and the
generic /set rollback has nothing of ours to undo. Call ``finish`` once, before the batch is
taken: it stages what accumulates over the whole computation (counts, threads, links).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import random_id
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.mail.capability import MAX_MAILBOXES_PER_EMAIL
from stalwart_tx.jmap.mail.email_model import (
    ALL_INDEX,
    ATTACHMENT_INDEX,
    EMAIL,
    LANGUAGES_MAP,
    MAX_KEYWORDS_PER_EMAIL,
    PENDING_POSTINGS_INDEX,
    SIZE_INDEX,
    STALE_POSTINGS_INDEX,
    TERMS_MAP,
    THREAD,
    THREAD_MAP,
    is_unread,
    keyword_index,
    mailbox_index,
    received_score,
    stored_email,
)
from stalwart_tx.jmap.mail.mailbox_counts import COUNT_PROPERTIES, MAILBOX, adjust_counts
from stalwart_tx.jmap.mail.mailbox_imap import mailbox_imap_work
from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage
from stalwart_tx.jmap.mail.quota_usage import QUOTA, RESOURCES, check_quota, stage_usage
from stalwart_tx.jmap.mail.threads import (
    LINKS_MAP,
    email_ids,
    members,
    new_thread,
    with_member,
    without_member,
)
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.retry import ATTEMPTS
from stalwart_tx.jmap.standard.working_set import WorkingSet, condition_per_object
from stalwart_tx.mail.thread_linking import MessageLinks, decide_thread, message_links
from stalwart_tx.store.errors import StateMismatch
from stalwart_tx.store.records import Index, JSONObject, WriteBatch

# (emails, unread emails, thread present, thread unread) per mailbox
Contribution = dict[str, tuple[int, int, int, int]]

# Every Email change goes through here, and nothing here depends on more of the Email type than
# the emails it reads (their links, postings and UIDs change only with them) unless it asks for
# the Email state: so a write is conditional on those emails alone, and changes of other emails
# meanwhile do not make it start over (the threads, mailboxes and quotas it reads stay
# conditions as a whole)
condition_per_object(EMAIL)
# Threads likewise: a write depends on the threads it reads and on the fields of the link map
# it reads (WorkingSet.map_get), not on every thread of the account, so appends and expunges
# of unrelated messages do not make each other start over. The mailboxes and quotas an email
# change touches are not conditions either: their counts, UIDNEXT and usage are adjusted
# (WorkingSet.adjust), and only their existence is read (peek).
condition_per_object(THREAD)

# A destroyed email's search postings (some 60 for a short message) stay where they are, the
# email listed in STALE_POSTINGS_INDEX; a text search keeps to the emails that exist
# (email_query), so they match nothing. The computation whose destroys take the count past a
# multiple of SWEEP_AT (or any, while twice that are listed) removes the postings of up to
# SWEEP_MOST listed emails in its write: the store then removes each term's members together,
# one command per term rather than per term and email (an IMAP EXPUNGE of one message spent
# about half its write on its postings). SWEEP_MOST and SWEEP_POSTINGS bound one write (at
# least twice as many emails as the computation lists are taken, so a backlog shrinks): the
# store takes about a microsecond a posting of a short email, and serves nobody meanwhile.
SWEEP_AT: Final = 128
SWEEP_MOST: Final = 512
SWEEP_POSTINGS: Final = 8192

# A new email's postings are not written with it: its terms go to TERMS_MAP and the email to
# PENDING_POSTINGS_INDEX. The computation whose imports take that count past a multiple of
# FLUSH_AT (or any, while twice that wait) writes the postings of some of the waiting emails
# (of the FLUSH_MOST oldest, as many as FLUSH_POSTINGS postings allow: Redis adds a posting in
# 5 to 15 microseconds and serves nobody meanwhile), each term's members in one command; a text
# query first writes all that wait (index_pending_postings), so it finds every email that
# exists. An email destroyed while waiting leaves the list and is listed stale like any other
# (what a write racing the destroy may have added is then swept); a write of postings is
# conditional on the terms it read, which the sweep deletes, so it never adds postings after
# their sweep. Writing a short email's 60 or so postings with it was a third of an IMAP APPEND's
# write; a bulk import still adds every posting, later and fewer commands.
FLUSH_AT: Final = 128
FLUSH_MOST: Final = 64
FLUSH_POSTINGS: Final = 4096


@dataclass(frozen=True)
class NewEmail:
    """A message to store as a new Email (its blob already stored)."""

    message: AnalyzedMessage
    blob_id: str
    mailbox_ids: Mapping[str, bool]
    keywords: Mapping[str, bool]
    received_at: str


def links_of(email: Mapping[str, Any]) -> MessageLinks:
    return message_links(
        email.get("messageId"), email.get("inReplyTo"), email.get("references"),
        email.get("subject"),
    )


def contribution(emails: Iterable[Mapping[str, Any]]) -> Contribution:
    """What the emails of one thread add to the counts of each mailbox."""
    totals: dict[str, list[int]] = {}
    for email in emails:
        unread = is_unread(email)
        for mailbox_id in email.get("mailboxIds") or {}:
            count = totals.setdefault(mailbox_id, [0, 0, 1, 0])
            count[0] += 1
            if unread:
                count[1] += 1
                count[3] = 1
    return {m: (c[0], c[1], c[2], c[3]) for m, c in totals.items()}


@dataclass
class _View:
    """The ThreadIndexView decide_thread reads, over what EmailWork has loaded."""

    links: Mapping[str, list[str]]
    subject_keys: Mapping[str, str]

    def threads_for_message_ids(self, ids: Iterable[str]) -> Mapping[str, list[str]]:
        return {i: self.links[i] for i in ids if self.links.get(i)}

    def thread_subject_keys(self, thread_ids: Iterable[str]) -> Mapping[str, str]:
        return {t: self.subject_keys[t] for t in thread_ids if t in self.subject_keys}


@dataclass
class EmailWork:
    objects: WorkingSet
    # thread id -> its contribution before this computation touched it
    _before: dict[str, Contribution] = field(default_factory=dict)
    # message id -> thread ids, as loaded and changed so far; which entries changed
    _links: dict[str, list[str]] = field(default_factory=dict)
    _changed_links: set[str] = field(default_factory=set)
    # emails this computation created (their index writes are staged already)
    _created: set[str] = field(default_factory=set)
    # languages this computation has recorded in the languages map already
    _languages: set[str] = field(default_factory=set)
    # how many emails the store listed with stale postings (None: not read yet); how many this
    # computation adds to them
    _stale: int | None = None
    _staled: int = 0
    # the same for the emails waiting for their postings
    _pending: int | None = None
    _pended: int = 0

    @property
    def _store(self) -> Any:
        return self.objects.store

    def _stage(self, write: Any) -> None:
        self.objects.stage_derived(write)

    # -- reading --------------------------------------------------------------------------

    async def _load_links(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self._links]
        if not wanted:
            return
        # under the Thread state (read with the map when not known yet): its content is then a
        # precondition
        found = await self.objects.map_get(THREAD, LINKS_MAP, wanted)
        for message_id in wanted:
            raw = found.get(message_id)
            self._links[message_id] = list(json.loads(raw)) if raw else []

    async def _thread_emails(self, thread_id: str, *, to_change: bool = True
                             ) -> dict[str, JSONObject]:
        """The emails of the thread: copies to change, or (``to_change`` false) the working
        set's own values, only to read."""
        thread = (await self.objects.view(THREAD, [thread_id])).get(thread_id)
        if thread is None:
            return {}
        if to_change:
            return await self.objects.get(EMAIL, email_ids(thread))
        return await self.objects.view(EMAIL, email_ids(thread))

    async def _snapshot(self, thread_id: str) -> None:
        """Record the thread's contribution before this computation changes it."""
        if thread_id not in self._before:
            emails = await self._thread_emails(thread_id, to_change=False)
            self._before[thread_id] = contribution(emails.values())

    async def check_mailboxes(self, mailbox_ids: Mapping[str, Any]) -> SetError | None:
        if not mailbox_ids:
            return set_errors.invalid_properties(
                ["mailboxIds"], "an Email is in at least one mailbox"
            )
        if len(mailbox_ids) > MAX_MAILBOXES_PER_EMAIL:
            return SetError(
                "tooManyMailboxes", f"an Email is in at most {MAX_MAILBOXES_PER_EMAIL} mailboxes"
            )
        found = await self.objects.peek(MAILBOX, list(mailbox_ids))
        missing = sorted(set(mailbox_ids) - set(found))
        if missing:
            return set_errors.invalid_properties(
                ["mailboxIds"], f"no such mailbox: {', '.join(missing)}"
            )
        return None

    @staticmethod
    def check_keywords(keywords: Mapping[str, Any]) -> SetError | None:
        if len({keyword.lower() for keyword in keywords}) > MAX_KEYWORDS_PER_EMAIL:
            return SetError(
                "tooManyKeywords", f"an Email has at most {MAX_KEYWORDS_PER_EMAIL} keywords"
            )
        return None

    # -- adding ---------------------------------------------------------------------------

    async def prepare(
        self, messages: Iterable[AnalyzedMessage], mailbox_ids: Iterable[str] = (), *,
        peek: tuple[str, ...] = (),
    ) -> None:
        """Read at once what adding these emails will read one by one (their links, the
        threads those name and the emails of those threads, and the mailboxes they go to and
        the quotas, side by side), so a call adding many emails makes a few store round trips
        instead of a few per email; and the states of ``peek`` (``WorkingSet.read_states``).
        Optional: add() reads whatever it still lacks."""
        ids: set[str] = set()
        for message in messages:
            ids |= links_of(message.fields).ids
        # all in one round trip: each read brings the state of what it read, taken at the same
        # instant (see WorkingSet), so none has to wait for a read of the states
        await gather(
            self.objects.read_states(peek=peek),
            self._load_links(ids),
            self.objects.peek(MAILBOX, sorted(set(mailbox_ids))),
            self.objects.peek(QUOTA, list(RESOURCES)),
            self._read_pending(),
        )
        thread_ids = sorted({t for i in ids for t in self._links.get(i, [])})
        if thread_ids:
            threads = await self.objects.view(THREAD, thread_ids)
            await self.objects.load(EMAIL, [e for t in threads.values() for e in email_ids(t)])

    async def add(
        self, new: NewEmail, email_id: str | None = None
    ) -> tuple[str, JSONObject] | SetError:
        """Stage a new Email; its id and stored value, or the SetError that refused it."""
        error = self.check_keywords(new.keywords) or await self.check_mailboxes(new.mailbox_ids)
        if error is None:
            error = await check_quota(self.objects, new.message.size, 1)
        if error is not None:
            return error
        if email_id is None:
            email_id = random_id()
            while self.objects.is_known(EMAIL, email_id):
                email_id = random_id()

        probe = stored_email(
            new.message.fields, blob_id=new.blob_id, thread_id="", mailbox_ids=new.mailbox_ids,
            keywords=new.keywords, received_at=new.received_at,
        )
        links = links_of(probe)
        thread_id = await self._join_thread(links)
        value = {**probe, "threadId": thread_id}
        self.objects.create(EMAIL, email_id, value)
        self._created.add(email_id)
        thread = await self.objects.get_one(THREAD, thread_id)
        assert thread is not None
        self.objects.update(THREAD, thread_id, with_member(thread, received_score(value), email_id))
        self._add_links(links.ids, thread_id)
        self._index(email_id, None, value)
        if new.message.postings:
            score = received_score(value)
            packed = new.message.packed_postings
            self._stage(lambda b: _pend_postings(b, email_id, packed, score))
            self._pended += 1
        language = new.message.language
        if language is not None and language not in self._languages:
            self._languages.add(language)
            self._stage(lambda b: b.map_set(LANGUAGES_MAP, language, "1"))
        await stage_usage(self.objects, new.message.size, 1)
        return email_id, value

    async def _join_thread(self, links: MessageLinks) -> str:
        """The thread the new email goes to: existing (threads it links merged into it) or new."""
        await self._load_links(links.ids)
        candidates = {t for i in links.ids for t in self._links.get(i, [])}
        threads = await self.objects.get(THREAD, sorted(candidates))
        view = _View(self._links, {t: str(v.get("subjectKey", "")) for t, v in threads.items()})
        decision = decide_thread(view, links)
        if decision.thread_id is None:
            thread_id = random_id()
            while self.objects.is_known(THREAD, thread_id):
                thread_id = random_id()
            self.objects.create(THREAD, thread_id, new_thread(links.subject_key))
            self._before[thread_id] = {}
            return thread_id
        survivor = decision.thread_id
        await self._snapshot(survivor)
        for merged in sorted(decision.merge):
            await self._merge(merged, survivor)
        return survivor

    async def _merge(self, merged: str, survivor: str) -> None:
        await self._snapshot(merged)
        emails = await self._thread_emails(merged)
        target = await self.objects.get_one(THREAD, survivor)
        assert target is not None
        for email_id, email in emails.items():
            email["threadId"] = survivor
            self.objects.update(EMAIL, email_id, email)
            target = with_member(target, received_score(email), email_id)
            self._stage(lambda b, e=email_id: b.map_set(THREAD_MAP, e, survivor))
            ids = links_of(email).ids
            await self._load_links(ids)
            for message_id in ids:
                self._replace_link(message_id, merged, survivor)
        self.objects.update(THREAD, survivor, target)
        self.objects.destroy(THREAD, merged)

    def _add_links(self, ids: Iterable[str], thread_id: str) -> None:
        for message_id in ids:
            threads = self._links.setdefault(message_id, [])
            if thread_id not in threads:
                threads.append(thread_id)
                self._changed_links.add(message_id)

    def _replace_link(self, message_id: str, old: str, new: str) -> None:
        threads = [new if t == old else t for t in self._links.get(message_id, [])]
        self._links[message_id] = list(dict.fromkeys(threads))
        self._changed_links.add(message_id)

    # -- changing -------------------------------------------------------------------------

    async def change(self, email_id: str, old: JSONObject, new: JSONObject) -> SetError | None:
        """Stage what an update of mailboxIds or keywords implies (the Email itself is the
        caller's to stage); the SetError that refuses it, if any."""
        if new.get("keywords") != old.get("keywords"):
            error = self.check_keywords(new.get("keywords") or {})
            if error is not None:
                return error
        if new.get("mailboxIds") != old.get("mailboxIds"):
            error = await self.check_mailboxes(new.get("mailboxIds") or {})
            if error is not None:
                return error
        if (new.get("mailboxIds") != old.get("mailboxIds")
                or is_unread(new) != is_unread(old)):
            # the thread's counts depend on nothing else of this email: a change of other
            # keywords ($flagged, $deleted...) leaves every mailbox count as it is
            await self._snapshot(str(old["threadId"]))
        self._index(email_id, old, new)
        return None

    # -- removing -------------------------------------------------------------------------

    def created_here(self, email_id: str) -> bool:
        """Whether this computation created the email: its index writes are staged and a batch
        applies removals before additions, so destroying it in the same write cannot be staged
        (Email/set refuses such a destroy; the client destroys it in its next call)."""
        return email_id in self._created

    async def prepare_removal(self, olds: Mapping[str, JSONObject]) -> None:
        """Read at once what removing these emails will read one by one: their threads, the
        links of their message ids, their mailboxes and the quotas, their UIDs there, and how
        many emails have stale postings, side by side after one read of the states they
        depend on, then the threads' emails.
        Optional: remove() and finish() read whatever they still lack."""
        if not olds:
            return
        # side by side, each read bringing the state of what it read (the Thread state comes
        # with the threads and with the link map: the earlier of the two is the condition)
        thread_ids = sorted({str(o["threadId"]) for o in olds.values() if o.get("threadId")})
        message_ids: set[str] = set()
        leaving: dict[str, list[str]] = {}  # mailbox -> the emails that leave it
        for email_id, old in olds.items():
            message_ids |= links_of(old).ids
            for mailbox_id in old.get("mailboxIds") or {}:
                leaving.setdefault(mailbox_id, []).append(email_id)
        imap = mailbox_imap_work(self.objects)
        read = await gather(
            self.objects.view(THREAD, thread_ids),
            self._load_links(message_ids),
            self._read_stale(),
            self.objects.peek(MAILBOX, sorted(leaving)),
            self.objects.peek(QUOTA, list(RESOURCES)),
            *(imap.read_uids(m, ids) for m, ids in sorted(leaving.items())),
        )
        threads = cast(dict[str, JSONObject], read[0])
        await self.objects.load(EMAIL, [e for t in threads.values() for e in email_ids(t)])

    async def _read_pending(self) -> None:
        if self._pending is None:
            self._pending = await self._store.indexes.index_size(
                self.objects.account_id, PENDING_POSTINGS_INDEX
            )

    async def _read_stale(self) -> None:
        if self._stale is None:
            self._stale = await self._store.indexes.index_size(
                self.objects.account_id, STALE_POSTINGS_INDEX
            )

    async def remove(self, email_id: str, old: JSONObject) -> None:
        """Stage what destroying the Email implies (the caller stages the destroy itself)."""
        thread_id = str(old["threadId"])
        await self._snapshot(thread_id)
        thread = await self.objects.get_one(THREAD, thread_id)
        if thread is not None:
            remaining = without_member(thread, email_id)
            still_linked: set[str] = set()
            others = await self.objects.view(EMAIL, email_ids(remaining))
            for email in others.values():
                still_linked |= links_of(email).ids
            gone = links_of(old).ids - still_linked
            await self._load_links(gone)
            for message_id in gone:
                self._links[message_id] = [t for t in self._links[message_id] if t != thread_id]
                self._changed_links.add(message_id)
            if members(remaining):
                self.objects.update(THREAD, thread_id, remaining)
            else:
                self.objects.destroy(THREAD, thread_id)
        self._index(email_id, old, None)
        score = received_score(old)
        self._stage(lambda b: _unpend_and_list_stale(b, email_id, score))
        self._staled += 1
        await stage_usage(self.objects, -int(old["size"]), -1)

    # -- indexes --------------------------------------------------------------------------

    def _index(
        self, email_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        mailbox_imap_work(self.objects).email_changed(email_id, old, new)
        before = _index_entries(old)
        after = _index_entries(new)
        removed = [name for name in before if name not in after]
        added = [(name, score) for name, score in after.items() if before.get(name) != score]
        old_blob = old.get("blobId") if old else None
        new_blob = new.get("blobId") if new else None
        thread = str(new["threadId"]) if new else None

        def write(batch: WriteBatch) -> None:
            for name in removed:
                batch.index_remove(name, email_id)
            for name, score in added:
                batch.index_add(name, email_id, score)
            if old_blob != new_blob:
                if isinstance(old_blob, str):
                    batch.release_blob(old_blob, EMAIL, email_id)
                if isinstance(new_blob, str):
                    batch.claim_blob(new_blob, EMAIL, email_id)
            if old is not None and new is None:
                batch.map_delete(THREAD_MAP, email_id)
            elif thread is not None and (old is None or old.get("threadId") != thread):
                batch.map_set(THREAD_MAP, email_id, thread)

        self._stage(write)

    # -- finishing ------------------------------------------------------------------------

    async def finish(self) -> None:
        """Stage the counts of every mailbox the computation changed, and the link map."""
        deltas: dict[str, list[int]] = {}
        for thread_id, before in self._before.items():
            after = contribution((await self._thread_emails(thread_id, to_change=False)).values())
            for mailbox_id in set(before) | set(after):
                old = before.get(mailbox_id, (0, 0, 0, 0))
                new = after.get(mailbox_id, (0, 0, 0, 0))
                delta = deltas.setdefault(mailbox_id, [0, 0, 0, 0])
                for n in range(4):
                    delta[n] += new[n] - old[n]
        mailboxes = await self.objects.peek(MAILBOX, sorted(deltas))
        for mailbox_id, delta in sorted(deltas.items()):
            if mailbox_id in mailboxes and any(delta):
                changes = dict(zip(COUNT_PROPERTIES, delta, strict=True))
                adjust_counts(self.objects, mailbox_id, changes)
        changed = {i: list(self._links.get(i, [])) for i in sorted(self._changed_links)}
        self._changed_links.clear()
        if changed:
            def write(batch: WriteBatch) -> None:
                for message_id, threads in changed.items():
                    if threads:
                        batch.map_set(LINKS_MAP, message_id, json.dumps(sorted(threads)))
                    else:
                        batch.map_delete(LINKS_MAP, message_id)

            self._stage(write)
        self._before.clear()
        if self._staled:
            await self._sweep_when_due()
        if self._pended:
            await self._flush_when_due()

    async def _flush_when_due(self) -> None:
        """Stage the postings of some waiting emails, once FLUSH_AT wait: of at least twice
        as many as this computation adds, so a stream of imports never leaves a growing
        backlog for the next text query."""
        await self._read_pending()
        assert self._pending is not None
        added, self._pended = self._pended, 0
        if not _due(self._pending, added, FLUSH_AT):
            return
        await stage_pending_postings(self.objects, max(FLUSH_MOST, 2 * added), at_least=2 * added)
        self._pending = None

    async def _sweep_when_due(self) -> None:
        """Stage the removal of the stale postings of up to SWEEP_MOST emails, once SWEEP_AT
        emails have them."""
        await self._read_stale()
        assert self._stale is not None
        added, self._staled = self._staled, 0
        if not _due(self._stale, added, SWEEP_AT):
            return
        account = self.objects.account_id
        indexes = self._store.indexes
        # destroyed emails: what is read of them never changes, so none of it is a condition
        ids = (await indexes.index_query(
            account, Index(STALE_POSTINGS_INDEX), limit=SWEEP_MOST, count=False
        )).ids
        found = await indexes.map_get(account, TERMS_MAP, ids) if ids else {}
        self._stale = None
        taken = _within(ids, found, at_least=2 * added, postings=SWEEP_POSTINGS)

        def write(batch: WriteBatch) -> None:
            for email_id, names in taken:
                if names is not None:
                    _remove_postings(batch, email_id, names)
                batch.index_remove(STALE_POSTINGS_INDEX, email_id)

        self._stage(write)


def _due(listed: int, added: int, mark: int) -> bool:
    """Whether a computation adding ``added`` to the ``listed`` emails of a list (stale or
    waiting postings) works some off: the one that takes the count past a multiple of
    ``mark`` (others computing at the same time see the same count and would take the same
    emails), or any while a backlog of twice that is left (after many at once)."""
    crossed = (listed + added) // mark != listed // mark
    return listed > 0 and (crossed or listed >= 2 * mark)


def _within(
    ids: list[str], found: Mapping[str, str], *, at_least: int, postings: int
) -> list[tuple[str, list[str] | None]]:
    """The first of the emails, each with its postings (None: no entry), as many as
    ``postings`` postings allow but at least ``at_least`` (and one)."""
    taken: list[tuple[str, list[str] | None]] = []
    budget = postings
    for email_id in ids:
        packed = found.get(email_id)
        names = _decode_postings(packed) if packed is not None else None
        if len(taken) >= max(1, at_least) and names is not None and len(names) > budget:
            break
        budget -= len(names or ())
        taken.append((email_id, names))
    return taken


async def stage_pending_postings(
    objects: WorkingSet, most: int | None = None, postings: int | None = None, *,
    at_least: int = 1,
) -> int:
    """Stage the postings of the oldest of the ``most`` (FLUSH_MOST) emails waiting for them,
    as many as ``postings`` (FLUSH_POSTINGS) postings allow, at least ``at_least`` (and one),
    conditional on their terms being unchanged (see FLUSH_AT); how many (0: none waits)."""
    account = objects.account_id
    indexes = objects.store.indexes
    ids = (await indexes.index_query(
        account, Index(PENDING_POSTINGS_INDEX), limit=most or FLUSH_MOST, count=False
    )).ids
    if not ids:
        return 0
    scores, found = cast(tuple[dict[str, float], dict[str, str]], await gather(
        indexes.index_scores(account, PENDING_POSTINGS_INDEX, ids),
        objects.map_get(EMAIL, TERMS_MAP, ids),
    ))
    taken = _within(ids, found, at_least=at_least, postings=postings or FLUSH_POSTINGS)

    def write(batch: WriteBatch) -> None:
        for email_id, names in taken:
            score = scores.get(email_id)
            if names is not None and score is not None:
                batch.index_add_many(names, email_id, score)
            batch.index_remove(PENDING_POSTINGS_INDEX, email_id)

    objects.stage_derived(write)
    return len(taken)


async def index_pending_postings(ctx: RequestContext, account_id: str) -> None:
    """Write the postings of every email waiting for them (before a text query), a write at a
    time. Without the account's write turn: a query must not wait for this process's writers
    when nothing waits, and a write of postings only ever conflicts with a sweep (read again,
    then)."""
    conflicts = 0
    while conflicts < ATTEMPTS:
        objects = WorkingSet(ctx.store, account_id)
        if not await stage_pending_postings(objects):
            return
        try:
            await ctx.store.accounts.write(account_id, objects.batch())
        except StateMismatch:
            conflicts += 1
        else:
            conflicts = 0
    raise MethodError(
        "serverUnavailable", "The search index is being changed concurrently; retry shortly."
    )


def _index_entries(email: Mapping[str, Any] | None) -> dict[str, float]:
    if email is None:
        return {}
    score = received_score(email)
    entries = {ALL_INDEX: score, SIZE_INDEX: float(email["size"])}
    for mailbox_id in email.get("mailboxIds") or {}:
        entries[mailbox_index(mailbox_id)] = score
    for keyword in email.get("keywords") or {}:
        entries[keyword_index(keyword)] = score
    if email.get("hasAttachment"):
        entries[ATTACHMENT_INDEX] = score
    return entries


def _decode_postings(text: str) -> list[str]:
    from stalwart_tx.jmap.mail.email_search import decode_postings

    return decode_postings(text)


def _pend_postings(batch: WriteBatch, email_id: str, packed: str, score: float) -> None:
    batch.map_set(TERMS_MAP, email_id, packed)
    batch.index_add(PENDING_POSTINGS_INDEX, email_id, score)


def _unpend_and_list_stale(batch: WriteBatch, email_id: str, score: float) -> None:
    batch.index_remove(PENDING_POSTINGS_INDEX, email_id)
    batch.index_add(STALE_POSTINGS_INDEX, email_id, score)


def _remove_postings(batch: WriteBatch, email_id: str, postings: list[str]) -> None:
    batch.index_remove_many(postings, email_id)
    batch.map_delete(TERMS_MAP, email_id)
