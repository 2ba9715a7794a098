"""Which thread a new email joins (RFC 8621 section 3), decided without touching storage.

RFC 8621 leaves the grouping to the server. The rules here are Stalwart's (and close to Cyrus'):

- An email's *links* are its Message-ID, In-Reply-To and References ids (References capped to
  its last ``MAX_REFERENCES``, the nearest ancestors, so a hostile header cannot cost a
  lookup per id). Ids compare exactly, as RFC 5322 leaves their case significant.
- Two emails are *linked* when their link sets share an id **and** their subject keys
  (``subject.subject_key``: RFC 5256 base subject, case-folded) are equal. Sharing any id, not
  only "B references A's Message-ID", puts two replies to a message that is not (yet) in the
  account together, as their common parent would.
- A thread is a connected group of linked emails. So a reply whose subject was changed starts
  a new thread even though it references the old one, and two emails with the same subject but
  no common id stay apart: subject alone never threads.
- Every email of a thread has the same subject key (emails only join threads of their own key),
  so a thread has one key, which ``thread_subject_keys`` reports.
- A new email that links into several threads makes them one: the surviving id is the smallest,
  so every process deciding the same merge picks the same survivor. With that, the threads of a
  set of emails are the connected components of the "linked" relation, whatever order the emails
  arrive in.
- A duplicate (a Message-ID already in the account) is linked like any other email: with the
  same subject key it joins its twin's thread, with another it starts its own.
- An email without Message-ID gets none invented: it is alone unless its In-Reply-To or
  References link it, and no later email can reference it.

The storage side (the Redis index from each id to the threads of the emails carrying it, and
applying a merge atomically with the email write) is the Email store's job; it implements
``ThreadIndexView`` and applies the ``ThreadDecision``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from stalwart_tx.mail.subject import subject_key as make_subject_key

__all__ = [
    "MAX_MESSAGE_IDS",
    "MAX_REFERENCES",
    "MessageLinks",
    "ThreadDecision",
    "ThreadIndexView",
    "decide_thread",
    "message_links",
]

# References grows by one id per reply; 100 ancestors is far beyond any real conversation.
MAX_REFERENCES = 100
# Message-ID and In-Reply-To normally hold one id each; a few more are tolerated, not thousands.
MAX_MESSAGE_IDS = 10


class ThreadIndexView(Protocol):
    """What the thread decision reads from the account's stored emails."""

    def threads_for_message_ids(self, ids: Collection[str]) -> Mapping[str, Collection[str]]:
        """For each id some stored email links (Message-ID, In-Reply-To or References), the
        threads of those emails; ids nobody links are left out.

        Several threads per id, because a reply with a changed subject is in another thread
        than the message it references, yet both carry that message's id.
        """
        ...

    def thread_subject_keys(self, thread_ids: Collection[str]) -> Mapping[str, str]:
        """The subject key of each given thread (every email in it has that key)."""
        ...


@dataclass(frozen=True)
class MessageLinks:
    """What threading needs of an email: its link ids and its subject key."""

    ids: frozenset[str]
    subject_key: str


@dataclass(frozen=True)
class ThreadDecision:
    """``thread_id`` None means a new thread; ``merge`` threads become ``thread_id``."""

    thread_id: str | None
    merge: frozenset[str]


def _first(ids: Iterable[str] | None, limit: int) -> list[str]:
    return [] if ids is None else [i for i in ids if i][:limit]


def message_links(
    message_id: Iterable[str] | None,
    in_reply_to: Iterable[str] | None,
    references: Iterable[str] | None,
    subject: str | None,
) -> MessageLinks:
    """The links of an email from its parsed headers (``ParsedMessage.message_id`` and so on,
    ids without angle brackets, the subject decoded)."""
    refs = [i for i in references or () if i]
    ids = {
        *_first(message_id, MAX_MESSAGE_IDS),
        *_first(in_reply_to, MAX_MESSAGE_IDS),
        *refs[-MAX_REFERENCES:],
    }
    return MessageLinks(frozenset(ids), make_subject_key(subject or ""))


def decide_thread(view: ThreadIndexView, links: MessageLinks) -> ThreadDecision:
    """The thread a new email with ``links`` joins, and the threads it merges into that one."""
    if not links.ids:
        return ThreadDecision(None, frozenset())
    candidates: set[str] = set()
    for threads in view.threads_for_message_ids(links.ids).values():
        candidates.update(threads)
    if not candidates:
        return ThreadDecision(None, frozenset())
    keys = view.thread_subject_keys(candidates)
    same_subject = {t for t in candidates if keys.get(t) == links.subject_key}
    if not same_subject:
        return ThreadDecision(None, frozenset())
    survivor = min(same_subject)
    return ThreadDecision(survivor, frozenset(same_subject - {survivor}))
