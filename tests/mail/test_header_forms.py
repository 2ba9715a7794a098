"""The parsed header forms of RFC 8621 section 4.1.2, against the RFC's own examples."""

from __future__ import annotations

import pytest

from stalwart_tx.mail.addresses import addresses, grouped_addresses
from stalwart_tx.mail.encoded_words import as_text
from stalwart_tx.mail.headers import (
    Form,
    HeaderProperty,
    date,
    form_allowed,
    message_ids,
    parse_header_property,
    split_header_block,
    urls,
)
from stalwart_tx.mail.parse import header_value, parse_message

# RFC 8621 4.1.2.3 and 4.1.2.4 use this To header as their example.
RFC_TO = (
    ' "  James Smythe" <james@example.com>, Friends:\r\n'
    "  jane@example.com, =?UTF-8?Q?John_Sm=C3=BFthe?=\r\n"
    "  <john@example.com>;"
)


def test_rfc_addresses_example() -> None:
    assert addresses(RFC_TO) == [
        {"name": "James Smythe", "email": "james@example.com"},
        {"name": None, "email": "jane@example.com"},
        {"name": "John Smÿthe", "email": "john@example.com"},
    ]


def test_rfc_grouped_addresses_example() -> None:
    assert grouped_addresses(RFC_TO) == [
        {"name": None, "addresses": [{"name": "James Smythe", "email": "james@example.com"}]},
        {
            "name": "Friends",
            "addresses": [
                {"name": None, "email": "jane@example.com"},
                {"name": "John Smÿthe", "email": "john@example.com"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" undisclosed-recipients:;", [{"name": "undisclosed-recipients", "addresses": []}]),
        (" jdoe@example.com (John Doe)", [{"name": None, "addresses": [
            {"name": "John Doe", "email": "jdoe@example.com"}]}]),
        (' "Doe, \\"J\\"" <j@x>', [{"name": None, "addresses": [
            {"name": 'Doe, "J"', "email": "j@x"}]}]),
        (" <@relay.example:j@x>", [{"name": None, "addresses": [{"name": None, "email": "j@x"}]}]),
        (" a@x, G: b@x; c@x", [
            {"name": None, "addresses": [{"name": None, "email": "a@x"}]},
            {"name": "G", "addresses": [{"name": None, "email": "b@x"}]},
            {"name": None, "addresses": [{"name": None, "email": "c@x"}]},
        ]),
        # Unclosed group and quote: best effort, nothing raised or dropped.
        (' G: "Ann <a@x>', [{"name": "G", "addresses": [{"name": None, "email": '"Ann <a@x>"'}]}]),
        (" not an address", [{"name": None, "addresses": [
            {"name": None, "email": "not an address"}]}]),
        ("", []),
    ],
)  # fmt: skip
def test_grouped_addresses_edge_cases(raw: str, expected: object) -> None:
    assert grouped_addresses(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (' "john doe"@example.com', {"name": None, "email": '"john doe"@example.com'}),
        (' Ann <"john  doe"@x (c)>', {"name": "Ann", "email": '"john  doe"@x'}),
        # Quoted display names keep inner whitespace, lose it at the ends.
        (' "  a  b " <a@x>', {"name": "a  b", "email": "a@x"}),
        (" John\r\n Doe <j@x>", {"name": "John Doe", "email": "j@x"}),
    ],
)
def test_addresses_quoting(raw: str, expected: dict[str, object]) -> None:
    assert addresses(raw) == [expected]


def test_encoded_words_in_quoted_strings_are_not_decoded() -> None:
    # RFC 2047 section 5: an encoded word must not appear in a quoted-string.
    assert addresses(' "=?utf-8?q?A?=" <a@x>') == [{"name": "=?utf-8?q?A?=", "email": "a@x"}]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Hello", "Hello"),
        ("   Spaced  out ", "Spaced  out "),
        (" folded\r\n line", "folded line"),
        (" =?utf-8?q?caf=C3=A9?= ok", "café ok"),
        # Whitespace between adjacent encoded words goes; elsewhere it stays.
        (" =?utf-8?q?a?= \r\n =?utf-8?q?b?= c", "ab c"),
        (" =?iso-8859-1?q?=E9t=E9?=", "été"),
        (" =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"),
        (" =?windows-1252?Q?=80?=", "€"),
        # A UTF-8 character split across two words survives.
        (" =?utf-8?b?w6g=?= =?utf-8?b?4oKs?=", "è€"),
        (" =?utf-8?b?4o==?= =?utf-8?b?gqw=?=", "€"),
        # Unknown charset, bad base64, wrong placement: left as they are.
        (" =?x-unknown?q?abc?=", "=?x-unknown?q?abc?="),
        (" =?utf-8?b?Q?=", "=?utf-8?b?Q?="),
        (" foo=?utf-8?q?bar?=", "foo=?utf-8?q?bar?="),
        (" =?utf-8?q?bad space?=", "=?utf-8?q?bad space?="),
        # Encoded controls and NULs are dropped.
        (" =?utf-8?q?a=00b=07c?=", "abc"),
        # NFC.
        (" e\u0301", "\u00e9"),
    ],
)
def test_text_form(raw: str, expected: str) -> None:
    assert as_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" <a@b>", ["a@b"]),
        (" <a@b>\r\n <c@d> (comment) <e@f>", ["a@b", "c@d", "e@f"]),
        (" (x) < a@b >", ["a@b"]),
        (" a@b", ["a@b"]),
        (" ", None),
        (" garbage here", None),
    ],
)
def test_message_ids_form(raw: str, expected: list[str] | None) -> None:
    assert message_ids(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Tue, 1 Jul 2003 10:52:37 +0200", "2003-07-01T10:52:37+02:00"),
        (" Fri, 21 Nov 1997 09:55:06 -0600", "1997-11-21T09:55:06-06:00"),
        (" Thu, 13 Feb 1969 23:32:54 -0330 (Newfoundland Time)", "1969-02-13T23:32:54-03:30"),
        (" 1 Jan 2020 00:00:00 +0000", "2020-01-01T00:00:00Z"),
        (" 1 Jan 2020 00:00:00 GMT", "2020-01-01T00:00:00Z"),
        (" Sun, 31 Feb 2020 00:00:00 +0000", None),
        (" not a date", None),
        ("", None),
    ],
)
def test_date_form(raw: str, expected: str | None) -> None:
    assert date(raw) == expected


def test_urls_form() -> None:
    raw = " <mailto:list@host.com?subject=help> (List Instructions),\r\n <https://x.example/h>"
    assert urls(raw) == ["mailto:list@host.com?subject=help", "https://x.example/h"]
    assert urls(" NO (posting not allowed on this list)") is None


def test_allowed_forms_follow_the_rfc_table() -> None:
    assert form_allowed("Subject", Form.TEXT)
    assert not form_allowed("subject", Form.ADDRESSES)
    assert form_allowed("From", Form.GROUPED_ADDRESSES)
    assert not form_allowed("From", Form.TEXT)
    assert not form_allowed("Received", Form.TEXT)
    assert form_allowed("Received", Form.RAW)
    assert form_allowed("List-Post", Form.URLS)
    assert not form_allowed("Date", Form.MESSAGE_IDS)
    assert form_allowed("X-Anything", Form.DATE)


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ("header:Subject", HeaderProperty("Subject", Form.RAW, False)),
        ("header:From:asAddresses:all", HeaderProperty("From", Form.ADDRESSES, True)),
        ("header:X-Foo:all", HeaderProperty("X-Foo", Form.RAW, True)),
        ("header:List-Id:asText", HeaderProperty("List-Id", Form.TEXT, False)),
        ("header:From:asText", None),
        ("header:Subject:asBogus", None),
        ("header:Subject:asText:all:all", None),
        ("header:", None),
        ("header:A B", None),
        ("subject", None),
    ],
)
def test_parse_header_property(prop: str, expected: HeaderProperty | None) -> None:
    assert parse_header_property(prop) == expected


def test_header_value_single_and_all() -> None:
    parsed = parse_message(b"X-A: one\r\nSubject: s\r\nx-a: =?utf-8?q?two?=\r\n\r\nbody")
    assert header_value(parsed, "X-A", Form.RAW) == " =?utf-8?q?two?="
    assert header_value(parsed, "x-a", Form.TEXT, all=True) == ["one", "two"]
    assert header_value(parsed, "X-Missing", Form.TEXT) is None
    assert header_value(parsed, "X-Missing", Form.TEXT, all=True) == []


def test_raw_header_block() -> None:
    headers, body_at = split_header_block(
        b"From mbox line\r\nA: 1\r\n folded\r\nB:\r\nC : spaced\r\nnot a header\r\nrest"
    )
    assert [tuple(h) for h in headers] == [("A", " 1\r\n folded"), ("B", ""), ("C", " spaced")]
    assert body_at == len(b"From mbox line\r\nA: 1\r\n folded\r\nB:\r\nC : spaced\r\n")
    eight_bit, _ = split_header_block(b"Subject: caf\xc3\xa9 \xff\r\n\r\n")
    assert eight_bit[0].value == " café \ufffd"
