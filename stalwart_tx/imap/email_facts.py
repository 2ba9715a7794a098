"""What FETCH needs of an email besides its content, kept per process and checked by MODSEQ.

Clients fetch the flags, sizes and dates of the same messages over and over (every time a
folder is opened or refreshed). Reading them means decoding each email's whole stored value, so
the bridge keeps, per email, what it read together with the email's MODSEQ at the time, and
uses it again only while the store still gives that MODSEQ: any change of the email moves it.

The MODSEQ is always read *before* the values (``ImapEmail/get`` then ``Email/get``): values
are then at least as new as the MODSEQ they are kept under, and a change between the two reads
moves the MODSEQ past the kept one, so such an entry is never served. The bridge's own writes
put what they wrote under the MODSEQ the write gave it (``facts_of_stored``, BridgeContext):
the value at that MODSEQ is exactly that.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from stalwart_tx.imap.mail_client import MailClient

FACTS: Final = ("keywords", "size", "receivedAt", "blobId", "threadId", "preview")
MAX_ENTRIES: Final = 50_000


class EmailFacts:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        # (account, Email id) -> (MODSEQ, read-only facts), least recently used first
        self._entries: OrderedDict[tuple[str, str], tuple[int, Mapping[str, Any]]] = OrderedDict()

    def get(self, account: str, email_id: str, modseq: int) -> Mapping[str, Any] | None:
        """The facts kept for the email at exactly this MODSEQ, if any, read-only (a flag sync
        of a whole mailbox would otherwise copy every one)."""
        found, _ = self.get_many(account, {email_id: modseq})
        return found.get(email_id)

    def get_many(
        self, account: str, modseqs: Mapping[str, int]
    ) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
        """``get`` for each (Email id, MODSEQ): the facts kept, and the ids with none (in the
        order given). One call for a whole FETCH: per message calls were 2 % of the CPU of a
        flag sync's process."""
        entries = self._entries
        lookup = entries.get
        recent = entries.move_to_end
        found: dict[str, Mapping[str, Any]] = {}
        missing: list[str] = []
        for email_id, modseq in modseqs.items():
            key = (account, email_id)
            held = lookup(key)
            if held is None or held[0] != modseq:
                missing.append(email_id)
            else:
                recent(key)
                found[email_id] = held[1]
        return found, missing

    def put(self, account: str, email: dict[str, Any], modseq: int) -> None:
        key = (account, str(email["id"]))
        # wrapped once here, not at each get: what is kept cannot be changed through it
        self._entries[key] = (modseq, MappingProxyType(dict(email)))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


FACTS_CACHE = EmailFacts()


def facts_of_stored(email_id: str, stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The facts of an email as Email/get gives them, from its stored value (they are all
    stored properties; keywords default to none); None when the value lacks one."""
    facts: dict[str, Any] = {"id": email_id, "keywords": stored.get("keywords") or {}}
    for name in FACTS:
        if name != "keywords":
            if name not in stored:
                return None
            facts[name] = stored[name]
    return facts


async def email_facts(
    client: MailClient, ids: list[str], modseqs: Mapping[str, int] | None = None
) -> tuple[dict[str, Mapping[str, Any]], dict[str, int]]:
    """The facts of these emails and their MODSEQs, from the cache where the MODSEQ still
    matches, read-only; emails that no longer exist are left out.

    ``modseqs``, those the caller read already, spares reading them again (only the others are
    read): they were read before the values, as the cache needs (see above), even if a while
    before.
    """
    known = modseqs or {}
    unknown = [i for i in ids if i not in known]
    current = {i: known[i] for i in ids if i in known}
    if unknown:
        found = await client.call("ImapEmail/get", ids=unknown)
        current.update((e["id"], e["modseq"]) for e in found["list"])
    emails, missing = FACTS_CACHE.get_many(client.account_id, current)
    if missing:
        read = await client.call("Email/get", ids=missing, properties=list(FACTS))
        for email in read["list"]:
            emails[email["id"]] = email
            FACTS_CACHE.put(client.account_id, email, current[email["id"]])
    return emails, current
