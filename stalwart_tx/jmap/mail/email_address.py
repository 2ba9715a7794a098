"""The EmailAddress object of RFC 8621 §4.1.2.3 as a value kind, for Identity and later Email.

An ``email`` must be ``local@domain`` without whitespace, controls or angle brackets (the
directory's rule, ``stalwart_tx.store.addresses``), so a stored address can never smuggle a
header fragment into a message the server writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stalwart_tx.jmap.standard.values import Kind, ListOf, Nullable, Record, String
from stalwart_tx.store.addresses import normalise_address
from stalwart_tx.store.records import JSONObject

# bounded so one Identity cannot grow without limit; far above any real reply-to or bcc list
MAX_ADDRESSES_PER_LIST = 100


@dataclass(frozen=True)
class Address(Kind):
    """A String holding one bare email address."""

    def describe(self) -> str:
        return "email address"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return self.expected(value)
        try:
            normalise_address(value)
        except ValueError:
            return "is not an email address (local@domain)"
        return None


EMAIL_ADDRESS = Record(
    fields={"name": Nullable(String()), "email": Address()}, required=frozenset({"email"})
)
ADDRESS_LIST = Nullable(ListOf(EMAIL_ADDRESS, max_items=MAX_ADDRESSES_PER_LIST))


def complete_addresses(addresses: list[JSONObject] | None) -> list[JSONObject] | None:
    """Each EmailAddress with both its properties (``name`` null when left out), as /get shows."""
    if addresses is None:
        return None
    return [{"name": a.get("name"), "email": a["email"]} for a in addresses]
