"""textBody, htmlBody and attachments on the worked example of RFC 8621 section 4.1.4."""

from __future__ import annotations

from stalwart_tx.mail.parse import parse_message


def _part(letter: str, content_type: str, disposition: str | None = None) -> bytes:
    head = f"Content-Type: {content_type}\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return f"{head}Subject: {letter}\r\n\r\n{letter}".encode()


def _multipart(subtype: str, boundary: str, *parts: bytes) -> bytes:
    out = f"Content-Type: multipart/{subtype}; boundary={boundary}\r\n\r\n".encode()
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


# The structure drawn in RFC 8621 section 4.1.4, letters as the RFC names the parts.
RFC_EXAMPLE = _multipart(
    "mixed", "b1",
    _part("A", "text/plain", "inline"),
    _multipart(
        "mixed", "b2",
        _multipart(
            "alternative", "b3",
            _multipart(
                "mixed", "b4",
                _part("B", "text/plain", "inline"),
                _part("C", "image/jpeg", "inline"),
                _part("D", "text/plain", "inline"),
            ),
            _multipart(
                "related", "b5",
                _part("E", "text/html"),
                _part("F", "image/jpeg"),
            ),
        ),
        _part("G", "image/jpeg", "attachment"),
        _part("H", "application/x-excel"),
        _part("J", "message/rfc822"),
    ),
    _part("K", "text/plain", "inline"),
)  # fmt: skip


def _letters(parts: list) -> list[str]:  # type: ignore[type-arg]
    return [part.content.decode() for part in parts]


def test_rfc_worked_example() -> None:
    parsed = parse_message(RFC_EXAMPLE)
    assert _letters(parsed.text_body) == ["A", "B", "C", "D", "K"]
    assert _letters(parsed.html_body) == ["A", "E", "K"]
    assert _letters(parsed.attachments) == ["C", "F", "G", "H", "J"]
    assert parsed.has_attachment


def test_html_only_alternative_serves_html_as_text_body() -> None:
    parsed = parse_message(_multipart("alternative", "b", _part("H", "text/html")))
    assert _letters(parsed.text_body) == ["H"]
    assert _letters(parsed.html_body) == ["H"]


def test_text_with_a_filename_after_the_first_part_is_an_attachment() -> None:
    parsed = parse_message(
        _multipart(
            "mixed", "b",
            _part("T", "text/plain"),
            _part("N", "text/plain; name=notes.txt"),
        )
    )  # fmt: skip
    assert _letters(parsed.text_body) == ["T"]
    assert _letters(parsed.attachments) == ["N"]
    assert parsed.has_attachment


def test_inline_images_only_do_not_make_has_attachment() -> None:
    parsed = parse_message(
        _multipart(
            "related", "b",
            _part("H", "text/html"),
            _part("I", "image/png", "inline"),
        )
    )  # fmt: skip
    assert _letters(parsed.html_body) == ["H"]
    assert _letters(parsed.attachments) == ["I"]
    assert not parsed.has_attachment


def test_images_the_html_embeds_are_no_attachment() -> None:
    html = '<img src="cid:Logo%40x"><div style="background:url(cid:bg@x)">'
    embedded = _multipart(
        "related", "b",
        _part(html, "text/html"),
        _part("I", "image/png").replace(b"\r\n\r\n", b"\r\nContent-ID: <logo@x>\r\n\r\n"),
        _part("J", "image/png").replace(b"\r\n\r\n", b"\r\nContent-ID: <bg@x>\r\n\r\n"),
    )  # fmt: skip
    parsed = parse_message(embedded)
    assert _letters(parsed.attachments) == ["I", "J"]
    assert not parsed.has_attachment
    # One image the HTML does not show: that one is an attachment.
    extra = embedded.replace(b"<bg@x>", b"<other@x>")
    assert parse_message(extra).has_attachment


def test_nested_alternative_inside_an_alternative_does_not_fail() -> None:
    # The RFC's code would push onto a null list here; nothing may raise.
    parsed = parse_message(
        _multipart(
            "alternative", "b1",
            _multipart(
                "mixed", "b2",
                _part("H", "text/html"),
                _multipart("alternative", "b3", _part("T", "text/plain")),
            ),
        )
    )  # fmt: skip
    assert _letters(parsed.html_body) == ["H"]
