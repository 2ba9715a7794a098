"""Everything storing a message needs to know of its bytes, worked out once and off the reactor.

Parsing a message and indexing its text cost CPU in proportion to its size (a second or more
for tens of megabytes), so ``analyze`` runs ``analyze_message`` on the reactor's thread pool:
other clients keep being served meanwhile. It runs before a write's optimistic computation, so a
retried write does not analyze again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.threads import deferToThreadPool

from stalwart_tx.jmap.mail.email_model import header_index, message_fields
from stalwart_tx.mail.parse import ParsedMessage, parse_message
from stalwart_tx.store.records import JSONObject


@dataclass(frozen=True)
class AnalyzedMessage:
    """Plain data (JSON values and strings), so it crosses to and from worker processes."""

    # the Email's stored properties the message determines (``email_model.message_fields``)
    fields: JSONObject
    # full-text postings and header-name indexes the email belongs to
    postings: tuple[str, ...]
    # the same, encoded for the email's entry in the terms map (email_search.encode_postings):
    # compressing is CPU work, done here so it happens where the analysis does
    packed_postings: str
    # the language whose stems the postings hold (a SNOWBALL_NAMES code), if any
    language: str | None

    @property
    def size(self) -> int:
        return int(self.fields["size"])


def analyze_message(raw: bytes) -> AnalyzedMessage:
    """Parse and index a message; never raises (a broken message indexes what it can)."""
    from stalwart_tx.jmap.mail.email_search import encode_postings, postings, search_document

    parsed = parse_message(raw)
    document = search_document(parsed)
    names = postings(document)
    names += sorted({header_index(h.name) for h in parsed.headers if h.name})
    return AnalyzedMessage(
        message_fields(parsed), tuple(names), encode_postings(names), document.language
    )


async def analyze(reactor: Any, raw: bytes) -> AnalyzedMessage:
    """``analyze_message`` on the reactor's thread pool."""
    analyzed: AnalyzedMessage = await deferToThreadPool(
        reactor, reactor.getThreadPool(), analyze_message, raw
    )
    return analyzed


async def parse(reactor: Any, raw: bytes) -> ParsedMessage:
    """``parse_message`` on the reactor's thread pool (for reading a stored message)."""
    parsed: ParsedMessage = await deferToThreadPool(
        reactor, reactor.getThreadPool(), parse_message, raw
    )
    return parsed
