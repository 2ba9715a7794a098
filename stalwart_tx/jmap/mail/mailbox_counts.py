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

Email code maintains them only through ``stage_counts`` (in its /set working set, so the counts
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
    return {name: int(found.get(name, 0)) for name in COUNT_PROPERTIES}


def has_emails(stored: JSONObject) -> bool:
    return counts_of(stored)["totalEmails"] > 0


async def stage_counts(objects: WorkingSet, mailbox_id: str, counts: dict[str, int]) -> None:
    """Stage new counts of a mailbox in ``objects`` (the Email code's /set working set).

    Only the four count names are accepted, each a non-negative int; names left out keep their
    value. The Mailbox object is rewritten, so its state moves and /changes lists it.
    """
    unknown = set(counts) - set(COUNT_PROPERTIES)
    if unknown or any(not isinstance(v, int) or v < 0 for v in counts.values()):
        raise ValueError(f"bad mailbox counts {counts!r}")
    value = await objects.get_one(MAILBOX, mailbox_id)
    if value is None:
        raise ValueError(f"no Mailbox {mailbox_id!r}")
    value[COUNTS_KEY] = {**counts_of(value), **counts}
    objects.update(MAILBOX, mailbox_id, value)


def keep_counts(old: JSONObject, new: JSONObject) -> None:
    """Carry the counts over a client's update (the generic /set keeps declared properties
    only, so the Mailbox update hook puts them back)."""
    if COUNTS_KEY in old:
        new[COUNTS_KEY] = old[COUNTS_KEY]
