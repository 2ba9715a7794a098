"""Email/import, Email/get and Email/parse over HTTP on a real Redis store."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

MULTIPART = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\r\n"
    b"To: a@example.com, Group: b@example.com, c@example.com;\r\n"
    b"Subject: Report\r\n"
    b"Date: Tue, 03 Jan 2023 11:00:00 +0100\r\n"
    b"Message-ID: <report@example.com>\r\n"
    b"X-Tag: first\r\n"
    b"X-Tag: second\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"The numbers are in.\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>The <b>numbers</b> are in.</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name=report.pdf\r\n"
    b"Content-Disposition: attachment; filename=report.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--outer--\r\n"
)


@pytest_twisted.ensureDeferred
async def test_import_then_get_the_stored_and_parsed_properties(emails: Emails) -> None:
    inbox = await emails.inbox()
    created = await emails.import_raw(
        MULTIPART, keywords={"$Seen": True}, receivedAt="2023-01-03T10:00:00Z"
    )
    assert set(created) == {"id", "blobId", "threadId", "size"}
    assert created["size"] == len(MULTIPART)
    email = await emails.get_email(created["id"])
    assert email["mailboxIds"] == {inbox: True}
    assert email["keywords"] == {"$seen": True}  # keywords are stored lower-cased
    assert email["receivedAt"] == "2023-01-03T10:00:00Z"
    assert email["from"] == [{"name": "Jürgen", "email": "j@example.com"}]
    assert email["subject"] == "Report"
    assert email["sentAt"] == "2023-01-03T11:00:00+01:00"
    assert email["messageId"] == ["report@example.com"]
    assert email["hasAttachment"] is True
    assert email["preview"] == "The numbers are in."
    assert [p["type"] for p in email["textBody"]] == ["text/plain"]
    assert [p["type"] for p in email["htmlBody"]] == ["text/html"]
    assert [p["name"] for p in email["attachments"]] == ["report.pdf"]
    assert email["bodyValues"] == {}  # none asked for

    full = await emails.get_email(
        created["id"], "bodyStructure", "bodyValues", "header:X-Tag:all",
        "header:To:asGroupedAddresses",
        fetchTextBodyValues=True, bodyProperties=["partId", "type", "subParts"],
    )
    assert full["header:X-Tag:all"] == [" first", " second"]
    assert full["header:To:asGroupedAddresses"][1]["name"] == "Group"
    structure = full["bodyStructure"]
    assert structure["type"] == "multipart/mixed"
    assert [p["type"] for p in structure["subParts"]] == [
        "multipart/alternative", "application/pdf"
    ]
    text_part = structure["subParts"][0]["subParts"][0]["partId"]
    assert full["bodyValues"] == {text_part: {
        # the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1)
        "value": "The numbers are in.", "isEncodingProblem": False, "isTruncated": False,
    }}
    short = await emails.get_email(
        created["id"], "bodyValues", fetchHTMLBodyValues=True, maxBodyValueBytes=10
    )
    [value] = short["bodyValues"].values()
    assert value["isTruncated"] is True and len(value["value"].encode()) <= 10
    assert "<" not in value["value"][-1:]


@pytest_twisted.ensureDeferred
async def test_import_updates_counts_and_quota(emails: Emails) -> None:
    inbox = await emails.inbox()
    await emails.import_raw(message("one", message_id="1@x"))
    await emails.import_raw(message("two", message_id="2@x"), keywords={"$seen": True})
    assert await emails.counts(inbox) == {
        "totalEmails": 2, "unreadEmails": 1, "totalThreads": 2, "unreadThreads": 1,
    }
    quotas = (await emails.ok("Quota/get", ids=None))["list"]
    by_type = {q["resourceType"]: q["used"] for q in quotas}
    assert by_type["count"] == 2
    assert by_type["octets"] == len(message("one", message_id="1@x")) + len(
        message("two", message_id="2@x")
    )


@pytest_twisted.ensureDeferred
async def test_import_errors(emails: Emails) -> None:
    inbox = await emails.inbox()
    blob = await emails.upload(message())
    result = await emails.ok("Email/import", emails={
        "missing": {"blobId": "Gnope", "mailboxIds": {inbox: True}},
        "nobox": {"blobId": blob, "mailboxIds": {"xnothere": True}},
        "empty": {"blobId": blob, "mailboxIds": {}},
        "badkw": {"blobId": blob, "mailboxIds": {inbox: True}, "keywords": {"a b": True}},
        "ok": {"blobId": blob, "mailboxIds": {inbox: True}},
    })
    errors = result["notCreated"]
    assert errors["missing"]["type"] == "blobNotFound"
    assert errors["nobox"]["type"] == "invalidProperties"
    assert errors["empty"]["type"] == "invalidProperties"
    assert errors["badkw"]["type"] == "invalidProperties"
    assert list(result["created"]) == ["ok"]
    assert (await emails.counts(inbox))["totalEmails"] == 1


@pytest_twisted.ensureDeferred
async def test_a_message_that_cannot_be_parsed_is_still_stored_and_served(emails: Emails) -> None:
    raw = b"\x00\xff garbage without headers \r\n\r\n\x80\x81"
    created = await emails.import_raw(raw)
    email = await emails.get_email(created["id"], "size", "subject", "blobId", "bodyStructure")
    assert email["size"] == len(raw)
    assert await emails.server.store.blobs.get(emails.account, email["blobId"]) == raw


@pytest_twisted.ensureDeferred
async def test_parse_a_blob_and_an_attached_message(emails: Emails) -> None:
    inner = message("Inner one", message_id="inner@x")
    outer = (
        b"From: a@example.com\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    blob = await emails.upload(outer)
    result = await emails.ok("Email/parse", blobIds=[blob, "Gmissing"])
    parsed = result["parsed"][blob]
    assert parsed["subject"] == "Fwd"
    assert "id" not in parsed and "mailboxIds" not in parsed  # not in the default list
    attached = parsed["attachments"][0]["blobId"]
    assert result["notFound"] == ["Gmissing"]
    again = await emails.ok(
        "Email/parse", blobIds=[attached], properties=["subject", "messageId", "threadId"]
    )
    assert again["parsed"][attached] == {
        "subject": "Inner one", "messageId": ["inner@x"], "threadId": None,
    }
