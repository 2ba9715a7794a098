"""A first walk through the bridge with Python's imaplib over a real socket."""

from __future__ import annotations

import pytest_twisted

from tests.imap.conftest import ImapServer

MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n"
    b"Subject: Hello\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n\r\nHello there.\r\n"
)


@pytest_twisted.ensureDeferred
async def test_login_select_append_fetch_store_expunge(imap_server: ImapServer) -> None:
    c = await imap_server.client()
    caps = await c.ok("capability")
    assert b"IMAP4rev1" in caps[0]
    listed = await c.ok("list")
    assert any(b'"INBOX"' in line or b" INBOX" in line for line in listed), listed
    typ, data = await c.run(c.imap.append, "INBOX", "(\\Flagged)", None, MESSAGE)
    assert typ == "OK", data
    assert b"APPENDUID" in data[0]
    exists = await c.ok("select", "INBOX")
    assert exists == [b"1"]
    fetched = await c.ok("fetch", "1", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
    head, body = fetched[0]
    assert b"UID 1" in head and b"\\Flagged" in head and b"RFC822.SIZE %d" % len(MESSAGE) in head
    assert body == MESSAGE
    stored = await c.ok("store", "1", "+FLAGS", "(\\Deleted \\Seen)")
    assert b"\\Deleted" in stored[0] and b"\\Seen" in stored[0]
    expunged = await c.ok("expunge")
    assert expunged == [b"1"]
    assert await c.ok("noop")
    status = await c.ok("status", "INBOX", "(MESSAGES UIDNEXT UNSEEN)")
    assert b"MESSAGES 0" in status[0] and b"UIDNEXT 2" in status[0]
