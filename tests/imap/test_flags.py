"""IMAP flags from JMAP keywords: system flags first in their usual order, then the rest."""

from __future__ import annotations

from stalwart_tx.imap import flags
from stalwart_tx.imap.flags import flags_of, keywords_of


def test_flags_of_keywords() -> None:
    keywords = {"zeta": True, "$seen": True, "$flagged": True, "$forwarded": True}
    assert flags_of(keywords) == ["\\Flagged", "\\Seen", "$Forwarded", "zeta"]
    assert flags_of(None) == [] and flags_of({}) == []
    assert flags_of({"$deleted": True, "$draft": True, "$answered": True}) == [
        "\\Answered", "\\Deleted", "\\Draft"]
    assert keywords_of(["\\Seen", "$Forwarded", "Custom"]) == {
        "$seen": True, "$forwarded": True, "custom": True}


def test_the_same_keywords_in_any_order_give_the_same_flags_and_callers_may_change_them() -> None:
    first = flags_of({"b": True, "$seen": True, "a": True})
    first.insert(0, "\\Recent")  # callers prepend \Recent
    assert flags_of({"a": True, "$seen": True, "b": True}) == ["\\Seen", "a", "b"]


def test_the_remembered_sets_stay_bounded() -> None:
    for n in range(flags._FLAGS_OF_SIZE + 10):
        assert flags_of({f"k{n}": True}) == [f"k{n}"]
    assert len(flags._FLAGS_OF) <= flags._FLAGS_OF_SIZE
