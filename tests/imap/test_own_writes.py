"""A session does not catch its view up again after its own STORE: the flags it reported are
all that changed, so the view moves past the write, and the write's notification is no news.
Another session's change still makes it look."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from stalwart_tx.imap import updates
from tests.imap.conftest import ImapServer, RawConnection
from tests.imap.test_concurrent_sessions import append, session, untagged


def session_of(server: ImapServer, connection: RawConnection) -> Any:
    port = connection.sock.getsockname()[1]
    [found] = [c.session for c in server.factory.connections
               if c.transport.getPeer().port == port]
    return found


def count_catch_ups(monkeypatch: pytest.MonkeyPatch, watched: Any) -> list[int]:
    """The catch-ups of one session's view."""
    calls: list[int] = []
    original = updates.refresh

    async def counted(client: Any, view: Any, **options: Any) -> Any:
        if view is watched.selected:
            calls.append(1)
        return await original(client, view, **options)

    monkeypatch.setattr(updates, "refresh", counted)
    return calls


class JmapCalls:
    """Counts the JMAP method calls of the process while ``on`` (the names, in order)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from stalwart_tx.jmap.api import JMAPApi

        self.methods: list[str] = []
        self._monkeypatch = monkeypatch
        self._original = original = JMAPApi._call
        methods = self.methods

        async def counted(api: Any, ctx: Any, name: str, *rest: Any) -> Any:
            methods.append(name)
            return await original(api, ctx, name, *rest)

        self._counted = counted

    def on(self) -> list[str]:
        from stalwart_tx.jmap.api import JMAPApi

        self.methods.clear()
        self._monkeypatch.setattr(JMAPApi, "_call", self._counted)
        return self.methods

    def off(self) -> None:
        from stalwart_tx.jmap.api import JMAPApi

        self._monkeypatch.setattr(JMAPApi, "_call", self._original)


async def settle_notifications() -> None:
    # long enough for the store's change notification to reach the sessions
    await deferLater(reactor, 0.3, lambda: None)


async def watched_pair(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch, messages: int
) -> tuple[RawConnection, RawConnection, list[int]]:
    """Sessions a and b on an INBOX of ``messages`` that a appended, a's view settled (every
    notification of the appends seen), and the catch-ups of a's view counted from now on."""
    a = await session(imap_server)
    await append(a, messages)
    b = await session(imap_server)
    await a.command(b"NOOP")
    await settle_notifications()
    await a.command(b"NOOP")
    return a, b, count_catch_ups(monkeypatch, session_of(imap_server, a))


@pytest_twisted.ensureDeferred
async def test_own_store_needs_no_catch_up_but_another_sessions_does(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, catch_ups = await watched_pair(imap_server, monkeypatch, 2)

    before = len(catch_ups)
    stored = await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s")
    assert b"* 1 FETCH (FLAGS (\\Recent \\Flagged))" in stored
    await settle_notifications()
    fetched = await a.command(b"FETCH 1:2 (FLAGS)", b"f")
    assert untagged(fetched) == [
        b"* 1 FETCH (FLAGS (\\Recent \\Flagged))", b"* 2 FETCH (FLAGS (\\Recent))"]
    assert len(catch_ups) == before  # neither the STORE nor the FETCH after it looked again

    await b.command(b"STORE 2 +FLAGS (\\Seen)", b"s")
    await settle_notifications()
    noticed = await a.command(b"FETCH 1 (FLAGS)", b"f")
    assert len(catch_ups) == before + 1
    assert b"* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen))" in noticed, noticed
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_a_store_racing_another_writer_still_learns_its_change(
    imap_server: ImapServer,
) -> None:
    a = await session(imap_server)
    await append(a, 1)
    b = await session(imap_server)
    await a.command(b"NOOP")
    for round_number in range(10):
        flag = b"k%d" % round_number
        # b writes between a's view state and a's own write: a must not skip past it
        await b.command(b"STORE 1 +FLAGS (" + flag + b")", b"s")
        lines = await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s")
        await settle_notifications()
        lines += await a.command(b"NOOP", b"n")
        told = [line for line in lines if b"FETCH" in line][-1]
        assert flag in told, lines
    a.close()
    b.close()


@pytest_twisted.ensureDeferred
async def test_a_write_keeps_the_facts_it_wrote_and_the_flag_reports_need_no_read(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stalwart_tx.imap import bridge_context, email_facts

    kept = email_facts.EmailFacts()
    monkeypatch.setattr(email_facts, "FACTS_CACHE", kept)
    monkeypatch.setattr(bridge_context, "FACTS_CACHE", kept)
    a = await session(imap_server)
    await append(a, 2)
    b = await session(imap_server)
    await a.command(b"NOOP")
    await b.command(b"NOOP")
    calls = JmapCalls(monkeypatch)
    methods = calls.on()
    stored = await a.command(b"STORE 2 +FLAGS (\\Flagged $Work)", b"s")
    assert b"* 2 FETCH (FLAGS (\\Recent \\Flagged $work))" in stored  # keywords lower-cased
    seen = untagged(await b.command(b"NOOP"))
    assert any(b"2 FETCH (UID " in line and b"FLAGS (\\Flagged $work)" in line for line in seen)
    # neither the report of the STORE nor the other session's announcement read the email
    assert "Email/get" not in methods, methods
    # and what the write kept is what Email/get gives, at the MODSEQ the email has
    calls.off()
    [stored] = (await imap_server.jmap("Email/query", filter={"hasKeyword": "$work"}))["ids"]
    [read] = (await imap_server.jmap("Email/get", ids=[stored],
                                     properties=list(email_facts.FACTS)))["list"]
    [entry] = (await imap_server.jmap("ImapEmail/get", ids=[stored]))["list"]
    assert kept.get(imap_server.account, stored, entry["modseq"]) == read
    assert read["keywords"] == {"$flagged": True, "$work": True}


@pytest_twisted.ensureDeferred
async def test_a_one_message_store_takes_its_modseq_from_its_write(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await session(imap_server)
    await append(a, 2)
    await a.command(b"NOOP")
    await a.command(b"FETCH 1 (MODSEQ)")  # CONDSTORE on: the reports carry MODSEQ
    calls = JmapCalls(monkeypatch)
    methods = calls.on()
    stored = untagged(await a.command(b"STORE 1 +FLAGS (\\Flagged)", b"s"))
    assert methods == ["Email/set"], "the write alone: its states tell the MODSEQ"
    calls.off()
    [email_id] = (await imap_server.jmap("Email/query", filter={"hasKeyword": "$flagged"}))["ids"]
    [entry] = (await imap_server.jmap("ImapEmail/get", ids=[email_id]))["list"]
    assert stored == [b"* 1 FETCH (FLAGS (\\Recent \\Flagged) MODSEQ (%d))" % entry["modseq"]]
    # several messages in one write: their MODSEQs are read
    methods = calls.on()
    stored = untagged(await a.command(b"STORE 1:2 +FLAGS (\\Seen)", b"s"))
    assert "ImapEmail/get" in methods
    calls.off()
    found = (await imap_server.jmap("ImapEmail/get", ids=(
        await imap_server.jmap("Email/query", filter={"hasKeyword": "$seen"}))["ids"]))["list"]
    assert sorted(int(line.rsplit(b"MODSEQ (", 1)[1].rstrip(b"))")) for line in stored) == (
        sorted(e["modseq"] for e in found))
    a.close()


@pytest_twisted.ensureDeferred
async def test_own_expunge_needs_no_catch_up_but_one_after_another_sessions_write_does(
    imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, catch_ups = await watched_pair(imap_server, monkeypatch, 3)

    before = len(catch_ups)
    await a.command(b"STORE 1 +FLAGS (\\Deleted)", b"s")
    assert untagged(await a.command(b"EXPUNGE", b"e")) == [b"* 1 EXPUNGE"]
    await settle_notifications()
    fetched = await a.command(b"UID FETCH 1:* (FLAGS)", b"f")
    assert untagged(fetched) == [b"* 1 FETCH (UID 2 FLAGS (\\Recent))",
                                 b"* 2 FETCH (UID 3 FLAGS (\\Recent))"]
    assert len(catch_ups) == before  # neither the EXPUNGE nor the FETCH after it looked again

    # another session writes between the view's state and the expunge: both are told
    await a.command(b"STORE 1 +FLAGS (\\Deleted)", b"s")
    await b.command(b"UID STORE 3 +FLAGS (\\Flagged)", b"s")
    lines = untagged(await a.command(b"EXPUNGE", b"e"))
    assert lines[0] == b"* 1 EXPUNGE", lines
    assert b"* 1 FETCH (FLAGS (\\Recent \\Flagged))" in lines or \
        b"* 1 FETCH (UID 3 FLAGS (\\Recent \\Flagged))" in lines, lines
    assert len(catch_ups) == before + 1
    a.close()
    b.close()
