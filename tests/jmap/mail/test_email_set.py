"""Email/set: keyword and mailbox changes, destroys, creates; counts and quota follow exactly."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from tests.jmap.mail.conftest import ConflictOnce, Emails, message


@pytest_twisted.ensureDeferred
async def test_keywords_and_mailboxes_by_patch_move_the_counts(emails: Emails) -> None:
    boxes = await emails.mailboxes()
    inbox, archive = boxes["Inbox"]["id"], boxes["Archive"]["id"]
    first = await emails.import_raw(message("one", message_id="k1@x"))
    second = await emails.import_raw(
        message("Re: one", message_id="k2@x", in_reply_to="k1@x", references=["k1@x"])
    )
    result = await emails.ok("Email/set", update={
        first["id"]: {"keywords/$Seen": True, f"mailboxIds/{archive}": True},
        second["id"]: {"keywords": {"$flagged": True, "$seen": True}},
    })
    assert result["notUpdated"] is None, result["notUpdated"]
    email = await emails.get_email(first["id"], "keywords", "mailboxIds")
    assert email == {"id": first["id"], "keywords": {"$seen": True},
                     "mailboxIds": {inbox: True, archive: True}}
    assert await emails.counts(inbox) == {
        "totalEmails": 2, "unreadEmails": 0, "totalThreads": 1, "unreadThreads": 0,
    }
    assert await emails.counts(archive) == {
        "totalEmails": 1, "unreadEmails": 0, "totalThreads": 1, "unreadThreads": 0,
    }
    await emails.ok("Email/set", update={first["id"]: {
        "keywords/$seen": None, f"mailboxIds/{inbox}": None,
    }})
    assert await emails.counts(inbox) == {
        "totalEmails": 1, "unreadEmails": 0, "totalThreads": 1, "unreadThreads": 0,
    }
    assert await emails.counts(archive) == {
        "totalEmails": 1, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 1,
    }


@pytest_twisted.ensureDeferred
async def test_invalid_updates_are_refused_with_nothing_changed(emails: Emails) -> None:
    first = await emails.import_raw(message("x", message_id="v@x"))
    result = await emails.ok("Email/set", update={
        first["id"]: {"mailboxIds": {}},
        "xmissing": {"keywords": {}},
    })
    assert result["notUpdated"][first["id"]]["type"] == "invalidProperties"
    assert result["notUpdated"]["xmissing"]["type"] == "notFound"
    bad = await emails.ok("Email/set", update={first["id"]: {"mailboxIds/xnope": True}})
    assert bad["notUpdated"][first["id"]]["type"] == "invalidProperties"
    immutable = await emails.ok("Email/set", update={first["id"]: {"subject": "changed"}})
    assert immutable["notUpdated"][first["id"]]["type"] == "invalidProperties"
    keyword = await emails.ok("Email/set", update={first["id"]: {"keywords/a(b": True}})
    assert keyword["notUpdated"][first["id"]]["type"] in ("invalidProperties", "invalidPatch")
    assert (await emails.counts(await emails.inbox()))["totalEmails"] == 1


@pytest_twisted.ensureDeferred
async def test_destroy_releases_quota_counts_and_the_blob_claim(emails: Emails) -> None:
    inbox = await emails.inbox()
    raw = message("gone", message_id="g@x")
    created = await emails.import_raw(raw)
    refs = await emails.server.store.blobs.referrers(emails.account, [created["blobId"]])
    assert refs[created["blobId"]] == {("Email", created["id"])}
    await emails.ok("Email/set", destroy=[created["id"]])
    refs = await emails.server.store.blobs.referrers(emails.account, [created["blobId"]])
    assert refs[created["blobId"]] == set()
    assert await emails.counts(inbox) == dict.fromkeys(
        ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"], 0
    )
    quotas = {q["resourceType"]: q["used"] for q in (await emails.ok("Quota/get"))["list"]}
    assert quotas == {"count": 0, "octets": 0}
    assert (await emails.ok("Email/query", filter={"inMailbox": inbox}))["ids"] == []


@pytest_twisted.ensureDeferred
async def test_over_quota_refuses_imports(emails: Emails) -> None:
    from stalwart_tx.jmap.mail.quota_usage import stage_limits
    from stalwart_tx.jmap.standard.working_set import WorkingSet

    objects = WorkingSet(emails.server.store, emails.account)
    await stage_limits(objects, {"messages": 1})
    await emails.server.store.accounts.write(emails.account, objects.batch())
    await emails.import_raw(message("fits", message_id="q1@x"))
    blob = await emails.upload(message("too many", message_id="q2@x"))
    result = await emails.ok("Email/import", emails={
        "e": {"blobId": blob, "mailboxIds": {await emails.inbox(): True}},
    })
    assert result["notCreated"]["e"]["type"] == "overQuota"


@pytest_twisted.ensureDeferred
async def test_mailbox_destroy_with_on_destroy_remove_emails(emails: Emails) -> None:
    inbox = await emails.inbox()
    folder = await emails.create(name="Folder")
    only_here = await emails.import_raw(message("a", message_id="d1@x"), [folder])
    also_inbox = await emails.import_raw(message("b", message_id="d2@x"), [folder, inbox])
    refused = await emails.set(destroy=[folder])
    assert refused["notDestroyed"][folder]["type"] == "mailboxHasEmail"
    result = await emails.set(destroy=[folder], onDestroyRemoveEmails=True)
    assert result["destroyed"] == [folder]
    got = await emails.ok("Email/get", ids=[only_here["id"], also_inbox["id"]],
                          properties=["mailboxIds"])
    assert got["notFound"] == [only_here["id"]]
    assert got["list"] == [{"id": also_inbox["id"], "mailboxIds": {inbox: True}}]
    assert (await emails.counts(inbox))["totalEmails"] == 1


@pytest_twisted.ensureDeferred
async def test_concurrent_keyword_changes_keep_counts_exact(emails: Emails) -> None:
    inbox = await emails.inbox()
    created = [await emails.import_raw(message(f"m{n}", message_id=f"c{n}@x")) for n in range(8)]
    await defer.gatherResults([
        defer.Deferred.fromCoroutine(
            emails.ok("Email/set", update={c["id"]: {"keywords/$seen": True}})
        )
        for c in created[:5]
    ])
    assert await emails.counts(inbox) == {
        "totalEmails": 8, "unreadEmails": 3, "totalThreads": 8, "unreadThreads": 3,
    }


@pytest_twisted.ensureDeferred
async def test_create_composes_a_message_that_reads_back(emails: Emails) -> None:
    drafts = (await emails.mailboxes())["Drafts"]["id"]
    attachment = await emails.upload(b"%PDF-1.4 pretend")
    result = await emails.ok("Email/set", create={"d": {
        "mailboxIds": {drafts: True},
        "keywords": {"$draft": True},
        "from": [{"name": "Zoë", "email": "alice@example.com"}],
        "to": [{"email": "bob@example.org"}],
        "subject": "Überblick",
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyValues": {"t": {"value": "Hallo Bob,\nbis bald.\n"}},
        "attachments": [{"blobId": attachment, "type": "application/pdf", "name": "a.pdf"}],
    }})
    assert result["notCreated"] is None, result["notCreated"]
    created = result["created"]["d"]
    assert set(created) == {"id", "blobId", "threadId", "size"}
    email = await emails.get_email(
        created["id"], "subject", "from", "keywords", "attachments", "bodyValues",
        fetchTextBodyValues=True,
    )
    assert email["subject"] == "Überblick"
    assert email["from"] == [{"name": "Zoë", "email": "alice@example.com"}]
    assert email["keywords"] == {"$draft": True}
    assert [a["name"] for a in email["attachments"]] == ["a.pdf"]
    [body] = email["bodyValues"].values()
    assert body["value"].replace("\r\n", "\n") == "Hallo Bob,\nbis bald.\n"
    # a draft is not unread
    assert (await emails.counts(drafts))["unreadEmails"] == 0
    refused = await emails.ok("Email/set", create={"x": {
        "mailboxIds": {drafts: True},
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyStructure": {"partId": "t", "type": "text/plain"},
        "bodyValues": {"t": {"value": "x"}},
    }, "y": {"mailboxIds": {drafts: True}, "attachments": [{"blobId": "Gmissing"}]}})
    assert refused["notCreated"]["x"]["type"] == "invalidProperties"
    assert refused["notCreated"]["y"]["type"] == "blobNotFound"


@pytest_twisted.ensureDeferred
async def test_over_quota_refuses_creates_and_destroys_free_space(emails: Emails) -> None:
    from stalwart_tx.jmap.mail.quota_usage import stage_limits
    from stalwart_tx.jmap.standard.working_set import WorkingSet

    drafts = (await emails.mailboxes())["Drafts"]["id"]
    first = await emails.import_raw(message("big", message_id="o1@x", body="x" * 2000))
    objects = WorkingSet(emails.server.store, emails.account)
    await stage_limits(objects, {"storage": first["size"] + 100})
    await emails.server.store.accounts.write(emails.account, objects.batch())
    create = {"mailboxIds": {drafts: True}, "subject": "more",
              "textBody": [{"partId": "t", "type": "text/plain"}],
              "bodyValues": {"t": {"value": "y" * 500}}}
    refused = await emails.ok("Email/set", create={"c": create})
    assert refused["notCreated"]["c"]["type"] == "overQuota"
    await emails.ok("Email/set", destroy=[first["id"]])
    allowed = await emails.ok("Email/set", create={"c": create})
    assert allowed["notCreated"] is None


@pytest_twisted.ensureDeferred
async def test_writers_of_one_account_take_turns_in_a_process(emails: Emails) -> None:
    from twisted.logger import globalLogPublisher

    inbox = await emails.inbox()
    created = [await emails.import_raw(message(f"t{n}", message_id=f"t{n}@x")) for n in range(6)]
    conflicts: list[object] = []

    def observe(event: dict[str, object]) -> None:
        if "write conflict" in str(event.get("log_format", "")):
            conflicts.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        await defer.gatherResults([
            defer.Deferred.fromCoroutine(
                emails.ok("Email/set", update={c["id"]: {"keywords/$seen": True}})
            )
            for c in created
        ])
    finally:
        globalLogPublisher.removeObserver(observe)
    # each computed on what the one before wrote: none had to start over
    assert conflicts == []
    assert (await emails.counts(inbox))["unreadEmails"] == 0


@pytest_twisted.ensureDeferred
async def test_flag_changes_other_than_seen_do_not_wait_for_the_account_turn(
    emails: Emails,
) -> None:
    from stalwart_tx.jmap.standard import retry

    first = await emails.import_raw(message("a", message_id="turn1@x"))
    second = await emails.import_raw(message("b", message_id="turn2@x"))
    turn = await retry._WRITERS.acquire(emails.account)  # another writer's turn, held
    try:
        flagged = defer.Deferred.fromCoroutine(emails.ok("Email/set", update={
            first["id"]: {"keywords/$flagged": True, "keywords/$Custom": True},
            second["id"]: {"keywords/$answered": True},
        }))
        seen = defer.Deferred.fromCoroutine(
            emails.ok("Email/set", update={first["id"]: {"keywords/$seen": True}})
        )
        replaced = defer.Deferred.fromCoroutine(
            emails.ok("Email/set", update={second["id"]: {"keywords": {"$draft": True}}})
        )
        for _ in range(50):
            if flagged.called:
                break
            await task.deferLater(reactor, 0.01, lambda: None)
        assert flagged.called, "a flag change runs beside the writer holding the turn"
        assert not seen.called and not replaced.called, "$seen (counts) and all keywords wait"
    finally:
        retry._WRITERS.release(emails.account, turn)
    await defer.gatherResults([seen, replaced])
    assert (await emails.get_email(first["id"], "keywords"))["keywords"] == {
        "$flagged": True, "$custom": True, "$seen": True}
    assert (await emails.get_email(second["id"], "keywords"))["keywords"] == {"$draft": True}


@pytest_twisted.ensureDeferred
async def test_a_flag_change_is_conditional_on_its_own_emails_alone(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = await emails.import_raw(message("mine", message_id="own1@x"))
    other = await emails.import_raw(message("other", message_id="own2@x"))
    store = emails.server.store
    real_write = store.accounts.write
    cutting_in: list[str] = []  # the email another writer changes before the next write of ours
    attempts: list[str] = []
    just_before: list[str] = []  # the Email state when each write of ours is made

    async def others_first(account_id: str, batch: Any) -> Any:
        if batch.updates and batch.updates[0][1] == mine["id"] and "cutting" not in attempts:
            attempts.append("ours")
            if cutting_in:
                target = cutting_in.pop()
                attempts.append("cutting")
                await emails.ok("Email/set", update={target: {"keywords/$junk": True}})
                attempts.remove("cutting")
            just_before.append(await store.changes.current_state(account_id, "Email"))
        return await real_write(account_id, batch)

    monkeypatch.setattr(store.accounts, "write", others_first)
    # another email changes between the read and the write: no conflict, one attempt
    cutting_in.append(other["id"])
    before = await store.changes.current_state(emails.account, "Email")
    answer = await emails.ok("Email/set", update={mine["id"]: {"keywords/$flagged": True}})
    assert attempts == ["ours"]
    # oldState is the state just before this write (after the other one), not the one read
    assert answer["oldState"] == just_before[-1] != before
    assert answer["newState"] == await store.changes.current_state(emails.account, "Email")
    changes = await emails.ok("Email/changes", sinceState=answer["oldState"])
    assert changes["updated"] == [mine["id"]]
    # the email itself changes between them: the write is refused and computed again, and
    # both changes stand
    attempts.clear()
    cutting_in.append(mine["id"])
    await emails.ok("Email/set", update={mine["id"]: {"keywords/$important": True}})
    assert attempts == ["ours", "ours"], "refused once, then written"
    assert (await emails.get_email(mine["id"], "keywords"))["keywords"] == {
        "$flagged": True, "$junk": True, "$important": True}
    assert (await emails.get_email(other["id"], "keywords"))["keywords"] == {"$junk": True}


@pytest_twisted.ensureDeferred
async def test_an_email_is_not_destroyed_in_the_call_that_creates_it(emails: Emails) -> None:
    drafts = (await emails.mailboxes())["Drafts"]["id"]
    result = await emails.ok("Email/set", create={"c": {
        "mailboxIds": {drafts: True}, "subject": "short-lived",
        "textBody": [{"partId": "t", "type": "text/plain"}], "bodyValues": {"t": {"value": "x"}},
    }}, destroy=["#c"])
    created = result["created"]["c"]["id"]
    assert result["notDestroyed"]["#c"]["type"] == "forbidden"
    # the email and everything it is indexed under are intact, and go with a later destroy
    query = await emails.ok("Email/query", filter={"inMailbox": drafts})
    assert query["ids"] == [created]
    await emails.ok("Email/set", destroy=[created])
    assert (await emails.ok("Email/query", filter={"inMailbox": drafts}))["ids"] == []
    assert (await emails.counts(drafts))["totalEmails"] == 0


@pytest_twisted.ensureDeferred
async def test_an_attempt_after_a_write_conflict_does_not_analyse_again(
    emails: Emails, monkeypatch: pytest.MonkeyPatch
) -> None:
    drafts = (await emails.mailboxes())["Drafts"]["id"]
    seen = ConflictOnce(emails.server.store, monkeypatch)
    result = await emails.ok("Email/set", create={"c": {
        "mailboxIds": {drafts: True}, "subject": "twice computed",
        "textBody": [{"partId": "t", "type": "text/plain"}], "bodyValues": {"t": {"value": "x"}},
    }})
    monkeypatch.undo()
    assert result["created"]["c"]["id"]
    assert len(seen.writes) == 2, "the conflict made the call compute again"
    assert len(seen.analysed) == 1, "but the message was analysed once"
    got = await emails.get_email(result["created"]["c"]["id"], "subject", "mailboxIds")
    assert got["subject"] == "twice computed" and got["mailboxIds"] == {drafts: True}
