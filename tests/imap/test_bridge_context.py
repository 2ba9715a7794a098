"""The bridge's requests skip the default-mailbox check for a minute after it was made."""

from __future__ import annotations

from typing import Any

import pytest

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.imap import bridge_context
from stalwart_tx.imap.bridge_context import ENSURED_FOR, BridgeContext
from stalwart_tx.imap.structure_cache import StructureCache


def context(account: str) -> BridgeContext:
    return BridgeContext(user=MailUser(principal_id=account, name="x"), store=None,  # type: ignore[arg-type]
                         limits=None, using=frozenset(), reactor=None)  # type: ignore[arg-type]


def test_what_one_request_made_sure_of_is_skipped_by_the_next_for_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(bridge_context.time, "monotonic", lambda: now[0])
    ensure: Any = object()
    first = context("acct-a")
    assert first.ensured == set()
    first.ensured.add((ensure, "acct-a"))
    assert context("acct-a").ensured == {(ensure, "acct-a")}
    assert context("acct-b").ensured == set()  # another account is checked
    now[0] += ENSURED_FOR + 1
    assert context("acct-a").ensured == set()  # checked again after a minute


def test_accounts_that_make_no_more_requests_are_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [5000.0]
    monkeypatch.setattr(bridge_context.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(bridge_context, "_recently_ensured", {})
    monkeypatch.setattr(bridge_context, "_next_sweep", 0.0)
    ensure: Any = object()
    for n in range(100):
        context(f"acct-{n}").ensured.add((ensure, f"acct-{n}"))
    assert len(bridge_context._recently_ensured) == 100
    now[0] += ENSURED_FOR + 1
    context("acct-new")  # any request sweeps once a minute
    assert bridge_context._recently_ensured == {}


def test_structure_cache_keeps_the_most_recent_within_its_size() -> None:
    cache = StructureCache(max_bytes=10)
    cache.put("b1", "ENVELOPE", b"12345")
    cache.put("b2", "ENVELOPE", b"12345")
    assert cache.get("b1", "ENVELOPE") == b"12345"  # now the most recent
    cache.put("b3", "ENVELOPE", b"123")
    assert cache.get("b2", "ENVELOPE") is None
    assert cache.get("b1", "ENVELOPE") == b"12345" and cache.get("b3", "ENVELOPE") == b"123"
    cache.put("big", "ENVELOPE", b"x" * 11)
    assert cache.get("big", "ENVELOPE") is None


def test_email_facts_are_served_only_at_the_modseq_they_were_read_at() -> None:
    from stalwart_tx.imap.email_facts import EmailFacts

    facts = EmailFacts(max_entries=2)
    facts.put("a", {"id": "e1", "keywords": {"$seen": True}}, 5)
    assert facts.get("a", "e1", 5) == {"id": "e1", "keywords": {"$seen": True}}
    assert facts.get("a", "e1", 6) is None  # the email changed since
    assert facts.get("b", "e1", 5) is None  # another account
    facts.put("a", {"id": "e2"}, 1)
    facts.put("a", {"id": "e3"}, 1)
    assert facts.get("a", "e1", 5) is None  # the oldest went
    kept = facts.get("a", "e3", 1)
    assert kept is not None
    with pytest.raises(TypeError):  # read-only: what is kept cannot be changed through it
        kept["keywords"] = {}  # type: ignore[index]
    assert facts.get("a", "e3", 1) == {"id": "e3"}
