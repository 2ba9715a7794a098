"""Full-text search of Email (RFC 8621 §4.4.1 text conditions): one import for the Email code.

- email_search_document: the searchable text of a message (SearchDocument, search_document),
  its terms (document_positions) and index postings (postings, encode_postings,
  decode_postings);
- email_search_filter: a text condition as a plan over those postings with an exact test
  (text_filter, TextFilter).
"""

from __future__ import annotations

from stalwart_tx.jmap.mail.email_search_document import (
    ADDRESS_HEADERS,
    MAX_BODY_TEXT,
    POSTING_PREFIX,
    SEARCH_FIELDS,
    SearchDocument,
    decode_postings,
    document_positions,
    encode_postings,
    field_terms,
    posting,
    postings,
    search_document,
)
from stalwart_tx.jmap.mail.email_search_filter import (
    TEXT_FIELD,
    TextFilter,
    plan_leaves,
    text_filter,
)

__all__ = [
    "ADDRESS_HEADERS",
    "MAX_BODY_TEXT",
    "POSTING_PREFIX",
    "SEARCH_FIELDS",
    "TEXT_FIELD",
    "SearchDocument",
    "TextFilter",
    "decode_postings",
    "document_positions",
    "encode_postings",
    "field_terms",
    "plan_leaves",
    "posting",
    "postings",
    "search_document",
    "text_filter",
]
