"""The exact test of an Email filter on one email, for candidates the indexes could not decide.

Every condition of §4.4.1 is evaluated on the stored value where it can be; text conditions on
the message's search document and header conditions on its header fields (the blob is parsed,
once per email, only when the filter has such a condition); thread keyword conditions on the
keywords of every email of the thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stalwart_tx.jmap.mail.email_model import EMAIL, date_seconds, received_score
from stalwart_tx.jmap.mail.message_analysis import parse
from stalwart_tx.jmap.standard.calls import QueryCall
from stalwart_tx.jmap.standard.filters import FilterCondition, FilterNode, FilterOperator
from stalwart_tx.mail.encoded_words import as_text
from stalwart_tx.mail.parse import ParsedMessage
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

_TEXT = ("text", "from", "to", "cc", "bcc", "subject", "body")
_PARSED = (*_TEXT, "header")


def _conditions(node: FilterNode) -> list[FilterCondition]:
    if isinstance(node, FilterOperator):
        return [c for child in node.conditions for c in _conditions(child)]
    return [node]


class Residual:
    def __init__(self, call: QueryCall) -> None:
        self.call = call

    async def matching(self, ids: list[str], node: FilterNode) -> list[str]:
        account = self.call.account_id
        store = self.call.ctx.store
        emails = await store.accounts.get(account, EMAIL, ids)
        names = {name for c in _conditions(node) for name in c.values}
        parsed: dict[str, ParsedMessage] = {}
        if names & set(_PARSED):
            for email_id, stored in emails.items():
                try:
                    raw = await store.blobs.get(account, str(stored["blobId"]))
                except BlobNotFound:
                    raw = b""
                parsed[email_id] = await parse(self.call.ctx.reactor, raw)
        threads: dict[str, tuple[set[str], set[str]]] = {}
        if names & {"allInThreadHaveKeyword", "someInThreadHaveKeyword",
                    "noneInThreadHaveKeyword"}:
            from stalwart_tx.jmap.mail.email_query import keywords_by_thread

            threads = await keywords_by_thread(self.call, emails.values())
        kept = []
        for email_id in ids:
            email = emails.get(email_id)
            if email is None:
                continue
            thread = threads.get(str(email.get("threadId")), (set(), set()))
            if _matches(node, email, parsed.get(email_id), thread):
                kept.append(email_id)
        return kept


def _matches(
    node: FilterNode, email: JSONObject, parsed: ParsedMessage | None,
    thread: tuple[set[str], set[str]],
) -> bool:
    if isinstance(node, FilterOperator):
        results = (_matches(c, email, parsed, thread) for c in node.conditions)
        if node.operator == "AND":
            return all(results)
        if node.operator == "OR":
            return any(results)
        return not any(results)
    return all(
        _condition(name, value, email, parsed, thread) for name, value in node.values.items()
    )


def _condition(
    name: str, value: Any, email: Mapping[str, Any], parsed: ParsedMessage | None,
    thread: tuple[set[str], set[str]],
) -> bool:
    keywords = email.get("keywords") or {}
    mailboxes = email.get("mailboxIds") or {}
    if name == "inMailbox":
        return value in mailboxes
    if name == "inMailboxOtherThan":
        return any(m not in set(value) for m in mailboxes)
    if name == "before":
        return received_score(email) < date_seconds(value)
    if name == "after":
        return received_score(email) >= date_seconds(value)
    if name == "minSize":
        return int(email["size"]) >= int(value)
    if name == "maxSize":
        return int(email["size"]) < int(value)
    if name == "hasKeyword":
        return str(value).lower() in keywords
    if name == "notKeyword":
        return str(value).lower() not in keywords
    if name == "hasAttachment":
        return bool(email.get("hasAttachment")) is value
    all_in, some_in = thread
    if name == "allInThreadHaveKeyword":
        return value.lower() in all_in
    if name == "someInThreadHaveKeyword":
        return value.lower() in some_in
    if name == "noneInThreadHaveKeyword":
        return value.lower() not in some_in
    if parsed is None:
        return False
    if name == "header":
        return _header_matches(parsed, value)
    from stalwart_tx.jmap.mail.email_search import search_document, text_filter

    return text_filter(name, value).matches(search_document(parsed))


def _header_matches(parsed: ParsedMessage, value: list[str]) -> bool:
    """§4.4.1 header: the header field exists, and (with a second item) its value, decoded and
    unfolded, contains that text (case-insensitively)."""
    wanted = value[0].lower()
    found = [h for h in parsed.headers if h.name.lower() == wanted]
    if len(value) == 1:
        return bool(found)
    needle = value[1].casefold()
    return any(needle in as_text(h.value).casefold() for h in found)
