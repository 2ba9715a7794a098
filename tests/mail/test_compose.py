"""compose_message (RFC 8621 4.6): what it writes parses back, with parse_message and with the
standard library, to what the create object said; and it is well-formed RFC 5322/MIME."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from stalwart_tx.mail.compose import ComposeError, compose_message
from stalwart_tx.mail.headers import Form, field_value
from stalwart_tx.mail.parse import (
    ParsedMessage,
    body_values,
    email_properties,
    header_value,
    parse_message,
    part_content,
)

NOW = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
PDF = b"%PDF-1.4\n" + b"\x00\xff binary \r\n" * 40
BLOBS = {"png": PNG, "pdf": PDF}


def run(coroutine: Coroutine[Any, Any, bytes]) -> bytes:
    """The result of a coroutine that never waits (read_blob here answers at once)."""
    results: list[bytes | Failure] = []
    Deferred.fromCoroutine(coroutine).addBoth(results.append)
    assert len(results) == 1
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    assert isinstance(result, bytes)
    return result


def compose(
    create: Mapping[str, Any], blobs: Mapping[str, bytes] | None = None, **options: Any
) -> bytes:
    store = BLOBS if blobs is None else blobs

    async def read_blob(blob_id: str) -> bytes | None:
        return store.get(blob_id)

    raw = run(compose_message(create, read_blob, now=NOW, message_id_domain="mx.test", **options))
    assert_well_formed(raw)
    return raw


def compose_error(create: Mapping[str, Any], **options: Any) -> ComposeError:
    with pytest.raises(ComposeError) as caught:
        compose(create, **options)
    return caught.value


def assert_well_formed(raw: bytes) -> None:
    """CRLF only, no line over 998 octets, header lines folded to 78 where they could be, and
    the standard library finds no defect anywhere."""
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", raw) is None
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    for line in header_block.split(b"\r\n"):
        assert len(line) <= 78 or b" " not in line.strip()[20:], line
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        assert part.defects == [], part.defects
        for _, value in part.items():
            assert getattr(value, "defects", ()) == (), (value, value.defects)


def parse(raw: bytes) -> tuple[ParsedMessage, dict[str, Any]]:
    parsed = parse_message(raw)
    return parsed, email_properties(parsed, "M")


def lf(text: str) -> str:
    """RFC 8621 4.1.4: a body value has its CRLFs as LFs."""
    return text.replace("\r\n", "\n")


def value_of(parsed: ParsedMessage, part_id: str) -> str:
    return lf(body_values(parsed, [part_id])[part_id]["value"])


def summary(parts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["type"], p["name"], p["disposition"], p["cid"], p["charset"]) for p in parts]


def tree(part: dict[str, Any]) -> Any:
    if part["subParts"] is None:
        return part["type"]
    return (part["type"], [tree(child) for child in part["subParts"]])


# -- the shortcut: textBody, htmlBody, attachments ---------------------------------------------


def test_plain_text_message() -> None:
    raw = compose({
        "from": [{"name": "Alice", "email": "alice@example.com"}],
        "to": [{"email": "bob@example.com"}],
        "subject": "Lunch?",
        "bodyValues": {"1": {"value": "Shall we?\nNoon.\n"}},
        "textBody": [{"partId": "1", "type": "text/plain"}],
        "mailboxIds": {"inbox": True}, "keywords": {"$draft": True},
    })  # fmt: skip
    parsed, props = parse(raw)
    assert props["from"] == [{"name": "Alice", "email": "alice@example.com"}]
    assert props["to"] == [{"name": None, "email": "bob@example.com"}]
    assert props["subject"] == "Lunch?"
    assert props["sentAt"] == "2025-06-07T08:09:10Z"
    [message_id] = props["messageId"]
    assert re.fullmatch(r"[0-9a-f]{32}@mx\.test", message_id)
    assert tree(props["bodyStructure"]) == "text/plain"
    assert summary(props["textBody"]) == [("text/plain", None, None, None, "utf-8")]
    assert props["attachments"] == []
    assert value_of(parsed, "1") == "Shall we?\nNoon.\n"
    # Short-line ASCII stays readable.
    assert b"Content-Transfer-Encoding: 7bit\r\n" in raw
    assert b"MIME-Version: 1.0\r\n" in raw
    assert b"Shall we?\r\nNoon.\r\n" in raw


def test_text_html_inline_image_and_attachment() -> None:
    raw = compose({
        "from": [{"name": "Zoë Ça", "email": "zoe@example.com"}],
        "subject": "Photos — été 2025",
        "bodyValues": {
            "t": {"value": "See the picture.", "isTruncated": False},
            "h": {"value": '<p>See <img src="cid:pic@x"></p>', "isEncodingProblem": False},
        },
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "htmlBody": [{"partId": "h", "type": "text/html"}],
        "attachments": [
            {"blobId": "png", "type": "image/png", "cid": "pic@x", "name": "pic.png"},
            {"blobId": "pdf", "type": "application/pdf", "name": "Résumé.pdf"},
        ],
    })  # fmt: skip
    parsed, props = parse(raw)
    assert tree(props["bodyStructure"]) == (
        "multipart/mixed",
        [
            ("multipart/alternative", [
                "text/plain", ("multipart/related", ["text/html", "image/png"]),
            ]),
            "application/pdf",
        ],
    )  # fmt: skip
    assert summary(props["textBody"]) == [("text/plain", None, None, None, "utf-8")]
    assert summary(props["htmlBody"]) == [("text/html", None, None, None, "utf-8")]
    assert summary(props["attachments"]) == [
        ("image/png", "pic.png", "inline", "pic@x", None),
        ("application/pdf", "Résumé.pdf", "attachment", None, None),
    ]
    assert props["hasAttachment"] is True
    assert props["from"] == [{"name": "Zoë Ça", "email": "zoe@example.com"}]
    assert props["subject"] == "Photos — été 2025"
    assert value_of(parsed, props["textBody"][0]["partId"]) == "See the picture."
    assert value_of(parsed, props["htmlBody"][0]["partId"]) == '<p>See <img src="cid:pic@x"></p>'
    assert part_content(parsed, props["attachments"][0]["partId"]) == PNG
    assert part_content(parsed, props["attachments"][1]["partId"]) == PDF
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    names = [part.get_filename() for part in message.walk() if part.get_filename()]
    assert names == ["pic.png", "Résumé.pdf"]
    # The filename is RFC 2231 encoded, not an encoded word.
    assert b"filename*0*=utf-8''R%C3%A9sum%C3%A9.pdf" in raw


@pytest.mark.parametrize(
    "name",
    [
        "plain.txt", "with space.txt", "quote\"inside", '"quoted"', "<angled>", "<>", "a\\b",
        "tab\there", "it's*50%", "semi;colon=eq", "x" * 200, "日本語の名前.txt", "e\u0301.txt",
    ],
)  # fmt: skip
def test_file_names_round_trip(name: str) -> None:
    raw = compose({"attachments": [{"blobId": "pdf", "type": "application/pdf", "name": name}]})
    _, props = parse(raw)
    assert props["attachments"][0]["name"] == unicodedata.normalize("NFC", name)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if name[:1] not in '<"':  # get_filename() strips those even from RFC 2231 values
        assert [part.get_filename() for part in message.walk()][-1] == name
    # Without a disposition the name goes in the Content-Type.
    _, props = parse(compose({"bodyStructure": {"blobId": "pdf", "name": name}}))
    assert props["bodyStructure"]["name"] == unicodedata.normalize("NFC", name)
    assert props["bodyStructure"]["disposition"] is None


def test_html_only_and_inline_images_without_html_are_attachments() -> None:
    _, props = parse(compose({
        "bodyValues": {"h": {"value": "<b>bold</b>"}},
        "htmlBody": [{"partId": "h"}],
    }))  # fmt: skip
    assert tree(props["bodyStructure"]) == "text/html"
    assert summary(props["htmlBody"]) == [("text/html", None, None, None, "utf-8")]
    _, props = parse(compose({
        "bodyValues": {"t": {"value": "text"}},
        "textBody": [{"partId": "t"}],
        "attachments": [{"blobId": "png", "type": "image/png", "cid": "a@b"}],
    }))  # fmt: skip
    assert tree(props["bodyStructure"]) == ("multipart/mixed", ["text/plain", "image/png"])
    assert summary(props["attachments"]) == [("image/png", None, "attachment", "a@b", None)]
    assert len(props["textBody"]) == 1


def test_html_with_inline_images_is_multipart_related() -> None:
    raw = compose({
        "bodyValues": {"h": {"value": '<img src="cid:a@x"><img src="cid:b@x">'}},
        "htmlBody": [{"partId": "h"}],
        "attachments": [
            {"blobId": "png", "type": "image/png", "cid": "a@x"},
            {"blobId": "png", "type": "image/png", "cid": "b@x", "disposition": "inline"},
        ],
    })  # fmt: skip
    parsed, props = parse(raw)
    assert tree(props["bodyStructure"]) == ("multipart/related", ["text/html", *["image/png"] * 2])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_param("type") == "text/html"  # RFC 2387's root type
    assert summary(props["htmlBody"]) == [("text/html", None, None, None, "utf-8")]
    assert summary(props["attachments"]) == [
        ("image/png", None, "inline", "a@x", None), ("image/png", None, "inline", "b@x", None),
    ]  # fmt: skip
    assert props["hasAttachment"] is False  # the HTML shows both
    assert [part_content(parsed, p["partId"]) for p in props["attachments"]] == [PNG, PNG]


def test_attachments_only_and_no_body_at_all() -> None:
    _, props = parse(compose({"attachments": [{"blobId": "pdf", "type": "application/pdf"}]}))
    assert tree(props["bodyStructure"]) == ("multipart/mixed", ["application/pdf"])
    assert summary(props["attachments"]) == [("application/pdf", None, "attachment", None, None)]
    parsed, props = parse(compose({"subject": "empty"}))
    assert tree(props["bodyStructure"]) == "text/plain"
    assert value_of(parsed, "1") == ""
    assert props["subject"] == "empty"


def test_attachment_from_an_uploaded_blob_keeps_its_bytes_type_and_charset() -> None:
    blobs = {
        "csv": "naïve,ç\n1,2\n".encode("latin-1"),
        "notes": "line one\nline two café\n".encode(),
        "bin": bytes(range(256)),
    }
    parsed, props = parse(compose({
        "bodyValues": {"t": {"value": "attached"}},
        "textBody": [{"partId": "t"}],
        "attachments": [
            {"blobId": "csv", "type": "text/csv", "charset": "iso-8859-1", "name": "a.csv",
             "size": 999},
            {"blobId": "notes", "type": "text/plain", "name": "notes.txt",
             "disposition": "attachment", "language": ["fr", "en-GB"],
             "location": "https://example.com/notes.txt"},
            {"blobId": "bin", "name": "blob.bin"},
        ],
    }, blobs))  # fmt: skip
    attachments = props["attachments"]
    assert summary(attachments) == [
        ("text/csv", "a.csv", "attachment", None, "iso-8859-1"),
        ("text/plain", "notes.txt", "attachment", None, "utf-8"),
        ("application/octet-stream", "blob.bin", "attachment", None, None),
    ]
    assert attachments[1]["language"] == ["fr", "en-GB"]
    assert attachments[1]["location"] == "https://example.com/notes.txt"
    for attachment, blob_id in zip(attachments, ["csv", "notes", "bin"], strict=True):
        assert part_content(parsed, attachment["partId"]) == blobs[blob_id]
        assert attachment["size"] == len(blobs[blob_id])
    assert value_of(parsed, attachments[0]["partId"]) == "naïve,ç\n1,2\n"


def test_long_lines_and_non_ascii_bodies_round_trip() -> None:
    long_line = "word " * 400 + "end"
    cjk = "日本語のテキストです。" * 30
    for text in (long_line, "x" * 5000, cjk, "café\n" * 3, "trailing space \nand tab\t\n"):
        parsed, props = parse(compose({
            "bodyValues": {"1": {"value": text}}, "textBody": [{"partId": "1"}],
        }))  # fmt: skip
        assert value_of(parsed, props["textBody"][0]["partId"]) == text
    raw = compose({"bodyValues": {"1": {"value": cjk}}, "textBody": [{"partId": "1"}]})
    assert b"Content-Transfer-Encoding: base64" in raw  # shorter than quoted-printable
    raw = compose({"bodyValues": {"1": {"value": long_line}}, "textBody": [{"partId": "1"}]})
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_content_that_looks_like_a_boundary_or_mime_stays_content() -> None:
    text = "--=_0123456789abcdef\n--=_0123456789abcdef--\nContent-Type: text/html\n\n=?utf-8?q?x?="
    parsed, props = parse(compose({
        "bodyValues": {"1": {"value": text}, "2": {"value": text}},
        "textBody": [{"partId": "1"}], "htmlBody": [{"partId": "2"}],
    }))  # fmt: skip
    assert tree(props["bodyStructure"]) == ("multipart/alternative", ["text/plain", "text/html"])
    assert value_of(parsed, "1") == text
    assert value_of(parsed, "2") == text


# -- bodyStructure -----------------------------------------------------------------------------


def test_body_structure_is_written_exactly() -> None:
    structure = {
        "type": "multipart/mixed",
        "header:X-Root:asText": "root part field",
        "subParts": [
            {
                "type": "multipart/alternative",
                "subParts": [
                    {"partId": "text", "type": "text/plain", "language": ["de"]},
                    {
                        "type": "multipart/related",
                        "subParts": [
                            {"partId": "html", "type": "text/html",
                             "header:X-Part:asText": "Grüße aus dem Teil"},
                            {"blobId": "png", "type": "image/png", "cid": "logo@example.com",
                             "disposition": "inline", "name": "logo.png"},
                        ],
                    },
                ],
            },
            {"blobId": "pdf", "type": "application/pdf", "disposition": "attachment",
             "name": "Übersicht 2025 — ein sehr langer Dateiname für den Anhang.pdf",
             "header:X-Scanned:asRaw": " yes"},
            {"blobId": "mail", "type": "message/rfc822", "disposition": "attachment"},
        ],
    }  # fmt: skip
    inner = b"From: a@example.com\r\nSubject: inner\r\n\r\nHello\r\n"
    raw = compose({
        "subject": "Tree",
        "bodyValues": {"text": {"value": "Hallo"}, "html": {"value": "<p>Hallo</p>"}},
        "bodyStructure": structure,
    }, {**BLOBS, "mail": inner})  # fmt: skip
    parsed, props = parse(raw)
    assert tree(props["bodyStructure"]) == (
        "multipart/mixed",
        [
            ("multipart/alternative", [
                "text/plain", ("multipart/related", ["text/html", "image/png"]),
            ]),
            "application/pdf",
            "message/rfc822",
        ],
    )  # fmt: skip
    leaves = parsed.parts()
    assert [leaf.part_id for leaf in leaves] == ["1", "2", "3", "4", "5"]
    assert leaves[0].language == ["de"]
    assert header_value(parsed, "X-Root", Form.TEXT) == "root part field"
    html = leaves[1]
    assert [h.name for h in html.headers][-1] == "X-Part"
    assert field_value(html.headers, "X-Part", Form.TEXT) == "Grüße aus dem Teil"
    assert field_value(leaves[3].headers, "X-Scanned", Form.RAW) == " yes"
    assert leaves[2].cid == "logo@example.com"
    assert leaves[3].name == "Übersicht 2025 — ein sehr langer Dateiname für den Anhang.pdf"
    assert leaves[4].content == inner
    assert summary(props["attachments"]) == [
        ("image/png", "logo.png", "inline", "logo@example.com", None),
        ("application/pdf", leaves[3].name, "attachment", None, None),
        ("message/rfc822", None, "attachment", None, None),
    ]
    assert value_of(parsed, "1") == "Hallo"
    assert value_of(parsed, "2") == "<p>Hallo</p>"
    # message/rfc822 is not base64 encoded (RFC 2046 5.2.1).
    assert (
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n" + inner
    ) in raw


def test_single_part_body_structure_with_its_own_fields() -> None:
    parsed, props = parse(compose({
        "bodyValues": {"a": {"value": "plain"}},
        "bodyStructure": {"partId": "a", "type": "text/plain", "header:X-Mood:asText": "calm"},
    }))  # fmt: skip
    assert tree(props["bodyStructure"]) == "text/plain"
    assert header_value(parsed, "X-Mood", Form.TEXT) == "calm"
    assert value_of(parsed, "1") == "plain"


# -- header fields -----------------------------------------------------------------------------


def test_header_properties_in_every_form() -> None:
    raw = compose({
        "header:X-Foo:asText": "  spaced  out — ünïcode  ",
        "header:List-Id:asRaw": " Example list <list.example.com>",
        "header:X-Plain:asRaw": "no space after the colon",
        "header:List-Unsubscribe:asURLs": ["mailto:leave@example.com", "https://example.com/u"],
        "header:X-Reviewers:asAddresses": [{"name": "Ann", "email": "ann@example.com"}],
        "header:X-Team:asGroupedAddresses": [
            {"name": "Team A", "addresses": [{"name": "Bé", "email": "b@example.com"},
                                             {"name": None, "email": "c@example.com"}]},
            {"name": None, "addresses": [{"name": "Dee", "email": "d@example.com"}]},
            {"name": "Nobody", "addresses": []},
        ],
        "header:X-Related:asMessageIds": ["one@example.com", "two@example.com"],
        "header:X-Due:asDate": "2025-12-24T18:00:00-05:00",
        "header:X-Tag:all": [" first", " second"],
        "header:X-Note:asText:all": ["ä", "b"],
        "bodyValues": {"1": {"value": "x"}}, "textBody": [{"partId": "1"}],
    })  # fmt: skip
    parsed, _ = parse(raw)

    def get(name: str, form: Form, all: bool = False) -> Any:
        return header_value(parsed, name, form, all)

    assert get("X-Foo", Form.TEXT) == "  spaced  out — ünïcode  "
    assert get("List-Id", Form.RAW) == " Example list <list.example.com>"
    assert get("X-Plain", Form.RAW) == "no space after the colon"
    assert get("List-Unsubscribe", Form.URLS) == [
        "mailto:leave@example.com", "https://example.com/u",
    ]  # fmt: skip
    assert get("X-Reviewers", Form.ADDRESSES) == [{"name": "Ann", "email": "ann@example.com"}]
    assert get("X-Team", Form.GROUPED_ADDRESSES) == [
        {"name": "Team A", "addresses": [{"name": "Bé", "email": "b@example.com"},
                                         {"name": None, "email": "c@example.com"}]},
        {"name": None, "addresses": [{"name": "Dee", "email": "d@example.com"}]},
        {"name": "Nobody", "addresses": []},
    ]  # fmt: skip
    assert get("X-Related", Form.MESSAGE_IDS) == ["one@example.com", "two@example.com"]
    assert get("X-Due", Form.DATE) == "2025-12-24T18:00:00-05:00"
    assert get("X-Tag", Form.RAW, all=True) == [" first", " second"]
    assert get("X-Note", Form.TEXT, all=True) == ["ä", "b"]
    assert b"List-Id: Example list <list.example.com>\r\n" in raw
    assert b"X-Plain:no space after the colon\r\n" in raw


def test_message_properties_round_trip() -> None:
    create: dict[str, Any] = {
        "messageId": ["abc.123@example.com"],
        "inReplyTo": ["parent@example.com"],
        "references": ["root@example.com", "parent@example.com"],
        "sender": [{"name": "Secretary", "email": "sec@example.com"}],
        "from": [{"name": "Dr. Jane O'Neil", "email": "jane@example.com"},
                 {"name": "\"Quoted\" \\ back", "email": "q@example.com"}],
        "to": [{"name": "Ünïcødé Ñame, with comma", "email": "u@example.com"},
               {"name": "日本 太郎", "email": "taro@example.jp"},
               {"name": "", "email": "empty@example.com"}],
        "cc": [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(30)],
        "bcc": [{"name": None, "email": "hidden@example.com"}],
        "replyTo": [{"name": "=?utf-8?q?not_encoded?=", "email": "r@example.com"}],
        "subject": "Re: " + "a rather long subject with ünïcode " * 5,
        "sentAt": "2024-02-29T23:59:59+05:30",
        "bodyValues": {"1": {"value": "body"}}, "textBody": [{"partId": "1"}],
    }  # fmt: skip
    _, props = parse(compose(create))
    for prop in ("messageId", "inReplyTo", "references", "sender", "bcc", "replyTo", "sentAt"):
        assert props[prop] == create[prop], prop
    assert props["from"] == create["from"]
    assert props["to"] == [
        create["to"][0], create["to"][1], {"name": None, "email": "empty@example.com"},
    ]  # fmt: skip
    assert props["cc"] == create["cc"]
    assert props["subject"] == create["subject"]


def test_subjects_that_need_care() -> None:
    for subject in (
        "",
        " leading space",
        "trailing space ",
        "\ttab\tinside\t",
        "=?utf-8?q?looks_encoded?=",
        "x" * 2000,
        "word " * 300,
        "ascii then 日本語 then ascii then ä",
        "e\u0301 decomposed",
    ):
        _, props = parse(compose({"subject": subject}))
        assert props["subject"] == unicodedata.normalize("NFC", subject), subject


def test_sent_at_keeps_its_offset_and_now_is_the_default_date() -> None:
    _, props = parse(compose({"sentAt": "2024-01-02T03:04:05Z"}))
    assert props["sentAt"] == "2024-01-02T03:04:05Z"
    _, props = parse(compose({"sentAt": "2024-01-02T03:04:05.678-08:00"}))
    assert props["sentAt"] == "2024-01-02T03:04:05-08:00"
    local = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=9)))

    async def no_blobs(blob_id: str) -> bytes | None:
        return None

    raw = run(compose_message({}, no_blobs, now=local, message_id_domain="d.test"))
    assert parse(raw)[1]["sentAt"] == "2025-01-01T12:00:00+09:00"
    assert b"Date: Wed, 01 Jan 2025 12:00:00 +0900\r\n" in raw


def test_given_message_id_and_date_as_header_properties_are_not_doubled() -> None:
    raw = compose({
        "header:Message-ID:asMessageIds": ["mine@example.com"],
        "header:Date:asDate": "2020-01-01T00:00:00Z",
        "header:MIME-Version:asRaw": " 1.0",
    })  # fmt: skip
    assert raw.count(b"Message-ID:") == 1
    assert raw.count(b"Date:") == 1
    assert raw.count(b"MIME-Version:") == 1
    _, props = parse(raw)
    assert props["messageId"] == ["mine@example.com"]
    assert props["sentAt"] == "2020-01-01T00:00:00Z"


def test_date_message_id_and_mime_version_on_the_root_part_are_not_doubled() -> None:
    raw = compose({
        "bodyValues": {"1": {"value": "x"}},
        "bodyStructure": {
            "partId": "1", "header:Date:asDate": "2021-05-06T07:08:09+01:00",
            "header:Message-ID:asMessageIds": ["root@example.com"], "header:MIME-Version": " 1.0",
        },
    })  # fmt: skip
    for name in (b"\r\nDate:", b"\r\nMessage-ID:", b"\r\nMIME-Version:"):
        assert (b"\r\n" + raw).count(name) == 1, name
    _, props = parse(raw)
    assert props["sentAt"] == "2021-05-06T07:08:09+01:00"
    assert props["messageId"] == ["root@example.com"]


def test_long_header_values_are_folded_and_unfold_to_the_value() -> None:
    to = [{"name": "Recipient Number " + str(i), "email": f"r{i}@example.com"} for i in range(50)]
    raw = compose({"to": to, "references": [f"id{i}.{'x' * 40}@example.com" for i in range(30)]})
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in header.split(b"\r\n")) <= 78
    _, props = parse(raw)
    assert props["to"] == to
    assert len(props["references"]) == 30


def test_message_size_bound() -> None:
    create = {"attachments": [{"blobId": "pdf", "type": "application/pdf"}]}
    assert compose(create, max_size=len(PDF) * 4)
    error = compose_error(create, max_size=len(PDF) + 10)
    assert error.properties == []
    error = compose_error(create, max_size=len(PDF) - 1)
    assert error.properties == []


def test_the_size_bound_covers_body_values_too() -> None:
    create = {"bodyValues": {"1": {"value": "x" * 5000}}, "textBody": [{"partId": "1"}]}
    assert compose_error(create, max_size=4000).properties == []
    assert compose(create, max_size=10_000)


def test_null_and_empty_values_write_no_field() -> None:
    raw = compose({
        "subject": None, "to": None, "header:X-A": None, "header:X-B:all": [],
        "header:X-C:asText:all": [None, "kept"], "bodyStructure": None, "textBody": None,
    })  # fmt: skip
    for name in (b"Subject:", b"To:", b"X-A:", b"X-B:"):
        assert name not in raw
    parsed, _ = parse(raw)
    assert header_value(parsed, "X-C", Form.TEXT, all=True) == ["kept"]


def test_internationalised_addresses_are_written_as_utf8() -> None:
    # RFC 6532: no encoding exists for the address itself; the name is still an encoded word.
    to = [{"name": "José", "email": "josé@exämple.com"}]
    raw = run(compose_message({"to": to}, _no_blobs, now=NOW, message_id_domain="mx.test"))
    assert "To: =?utf-8?b?Sm9zw6k=?= <josé@exämple.com>\r\n".encode() in raw
    assert parse(raw)[1]["to"] == to


async def _no_blobs(blob_id: str) -> bytes | None:
    return None


def test_a_naive_now_is_utc() -> None:
    raw = run(compose_message({}, _no_blobs, now=datetime(2025, 1, 1), message_id_domain="d"))
    assert b"Date: Wed, 01 Jan 2025 00:00:00 +0000\r\n" in raw
