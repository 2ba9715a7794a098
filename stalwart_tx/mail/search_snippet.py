"""Highlighted snippets for SearchSnippet/get (RFC 8621 §5).

The text is HTML-escaped, runs of whitespace become one space, control characters are dropped,
and every occurrence of a required query clause is wrapped in `<mark></mark>` (a phrase as a
whole). The result is at most `max_len` octets of HTML in UTF-8 (RFC 8621 §5 limits the preview
to 255 octets, marks included), a window that starts shortly before the first match; it is cut
only between whole characters, so never inside an entity or a tag, and an open `<mark>` is
always closed.
"""

from __future__ import annotations

import html
import re
import unicodedata

from stalwart_tx.mail.search_query import Query, clause_starts
from stalwart_tx.mail.search_text import analyze

OPEN, CLOSE = "<mark>", "</mark>"
# How much of the window is given to text before the first match, so it reads in context.
LEAD_FRACTION = 4
_SPACE = re.compile(r"\s")


def _marked_spans(text: str, query: Query, language: str | None) -> list[tuple[int, int]]:
    analysis = analyze(text, language)
    at = {token.position: token for token in analysis.tokens}
    # A one-word clause can match an extra term (`oneill`, a whole address): mark all it covers.
    extra_spans = {(e.term, e.position): (e.start, e.end) for e in analysis.extras}
    spans: list[tuple[int, int]] = []
    for clause in query.required:
        width = len(clause.slots)
        for start in clause_starts(analysis.terms.positions, clause):
            first, last = at.get(start), at.get(start + width - 1)
            if width == 1:
                spans.extend(
                    extra_spans[term, start]
                    for term in clause.slots[0]
                    if (term, start) in extra_spans
                )
            if first is not None and last is not None:
                spans.append((first.start, last.end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _window_start(text: str, first_match: int, max_len: int) -> int:
    start = max(0, first_match - max_len // LEAD_FRACTION)
    if start == 0 or text[start - 1].isspace():
        return start
    # Begin at a word boundary rather than inside a word.
    space = _SPACE.search(text, start, first_match)
    return space.end() if space else first_match


def _piece(char: str) -> str:
    if char.isspace():
        return " "
    if unicodedata.category(char) == "Cc":
        return ""
    return html.escape(char)


def highlight(text: str, query: Query, max_len: int, language: str | None = None) -> str:
    """Escaped HTML of `text` around the first match, matches in `<mark>`, <= max_len octets.

    With no match, the start of the text (escaped, unmarked). `language` as in document_terms.
    """
    spans = _marked_spans(text, query, language)
    start = _window_start(text, spans[0][0], max_len) if spans else 0
    out: list[str] = []
    used = 0
    span_index = 0
    inside = False
    last_space = True  # no leading space
    for i in range(start, len(text)):
        if inside and i == spans[span_index][1]:
            out.append(CLOSE)
            used += len(CLOSE)
            inside = False
            span_index += 1
        piece = _piece(text[i])
        if piece == " ":
            if last_space:
                continue
            last_space = True
        elif piece:
            last_space = False
        else:
            continue
        opening = not inside and span_index < len(spans) and i == spans[span_index][0]
        size = len(piece.encode("utf-8", "surrogatepass"))
        need = size + (len(OPEN) + len(CLOSE) if opening else len(CLOSE) if inside else 0)
        if used + need > max_len:
            break
        if opening:
            out.append(OPEN)
            used += len(OPEN)
            inside = True
        out.append(piece)
        used += size
        while not inside and span_index < len(spans) and spans[span_index][1] <= i:
            span_index += 1  # a span that fell inside skipped characters
    if inside:
        out.append(CLOSE)
    return "".join(out).rstrip(" ")
