"""Email/get, Email/parse and SearchSnippet/get checked against RFC 8621 as an independent
client test suite checks them: the default property lists, the header parsed forms and which
header may be fetched in which form (§4.1.2, §4.1.3), bodyValues and maxBodyValueBytes (§4.2),
the textBody/htmlBody/attachments algorithm (§4.1.4), Email/parse (§4.9), SearchSnippet/get
(§5.1), and the standard /get rules of RFC 8620 §5.1 as Email/get follows them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import pytest_twisted

from tests.jmap.mail.conftest import Emails, message

# RFC 8621 §4.2: the properties Email/get returns when none are asked for ("id" always is).
GET_DEFAULT = {
    "id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
    "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject",
    "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody", "attachments",
}  # fmt: skip
# §4.2: the bodyProperties default.
BODY_DEFAULT = {
    "partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language",
    "location",
}  # fmt: skip
# §4.9: the properties Email/parse returns when none are asked for.
PARSE_DEFAULT = {
    "messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo",
    "subject", "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody",
    "attachments",
}  # fmt: skip

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(40))).decode()

# multipart/mixed [ multipart/alternative [ text/plain (1), text/html (2) ],
#                   image/png inline (3), text/plain attachment notes.txt (4),
#                   application/pdf attachment (5) ]
# Part ids are this server's (leaves numbered depth first); the RFC only asks that the lists
# name the parts below, which the tests check through bodyStructure as well.
MIXED = (
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: Mixed\r\n"
    "Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
    "Message-ID: <mixed@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="outer"\r\n'
    "\r\n"
    "--outer\r\n"
    'Content-Type: multipart/alternative; boundary="alt"\r\n'
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße, world\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Grüße, <b>world</b></p>\r\n"
    "--alt--\r\n"
    "--outer\r\n"
    "Content-Type: image/png\r\n"
    "Content-Disposition: inline\r\n"
    "Content-ID: <img1@example.com>\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    f"{PNG}\r\n"
    "--outer\r\n"
    'Content-Type: text/plain; charset=us-ascii; name="notes.txt"\r\n'
    'Content-Disposition: attachment; filename="notes.txt"\r\n'
    "\r\n"
    "Some notes\r\n"
    "--outer\r\n"
    'Content-Type: application/pdf; name="report.pdf"\r\n'
    'Content-Disposition: attachment; filename="report.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    f"{base64.b64encode(b'%PDF-1.4 tiny').decode()}\r\n"
    "--outer--\r\n"
).encode()

HEADERS = (
    b"Return-Path: <bounce@example.com>\r\n"
    b"Received: from one.example by two.example; Mon, 02 Jan 2023 10:00:02 +0000\r\n"
    b"Received: from three.example by four.example; Mon, 02 Jan 2023 10:00:01 +0000\r\n"
    b'From: "Alice Example" <alice@example.com>\r\n'
    b'To: Team: bob@example.org, "Carol" <carol@example.net>;, dave@example.com\r\n'
    b"Subject: =?UTF-8?Q?Caf=C3=A9?= news\r\n"
    b"Date: Tue, 03 Jan 2023 09:30:00 -0500\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"References: <r1@example.com>\r\n <r2@example.com>\r\n"
    b"List-Post: <mailto:list@example.com>, <https://example.com/post>\r\n"
    b"X-Tag: first\r\n"
    b"X-Tag: =?UTF-8?B?c2Vjb25k?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Body.\r\n"
)


def _leaves(part: dict[str, Any]) -> list[dict[str, Any]]:
    if part.get("subParts") is None:
        return [part]
    return [leaf for sub in part["subParts"] for leaf in _leaves(sub)]


async def _invalid(emails: Emails, method: str, **arguments: Any) -> None:
    await emails.error(method, "invalidArguments", **arguments)


# -- RFC 8620 §5.1 and the property lists of RFC 8621 §4.2 --------------------------------------


@pytest_twisted.ensureDeferred
async def test_default_properties_and_body_properties(emails: Emails) -> None:
    created = await emails.import_raw(MIXED)
    [email] = (await emails.ok("Email/get", ids=[created["id"]]))["list"]
    assert set(email) == GET_DEFAULT
    assert email["id"] == created["id"]
    # no fetch*BodyValues: bodyValues is there, and empty
    assert email["bodyValues"] == {}
    for name in ("textBody", "htmlBody", "attachments"):
        assert email[name], name
        for part in email[name]:
            assert set(part) == BODY_DEFAULT, (name, part)
    # the default bodyProperties apply to bodyStructure too, plus subParts for the tree
    structure = await emails.get_email(created["id"], "bodyStructure")
    assert set(structure["bodyStructure"]) == BODY_DEFAULT | {"subParts"}


@pytest_twisted.ensureDeferred
async def test_empty_properties_give_only_the_id(emails: Emails) -> None:
    created = await emails.import_raw(message("Only id"))
    result = await emails.ok("Email/get", ids=[created["id"]], properties=[])
    assert result["list"] == [{"id": created["id"]}]


@pytest_twisted.ensureDeferred
async def test_body_properties_are_honoured(emails: Emails) -> None:
    created = await emails.import_raw(MIXED)
    email = await emails.get_email(
        created["id"], "textBody", "attachments",
        bodyProperties=["partId", "type", "header:Content-Disposition:asText"],
    )  # fmt: skip
    assert email["textBody"][0] == {
        "partId": "1", "type": "text/plain", "header:Content-Disposition:asText": None,
    }  # fmt: skip
    assert email["attachments"][0] == {
        "partId": "4", "type": "text/plain",
        "header:Content-Disposition:asText": 'attachment; filename="notes.txt"',
    }  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_unknown_properties_are_invalid_arguments(emails: Emails) -> None:
    created = await emails.import_raw(message("Unknown"))
    ids = [created["id"]]
    await _invalid(emails, "Email/get", ids=ids, properties=["subject", "nonsense"])
    await _invalid(emails, "Email/get", ids=ids, properties=["textBody"],
                   bodyProperties=["partId", "nonsense"])
    # unknown even when no body part property is asked for
    await _invalid(emails, "Email/get", ids=ids, properties=["subject"],
                   bodyProperties=["bogus"])
    # Email properties are not body part properties, nor the other way round
    await _invalid(emails, "Email/get", ids=ids, properties=["partId"])
    await _invalid(emails, "Email/get", ids=ids, properties=["textBody"],
                   bodyProperties=["mailboxIds"])
    # arguments are checked whatever the ids find
    await _invalid(emails, "Email/get", ids=["Mnosuchemail"], bodyProperties=["bogus"])
    await _invalid(emails, "Email/get", ids=[], bodyProperties=["bogus"])


@pytest_twisted.ensureDeferred
async def test_ids_null_returns_every_email(emails: Emails) -> None:
    first = await emails.import_raw(message("One", message_id="one@x"))
    second = await emails.import_raw(message("Two", message_id="two@x"))
    result = await emails.ok("Email/get", ids=None, properties=["subject"])
    assert sorted(e["id"] for e in result["list"]) == sorted([first["id"], second["id"]])
    assert {e["subject"] for e in result["list"]} == {"One", "Two"}
    assert result["notFound"] == []


@pytest_twisted.ensureDeferred
async def test_unknown_and_malformed_ids_are_not_found(emails: Emails) -> None:
    created = await emails.import_raw(message("Found"))
    unknown, malformed = "Mdoesnotexist", "not an id!"
    result = await emails.ok(
        "Email/get", ids=[unknown, created["id"], malformed], properties=["subject"]
    )
    assert result["list"] == [{"id": created["id"], "subject": "Found"}]
    assert sorted(result["notFound"]) == sorted([unknown, malformed])


@pytest_twisted.ensureDeferred
async def test_more_ids_than_max_objects_in_get_is_request_too_large(emails: Emails) -> None:
    session = await emails.server.session()
    limit = session["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInGet"]
    ids = [f"M{i}" for i in range(limit + 1)]
    await emails.error("Email/get", "requestTooLarge", ids=ids, properties=["id"])
    # exactly the limit is fine
    result = await emails.ok("Email/get", ids=ids[:limit], properties=["id"])
    assert len(result["notFound"]) == limit


# -- header:{name}[:as{Form}][:all] (RFC 8621 §4.1.2, §4.1.3) ----------------------------------


@pytest_twisted.ensureDeferred
async def test_header_forms(emails: Emails) -> None:
    created = await emails.import_raw(HEADERS)
    wanted = [
        "header:Subject", "header:Subject:asText", "header:subject:asText",
        "header:From:asAddresses", "header:From:asGroupedAddresses",
        "header:To:asAddresses", "header:To:asGroupedAddresses",
        "header:Message-ID:asMessageIds", "header:References:asMessageIds",
        "header:Date:asDate", "header:List-Post:asURLs",
        "header:X-Tag", "header:X-Tag:all", "header:x-tag:asText:all", "header:X-TAG:asText",
        "header:Received:all", "header:Return-Path:asRaw",
        "header:X-Absent", "header:X-Absent:all", "header:X-Absent:asAddresses",
        "header:X-Absent:asGroupedAddresses:all", "header:X-Absent:asDate:all",
    ]  # fmt: skip
    email = await emails.get_email(created["id"], *wanted)
    bob = {"name": None, "email": "bob@example.org"}
    carol = {"name": "Carol", "email": "carol@example.net"}
    dave = {"name": None, "email": "dave@example.com"}
    assert email == {
        "id": created["id"],
        # Raw: everything after the colon, leading space included, unfolding not applied
        "header:Subject": " =?UTF-8?Q?Caf=C3=A9?= news",
        "header:Subject:asText": "Café news",
        "header:subject:asText": "Café news",  # names match case-insensitively, echoed as asked
        "header:From:asAddresses": [{"name": "Alice Example", "email": "alice@example.com"}],
        "header:From:asGroupedAddresses": [
            {"name": None, "addresses": [{"name": "Alice Example", "email": "alice@example.com"}]}
        ],
        "header:To:asAddresses": [bob, carol, dave],
        "header:To:asGroupedAddresses": [
            {"name": "Team", "addresses": [bob, carol]},
            {"name": None, "addresses": [dave]},
        ],
        "header:Message-ID:asMessageIds": ["m1@example.com"],
        "header:References:asMessageIds": ["r1@example.com", "r2@example.com"],
        "header:Date:asDate": "2023-01-03T09:30:00-05:00",
        "header:List-Post:asURLs": ["mailto:list@example.com", "https://example.com/post"],
        "header:X-Tag": " =?UTF-8?B?c2Vjb25k?=",  # the last one
        "header:X-Tag:all": [" first", " =?UTF-8?B?c2Vjb25k?="],  # every one, in order
        "header:x-tag:asText:all": ["first", "second"],
        "header:X-TAG:asText": "second",
        "header:Received:all": [
            " from one.example by two.example; Mon, 02 Jan 2023 10:00:02 +0000",
            " from three.example by four.example; Mon, 02 Jan 2023 10:00:01 +0000",
        ],
        "header:Return-Path:asRaw": " <bounce@example.com>",
        "header:X-Absent": None,
        "header:X-Absent:all": [],
        "header:X-Absent:asAddresses": None,
        "header:X-Absent:asGroupedAddresses:all": [],
        "header:X-Absent:asDate:all": [],
    }


@pytest_twisted.ensureDeferred
async def test_raw_form_keeps_folding(emails: Emails) -> None:
    created = await emails.import_raw(HEADERS)
    email = await emails.get_email(created["id"], "header:References")
    assert email["header:References"] == " <r1@example.com>\r\n <r2@example.com>"


@pytest_twisted.ensureDeferred
async def test_any_form_of_a_header_not_in_rfc5322_or_rfc2369(emails: Emails) -> None:
    raw = message("Custom", extra_headers=(
        "X-Who: Dan <dan@example.com>\r\n"
        "X-When: Wed, 04 Jan 2023 08:00:00 +0100\r\n"
        "X-Link: <https://example.com/x>\r\n"
        "X-Ref: <ref@example.com>\r\n"
    ))  # fmt: skip
    created = await emails.import_raw(raw)
    email = await emails.get_email(
        created["id"], "header:X-Who:asAddresses", "header:X-When:asDate",
        "header:X-Link:asURLs", "header:X-Ref:asMessageIds", "header:X-Who:asText",
    )  # fmt: skip
    assert email["header:X-Who:asAddresses"] == [{"name": "Dan", "email": "dan@example.com"}]
    assert email["header:X-When:asDate"] == "2023-01-04T08:00:00+01:00"
    assert email["header:X-Link:asURLs"] == ["https://example.com/x"]
    assert email["header:X-Ref:asMessageIds"] == ["ref@example.com"]
    assert email["header:X-Who:asText"] == "Dan <dan@example.com>"


@pytest.mark.parametrize("prop", [
    "header:Subject:asAddresses",  # Subject: Text only
    "header:Subject:asDate",
    "header:From:asDate",  # From: Addresses and GroupedAddresses only
    "header:From:asText",
    "header:Date:asText",  # Date: Date only
    "header:Message-ID:asText",  # Message-ID: MessageIds only
    "header:References:asAddresses",
    "header:List-Post:asText",  # List-*: URLs only
    "header:Received:asText",  # RFC 5322 headers not listed anywhere: Raw only
    "header:Return-Path:asAddresses",
    "header:To:all:asAddresses",  # suffixes out of order
    "header:Subject:asBogus",  # no such form
    "header:Subject:asText:all:all",
    "header:",  # no name
])  # fmt: skip
@pytest_twisted.ensureDeferred
async def test_forbidden_header_forms_are_invalid_arguments(emails: Emails, prop: str) -> None:
    created = await emails.import_raw(HEADERS)
    await _invalid(emails, "Email/get", ids=[created["id"]], properties=[prop])
    await _invalid(emails, "Email/get", ids=[created["id"]], properties=["textBody"],
                   bodyProperties=["partId", prop])


# -- bodyValues (RFC 8621 §4.2) ----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_fetch_body_values_select_the_parts(emails: Emails) -> None:
    created = await emails.import_raw(MIXED)

    async def value_ids(**arguments: Any) -> list[str]:
        email = await emails.get_email(created["id"], "bodyValues", **arguments)
        return sorted(email["bodyValues"])

    assert await value_ids() == []
    # the text/* parts of textBody ([1, 3]: 3 is the inline image, no text)
    assert await value_ids(fetchTextBodyValues=True) == ["1"]
    assert await value_ids(fetchHTMLBodyValues=True) == ["2"]
    assert await value_ids(fetchTextBodyValues=True, fetchHTMLBodyValues=True) == ["1", "2"]
    # every text/* part of bodyStructure, the text attachment too
    assert await value_ids(fetchAllBodyValues=True) == ["1", "2", "4"]
    email = await emails.get_email(created["id"], "bodyValues", fetchAllBodyValues=True)
    assert email["bodyValues"] == {
        # the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1)
        "1": {"value": "Grüße, world", "isEncodingProblem": False, "isTruncated": False},
        "2": {"value": "<p>Grüße, <b>world</b></p>", "isEncodingProblem": False,
              "isTruncated": False},
        "4": {"value": "Some notes", "isEncodingProblem": False, "isTruncated": False},
    }


@pytest_twisted.ensureDeferred
async def test_max_body_value_bytes_truncates_at_a_character_boundary(emails: Emails) -> None:
    text = "€uro ✓ 日本語 😀 end"
    created = await emails.import_raw(message("Truncate", body=text))
    full_bytes = text.encode()
    for limit in range(1, len(full_bytes) + 2):
        email = await emails.get_email(
            created["id"], "bodyValues", fetchTextBodyValues=True, maxBodyValueBytes=limit
        )
        [value] = email["bodyValues"].values()
        encoded = value["value"].encode("utf-8")  # valid UTF-8: the JSON string is text
        assert len(encoded) <= limit, (limit, value)
        assert full_bytes.startswith(encoded), (limit, value)
        assert value["isTruncated"] is (limit < len(full_bytes)), (limit, value)
        if limit < len(full_bytes):
            # no more cut than the character that did not fit
            assert len(encoded) > limit - 4, (limit, value)
    # "€" is 3 octets: a limit of 2 cuts inside it, so none of it is returned
    email = await emails.get_email(
        created["id"], "bodyValues", fetchTextBodyValues=True, maxBodyValueBytes=2
    )
    assert list(email["bodyValues"].values()) == [
        {"value": "", "isEncodingProblem": False, "isTruncated": True}
    ]
    email = await emails.get_email(
        created["id"], "bodyValues", fetchTextBodyValues=True, maxBodyValueBytes=4
    )
    assert next(iter(email["bodyValues"].values()))["value"] == "€u"
    # "😀" is 4 octets: every limit inside it stops before it
    before = "€uro ✓ 日本語 ".encode()
    for limit in range(len(before), len(before) + 4):
        email = await emails.get_email(
            created["id"], "bodyValues", fetchTextBodyValues=True, maxBodyValueBytes=limit
        )
        assert next(iter(email["bodyValues"].values()))["value"] == "€uro ✓ 日本語 "


@pytest_twisted.ensureDeferred
async def test_max_body_value_bytes_zero_and_invalid(emails: Emails) -> None:
    created = await emails.import_raw(message("Zero", body="Long enough text"))
    email = await emails.get_email(
        created["id"], "bodyValues", fetchTextBodyValues=True, maxBodyValueBytes=0
    )
    assert list(email["bodyValues"].values()) == [
        {"value": "Long enough text", "isEncodingProblem": False, "isTruncated": False}
    ]
    await _invalid(emails, "Email/get", ids=[created["id"]], properties=["bodyValues"],
                   fetchTextBodyValues=True, maxBodyValueBytes=-1)
    await _invalid(emails, "Email/get", ids=[created["id"]], properties=["bodyValues"],
                   fetchTextBodyValues=True, maxBodyValueBytes="10")
    await _invalid(emails, "Email/get", ids=[created["id"]], properties=["bodyValues"],
                   fetchTextBodyValues="yes")


@pytest.mark.parametrize(("headers", "body", "value"), [
    # base64 with characters outside the alphabet
    ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
     b"SGVsbG8g!!d29ybGQ=\r\n", None),
    # a transfer encoding nobody knows
    ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: x-unknown\r\n",
     b"Hello\r\n", None),
    # a charset nobody knows
    ("Content-Type: text/plain; charset=x-no-such-charset\r\n", b"Hello\r\n", None),
    # declared UTF-8, not UTF-8
    ("Content-Type: text/plain; charset=utf-8\r\n", b"caf\xe9\r\n", None),
    # no charset: us-ascii, and 8-bit octets are malformed in it
    ("Content-Type: text/plain\r\n", b"caf\xff\xfe\r\n", None),
])  # fmt: skip
@pytest_twisted.ensureDeferred
async def test_is_encoding_problem(
    emails: Emails, headers: str, body: bytes, value: str | None
) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n"
        + headers.encode() + b"\r\n" + body
    )
    created = await emails.import_raw(raw)
    email = await emails.get_email(created["id"], "bodyValues", "textBody",
                                   fetchTextBodyValues=True)
    [part] = email["textBody"]
    [body_value] = email["bodyValues"].values()
    assert list(email["bodyValues"]) == [part["partId"]]
    assert body_value["isEncodingProblem"] is True, body_value
    assert body_value["isTruncated"] is False
    assert isinstance(body_value["value"], str)


@pytest_twisted.ensureDeferred
async def test_no_encoding_problem_for_clean_parts(emails: Emails) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Clean\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 cr=E8me\r\n"
    )
    created = await emails.import_raw(raw)
    email = await emails.get_email(created["id"], "bodyValues", fetchTextBodyValues=True)
    assert list(email["bodyValues"].values()) == [
        {"value": "café crème\n", "isEncodingProblem": False, "isTruncated": False}
    ]


# -- textBody, htmlBody, attachments (RFC 8621 §4.1.4) -----------------------------------------


@pytest_twisted.ensureDeferred
async def test_alternative_inside_mixed_with_inline_image_and_attachments(emails: Emails) -> None:
    created = await emails.import_raw(MIXED)
    email = await emails.get_email(
        created["id"], "bodyStructure", "textBody", "htmlBody", "attachments", "hasAttachment"
    )
    leaves = _leaves(email["bodyStructure"])
    assert [leaf["type"] for leaf in leaves] == [
        "text/plain", "text/html", "image/png", "text/plain", "application/pdf",
    ]  # fmt: skip
    ids = [leaf["partId"] for leaf in leaves]
    assert len(set(ids)) == 5 and None not in ids
    plain, html, image, notes, pdf = ids
    # the inline image follows the alternative in a mixed: it is in both bodies (it shows
    # where it is) and, as both lists exist, not among the attachments
    assert [p["partId"] for p in email["textBody"]] == [plain, image]
    assert [p["partId"] for p in email["htmlBody"]] == [html, image]
    # a named text/plain not first in its multipart is an attachment
    assert [p["partId"] for p in email["attachments"]] == [notes, pdf]
    assert email["hasAttachment"] is True
    assert ids == ["1", "2", "3", "4", "5"]  # this server's numbering
    assert email["attachments"][1]["name"] == "report.pdf"
    assert email["attachments"][1]["disposition"] == "attachment"
    assert email["textBody"][1]["cid"] == "img1@example.com"
    assert email["textBody"][1]["disposition"] == "inline"


@pytest_twisted.ensureDeferred
async def test_related_inside_alternative(emails: Emails) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Related\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n'
        b"--a\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b'--a\r\nContent-Type: multipart/related; boundary="r"\r\n\r\n'
        b'--r\r\nContent-Type: text/html\r\n\r\n<img src="cid:pic@x">\r\n'
        b"--r\r\nContent-Type: image/gif\r\nContent-ID: <pic@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n"
        b"--r--\r\n--a--\r\n"
    )
    created = await emails.import_raw(raw)
    email = await emails.get_email(
        created["id"], "bodyStructure", "textBody", "htmlBody", "attachments"
    )
    plain, html, gif = (leaf["partId"] for leaf in _leaves(email["bodyStructure"]))
    assert [p["partId"] for p in email["textBody"]] == [plain]
    assert [p["partId"] for p in email["htmlBody"]] == [html]
    # in a multipart/related only the first part is a body part
    assert [p["partId"] for p in email["attachments"]] == [gif]


@pytest_twisted.ensureDeferred
async def test_html_only_alternative_fills_text_body(emails: Emails) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Html\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b'--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        b"--a\r\nContent-Type: text/html\r\n\r\n<p>only html</p>\r\n--a--\r\n"
        b"--m\r\nContent-Type: text/plain\r\n\r\nsecond text\r\n--m--\r\n"
    )
    created = await emails.import_raw(raw)
    email = await emails.get_email(
        created["id"], "bodyStructure", "textBody", "htmlBody", "attachments"
    )
    html, plain = (leaf["partId"] for leaf in _leaves(email["bodyStructure"]))
    assert [p["partId"] for p in email["textBody"]] == [html, plain]
    assert [p["partId"] for p in email["htmlBody"]] == [html, plain]
    assert email["attachments"] == []


# -- Email/parse (RFC 8621 §4.9) ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_parse_default_properties_and_metadata(emails: Emails) -> None:
    blob = await emails.upload(MIXED)
    result = await emails.ok("Email/parse", blobIds=[blob])
    assert result["notFound"] is None and result["notParsable"] is None
    parsed = result["parsed"][blob]
    assert set(parsed) == PARSE_DEFAULT
    assert parsed["subject"] == "Mixed"
    assert parsed["messageId"] == ["mixed@example.com"]
    assert parsed["bodyValues"] == {}
    for name in ("textBody", "htmlBody", "attachments"):
        for part in parsed[name]:
            assert set(part) == BODY_DEFAULT
    result = await emails.ok(
        "Email/parse", blobIds=[blob],
        properties=["id", "mailboxIds", "keywords", "receivedAt", "blobId", "threadId", "size"],
    )  # fmt: skip
    parsed = result["parsed"][blob]
    assert parsed["id"] is None and parsed["mailboxIds"] is None
    assert parsed["keywords"] is None and parsed["receivedAt"] is None
    assert parsed["blobId"] == blob
    assert parsed["size"] == len(MIXED)
    assert parsed["threadId"] is None or isinstance(parsed["threadId"], str)  # MAY


@pytest_twisted.ensureDeferred
async def test_parse_body_values_and_body_properties(emails: Emails) -> None:
    blob = await emails.upload(MIXED)
    result = await emails.ok(
        "Email/parse", blobIds=[blob], properties=["bodyValues", "textBody"],
        bodyProperties=["partId", "type"], fetchHTMLBodyValues=True, maxBodyValueBytes=6,
    )  # fmt: skip
    assert result["parsed"][blob] == {
        "bodyValues": {"2": {"value": "<p>Gr", "isEncodingProblem": False,
                             "isTruncated": True}},
        "textBody": [{"partId": "1", "type": "text/plain"}, {"partId": "3", "type": "image/png"}],
    }
    await _invalid(emails, "Email/parse", blobIds=[blob], properties=["nonsense"])
    await _invalid(emails, "Email/parse", blobIds=[blob], properties=["textBody"],
                   bodyProperties=["nonsense"])
    await _invalid(emails, "Email/parse", blobIds=[blob],
                   properties=["header:From:asDate"])
    # the body arguments have the types of §4.2, as for Email/get
    for arguments in (
        {"maxBodyValueBytes": -1, "fetchTextBodyValues": True},
        {"maxBodyValueBytes": "10", "fetchTextBodyValues": True},
        {"maxBodyValueBytes": 1.5, "fetchTextBodyValues": True},
        {"fetchTextBodyValues": "yes"},
        {"fetchAllBodyValues": 1},
        {"bodyProperties": "partId"},
        {"properties": ["subject"], "bodyProperties": ["bogus"]},
    ):
        await _invalid(emails, "Email/parse", blobIds=[blob], **arguments)


@pytest_twisted.ensureDeferred
async def test_parse_checks_its_arguments_whatever_the_blobs(emails: Emails) -> None:
    await _invalid(emails, "Email/parse", blobIds=["Gnosuchblob"], maxBodyValueBytes=-1)


@pytest_twisted.ensureDeferred
async def test_parse_an_attached_message_by_its_part_blob_id(emails: Emails) -> None:
    inner = message("Inner one", message_id="inner@x", body="Inside.\r\n")
    outer = (
        b"From: a@example.com\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    created = await emails.import_raw(outer)
    email = await emails.get_email(created["id"], "attachments")
    [attached] = email["attachments"]
    assert attached["type"] == "message/rfc822"
    result = await emails.ok(
        "Email/parse", blobIds=[attached["blobId"]],
        properties=["subject", "messageId", "from", "bodyValues", "blobId"],
        fetchTextBodyValues=True,
    )  # fmt: skip
    parsed = result["parsed"][attached["blobId"]]
    assert parsed["subject"] == "Inner one"
    assert parsed["messageId"] == ["inner@x"]
    assert parsed["from"] == [{"name": "Alice", "email": "alice@example.com"}]
    assert parsed["blobId"] == attached["blobId"]
    assert [v["value"] for v in parsed["bodyValues"].values()] == ["Inside.\n"]


@pytest_twisted.ensureDeferred
async def test_parse_not_found_and_not_parsable(emails: Emails) -> None:
    good = await emails.upload(message("Good"))
    junk = await emails.upload(b"\x00\x01\x02 not a message at all \xff\xfe")
    empty = await emails.upload(b"")
    result = await emails.ok("Email/parse", blobIds=[good, "Gnosuchblob", junk, empty],
                             properties=["subject"])
    assert result["notFound"] == ["Gnosuchblob"]
    assert result["parsed"][good] == {"subject": "Good"}
    # a blob that exists is parsed or not parsable, never not found; the RFC leaves to the
    # server how lenient its parser is, but a blob with no message in it cannot be parsed
    not_parsable = result["notParsable"] or []
    for blob in (junk, empty):
        assert (blob in result["parsed"]) != (blob in not_parsable), blob
    assert empty in not_parsable


# -- SearchSnippet/get (RFC 8621 §5.1) ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_snippets_escape_html_around_the_marks(emails: Emails) -> None:
    hit = await emails.import_raw(message(
        "Tips <b>& tricks</b> for budget", body="Plan the budget <now> & later.\r\n",
    ))  # fmt: skip
    result = await emails.ok("SearchSnippet/get", filter={"text": "budget"},
                             emailIds=[hit["id"]])
    assert result["list"] == [{
        "emailId": hit["id"],
        "subject": "Tips &lt;b&gt;&amp; tricks&lt;/b&gt; for <mark>budget</mark>",
        "preview": "Plan the <mark>budget</mark> &lt;now&gt; &amp; later.",
    }]
    assert result["notFound"] is None
    assert result["accountId"] == emails.account


@pytest_twisted.ensureDeferred
async def test_snippet_of_an_html_body_is_plain_text(emails: Emails) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>The <i>budget</i> is &lt;fine&gt;</p></body></html>\r\n"
    )
    hit = await emails.import_raw(raw)
    result = await emails.ok("SearchSnippet/get", filter={"body": "budget"},
                             emailIds=[hit["id"]])
    [snippet] = result["list"]
    assert snippet["subject"] is None  # a body condition does not match the subject
    assert snippet["preview"] == "The <mark>budget</mark> is &lt;fine&gt;"


@pytest_twisted.ensureDeferred
async def test_snippets_without_a_filter_or_a_match_are_null(emails: Emails) -> None:
    email = await emails.import_raw(message("Budget talk", body="The budget.\r\n"))
    for arguments in ({}, {"filter": None}, {"filter": {"text": "elephant"}},
                      {"filter": {"inMailbox": await emails.inbox()}}):
        result = await emails.ok("SearchSnippet/get", emailIds=[email["id"]], **arguments)
        assert result["list"] == [{"emailId": email["id"], "subject": None, "preview": None}], (
            arguments
        )


@pytest_twisted.ensureDeferred
async def test_snippet_ids_not_found_and_limits(emails: Emails) -> None:
    email = await emails.import_raw(message("Budget", body="budget\r\n"))
    result = await emails.ok("SearchSnippet/get", filter={"text": "budget"},
                             emailIds=["Mnope", email["id"], "bad id!"])
    assert [s["emailId"] for s in result["list"]] == [email["id"]]
    assert sorted(result["notFound"]) == sorted(["Mnope", "bad id!"])
    await _invalid(emails, "SearchSnippet/get", filter={"text": "budget"})
    await _invalid(emails, "SearchSnippet/get", emailIds=[email["id"]],
                   filter={"text": "budget"}, bogus=1)
    session = await emails.server.session()
    limit = session["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInGet"]
    await emails.error("SearchSnippet/get", "requestTooLarge",
                       emailIds=[f"M{i}" for i in range(limit + 1)], filter={"text": "x"})
    await emails.error("SearchSnippet/get", "unsupportedFilter",
                       emailIds=[email["id"]], filter={"noSuchCondition": "x"})


@pytest_twisted.ensureDeferred
async def test_snippet_preview_is_at_most_255_octets(emails: Emails) -> None:
    # §5: the preview "MUST NOT be bigger than 255 octets in size", marks included; in
    # Cyrillic a character is two octets, so 255 characters would be too many
    body = (
        "Отчёт о работе отдела. " * 20  # noqa: RUF001  (Cyrillic on purpose)
        + "Наш бюджет утверждён. "
        + "Ещё текст письма. " * 20
    )
    email = await emails.import_raw(message("Бюджет", body=body + "\r\n"))
    result = await emails.ok("SearchSnippet/get", filter={"text": "бюджет"},
                             emailIds=[email["id"]])
    [snippet] = result["list"]
    assert snippet["subject"] == "<mark>Бюджет</mark>"
    preview = snippet["preview"]
    assert "<mark>бюджет</mark>" in preview
    assert len(preview.encode("utf-8")) <= 255, len(preview.encode("utf-8"))
    # it still uses most of what it may
    assert len(preview.encode("utf-8")) > 200


@pytest_twisted.ensureDeferred
async def test_text_form_is_nfc_and_joins_adjacent_encoded_words(emails: Emails) -> None:
    # §4.1.2.2: encoded words decoded, whitespace between adjacent ones dropped (RFC 2047
    # §6.2), the result in Normalization Form C; the same for display names (§4.1.2.3)
    decomposed = "Cafe\u0301".encode()  # "e" + COMBINING ACUTE ACCENT
    word = "=?UTF-8?B?" + base64.b64encode(decomposed).decode() + "?="
    raw = (
        f"From: {word} <cafe@example.com>\r\n"
        f"Subject: {word} =?UTF-8?Q?_au?=\r\n =?UTF-8?Q?_lait?=\r\n"
        "Content-Type: text/plain\r\n\r\nx\r\n"
    ).encode()
    created = await emails.import_raw(raw)
    email = await emails.get_email(created["id"], "subject", "from", "header:Subject:asText")
    assert email["subject"] == "Caf\u00e9 au lait"
    assert email["header:Subject:asText"] == "Caf\u00e9 au lait"
    assert email["from"] == [{"name": "Caf\u00e9", "email": "cafe@example.com"}]


@pytest_twisted.ensureDeferred
async def test_preview_is_at_most_256_characters(emails: Emails) -> None:
    created = await emails.import_raw(message("Long", body="Слово и ещё слово. " * 100))
    email = await emails.get_email(created["id"], "preview")
    assert 0 < len(email["preview"]) <= 256
    assert email["preview"].startswith("Слово и ещё слово.")
