"""The searchable text of messages, their postings, and the packed posting lists."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.corpus import Generated, generate
from stalwart_tx.jmap.mail.email_search import (
    MAX_BODY_TEXT,
    SEARCH_FIELDS,
    SearchDocument,
    decode_postings,
    document_positions,
    encode_postings,
    posting,
    postings,
    search_document,
)
from stalwart_tx.mail import search_terms, search_text
from stalwart_tx.mail.parse import parse_message
from stalwart_tx.store.records import check_name


def message(
    body: str = "Hello there.",
    *,
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    return (
        f"{headers}Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
    ).encode()


def multipart(*parts: tuple[str, str], headers: str = "", kind: str = "mixed") -> bytes:
    chunks = [f"{headers}Content-Type: multipart/{kind}; boundary=XX\r\n\r\n"]
    for part_headers, content in parts:
        chunks.append(f"--XX\r\n{part_headers}\r\n\r\n{content}\r\n")
    chunks.append("--XX--\r\n")
    return "".join(chunks).encode()


def document(raw: bytes) -> SearchDocument:
    return search_document(parse_message(raw))


HEADERS = (
    'From: "Smith, John" <john.smith@example.com>\r\n'
    "To: Anna <anna@example.org>, bob@example.net\r\n"
    "Cc: team: Carol Jones <carol@example.com>;\r\n"
    "Bcc: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\r\n"
    "Subject: =?utf-8?q?R=C3=A9sum=C3=A9?= of the meeting\r\n"
)


def test_address_fields_and_subject() -> None:
    doc = document(message("The minutes are attached.", headers=HEADERS))
    assert doc.texts == {
        "from": "Smith, John <john.smith@example.com>",
        "to": "Anna <anna@example.org>, bob@example.net",
        "cc": "Carol Jones <carol@example.com>",
        "bcc": "Jürgen Müller <jm@example.de>",
        "subject": "Résumé of the meeting",
        "body": "The minutes are attached.",
    }
    assert doc.language == "en"


def test_absent_fields_are_empty() -> None:
    doc = document(b"\r\n")
    assert set(doc.texts) == set(SEARCH_FIELDS)
    assert all(text == "" for text in doc.texts.values())
    assert postings(doc) == []


def test_body_has_text_html_and_text_attachments_each_once() -> None:
    raw = multipart(
        (
            "Content-Type: multipart/alternative; boundary=YY",
            "--YY\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
            "--YY\r\nContent-Type: text/html\r\n\r\n"
            "<html><head><title>hidden title</title><style>p{}</style></head>"
            "<body><p>html&amp;words</p></body></html>\r\n--YY--",
        ),
        ("Content-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv", "csv,cells"),
        ("Content-Type: application/pdf\r\nContent-Disposition: attachment", "pdfbytes"),
        ("Content-Type: text/html\r\nContent-Disposition: attachment", "<b>attached</b> page"),
    )
    body = document(raw).texts["body"]
    assert body.split() == ["plain", "words", "html&words", "csv,cells", "attached", "page"]
    assert "hidden" not in body and "pdfbytes" not in body


def test_charsets_and_transfer_encodings_are_decoded() -> None:
    raw = (
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nDer B=E4r f=E4hrt nach M=FCnchen.\r\n"
    )
    doc = document(raw)
    assert doc.texts["body"].strip() == "Der Bär fährt nach München."
    assert doc.language == "de"


def test_body_text_is_capped() -> None:
    doc = document(message("word " * (MAX_BODY_TEXT // 4)))
    assert len(doc.texts["body"]) == MAX_BODY_TEXT
    html = multipart(
        ("Content-Type: text/plain", "a" * (MAX_BODY_TEXT - 10)),
        ("Content-Type: text/html", "<p>" + "tail " * 1000 + "</p>"),
        kind="alternative",
    )
    assert len(document(html).texts["body"]) <= MAX_BODY_TEXT


def test_language_is_detected_from_the_body_or_else_content_language() -> None:
    french = "Bonjour, nous avons reçu les documents et ils sont dans le dossier."
    assert document(message(french, headers="Subject: Documents\r\n")).language == "fr"
    # Japanese gives no evidence: no stems, unless the part says its language.
    assert document(message("東京都の会議")).language is None
    said = message("東京都の会議", headers="Content-Language: de-AT\r\n")
    assert document(said).language == "de"


def test_stems_in_every_field_come_from_the_body_language() -> None:
    doc = document(
        message(
            "Die Besprechungen sind für nächste Woche geplant, bitte kommt alle.",
            headers="Subject: Besprechungen\r\nFrom: Gärten <g@example.de>\r\n",
        )
    )
    assert doc.language == "de"
    names = postings(doc)
    assert posting("subject", "besprechungen") in names
    assert posting("subject", "~de:besprech") in names
    assert posting("from", "garten") in names  # accents folded
    assert not any(":~en:" in name for name in names)


def test_without_a_language_no_field_has_stems() -> None:
    doc = SearchDocument(None, {"subject": "running the reports", "body": "東京都"})
    names = postings(doc)
    assert names == sorted(
        [
            posting("subject", "running"),
            posting("subject", "the"),
            posting("subject", "reports"),
            posting("body", "東京"),
            posting("body", "京都"),
        ]
    )


def test_postings_are_every_distinct_term_of_every_field() -> None:
    doc = document(message("The reports were sent to the team.", headers=HEADERS))
    positions = document_positions(doc)
    assert set(positions) == set(SEARCH_FIELDS)
    expected = {posting(f, t) for f, terms in positions.items() for t in terms.positions}
    names = postings(doc)
    assert names == sorted(expected)
    assert posting("from", "john.smith@example.com") in names
    assert posting("from", "example.com") in names
    assert posting("to", "anna") in names
    assert posting("cc", "carol") in names and posting("cc", "team") not in names
    assert posting("bcc", "jurgen") in names
    assert posting("subject", "resume") in names
    assert posting("body", "reports") in names and posting("body", "~en:report") in names
    assert positions["body"].positions["the"] == [0, 5]


def test_encode_postings_round_trip_and_is_compact() -> None:
    body = " ".join(f"word{i} Wörter{i} running{i}" for i in range(2000))
    names = postings(document(message(body, headers=HEADERS)))
    packed = encode_postings(names)
    assert decode_postings(packed) == names
    assert len(packed) < sum(map(len, names)) / 5
    small = [posting("subject", "hi")]
    assert decode_postings(encode_postings(small)) == small
    assert decode_postings(encode_postings([])) == []


@given(st.lists(st.text(max_size=30)))
def test_encode_postings_round_trips_any_names(names: list[str]) -> None:
    assert decode_postings(encode_postings(names)) == sorted(set(names))


@given(
    st.lists(
        st.builds(
            posting,
            st.sampled_from(SEARCH_FIELDS),
            st.text(alphabet="ab:~é東", min_size=1, max_size=8),
        ),
        max_size=300,
    )
)
def test_encode_postings_round_trips_posting_names(names: list[str]) -> None:
    assert decode_postings(encode_postings(names)) == sorted(set(names))


def test_decode_postings_rejects_garbage() -> None:
    for text in ["", "[1]", '{"a":[1]}', "z!!!", "{", '{"a":"b"}']:
        with pytest.raises(ValueError):
            decode_postings(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "From: A <a@b.c>\r\n",
                "To: =?utf-8?b?w6k=?= <x@y.z>, broken <<@>\r\n",
                "Subject: =?bogus?q?x?= hi\r\n",
                "Content-Type: multipart/mixed; boundary=B\r\n",
                "Content-Type: text/html; charset=utf-16\r\n",
                "Content-Language: fr\r\n",
                "\r\n",
                "--B\r\n",
                "<p>caf\xc3\xa9 <b>l\xe2\x80\x99\xc3\xa9t\xc3\xa9</p>\r\n",
                "\xe6\x9d\xb1\xe4\xba\xac\r\n",
                "\xff\xfe\x00",
            ]
        ).map(lambda line: line.encode("latin-1")),
        max_size=12,
    ).map(b"".join)
)
def test_any_message_gives_valid_postings(raw: bytes) -> None:
    doc = search_document(parse_message(raw))
    assert set(doc.texts) == set(SEARCH_FIELDS)
    names = postings(doc)
    for name in names:
        check_name(name)
    assert decode_postings(encode_postings(names)) == names


def reference_postings(doc: SearchDocument) -> list[str]:
    """Postings as first defined: every term of document_positions, sorted."""
    fresh = SearchDocument(doc.language, doc.texts)
    return sorted(
        posting(name, term)
        for name, terms in document_positions(fresh).items()
        for term in terms.positions
    )


@pytest.mark.parametrize("generated", list(generate(40)), ids=lambda g: g.message_id)
def test_postings_of_realistic_mail_are_every_term_of_every_field(generated: Generated) -> None:
    doc = document(generated.data)
    assert postings(doc) == reference_postings(doc)


@settings(deadline=None)
@given(st.text(max_size=300), st.text(max_size=60), st.sampled_from([None, "en", "fr"]))
def test_postings_of_any_text_are_every_term_of_every_field(
    body: str, subject: str, language: str | None
) -> None:
    doc = SearchDocument(language, {"subject": subject, "body": body, "to": body[:40]})
    assert postings(doc) == reference_postings(doc)


def test_indexing_splits_each_field_once_and_never_makes_tokens() -> None:
    raw = message("Die Besprechung ist morgen. " * 3000, headers=HEADERS)
    parsed = parse_message(raw)
    split_chars = 0
    real_split = search_terms._split

    def counting_split(text: str) -> list[bytes]:
        nonlocal split_chars
        split_chars += len(text)
        return real_split(text)

    with (
        patch.object(search_terms, "_split", counting_split),
        patch.object(search_text, "_scan", side_effect=AssertionError("tokenized")),
    ):
        doc = search_document(parsed)
        names = postings(doc)
    assert doc.language == "de" and posting("body", "~de:besprech") in names
    assert split_chars == sum(len(text) for text in doc.texts.values())
