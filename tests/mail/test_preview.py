"""The preview property: plain text, at most 256 characters, whitespace collapsed."""

from __future__ import annotations

from stalwart_tx.mail.parse import parse_message
from stalwart_tx.mail.preview import MAX_PREVIEW, make_preview


def test_html_becomes_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style><script>x()</script></head>"
        "<body><p>Caf&eacute;&nbsp;&amp;<br>tea</p><div>next</div></body></html>"
    )
    assert make_preview(html, is_html=True) == "Café & tea next"


def test_long_text_is_cut_to_256_characters() -> None:
    preview = make_preview("word  \r\n\t" * 200, is_html=False)
    assert len(preview) <= MAX_PREVIEW
    assert preview.startswith("word word")
    assert "  " not in preview


def test_quoted_lines_left_out_unless_that_is_all() -> None:
    assert make_preview("Yes.\n> Lunch?\n> > Hi", is_html=False) == "Yes."
    assert make_preview("> only quotes", is_html=False) == "> only quotes"


def test_preview_from_html_only_message() -> None:
    raw = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <i>there</i></p>"
    assert parse_message(raw).preview == "Hello there"


def test_no_text_no_preview() -> None:
    assert parse_message(b"Content-Type: image/png\r\n\r\n\x89PNG").preview == ""


def test_convenience_properties() -> None:
    parsed = parse_message(
        b"From: A <a@x>\r\nSender: s@x\r\nTo: b@x\r\nCc: c@x\r\nBcc: d@x\r\n"
        b"Reply-To: r@x\r\nSubject: =?utf-8?q?Hi?=\r\nDate: 2 Jan 2021 03:04:05 +0100\r\n"
        b"Message-ID: <m@x>\r\nIn-Reply-To: <i@x>\r\nReferences: <h@x> <i@x>\r\n\r\n"
    )
    assert parsed.from_ == [{"name": "A", "email": "a@x"}]
    lists = [parsed.sender, parsed.to, parsed.cc, parsed.bcc]
    assert [found[0]["email"] for found in lists if found] == [
        "s@x", "b@x", "c@x", "d@x",
    ]  # fmt: skip
    assert parsed.reply_to == [{"name": None, "email": "r@x"}]
    assert parsed.subject == "Hi"
    assert parsed.sent_at == "2021-01-02T03:04:05+01:00"
    assert parsed.message_id == ["m@x"]
    assert parsed.in_reply_to == ["i@x"]
    assert parsed.references == ["h@x", "i@x"]
