"""The Thread data type (RFC 8621 §3): Thread/get and Thread/changes, and its stored form.

A Thread's stored value lists its emails with their receivedAt, oldest first, and the subject
key every email of it shares (``thread_linking``)::

    {"emails": [[1700000000.0, "x1..."], [1700000500.0, "x2..."]], "subjectKey": "lunch"}

``emailIds`` is computed from that order (§3: sorted by receivedAt, oldest first; equal dates
by id, so the order is stable). Only the Email code writes Threads (``email_write``).

Linking (which thread a new email joins) reads the map ``Thread:links``: message id -> the JSON
list of thread ids whose emails carry that id (Message-ID, In-Reply-To or References). It only
changes in writes that also write the Thread objects concerned, so reading the Thread state
first makes the map's content a precondition of the write.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any, Final

from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.jmap.datatype import CHANGES, GET, DataType, Property
from stalwart_tx.jmap.mail.email_model import THREAD
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.jmap.standard.values import Id, ListOf
from stalwart_tx.store.records import JSONObject

LINKS_MAP: Final = "Thread:links"


def new_thread(subject_key: str) -> JSONObject:
    return {"emails": [], "subjectKey": subject_key}


def members(thread: Mapping[str, Any]) -> list[tuple[float, str]]:
    return [(float(score), str(email_id)) for score, email_id in thread.get("emails", [])]


def email_ids(thread: Mapping[str, Any]) -> list[str]:
    return [email_id for _, email_id in members(thread)]


def with_member(thread: JSONObject, score: float, email_id: str) -> JSONObject:
    found = members(thread)
    if all(i != email_id for _, i in found):
        bisect.insort(found, (score, email_id))
    return {**thread, "emails": [[s, i] for s, i in found]}


def without_member(thread: JSONObject, email_id: str) -> JSONObject:
    return {**thread, "emails": [[s, i] for s, i in members(thread) if i != email_id]}


async def thread_computed(
    call: MethodCall, threads: Mapping[str, JSONObject], names: frozenset[str]
) -> Mapping[str, JSONObject]:
    return {thread_id: {"emailIds": email_ids(value)} for thread_id, value in threads.items()}


THREAD_TYPE = DataType(
    name=THREAD,
    capability=MAIL,
    properties={
        "emailIds": Property(ListOf(Id()), server_set=True, computed=True),
    },
    methods=frozenset({GET, CHANGES}),
    compute=thread_computed,
    # Thread/changes is a standard /changes (§3.2): no updatedProperties, which only
    # Mailbox/changes has (§2.2)
)

METHODS = standard_methods(THREAD_TYPE)
