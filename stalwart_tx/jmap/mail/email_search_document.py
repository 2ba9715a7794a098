"""What an Email is searched by: its search fields as text, their terms, and its index postings.

Email/query's text conditions (RFC 8621 §4.4.1) look in six fields, SEARCH_FIELDS. A message
gives each field one text (SearchDocument.texts):

- ``from``, ``to``, ``cc``, ``bcc``: the addresses of that header field, each as
  ``Name <address>`` (or just the address), joined by ``", "``;
- ``subject``: the decoded Subject;
- ``body``: the text of every text/* part of the text body, the HTML body and the attachments,
  each part once, in that order, HTML turned into its text; at most MAX_BODY_TEXT characters.

A field's terms are search_text.document_terms of its text, with the stems of one language in
every field: the language detected from the subject and body (or, when detection is unsure,
the first Content-Language of the text body that has a stemmer). With no language, no field
has stems.

The index: each distinct term of each field (stems included) is the sorted index
``Email:term:<field>:<term>`` (posting()), whose members are the ids of the emails holding it.
Indexing needs only those distinct terms, not their positions: postings() takes them from
search_terms (field_term_set), which splits each field's text once, the same split language
detection reads; positions (document_positions) are computed only to verify phrases.
encode_postings() packs an email's list of index names compactly, so that what was indexed can
be removed exactly when the email goes.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stalwart_tx.mail.body import BodyPart
from stalwart_tx.mail.charsets import decode_text
from stalwart_tx.mail.html_text import html_search_text
from stalwart_tx.mail.parse import ParsedMessage
from stalwart_tx.mail.search_language import SNOWBALL_NAMES
from stalwart_tx.mail.search_terms import TextTerms, detect_sample_language
from stalwart_tx.mail.search_text import STEM_PREFIX, DocumentTerms, document_terms
from stalwart_tx.store.records import MAX_INDEX_NAME

SEARCH_FIELDS = ("from", "to", "cc", "bcc", "subject", "body")
ADDRESS_HEADERS = {"from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc"}
POSTING_PREFIX = "Email:term:"

# Characters of body text indexed: what a search can find in a huge message is its start.
MAX_BODY_TEXT = 1 << 20
# Characters of one header field's text (a hostile header may be megabytes long).
MAX_HEADER_TEXT = 64 * 1024
# Bytes of one HTML part read: markup usually outweighs its text several times.
MAX_HTML_SOURCE = 4 << 20
# Characters of subject and body the language is detected from (detection reads 2000 words).
_DETECT_TEXT = 32 * 1024
# An encoded posting list longer than this is also tried compressed.
_COMPRESS_OVER = 256


@dataclass(frozen=True)
class SearchDocument:
    """The searchable text of one email: a text for every field of SEARCH_FIELDS."""

    language: str | None  # the body's language (a SNOWBALL_NAMES code): stems in every field
    texts: Mapping[str, str]  # field -> the text indexed ("" for an absent field)
    # field -> its terms, computed once (document_positions).
    _terms: dict[str, DocumentTerms] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # field -> its text split once (search_terms), shared by language detection and postings.
    _split: dict[str, TextTerms] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


def search_document(parsed: ParsedMessage) -> SearchDocument:
    """The searchable text of a parsed message."""
    texts = {name: _address_text(parsed, header) for name, header in ADDRESS_HEADERS.items()}
    texts["subject"] = (parsed.subject or "")[:MAX_HEADER_TEXT]
    texts["body"] = _body_text(parsed)
    subject, body = TextTerms(texts["subject"]), TextTerms(texts["body"], _DETECT_TEXT)
    doc = SearchDocument(_language(parsed, subject, body), texts)
    doc._split.update(subject=subject, body=body)
    return doc


def _address_text(parsed: ParsedMessage, header: str) -> str:
    shown = []
    for address in parsed.addresses(header) or ():
        name, email = address.get("name") or "", address.get("email") or ""
        shown.append(f"{name} <{email}>" if name and email else name or email)
    return ", ".join(item for item in shown if item)[:MAX_HEADER_TEXT]


def _body_text(parsed: ParsedMessage) -> str:
    pieces: list[str] = []
    budget = MAX_BODY_TEXT
    seen: set[str] = set()
    for part in [*parsed.text_body, *parsed.html_body, *parsed.attachments]:
        if budget <= 0:
            break
        key = part.part_id or f"@{id(part)}"
        if key in seen or not part.type.startswith("text/"):
            continue
        seen.add(key)
        text = _part_text(part, budget)
        if text.strip():
            pieces.append(text)
            budget -= len(text) + 2
    return "\n\n".join(pieces)[:MAX_BODY_TEXT]


def _part_text(part: BodyPart, budget: int) -> str:
    if part.type == "text/html":
        html, _ = decode_text(part.content[:MAX_HTML_SOURCE], part.charset)
        return html_search_text(html)[:budget]
    # Four bytes encode any character: the cut never shortens the text kept. A character cut
    # in two at the end decodes as a replacement character, the rest as it is.
    text, _ = decode_text(part.content[: 4 * budget], part.charset)
    return text[:budget]


def _language(parsed: ParsedMessage, subject: TextTerms, body: TextTerms) -> str | None:
    # The tokens of f"{subject}\n{body[:_DETECT_TEXT]}", from the fields' own splits.
    found = detect_sample_language((subject, body))
    if found is not None:
        return found
    for part in parsed.text_body:
        for tag in part.language or ():
            code = tag.split("-")[0].strip().lower()
            if code in SNOWBALL_NAMES:
                return code
    return None


def field_terms(doc: SearchDocument, name: str) -> DocumentTerms:
    """The terms of one field of the document (computed once per document)."""
    found = doc._terms.get(name)
    if found is None:
        text = doc.texts.get(name, "")
        if doc.language is not None:
            found = document_terms(text, doc.language)
        else:
            # document_terms would detect a language of its own: keep the words, drop stems.
            words = document_terms(text).positions
            found = DocumentTerms(
                None, {t: p for t, p in words.items() if not t.startswith(STEM_PREFIX)}
            )
        doc._terms[name] = found
    return found


def field_term_set(doc: SearchDocument, name: str) -> frozenset[str]:
    """The distinct terms of one field: the keys of field_terms(doc, name).positions, computed
    without positions (search_terms) unless those are known already."""
    known = doc._terms.get(name)
    if known is not None:
        return frozenset(known.positions)
    split = doc._split.get(name)
    if split is None:
        split = doc._split[name] = TextTerms(doc.texts.get(name, ""))
    return split.terms(doc.language)


def document_positions(doc: SearchDocument) -> dict[str, DocumentTerms]:
    """Field -> its terms with their positions, for every field of SEARCH_FIELDS."""
    return {name: field_terms(doc, name) for name in SEARCH_FIELDS}


def posting(field_name: str, term: str) -> str:
    """The name of the index of the emails whose field holds the term."""
    return f"{POSTING_PREFIX}{field_name}:{term}"


def postings(doc: SearchDocument) -> list[str]:
    """The name of every index the email is a member of: one per distinct term of each field.

    Sorted, without duplicates. (Terms are at most MAX_TOKEN_LENGTH characters, so every name
    is a valid index name; the check only guards that.)
    """
    names: list[str] = []
    # Field by field in the order of their names' prefixes, each field's terms sorted: the
    # prefixes end with ":", which no field name holds, so this is the order of the names.
    for prefix, name in sorted((posting(name, ""), name) for name in SEARCH_FIELDS):
        terms = sorted(field_term_set(doc, name))
        if terms and len(prefix) + max(map(len, terms)) > MAX_INDEX_NAME:
            terms = [term for term in terms if len(prefix) + len(term) <= MAX_INDEX_NAME]
        names.extend(map(prefix.__add__, terms))
    return names


# The packed form (encode_postings) writes this prefix of posting names as one byte.
_PACKED_PREFIX = b"\n" + POSTING_PREFIX.encode()
# The first stem of a posting in the packed lines, and its language.
_STEM_LINE = re.compile(b"\n\x01[^:\n]*:" + re.escape(STEM_PREFIX.encode()) + b"([^:\n]+):")


def encode_postings(names: Iterable[str]) -> str:
    """A compact string of a set of index names; decode_postings gives them back.

    A long list is packed (it then starts with ``y``): the names in UTF-8, one per line after
    a first line with the language of the stems; a line's ``\x01`` stands for ``Email:term:``
    at its start, and ``:\x02`` for ``:~<language>:``; the whole raw-deflated and in base64.
    Only C-speed work on the whole text, no work per name, so packing costs little beside
    indexing. A short list, or one with a name holding a line break, ``\x01`` or ``\x02``, is
    JSON instead: the names grouped by what precedes their last ``:`` (``{"Email:term:body:":
    ["a", ...]}``), which a long one zlib-compresses and base85-armours when that is shorter
    (then starting with ``z``; the older packing, still read). Any strings round-trip, not
    only posting names.
    """
    unique = list(dict.fromkeys(names))
    text = ("\n" + "\n".join(unique)).encode("utf-8", "surrogatepass")
    if len(text) <= _COMPRESS_OVER or text.count(b"\n") != len(unique) \
            or b"\x01" in text or b"\x02" in text:
        return _grouped_json(sorted(unique))
    text = text.replace(_PACKED_PREFIX, b"\n\x01")
    stem = _STEM_LINE.search(text)
    language = stem.group(1) if stem else b""
    if language:
        text = text.replace(b":" + STEM_PREFIX.encode() + language + b":", b":\x02")
    raw = zlib.compress(language + text, 6, wbits=-15)
    return "y" + base64.b64encode(raw).decode("ascii")


def _grouped_json(unique: list[str]) -> str:
    groups: dict[str, list[str]] = {}
    for name in unique:
        cut = name.rfind(":") + 1
        groups.setdefault(name[:cut], []).append(name[cut:])
    text = json.dumps(groups, ensure_ascii=False, separators=(",", ":"))
    if len(text) > _COMPRESS_OVER:
        raw = zlib.compress(text.encode("utf-8", "surrogatepass"), 9)
        packed = "z" + base64.b85encode(raw).decode("ascii")
        if len(packed) < len(text):
            return packed
    return text


def decode_postings(text: str) -> list[str]:
    """The index names encode_postings packed, sorted, without duplicates.

    Raises ValueError if the text is not what encode_postings makes.
    """
    try:
        if text.startswith("y"):
            return _unpack_lines(
                zlib.decompress(base64.b64decode(text[1:], validate=True), wbits=-15)
            )
        if text.startswith("z"):
            text = zlib.decompress(base64.b85decode(text[1:])).decode("utf-8", "surrogatepass")
        groups = json.loads(text)
    except (ValueError, zlib.error) as error:
        raise ValueError(f"not an encoded posting list: {error}") from None
    if not isinstance(groups, dict) or not all(
        isinstance(rests, list) and all(isinstance(rest, str) for rest in rests)
        for rests in groups.values()
    ):
        raise ValueError("not an encoded posting list")
    return sorted(prefix + rest for prefix, rests in groups.items() for rest in rests)


def _unpack_lines(packed: bytes) -> list[str]:
    cut = packed.find(b"\n")
    if cut < 0:
        raise ValueError("no names")
    language, text = packed[:cut], packed[cut:]
    if language:
        text = text.replace(b":\x02", b":" + STEM_PREFIX.encode() + language + b":")
    text = text.replace(b"\n\x01", _PACKED_PREFIX)
    return sorted(set(text[1:].decode("utf-8", "surrogatepass").split("\n")))
