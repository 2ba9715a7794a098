"""compose_message on generated values: any Unicode body, subject, name or file name comes back
from parse_message as it went in (bodies up to RFC 8621's CRLF-to-LF, header text up to NFC)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from stalwart_tx.mail.headers import Form
from tests.mail.test_compose import compose, lf, parse, value_of

# Header text: anything but controls (line breaks and the like are refused, see the errors).
header_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(" \t"), max_size=200
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=3000), html=st.text(max_size=300))
def test_any_text_body_round_trips(text: str, html: str) -> None:
    parsed, props = parse(compose({
        "bodyValues": {"t": {"value": text}, "h": {"value": html}},
        "textBody": [{"partId": "t"}],
        "htmlBody": [{"partId": "h"}],
    }))  # fmt: skip
    assert value_of(parsed, props["textBody"][0]["partId"]) == lf(text)
    assert value_of(parsed, props["htmlBody"][0]["partId"]) == lf(html)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=2000))
def test_any_text_as_a_single_part_message_round_trips(text: str) -> None:
    parsed, _ = parse(
        compose({"bodyValues": {"1": {"value": text}}, "textBody": [{"partId": "1"}]})
    )
    assert value_of(parsed, "1") == lf(text)


@settings(max_examples=300, deadline=None)
@given(subject=header_text, x_text=header_text)
def test_any_unstructured_text_round_trips(subject: str, x_text: str) -> None:
    parsed, props = parse(compose({"subject": subject, "header:X-Any:asText": x_text}))
    assert props["subject"] == unicodedata.normalize("NFC", subject)
    assert parsed.header("X-Any", Form.TEXT) == unicodedata.normalize("NFC", x_text)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(header_text, min_size=1, max_size=4))
def test_any_display_name_round_trips(names: list[str]) -> None:
    to = [{"name": name, "email": f"r{i}@example.com"} for i, name in enumerate(names)]
    _, props = parse(compose({"to": to}))
    expected = [
        {"name": unicodedata.normalize("NFC", name).strip() or None, "email": address["email"]}
        for name, address in zip(names, to, strict=True)
    ]
    assert props["to"] == expected


@settings(max_examples=200, deadline=None)
# (Names that look like encoded words are decoded when read, as mailers mean them.)
@given(name=header_text.filter(lambda n: n.strip() != "" and "=?" not in n))
def test_any_file_name_round_trips(name: str) -> None:
    _, props = parse(compose({
        "attachments": [{"blobId": "pdf", "type": "application/pdf", "name": name}],
    }))  # fmt: skip
    # (The Text form the parser gives names drops leading spaces, as for any header.)
    assert props["attachments"][0]["name"] == unicodedata.normalize("NFC", name).lstrip(" ")
