"""SearchSnippet/get (RFC 8621 §5): where an email matches a search, highlighted.

For each email, ``subject`` is its subject with the words of the filter's ``text`` and
``subject`` conditions in ``<mark>``, and ``preview`` a window of its body text around the
first match of the ``text`` and ``body`` conditions; each is null when nothing there matches.
Words under NOT or negated (``-word``) are never highlighted. The HTML is escaped text plus
``<mark>`` only (``mail.search_snippet``).
"""

from __future__ import annotations

from typing import Any, Final

from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.email_model import EMAIL
from stalwart_tx.jmap.mail.message_analysis import parse
from stalwart_tx.jmap.registry import MethodSpec
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard.filters import (
    FilterCondition,
    FilterNode,
    FilterOperator,
    parse_filter,
)
from stalwart_tx.mail.search_query import Clause, Query, parse_query
from stalwart_tx.mail.search_snippet import OPEN, highlight
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

KNOWN_ARGUMENTS: Final = ("accountId", "filter", "emailIds")
# In UTF-8 octets, marks included. §5 sets no limit on the subject: this keeps 255 characters
# of any script, as before the limits were octets.
SUBJECT_LENGTH: Final = 255 * 4
PREVIEW_LENGTH: Final = 255  # §5: "MUST NOT be bigger than 255 octets in size"


def _positive_texts(node: FilterNode | None, negated: bool = False) -> list[tuple[str, str]]:
    """(property, text) of the text conditions not under a NOT."""
    if node is None:
        return []
    if isinstance(node, FilterOperator):
        inner = negated or node.operator == "NOT"
        return [t for child in node.conditions for t in _positive_texts(child, inner)]
    assert isinstance(node, FilterCondition)
    if negated:
        return []
    return [(name, str(value)) for name, value in node.values.items()
            if name in ("text", "subject", "body")]


def _query(texts: list[tuple[str, str]], fields: tuple[str, ...]) -> Query | None:
    required: list[Clause] = []
    for name, text in texts:
        if name in fields:
            required.extend(parse_query(text).required)
    return Query(tuple(required), ()) if required else None


def _marked(text: str, query: Query | None, max_len: int, language: str | None) -> str | None:
    if query is None or not text:
        return None
    found = highlight(text, query, max_len, language)
    return found if OPEN in found else None


async def search_snippet_get(ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject:
    from stalwart_tx.jmap.mail.email import EMAIL_TYPE
    from stalwart_tx.jmap.mail.email_search import search_document

    unknown = sorted(set(arguments) - set(KNOWN_ARGUMENTS))
    if unknown:
        raise MethodError.invalid_arguments(f"unknown arguments: {', '.join(unknown)}")
    account_id = args.account_id(ctx, arguments)
    email_ids = args.optional_strings(arguments, "emailIds")
    if email_ids is None:
        raise MethodError.invalid_arguments("emailIds is required")
    if len(email_ids) > ctx.limits.maxObjectsInGet:
        raise MethodError.request_too_large(f"at most {ctx.limits.maxObjectsInGet} emailIds")
    texts = _positive_texts(parse_filter(EMAIL_TYPE, arguments.get("filter")))
    subject_query = _query(texts, ("text", "subject"))
    body_query = _query(texts, ("text", "body"))
    wanted = list(dict.fromkeys(email_ids))
    stored = await ctx.store.accounts.get(account_id, EMAIL, wanted)
    snippets = []
    for email_id in wanted:
        email = stored.get(email_id)
        if email is None:
            continue
        subject = preview = None
        if subject_query is not None or body_query is not None:
            try:
                raw = await ctx.store.blobs.get(account_id, str(email["blobId"]))
            except BlobNotFound:
                raw = b""
            document = search_document(await parse(ctx.reactor, raw))
            language = document.language
            subject = _marked(document.texts.get("subject", ""), subject_query,
                              SUBJECT_LENGTH, language)
            preview = _marked(document.texts.get("body", ""), body_query, PREVIEW_LENGTH,
                              language)
        snippets.append({"emailId": email_id, "subject": subject, "preview": preview})
    not_found = [i for i in wanted if i not in stored]
    return {"accountId": account_id, "list": snippets, "notFound": not_found or None}


METHODS = [
    MethodSpec(name="SearchSnippet/get", capability=MAIL, handler=search_snippet_get,
               writes=False),
]
