"""ENVELOPE as RFC 3501 / RFC 9051 section 7.5.2 defines it, checked on the wire form."""

from __future__ import annotations

from stalwart_tx.imap.message_envelope import envelope
from stalwart_tx.imap.message_values import render
from tests.imap.test_message_values import read_envelope

# The message behind the FETCH example of RFC 3501 section 7.4.2 (RFC 9051 section 7.5.2).
RFC_HEADER = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b"cc: minutes@CNRI.Reston.VA.US,\r\n"
    b"    John Klensin <KLENSIN@MIT.EDU>\r\n"
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
)
# As the RFC prints it, without its line breaks.
RFC_ENVELOPE = (
    b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'((NIL NIL "imap" "cac.washington.edu")) '
    b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
    b'NIL NIL "<B27397-0100000@cac.washington.edu>")'
)


def test_rfc_example() -> None:
    assert render(envelope(RFC_HEADER + b"body\r\n")) == RFC_ENVELOPE


def fields(header: bytes) -> dict[str, object]:
    return read_envelope(render(envelope(header + b"\r\nbody\r\n")))


def test_absent_and_empty() -> None:
    found = fields(b"X-Other: 1\r\n")
    assert all(value is None for value in found.values())
    # Present but empty: the empty string for the text members, NIL for the address lists.
    found = fields(b"Subject:\r\nDate: \r\nTo:\r\nMessage-ID:\r\nIn-Reply-To:\r\n")
    assert found["subject"] == b""
    assert found["date"] == b""
    assert found["message-id"] == b""
    assert found["in-reply-to"] == b""
    assert found["to"] is None


def test_sender_and_reply_to_default_to_from() -> None:
    found = fields(b"From: a@example.org\r\nSender:\r\n")
    assert (
        found["sender"]
        == found["reply-to"]
        == found["from"]
        == [(None, None, b"a", b"example.org")]
    )
    found = fields(b"From: a@example.org\r\nSender: s@example.org\r\nReply-To: r@example.org\r\n")
    assert found["sender"] == [(None, None, b"s", b"example.org")]
    assert found["reply-to"] == [(None, None, b"r", b"example.org")]
    assert fields(b"Sender: s@example.org\r\n")["from"] is None


def test_groups() -> None:
    found = fields(
        b"To: undisclosed-recipients:;\r\n"
        b'Cc: a@example.org, Friends: b@example.org, "C, Esq." <c@example.org>;, d@x.org\r\n'
        b"Bcc: Unclosed: e@example.org\r\n"
    )
    assert found["to"] == [
        (None, None, b"undisclosed-recipients", None),
        (None, None, None, None),
    ]
    assert found["cc"] == [
        (None, None, b"a", b"example.org"),
        (None, None, b"Friends", None),
        (None, None, b"b", b"example.org"),
        (b"C, Esq.", None, b"c", b"example.org"),
        (None, None, None, None),
        (None, None, b"d", b"x.org"),
    ]
    # An unclosed group is closed at the end of the field.
    assert found["bcc"] == [
        (None, None, b"Unclosed", None),
        (None, None, b"e", b"example.org"),
        (None, None, None, None),
    ]


def test_names_quoting_comments_routes() -> None:
    found = fields(
        b'From: "Gray, \\"T\\"" <gray@example.org>, x@example.org (Comment Name),\r\n'
        b' <@relay.example,@other.example:route@example.org>, "john doe"@example.org,\r\n'
        b" nodomain, Name Only <>\r\n"
    )
    assert found["from"] == [
        (b'Gray, "T"', None, b"gray", b"example.org"),
        (b"Comment Name", None, b"x", b"example.org"),
        (None, b"@relay.example,@other.example", b"route", b"example.org"),
        (None, None, b"john doe", b"example.org"),
        # A NIL host would read as a group; clients know these placeholders.
        (None, None, b"nodomain", b"MISSING_DOMAIN"),
        (b"Name Only", None, b"MISSING_MAILBOX", b"MISSING_DOMAIN"),
    ]


def test_encoded_words_left_encoded_and_folding_undone() -> None:
    found = fields(
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\n  and more\r\n"
        b"From: =?iso-8859-1?q?Andr=E9?= <andre@example.org>\r\n"
    )
    assert found["subject"] == b"=?utf-8?q?caf=C3=A9?=  and more"
    assert found["from"] == [(b"=?iso-8859-1?q?Andr=E9?=", None, b"andre", b"example.org")]


def test_8bit_headers_sent_as_literals() -> None:
    header = "Subject: café\r\nFrom: Zoë <zoë@exämple.org>\r\n".encode()
    wire = render(envelope(header + b"\r\n"))
    assert b"{5}\r\ncaf\xc3\xa9" in wire
    found = read_envelope(wire)
    assert found["subject"] == "café".encode()
    assert found["from"] == [("Zoë".encode(), None, "zoë".encode(), "exämple.org".encode())]
    # Not UTF-8 at all: passed on octet for octet.
    found = fields(b"Subject: \xe9t\xe9\r\n")
    assert found["subject"] == b"\xe9t\xe9"


def test_last_field_wins_and_nul_is_replaced() -> None:
    found = fields(b"Subject: first\r\nSubject: second\r\nMessage-ID: <a\x00b@x>\r\n")
    assert found["subject"] == b"second"
    assert found["message-id"] == b"<a\x80b@x>"


def test_bare_lf_header() -> None:
    found = read_envelope(render(envelope(b"Subject: lf\n folded\nTo: a@b\n\nbody\n")))
    assert found["subject"] == b"lf folded"
    assert found["to"] == [(None, None, b"a", b"b")]


def test_rfc_9051_example() -> None:
    # RFC 9051 section 7.5.2 repeats the example for IMAP4rev2, only the subject differs.
    header = RFC_HEADER.replace(b"IMAP4rev1", b"IMAP4rev2")
    assert render(envelope(header)) == RFC_ENVELOPE.replace(b"IMAP4rev1", b"IMAP4rev2")
