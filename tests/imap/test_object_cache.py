"""The bridge's STORE and EXPUNGE take emails the process read or wrote before from its
ObjectCache instead of reading them, and still never act on a copy another writer outdated:
the write is conditional on the email being unchanged since, and a computation that would
write nothing by a kept copy reads the email again."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.store.object_cache import ObjectCache
from stalwart_tx.store.redis.account_store import RedisAccountStore
from tests.imap.conftest import ImapServer, RawConnection
from tests.imap.test_concurrent_sessions import append, session, untagged


def count_email_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The id lists of the store's Email reads with their state, in order."""
    reads: list[list[str]] = []
    original = RedisAccountStore.get_with_state

    async def counted(store: Any, account_id: str, type_name: str, ids: Any,
                      *rest: Any) -> Any:
        if type_name == "Email" and ids is not None:
            reads.append(list(ids))
        return await original(store, account_id, type_name, ids, *rest)

    monkeypatch.setattr(RedisAccountStore, "get_with_state", counted)
    return reads


async def one_message(imap_server: ImapServer) -> tuple[RawConnection, str]:
    a = await session(imap_server)
    await append(a, 1)
    await a.command(b"NOOP")
    found = await imap_server.jmap("Email/query")
    [email_id] = found["ids"]
    return a, email_id


async def keywords(imap_server: ImapServer, email_id: str) -> set[str]:
    got = await imap_server.jmap("Email/get", ids=[email_id], properties=["keywords"])
    return set(got["list"][0]["keywords"])


async def elsewhere(imap_server: ImapServer, email_id: str, keyword: str, value: Any) -> None:
    """A write by another client (the JMAP API's own context: not through the cache)."""
    done = await imap_server.jmap("Email/set", update={email_id: {f"keywords/{keyword}": value}})
    assert email_id in done["updated"], done


@pytest_twisted.ensureDeferred
async def test_a_store_of_a_message_written_before_reads_nothing(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, email_id = await one_message(imap_server)
    await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s1")
    reads = count_email_reads(monkeypatch)
    stored = await a.command(b"STORE 1 -FLAGS (\\Flagged)", b"s2")
    assert stored[-1].startswith(b"s2 OK")
    assert [ids for ids in reads if email_id in ids] == []
    assert "$flagged" not in await keywords(imap_server, email_id)
    a.close()


@pytest_twisted.ensureDeferred
async def test_a_store_after_another_writer_keeps_its_change(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, email_id = await one_message(imap_server)
    await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s1")  # kept at this write
    await elsewhere(imap_server, email_id, "$answered", True)
    reads = count_email_reads(monkeypatch)
    stored = await a.command(b"STORE 1 +FLAGS (\\Seen)", b"s2")
    assert stored[-1].startswith(b"s2 OK")
    # the write by the kept copy was refused, the email read, and the change made on it
    assert [ids for ids in reads if email_id in ids] == [[email_id]]
    assert {"$answered", "$flagged", "$seen"} <= await keywords(imap_server, email_id)
    told = [line for line in untagged(stored) if b"FETCH" in line][-1]
    assert b"\\Answered" in told and b"\\Flagged" in told and b"\\Seen" in told, stored
    a.close()


@pytest_twisted.ensureDeferred
async def test_a_store_that_the_kept_copy_makes_look_done_reads_the_message(
    imap_server: ImapServer,
) -> None:
    a, email_id = await one_message(imap_server)
    await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s1")
    await elsewhere(imap_server, email_id, "$flagged", None)
    # by the kept copy the message is flagged already: nothing to write, so nothing checked it
    stored = await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s2")
    assert stored[-1].startswith(b"s2 OK")
    assert "$flagged" in await keywords(imap_server, email_id)
    a.close()


@pytest_twisted.ensureDeferred
async def test_expunge_takes_a_message_flagged_deleted_by_another_writer(
    imap_server: ImapServer,
) -> None:
    a, email_id = await one_message(imap_server)
    await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s1")  # kept without $deleted
    await elsewhere(imap_server, email_id, "$deleted", True)
    expunged = await a.command(b"EXPUNGE", b"e")
    assert b"* 1 EXPUNGE" in expunged, expunged
    got = await imap_server.jmap("Email/get", ids=[email_id], properties=["id"])
    assert got["notFound"] == [email_id]
    a.close()


@pytest_twisted.ensureDeferred
async def test_a_message_destroyed_elsewhere_is_not_updated_by_its_kept_copy(
    imap_server: ImapServer,
) -> None:
    a, email_id = await one_message(imap_server)
    await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s1")
    destroyed = await imap_server.jmap("Email/set", destroy=[email_id])
    assert destroyed["destroyed"] == [email_id]
    stored = await a.command(b"STORE 1 +FLAGS (\\Seen)", b"s2")
    assert stored[-1].startswith(b"s2 OK")  # RFC 2180 4.2.1: nothing left to change
    got = await imap_server.jmap("Email/get", ids=[email_id], properties=["id"])
    assert got["notFound"] == [email_id]
    a.close()


def test_the_cache_keeps_copies_the_latest_position_and_the_most_recently_used() -> None:
    cache = ObjectCache(limit=2)
    value: dict[str, Any] = {"keywords": {"$seen": True}}
    cache.put("acct", "Email", "e1", value, 10)
    value["keywords"]["$flagged"] = True  # the caller's value, changed after: not the kept one
    taken = cache.take("acct", "Email", ["e1"])
    assert taken == {"e1": ({"keywords": {"$seen": True}}, 10)}
    taken["e1"][0]["keywords"].clear()  # a taken copy, changed: not the kept one either
    assert cache.take("acct", "Email", ["e1"]) == {"e1": ({"keywords": {"$seen": True}}, 10)}
    cache.put("acct", "Email", "e1", {"keywords": {}}, 7)  # an older read does not replace it
    assert cache.take("acct", "Email", ["e1"]) == {"e1": ({"keywords": {"$seen": True}}, 10)}
    cache.put("acct", "Email", "e2", {}, 11)
    assert cache.take("acct", "Email", ["e1", "e3"]) is None  # all or nothing
    assert cache.take("other", "Email", ["e1"]) is None  # another account's e1
    cache.take("acct", "Email", ["e1"])  # now used after e2
    cache.put("acct", "Email", "e3", {}, 12)
    assert len(cache) == 2 and cache.take("acct", "Email", ["e2"]) is None
    cache.forget("acct", "Email", ["e1"])
    assert cache.take("acct", "Email", ["e1"]) is None and len(cache) == 1
