"""compose_message refuses what RFC 8621 4.6 does not allow, naming the properties at fault."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mail.test_compose import compose_error

TEXT = {"bodyValues": {"1": {"value": "hi"}}, "textBody": [{"partId": "1"}]}
VALUES = {"1": {"value": "hi"}, "2": {"value": "<p>hi</p>"}}


def refused(create: dict[str, Any]) -> list[str]:
    return compose_error(create).properties


def test_body_structure_excludes_the_shortcuts() -> None:
    structure = {"partId": "1", "type": "text/plain"}
    for shortcut in ("textBody", "htmlBody", "attachments"):
        create = {"bodyValues": VALUES, "bodyStructure": structure,
                  shortcut: [{"partId": "1"}]}  # fmt: skip
        assert refused(create) == ["bodyStructure", shortcut]


@pytest.mark.parametrize(
    ("create", "properties"),
    [
        ({"textBody": [{"partId": "1"}, {"partId": "2"}]}, ["textBody"]),
        ({"textBody": []}, ["textBody"]),
        ({"textBody": {"partId": "1"}}, ["textBody"]),
        ({"textBody": [{"partId": "2", "type": "text/html"}]}, ["textBody/0/type"]),
        ({"htmlBody": [{"partId": "1", "type": "text/plain"}]}, ["htmlBody/0/type"]),
        ({"htmlBody": [{"partId": "1"}, {"partId": "2"}]}, ["htmlBody"]),
        ({"attachments": {"blobId": "pdf"}}, ["attachments"]),
        ({"attachments": [{"type": "multipart/mixed", "subParts": []}]},
         ["attachments/0/subParts"]),
        ({"textBody": [{"partId": "1", "subParts": []}]}, ["textBody/0/subParts"]),
    ],
)  # fmt: skip
def test_shortcut_shapes(create: dict[str, Any], properties: list[str]) -> None:
    assert refused({"bodyValues": VALUES, **create}) == properties


@pytest.mark.parametrize(
    ("part", "properties"),
    [
        ({"partId": "nope"}, ["bodyStructure/partId"]),
        ({"partId": 1}, ["bodyStructure/partId"]),
        ({"partId": "1", "blobId": "pdf"}, ["bodyStructure/blobId"]),
        ({"type": "text/plain"}, ["bodyStructure/partId"]),
        ({"partId": "1", "charset": "utf-8"}, ["bodyStructure/charset"]),
        ({"partId": "1", "size": 2}, ["bodyStructure/size"]),
        ({"partId": "1", "headers": [{"name": "X-A", "value": "b"}]}, ["bodyStructure/headers"]),
        ({"partId": "1", "header:Content-Transfer-Encoding": " base64"},
         ["bodyStructure/header:Content-Transfer-Encoding"]),
        ({"partId": "1", "header:content-transfer-encoding:asText": "7bit"},
         ["bodyStructure/header:content-transfer-encoding:asText"]),
        ({"partId": "1", "header:Content-Type": " text/html"},
         ["bodyStructure/header:Content-Type"]),
        ({"partId": "1", "cid": "a@b", "header:Content-ID": " <c@d>"},
         ["bodyStructure/header:Content-ID", "bodyStructure/cid"]),
        ({"partId": "1", "header:X-A:asText": "a", "header:x-a": " b"},
         ["bodyStructure/header:X-A:asText", "bodyStructure/header:x-a"]),
        ({"partId": "1", "header:From:asDate": "2020-01-01T00:00:00Z"},
         ["bodyStructure/header:From:asDate"]),
        ({"partId": "1", "whatever": 1}, ["bodyStructure/whatever"]),
        ({"partId": "1", "type": "text"}, ["bodyStructure/type"]),
        ({"partId": "1", "type": "text/plain; charset=utf-8"}, ["bodyStructure/type"]),
        ({"type": "multipart/mixed"}, ["bodyStructure/subParts"]),
        ({"type": "text/plain", "subParts": [{"partId": "1"}]}, ["bodyStructure/type"]),
        ({"type": "multipart/mixed", "subParts": [{"partId": "1"}], "blobId": "pdf"},
         ["bodyStructure/blobId"]),
        ({"type": "multipart/mixed", "subParts": "no"}, ["bodyStructure/subParts"]),
        ({"type": "multipart/mixed", "subParts": [{"partId": "1"}, {"partId": "x"}]},
         ["bodyStructure/subParts/1/partId"]),
        ({"partId": "1", "name": "a\r\nContent-Type: text/html"}, ["bodyStructure/name"]),
        ({"partId": "1", "cid": "a b"}, ["bodyStructure/cid"]),
        ({"partId": "1", "cid": "<a@b>"}, ["bodyStructure/cid"]),
        ({"partId": "1", "location": "http://x/ y"}, ["bodyStructure/location"]),
        ({"partId": "1", "location": "http://x/" + "y" * 1000}, ["bodyStructure/location"]),
        ({"partId": "1", "cid": "y" * 1000 + "@x"}, ["bodyStructure/cid"]),
        ({"partId": "1", "language": ["en", "fr;x"]}, ["bodyStructure/language"]),
        ({"partId": "1", "disposition": "inline; x=y"}, ["bodyStructure/disposition"]),
        ({"blobId": "pdf", "charset": "utf 8"}, ["bodyStructure/charset"]),
        ("not a part", ["bodyStructure"]),
    ],
)  # fmt: skip
def test_body_part_rules(part: Any, properties: list[str]) -> None:
    assert refused({"bodyValues": VALUES, "bodyStructure": part}) == properties


def test_nesting_is_bounded() -> None:
    part: dict[str, Any] = {"partId": "1"}
    for _ in range(40):
        part = {"type": "multipart/mixed", "subParts": [part]}
    [prop] = refused({"bodyValues": VALUES, "bodyStructure": part})
    assert prop.startswith("bodyStructure/subParts/0/") and prop.endswith("/subParts")


@pytest.mark.parametrize(
    ("values", "properties"),
    [
        ({"1": {"value": "hi", "isTruncated": True}}, ["bodyValues/1/isTruncated"]),
        ({"1": {"value": "hi", "isEncodingProblem": True}}, ["bodyValues/1/isEncodingProblem"]),
        ({"1": {"value": 5}}, ["bodyValues/1"]),
        ({"1": "hi"}, ["bodyValues/1"]),
        ({"1": {"value": "lone \ud800 surrogate"}}, ["bodyValues/1/value"]),
        ("hi", ["bodyValues"]),
    ],
)
def test_body_value_rules(values: Any, properties: list[str]) -> None:
    assert refused({"bodyValues": values, "textBody": [{"partId": "1"}]}) == properties


def test_unknown_blobs_are_reported_for_blob_not_found() -> None:
    error = compose_error({
        "bodyValues": VALUES,
        "textBody": [{"partId": "1"}],
        "attachments": [
            {"blobId": "gone", "type": "image/png"},
            {"blobId": "pdf", "type": "application/pdf"},
            {"blobId": "also-gone"},
            {"blobId": "gone", "name": "again"},
        ],
    })  # fmt: skip
    assert error.not_found_blob_ids == ["gone", "also-gone"]
    assert error.properties == [
        "attachments/0/blobId", "attachments/2/blobId", "attachments/3/blobId",
    ]  # fmt: skip
    error = compose_error({"bodyStructure": {"type": "multipart/mixed", "subParts": [
        {"blobId": "pdf"}, {"blobId": "x"},
    ]}})  # fmt: skip
    assert error.not_found_blob_ids == ["x"]
    assert error.properties == ["bodyStructure/subParts/1/blobId"]


@pytest.mark.parametrize(
    ("create", "properties"),
    [
        ({"from": [{"email": "a@b"}], "header:From:asAddresses": [{"email": "c@d"}]},
         ["from", "header:From:asAddresses"]),
        ({"subject": "a", "header:subject:asText": "b"}, ["subject", "header:subject:asText"]),
        ({"header:X-A": " a", "header:x-a:asText:all": ["b"]},
         ["header:X-A", "header:x-a:asText:all"]),
        ({"sentAt": "2020-01-01T00:00:00Z", "header:Date": " Wed, 1 Jan 2020 00:00:00 +0000"},
         ["sentAt", "header:Date"]),
        ({"messageId": ["a@b"], "header:Message-ID:asMessageIds": ["c@d"]},
         ["messageId", "header:Message-ID:asMessageIds"]),
        ({"header:Content-Type": " text/html"}, ["header:Content-Type"]),
        ({"header:Content-Transfer-Encoding:asText": "base64"},
         ["header:Content-Transfer-Encoding:asText"]),
        ({"headers": [{"name": "X-A", "value": " b"}]}, ["headers"]),
        ({"header:Subject:asAddresses": []}, ["header:Subject:asAddresses"]),
        ({"header:Bad Name:asText": "x"}, ["header:Bad Name:asText"]),
        ({"header:X-A:asNothing": "x"}, ["header:X-A:asNothing"]),
        ({"header:X-A:all": " x"}, ["header:X-A:all"]),
    ],
)  # fmt: skip
def test_a_header_field_set_once_and_only_in_allowed_forms(
    create: dict[str, Any], properties: list[str]
) -> None:
    assert refused({**TEXT, **create}) == properties


def test_a_root_part_field_may_not_repeat_an_email_field() -> None:
    create = {
        "bodyValues": VALUES,
        "header:X-Origin:asText": "top",
        "bodyStructure": {"partId": "1", "header:x-origin": " part"},
    }
    assert refused(create) == ["header:X-Origin:asText", "bodyStructure/header:x-origin"]


@pytest.mark.parametrize(
    ("create", "properties"),
    [
        ({"subject": "hi\r\nBcc: victim@example.com"}, ["subject"]),
        ({"subject": "hi\nthere"}, ["subject"]),
        ({"subject": "nul\x00"}, ["subject"]),
        ({"subject": 5}, ["subject"]),
        ({"header:X-A": " a\r\nBcc: victim@example.com"}, ["header:X-A"]),
        ({"header:X-A": " a\nb"}, ["header:X-A"]),
        ({"header:X-A": " a\rb"}, ["header:X-A"]),
        ({"header:X-A": " ünïcode"}, ["header:X-A"]),
        ({"header:X-A:asText": "a\r\n b"}, ["header:X-A:asText"]),
        ({"to": [{"name": "Eve\r\nBcc: x@y", "email": "e@example.com"}]}, ["to"]),
        ({"to": [{"name": "Eve", "email": "e@example.com>\r\nBcc: x@y"}]}, ["to"]),
        ({"to": [{"name": "Eve", "email": "e@example.com> , <x@y"}]}, ["to"]),
        ({"to": [{"name": "Eve"}]}, ["to"]),
        ({"to": [{"email": "a@b", "extra": 1}]}, ["to"]),
        ({"to": {"email": "a@b"}}, ["to"]),
        ({"cc": [{"name": 5, "email": "a@b"}]}, ["cc"]),
        ({"messageId": ["a@b>\r\nBcc: x@y"]}, ["messageId"]),
        ({"messageId": ["with space@b"]}, ["messageId"]),
        ({"inReplyTo": "a@b"}, ["inReplyTo"]),
        ({"references": [""]}, ["references"]),
        ({"header:List-Post:asURLs": ["<mailto:a@b>"]}, ["header:List-Post:asURLs"]),
        ({"sentAt": "yesterday"}, ["sentAt"]),
        ({"sentAt": "2020-01-01T00:00:00"}, ["sentAt"]),
        ({"sentAt": "2020-13-01T00:00:00Z"}, ["sentAt"]),
        ({"header:X-Team:asGroupedAddresses": [{"name": "G"}]},
         ["header:X-Team:asGroupedAddresses"]),
        ({"header:X-A:asText": "x" * 50 + " " + "y" * 990}, None),
    ],
)  # fmt: skip
def test_header_values_that_cannot_be_written_safely(
    create: dict[str, Any], properties: list[str] | None
) -> None:
    if properties is None:
        # Not an error: a long word is split into encoded words rather than an overlong line.
        from tests.mail.test_compose import compose

        assert compose({**TEXT, **create})
        return
    assert refused({**TEXT, **create}) == properties


def test_raw_values_too_long_for_a_line_are_refused() -> None:
    assert refused({**TEXT, "header:X-A": " " + "y" * 1000}) == ["header:X-A"]
    assert refused({**TEXT, "to": [{"email": "a" * 1000 + "@example.com"}]}) == ["to"]


def test_errors_carry_a_description() -> None:
    error = compose_error({**TEXT, "textBody": [{"partId": "1"}, {"partId": "1"}]})
    assert "exactly one" in error.description
    assert str(error) == error.description
    assert error.not_found_blob_ids == []
