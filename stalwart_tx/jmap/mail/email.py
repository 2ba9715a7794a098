"""The Email data type (RFC 8621 §4): Email/get, /changes, /query, /queryChanges, /set.

* The stored value and indexes are described in ``email_model``; every write goes through
  ``email_write.EmailWork`` (threads, counts, quota, indexes, blob claims).
* /get answers stored properties from the value and parses the blob for the rest
  (``email_get``).
* /set updates keywords and mailboxIds (by whole value or patch) and destroys through the
  generic /set with hooks; creates compose a message (``email_create``).
* /query runs on the indexes (``email_query``).
Email/import, Email/parse and Email/copy live in ``email_import`` and ``email_copy``.
"""

from __future__ import annotations

from typing import Any, Final

from stalwart_tx.jmap.blob_refs import BLOB_REFERENCES
from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.jmap.datatype import (
    DataType,
    FilterSpec,
    Property,
    SortSpec,
    by_property,
)
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.blob_references import register_mail_references
from stalwart_tx.jmap.mail.email_get import (
    DEFAULT_GET_PROPERTIES,
    email_computed,
    is_header_property,
)
from stalwart_tx.jmap.mail.email_model import (
    EMAIL,
    is_keyword,
    normalized_keywords,
)
from stalwart_tx.jmap.mail.email_query import (
    address_sort_key,
    email_query_engine,
    email_query_window,
    keyword_sort_key,
    moved_with_thread,
)
from stalwart_tx.jmap.mail.email_write import EmailWork
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX
from stalwart_tx.jmap.mail.mailbox_defaults import with_default_mailboxes
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer
from stalwart_tx.jmap.registry import MethodSpec, RegistryOptions
from stalwart_tx.jmap.standard import set_errors, standard_methods
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.values import (
    JSON,
    Boolean,
    Id,
    Kind,
    ListOf,
    MapOf,
    Nullable,
    String,
    UnsignedInt,
    UTCDate,
)
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.mail.subject import base_subject
from stalwart_tx.store.records import JSONObject

WORK_KEY: Final = "email"


def email_work(objects: WorkingSet) -> EmailWork:
    """The EmailWork of a computation: one per working set, finished before its batch."""
    return objects.attached(WORK_KEY, EmailWork)


class Keyword(Kind):
    def problem(self, value: Any) -> str | None:
        if not is_keyword(value):
            return "is not a keyword (1-255 of %x21-%x7E except ( ) { ] % * \" \\)"
        return None

    def canonical(self, value: str) -> str:
        """§4.1.1: keywords are case-insensitive, so a patch path names one in any case."""
        return value.lower()


class TrueOnly(Kind):
    def describe(self) -> str:
        return "true"

    def problem(self, value: Any) -> str | None:
        return None if value is True else "must be true"


# no max_items: exceeding the limits is tooManyMailboxes / tooManyKeywords (§4.6), which
# EmailWork checks, not invalidProperties
MAILBOX_IDS = MapOf(Id(MAILBOX), TrueOnly())
KEYWORDS = MapOf(Keyword(), TrueOnly())


async def email_updated(
    call: SetCall, email_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    new["keywords"] = normalized_keywords(new.get("keywords") or {})
    if not new.get("mailboxIds"):
        return set_errors.invalid_properties(["mailboxIds"], "an Email is in at least one mailbox")
    return await email_work(call.objects).change(email_id, old, new)


async def email_destroyed(call: SetCall, email_id: str, value: JSONObject) -> SetError | None:
    work = email_work(call.objects)
    if work.created_here(email_id):
        return SetError("forbidden", "an Email cannot be destroyed in the call that creates it")
    await work.remove(email_id, value)
    return None


async def remove_emails_of_mailbox(call: SetCall, mailbox_id: str) -> None:
    """Mailbox/set onDestroyRemoveEmails (§2.5): emails only in that mailbox are destroyed,
    the others just leave it."""
    from stalwart_tx.jmap.mail.email_model import mailbox_index
    from stalwart_tx.store.records import Index

    page = await call.ctx.store.indexes.index_query(
        call.account_id, Index(mailbox_index(mailbox_id))
    )
    work = email_work(call.objects)
    emails = await call.objects.get(EMAIL, page.ids)
    for email_id, email in emails.items():
        mailbox_ids = dict(email.get("mailboxIds") or {})
        mailbox_ids.pop(mailbox_id, None)
        if mailbox_ids:
            new = {**email, "mailboxIds": mailbox_ids}
            await work.change(email_id, email, new)
            call.objects.update(EMAIL, email_id, new)
        else:
            await work.remove(email_id, email)
            call.objects.destroy(EMAIL, email_id)


def _subject_key(_arguments: Any) -> Any:
    return lambda email: base_subject(email.get("subject") or "")


SERVER_SET = {"server_set": True}
ADDRESSES = Property(JSON(), **SERVER_SET)
KEYWORD_ARGUMENT = {"keyword": Keyword()}
PARSED = Property(JSON(), server_set=True, computed=True)
FLAG = Nullable(Boolean())


def _condition(kind: Kind) -> FilterSpec:
    # the query engine (email_query) reads the parsed values; /query never calls these
    return FilterSpec(kind, lambda _value: lambda _email: True)


EMAIL_TYPE = DataType(
    name=EMAIL,
    capability=MAIL,
    properties={
        "blobId": Property(Id(), **SERVER_SET),
        "threadId": Property(Id(), **SERVER_SET),
        "mailboxIds": Property(MAILBOX_IDS, required=True),
        "keywords": Property(KEYWORDS, default={}),
        "size": Property(UnsignedInt(), **SERVER_SET),
        "receivedAt": Property(UTCDate(), **SERVER_SET),
        "messageId": Property(Nullable(ListOf(String())), **SERVER_SET),
        "inReplyTo": Property(Nullable(ListOf(String())), **SERVER_SET),
        "references": Property(Nullable(ListOf(String())), **SERVER_SET),
        "sender": ADDRESSES,
        "from": ADDRESSES,
        "to": ADDRESSES,
        "cc": ADDRESSES,
        "bcc": ADDRESSES,
        "replyTo": ADDRESSES,
        "subject": Property(Nullable(String()), **SERVER_SET),
        "sentAt": Property(JSON(), **SERVER_SET),
        "hasAttachment": Property(Boolean(), **SERVER_SET),
        "preview": Property(String(), **SERVER_SET),
        "headers": PARSED,
        "bodyStructure": PARSED,
        "bodyValues": PARSED,
        "textBody": PARSED,
        "htmlBody": PARSED,
        "attachments": PARSED,
    },
    default_get_properties=DEFAULT_GET_PROPERTIES,
    is_dynamic_property=is_header_property,
    compute=email_computed,
    on_update=email_updated,
    on_destroy=email_destroyed,
    filters={
        "inMailbox": _condition(Id()),
        "inMailboxOtherThan": _condition(ListOf(Id())),
        "before": _condition(UTCDate()),
        "after": _condition(UTCDate()),
        "minSize": _condition(UnsignedInt()),
        "maxSize": _condition(UnsignedInt()),
        "allInThreadHaveKeyword": _condition(Keyword()),
        "someInThreadHaveKeyword": _condition(Keyword()),
        "noneInThreadHaveKeyword": _condition(Keyword()),
        "hasKeyword": _condition(Keyword()),
        "notKeyword": _condition(Keyword()),
        "hasAttachment": _condition(Boolean()),
        "text": _condition(String()),
        "from": _condition(String()),
        "to": _condition(String()),
        "cc": _condition(String()),
        "bcc": _condition(String()),
        "subject": _condition(String()),
        "body": _condition(String()),
        "header": _condition(ListOf(String(), min_items=1, max_items=2)),
    },
    sorts={
        "receivedAt": by_property("receivedAt", immutable=True),
        "size": by_property("size", immutable=True),
        "from": SortSpec(address_sort_key("from"), immutable=True),
        "to": SortSpec(address_sort_key("to"), immutable=True),
        "subject": SortSpec(_subject_key, immutable=True),
        "sentAt": by_property("sentAt", immutable=True),
        "hasKeyword": SortSpec(keyword_sort_key("hasKeyword"), arguments=KEYWORD_ARGUMENT),
        "allInThreadHaveKeyword": SortSpec(keyword_sort_key("_all"), arguments=KEYWORD_ARGUMENT),
        "someInThreadHaveKeyword": SortSpec(keyword_sort_key("_some"), arguments=KEYWORD_ARGUMENT),
    },
    query_engine=email_query_engine,
    query_window=email_query_window,
    moved_along=moved_with_thread,
    extra_arguments={
        "get": {
            "bodyProperties": Nullable(ListOf(String())),
            "fetchTextBodyValues": FLAG,
            "fetchHTMLBodyValues": FLAG,
            "fetchAllBodyValues": FLAG,
            "maxBodyValueBytes": Nullable(UnsignedInt()),
        },
        "query": {"collapseThreads": FLAG},
        "queryChanges": {"collapseThreads": FLAG},
    },
)


def _email_methods(analyzer: MessageAnalyzer | None) -> list[MethodSpec]:
    from stalwart_tx.jmap.mail.email_copy import email_copy_method
    from stalwart_tx.jmap.mail.email_create import email_set_method

    specs = [s for s in standard_methods(EMAIL_TYPE) if s.name != "Email/set"]
    return with_default_mailboxes([
        *specs, email_set_method(EMAIL_TYPE, analyzer), email_copy_method(EMAIL_TYPE, analyzer),
    ])


def methods(options: RegistryOptions) -> list[MethodSpec]:
    """The methods, storing messages analysed by the analyzer of ``options``."""
    return _email_methods(options.analyzer)


# The registry is built with ``methods``; this copy, analysing in threads, serves callers that
# run an Email/set of their own without creating emails (EmailSubmission's onSuccessUpdateEmail).
METHODS = _email_methods(None)

# what Blob/lookup and the blob capability read (types register as their modules load)
register_mail_references(BLOB_REFERENCES)
