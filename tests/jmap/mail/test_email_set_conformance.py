"""Email/set updates checked as an independent suite checks them: PatchObject (RFC 8620 §5.3),
keywords (RFC 8621 §4.1.1) and mailboxIds (§4.6), refused updates leaving everything as it was."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from stalwart_tx.jmap.mail.capability import MAX_MAILBOXES_PER_EMAIL
from stalwart_tx.jmap.patch import encode_pointer
from tests.jmap.mail.conftest import Emails, message

FORBIDDEN = '(){]%*"\\'
# every character a keyword may hold (%x21-%x7E except the forbidden ones), "/" and "~" included
ALLOWED = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in FORBIDDEN)


async def setup(emails: Emails, **entry: Any) -> tuple[str, dict[str, str]]:
    """One email in the Inbox; its id and the mailbox ids by name."""
    boxes = {name: box["id"] for name, box in (await emails.mailboxes()).items()}
    created = await emails.import_raw(message("conformance", message_id="c@x"), **entry)
    return created["id"], boxes


async def snapshot(emails: Emails, email_id: str, boxes: dict[str, str]) -> Any:
    email = await emails.get_email(email_id, "keywords", "mailboxIds")
    counts = {name: await emails.counts(box) for name, box in sorted(boxes.items())}
    return email, counts


async def update(emails: Emails, email_id: str, patch: Any) -> dict[str, Any]:
    result = await emails.ok("Email/set", update={email_id: patch})
    assert result["notUpdated"] is None, result["notUpdated"]
    assert result["newState"] != result["oldState"]
    return result


async def refused(
    emails: Emails, email_id: str, boxes: dict[str, str], patch: Any
) -> dict[str, Any]:
    """The SetError of an update that must be refused; nothing it names has changed."""
    before = await snapshot(emails, email_id, boxes)
    result = await emails.ok("Email/set", update={email_id: patch})
    assert result["updated"] is None, (patch, result["updated"])
    assert result["newState"] == result["oldState"]
    error: dict[str, Any] = result["notUpdated"][email_id]
    assert await snapshot(emails, email_id, boxes) == before, patch
    return error


UNREAD_ONE = {"totalEmails": 1, "unreadEmails": 1, "totalThreads": 1, "unreadThreads": 1}
READ_ONE = {"totalEmails": 1, "unreadEmails": 0, "totalThreads": 1, "unreadThreads": 0}
EMPTY = {"totalEmails": 0, "unreadEmails": 0, "totalThreads": 0, "unreadThreads": 0}


# -- keywords -----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_keywords_outside_the_allowed_characters_or_lengths_are_invalid_properties(
    emails: Emails,
) -> None:
    email_id, boxes = await setup(emails, keywords={"$flagged": True})
    bad = [f"a{c}b" for c in FORBIDDEN] + [
        "a b", "é", "$seén", "a\x7fb", "a\x1fb", "a\tb", "", "k" * 256, "\u2028",
    ]
    for keyword in bad:
        for patch in ({encode_pointer(("keywords", keyword)): True},
                      {"keywords": {keyword: True}},
                      {"keywords": {"$seen": True, keyword: True}}):
            error = await refused(emails, email_id, boxes, patch)
            assert error["type"] == "invalidProperties", (keyword, error)
            assert error["properties"] == ["keywords"], (keyword, error)


@pytest_twisted.ensureDeferred
async def test_every_allowed_character_and_255_characters_make_a_keyword(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    longest = "k" * 255
    result = await update(emails, email_id, {
        encode_pointer(("keywords", ALLOWED)): True, f"keywords/{longest}": True,
    })
    # "/" and "~" travel as ~1 and ~0 in the path; upper case comes back lower case
    assert result["updated"] == {email_id: {"keywords": {ALLOWED.lower(): True, longest: True}}}
    email = await emails.get_email(email_id, "keywords")
    assert email["keywords"] == {ALLOWED.lower(): True, longest: True}
    await update(emails, email_id, {encode_pointer(("keywords", ALLOWED)): None})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {longest: True}
    assert await emails.counts(boxes["Inbox"]) == UNREAD_ONE


@pytest_twisted.ensureDeferred
async def test_a_slash_in_a_keyword_is_written_as_tilde_1(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    result = await update(emails, email_id, {"keywords/a~1b": True, "keywords/c~0d": True})
    assert result["updated"] == {email_id: None}
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {
        "a/b": True, "c~d": True,
    }
    await update(emails, email_id, {"keywords/a~1b": None})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {"c~d": True}
    # unescaped, the "/" goes one level deeper, into a keyword that does not exist
    error = await refused(emails, email_id, boxes, {"keywords/a/b": True})
    assert error["type"] == "invalidPatch"
    # "~" must be followed by 0 or 1
    error = await refused(emails, email_id, boxes, {"keywords/a~2b": True})
    assert error["type"] == "invalidPatch"


@pytest_twisted.ensureDeferred
async def test_keywords_are_case_insensitive_and_returned_lower_case(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    inbox = boxes["Inbox"]
    result = await update(emails, email_id, {"keywords/$SEEN": True, "keywords/Work": True})
    assert result["updated"] == {email_id: {"keywords": {"$seen": True, "work": True}}}
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {
        "$seen": True, "work": True,
    }
    assert await emails.counts(inbox) == READ_ONE
    # the same keyword in another case: no change, no duplicate
    await emails.ok("Email/set", update={email_id: {"keywords/$Seen": True}})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {
        "$seen": True, "work": True,
    }
    # removal by any case removes the keyword
    await update(emails, email_id, {"keywords/$SEEN": None, "keywords/WORK": None})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {}
    assert await emails.counts(inbox) == UNREAD_ONE
    # a whole value naming one keyword in two cases holds it once
    await update(emails, email_id, {"keywords": {"$Flagged": True, "$FLAGGED": True}})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {"$flagged": True}


@pytest_twisted.ensureDeferred
async def test_one_patch_adds_and_removes_keywords(emails: Emails) -> None:
    email_id, boxes = await setup(emails, keywords={"$seen": True, "old": True})
    inbox = boxes["Inbox"]
    assert await emails.counts(inbox) == READ_ONE
    result = await update(emails, email_id, {
        "keywords/$seen": None, "keywords/old": None, "keywords/$flagged": True,
        "keywords/new": True, "keywords/absent": None,
    })
    assert result["updated"] == {email_id: None}
    email = await emails.get_email(email_id, "keywords", "mailboxIds")
    assert email["keywords"] == {"$flagged": True, "new": True}
    assert email["mailboxIds"] == {inbox: True}
    assert await emails.counts(inbox) == UNREAD_ONE
    # null for the whole property is its default, no keywords
    await update(emails, email_id, {"keywords": None})
    assert (await emails.get_email(email_id, "keywords"))["keywords"] == {}
    flagged = await emails.ok("Email/query", filter={"hasKeyword": "$flagged"})
    assert flagged["ids"] == []


@pytest_twisted.ensureDeferred
async def test_only_true_is_a_keyword_or_mailbox_value(emails: Emails) -> None:
    email_id, boxes = await setup(emails, keywords={"$seen": True})
    inbox, archive = boxes["Inbox"], boxes["Archive"]
    for value in (False, "true", 1, {}, []):
        for patch in ({"keywords/$flagged": value}, {"keywords/$seen": value},
                      {"keywords": {"$seen": True, "$flagged": value}}):
            error = await refused(emails, email_id, boxes, patch)
            assert error["type"] == "invalidProperties", (patch, error)
            assert error["properties"] == ["keywords"]
        for patch in ({f"mailboxIds/{archive}": value}, {f"mailboxIds/{inbox}": value},
                      {"mailboxIds": {inbox: True, archive: value}}):
            error = await refused(emails, email_id, boxes, patch)
            assert error["type"] == "invalidProperties", (patch, error)
            assert error["properties"] == ["mailboxIds"]
    for whole in ([], "x", True, 1):
        for name in ("keywords", "mailboxIds"):
            error = await refused(emails, email_id, boxes, {name: whole})
            assert error["type"] == "invalidProperties", (name, whole, error)
            assert error["properties"] == [name]


@pytest_twisted.ensureDeferred
async def test_too_many_keywords_is_its_own_set_error(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    many = {f"k{n}": True for n in range(5000)}
    error = await refused(emails, email_id, boxes, {"keywords": many})
    assert error["type"] == "tooManyKeywords"


# -- PatchObject --------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_a_path_and_a_path_inside_it_in_one_patch_are_an_invalid_patch(
    emails: Emails,
) -> None:
    email_id, boxes = await setup(emails, keywords={"$seen": True})
    archive = boxes["Archive"]
    for patch in (
        {"keywords": {"x": True}, "keywords/y": True},
        {"keywords/y": True, "keywords": {"x": True}},
        {"keywords": None, "keywords/$seen": None},
        {"mailboxIds": {archive: True}, f"mailboxIds/{archive}": True},
        {"keywords/$seen": True, "keywords/$seen/x": True},
    ):
        error = await refused(emails, email_id, boxes, patch)
        assert error["type"] == "invalidPatch", (patch, error)


@pytest_twisted.ensureDeferred
async def test_a_path_through_something_missing_or_not_an_object_is_an_invalid_patch(
    emails: Emails,
) -> None:
    email_id, boxes = await setup(emails, keywords={"$seen": True})
    inbox = boxes["Inbox"]
    for patch in (
        {"keywords/absent/x": True},
        {"keywords/$seen/x": True},  # through true
        {f"mailboxIds/{inbox}/x": True},
        {"receivedAt/x": True},  # through a string
        {"size/x": 1},  # through a number
        {"keywords/x~": True},
    ):
        error = await refused(emails, email_id, boxes, patch)
        assert error["type"] == "invalidPatch", (patch, error)
    # not an object at all
    error = await refused(emails, email_id, boxes, ["keywords/$flagged"])
    assert error["type"] == "invalidPatch"


@pytest_twisted.ensureDeferred
async def test_server_set_and_unknown_properties_are_invalid_properties(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    changes: dict[str, Any] = {
        "id": "Mother", "blobId": "Gother", "threadId": "Tother", "size": 1,
        "receivedAt": "2001-01-01T00:00:00Z", "messageId": ["other@x"], "inReplyTo": ["o@x"],
        "references": ["o@x"], "sender": [], "from": [{"name": None, "email": "x@y"}],
        "to": [], "cc": [], "bcc": [], "replyTo": [], "subject": "changed",
        "sentAt": "2001-01-01T00:00:00Z", "hasAttachment": True, "preview": "changed",
        "headers": [], "bodyStructure": None, "bodyValues": {"1": {"value": "x"}},
        "textBody": [], "htmlBody": [], "attachments": [{"partId": "9", "blobId": "Gother"}],
        "header:Subject": "changed", "unknown": 1,
    }
    for name, value in changes.items():
        error = await refused(emails, email_id, boxes, {name: value})
        assert error["type"] == "invalidProperties", (name, error)
        assert error["properties"] == [name], (name, error)
    # a valid change does not carry an invalid one through: the whole update is refused
    error = await refused(emails, email_id, boxes, {"keywords/$seen": True, "subject": "x"})
    assert error["type"] == "invalidProperties"
    assert error["properties"] == ["subject"]


# -- mailboxIds ---------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_an_email_stays_in_at_least_one_existing_mailbox(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    inbox = boxes["Inbox"]
    for patch in (
        {f"mailboxIds/{inbox}": None},
        {"mailboxIds": {}},
        {"mailboxIds": None},
        {"mailboxIds/Mnosuchbox": True},
        {"mailboxIds": {"Mnosuchbox": True}},
        {f"mailboxIds/{inbox}": None, "mailboxIds/Mnosuchbox": True},
        {"mailboxIds/not an id!": True},
        {"mailboxIds/#nosuchcreation": True},
        {"mailboxIds": {"#nosuchcreation": True}},
    ):
        error = await refused(emails, email_id, boxes, patch)
        assert error["type"] == "invalidProperties", (patch, error)
        assert error["properties"] == ["mailboxIds"], (patch, error)


@pytest_twisted.ensureDeferred
async def test_moving_by_patch_updates_mailbox_ids_and_counts(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    inbox, archive, trash = boxes["Inbox"], boxes["Archive"], boxes["Trash"]
    result = await update(emails, email_id, {
        f"mailboxIds/{inbox}": None, f"mailboxIds/{archive}": True, f"mailboxIds/{trash}": True,
        "keywords/$seen": True,
    })
    assert result["updated"] == {email_id: None}
    email = await emails.get_email(email_id, "keywords", "mailboxIds")
    assert email["mailboxIds"] == {archive: True, trash: True}
    assert await emails.counts(inbox) == EMPTY
    assert await emails.counts(archive) == READ_ONE
    assert await emails.counts(trash) == READ_ONE
    await update(emails, email_id, {"mailboxIds": {inbox: True}})
    assert (await emails.get_email(email_id, "mailboxIds"))["mailboxIds"] == {inbox: True}
    assert await emails.counts(archive) == EMPTY
    assert await emails.counts(inbox) == READ_ONE


@pytest_twisted.ensureDeferred
async def test_a_mailbox_created_earlier_in_the_request_by_creation_id(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    inbox = boxes["Inbox"]
    other_id, _ = await setup(emails)
    account = emails.account
    responses = await emails.request(
        ["Mailbox/set", {"accountId": account,
                         "create": {"a": {"name": "A"}, "b": {"name": "B"}}}, "0"],
        ["Email/set", {"accountId": account, "update": {
            email_id: {"mailboxIds/#a": True, f"mailboxIds/{inbox}": None},
        }}, "1"],
        ["Email/set", {"accountId": account, "update": {
            other_id: {"mailboxIds": {"#b": True, inbox: True}},
        }}, "2"],
    )
    assert responses[0][0] == "Mailbox/set", responses[0]
    created = responses[0][1]["created"]
    a, b = created["a"]["id"], created["b"]["id"]
    assert responses[1][1]["notUpdated"] is None, responses[1][1]
    assert responses[2][1]["notUpdated"] is None, responses[2][1]
    # the reference is the client's way to name the id; the server reports it may have been
    # "changed", or not: either way the stored value holds the real id
    assert (await emails.get_email(email_id, "mailboxIds"))["mailboxIds"] == {a: True}
    assert (await emails.get_email(other_id, "mailboxIds"))["mailboxIds"] == {
        b: True, inbox: True,
    }
    assert await emails.counts(a) == UNREAD_ONE
    assert (await emails.counts(b))["totalEmails"] == 1
    assert (await emails.counts(inbox))["totalEmails"] == 1


@pytest_twisted.ensureDeferred
async def test_too_many_mailboxes_is_its_own_set_error(emails: Emails) -> None:
    email_id, boxes = await setup(emails)
    made = await emails.set(create={
        f"m{n}": {"name": f"box {n}"} for n in range(MAX_MAILBOXES_PER_EMAIL + 1 - len(boxes))
    })
    assert made["notCreated"] is None
    every = [*boxes.values(), *(entry["id"] for entry in made["created"].values())]
    assert len(every) == MAX_MAILBOXES_PER_EMAIL + 1
    error = await refused(emails, email_id, boxes, {"mailboxIds": dict.fromkeys(every, True)})
    assert error["type"] == "tooManyMailboxes"
    # up to the advertised limit is fine
    await update(emails, email_id, {"mailboxIds": dict.fromkeys(every[1:], True)})
    assert len((await emails.get_email(email_id, "mailboxIds"))["mailboxIds"]) == len(every) - 1


@pytest_twisted.ensureDeferred
async def test_new_emails_are_held_to_the_same_limits(emails: Emails) -> None:
    inbox = await emails.inbox()
    many = {f"k{n}": True for n in range(5000)}
    blob = await emails.upload(message("limits", message_id="l@x"))
    imported = await emails.ok("Email/import", emails={
        "e": {"blobId": blob, "mailboxIds": {inbox: True}, "keywords": many},
    })
    assert imported["created"] is None
    assert imported["notCreated"]["e"]["type"] == "tooManyKeywords"
    created = await emails.ok("Email/set", create={"c": {
        "mailboxIds": {inbox: True}, "keywords": many, "subject": "limits",
        "textBody": [{"partId": "t", "type": "text/plain"}], "bodyValues": {"t": {"value": "x"}},
    }})
    assert created["created"] is None
    assert created["notCreated"]["c"]["type"] == "tooManyKeywords"
    assert await emails.counts(inbox) == EMPTY
