"""The seam between Mailbox and the Email code to come: per-mailbox counts.

totalEmails, unreadEmails, totalThreads and unreadThreads (RFC 8621 §2) are computed
properties of Mailbox. Their source is a counts object kept *inside the stored Mailbox
value*, under ``COUNTS_KEY`` (a key no client can name: it is not a declared property, so
/get, /set and patches never see it)::

    {"name": "Inbox", ..., "counts": {"totalEmails": 3, "unreadEmails": 1,
                                       "totalThreads": 2, "unreadThreads": 1}}

Keeping them there, rather than in a type of their own, is deliberate: the counts are Mailbox
properties, so a change of them must move the Mailbox state and list the mailbox in
Mailbox/changes — which an update of the Mailbox object does by itself, in the same atomic write
as the Email change, and nothing else (no other type's state) is pushed to clients.

Email code maintains them only through ``adjust_counts`` (in its /set working set, so the counts
change lands atomically with the emails); Mailbox reads them through ``counts_of``. A mailbox
without the key counts zero everywhere.
"""

from __future__ import annotations

from typing import Final

from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.records import JSONObject

MAILBOX: Final = "Mailbox"
COUNTS_KEY: Final = "counts"
COUNT_PROPERTIES: Final = ("totalEmails", "unreadEmails", "totalThreads", "unreadThreads")


def counts_of(stored: JSONObject) -> dict[str, int]:
    """The four counts of a stored Mailbox value (zero for those never counted)."""
    found = stored.get(COUNTS_KEY) or {}
    return {name: max(0, int(found.get(name, 0))) for name in COUNT_PROPERTIES}


def has_emails(stored: JSONObject) -> bool:
    return counts_of(stored)["totalEmails"] > 0


def adjust_counts(objects: WorkingSet, mailbox_id: str, deltas: dict[str, int]) -> None:
    """Stage changes of a mailbox's counts in ``objects`` (the Email code's /set working set)
    as counter adjusts: the mailbox need not be a condition of the write, so writers adding
    and removing emails of one mailbox at once do not conflict over its counts. The deltas
    are exact (computed per thread before and after, on threads and emails that are
    conditions), so the counts stay exact. The Mailbox changes, so its state moves and
    /changes lists it.
    """
    unknown = set(deltas) - set(COUNT_PROPERTIES)
    if unknown or any(type(v) is not int for v in deltas.values()):
        raise ValueError(f"bad mailbox count changes {deltas!r}")
    objects.adjust(MAILBOX, mailbox_id, {
        f"{COUNTS_KEY}.{name}": delta for name, delta in deltas.items() if delta
    })


def keep_counts(old: JSONObject, new: JSONObject) -> None:
    """Carry the counts over a client's update (the generic /set keeps declared properties
    only, so the Mailbox update hook puts them back)."""
    if COUNTS_KEY in old:
        new[COUNTS_KEY] = old[COUNTS_KEY]
