"""What FETCH needs of an email besides its content, kept per process and checked by MODSEQ.

Clients fetch the flags, sizes and dates of the same messages over and over (every time a
folder is opened or refreshed). Reading them means decoding each email's whole stored value, so
the bridge keeps, per email, what it read together with the email's MODSEQ at the time, and
uses it again only while the store still gives that MODSEQ: any change of the email moves it.

The MODSEQ is always read *before* the values (``ImapEmail/get`` then ``Email/get``): values
are then at least as new as the MODSEQ they are kept under, and a change between the two reads
moves the MODSEQ past the kept one, so such an entry is never served.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

FACTS: Final = ("keywords", "size", "receivedAt", "blobId", "threadId", "preview")
MAX_ENTRIES: Final = 50_000


class EmailFacts:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()

    def get(self, account: str, email_id: str, modseq: int) -> dict[str, Any] | None:
        """A copy of the facts kept for the email at exactly this MODSEQ, if any."""
        key = (account, email_id)
        found = self._entries.get(key)
        if found is None or found[0] != modseq:
            return None
        self._entries.move_to_end(key)
        return dict(found[1])

    def put(self, account: str, email: dict[str, Any], modseq: int) -> None:
        key = (account, str(email["id"]))
        self._entries[key] = (modseq, dict(email))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


FACTS_CACHE = EmailFacts()
