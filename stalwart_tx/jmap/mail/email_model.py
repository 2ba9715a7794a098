"""What an Email is in the store: its stored value, its keywords, the names of its indexes.

An Email's stored value holds what never needs the message to answer (RFC 8621 §4.1.1 metadata)
and the convenience header properties of §4.1.3 that lists show (from, subject, preview...), so
a mailbox listing reads one small JSON value per email. Everything else (headers, bodyStructure,
bodyValues, ``header:`` properties) is parsed from the message blob when asked for.

Derived data, written in the same atomic step as the Email (IIndexStore), every index scored by
the email's receivedAt in Unix seconds, so any combination of them comes out in date order:

* ``Email:all``                    every email
* ``Email:mailbox:<mailbox id>``   the emails in a mailbox
* ``Email:keyword:<keyword>``      the emails with a keyword
* ``Email:hasAttachment``          the emails with hasAttachment
* ``Email:term:<field>:<term>``    full-text postings (``email_search``)
* ``Email:size``                   every email, scored by its size instead (minSize, maxSize)
* map ``Email:thread``             email id -> thread id (collapseThreads without loading emails)
* map ``Email:terms``              email id -> its postings, so their removal takes exactly those
* ``Email:pendingPostings``        emails whose postings are still to be written (their terms
                                   wait in ``Email:terms``): ``email_write`` writes them many
                                   emails at a time, and before any text query
* ``Email:stalePostings``          destroyed emails whose postings are still to be removed: a
                                   text search keeps to ``Email:all``, and ``email_write``
                                   removes them many emails at a time
* map ``Email:languages``          language code -> "1" for every language whose stems some
                                   email's postings ever held (never removed: a text query
                                   looks up stems in these languages only)
"""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from stalwart_tx.mail.parse import ParsedMessage
from stalwart_tx.store.records import JSONObject

EMAIL: Final = "Email"
THREAD: Final = "Thread"

ALL_INDEX: Final = "Email:all"
SIZE_INDEX: Final = "Email:size"
ATTACHMENT_INDEX: Final = "Email:hasAttachment"
THREAD_MAP: Final = "Email:thread"
TERMS_MAP: Final = "Email:terms"
STALE_POSTINGS_INDEX: Final = "Email:stalePostings"
PENDING_POSTINGS_INDEX: Final = "Email:pendingPostings"
LANGUAGES_MAP: Final = "Email:languages"

# §4.1.1: keywords are case-insensitive; the server stores and returns them lower-cased.
SEEN: Final = "$seen"
DRAFT: Final = "$draft"
# IMAP's \Deleted, kept as a keyword until EXPUNGE
DELETED: Final = "$deleted"
# RFC 8621 §4.1.1: 1-255 of %x21-%x7E except ( ) { ] % * " \
_KEYWORD = re.compile(r'[\x21-\x7e]{1,255}')
_KEYWORD_FORBIDDEN = frozenset('(){]%*"\\')
# the server-defined maximum of keywords on one Email; more is tooManyKeywords (§4.6)
MAX_KEYWORDS_PER_EMAIL: Final = 1000

# The properties kept in the stored value (beyond them, /get parses the blob).
STORED_PROPERTIES: Final = (
    "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
    "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject",
    "sentAt", "hasAttachment", "preview",
)


def mailbox_index(mailbox_id: str) -> str:
    return f"Email:mailbox:{mailbox_id}"


def keyword_index(keyword: str) -> str:
    return f"Email:keyword:{keyword.lower()}"


def is_keyword(value: Any) -> bool:
    return (
        isinstance(value, str)
        and _KEYWORD.fullmatch(value) is not None
        and not _KEYWORD_FORBIDDEN.intersection(value)
    )


def normalized_keywords(keywords: Mapping[str, Any]) -> dict[str, bool]:
    return {keyword.lower(): True for keyword in keywords}


def is_unread(email: Mapping[str, Any]) -> bool:
    """§2: unread means neither $seen nor $draft."""
    keywords = email.get("keywords") or {}
    return SEEN not in keywords and DRAFT not in keywords


def utc_date(seconds: float) -> str:
    """A UTCDate (RFC 8620 §1.4) of whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)


# an update works out the index scores of the email before and after it, from the same date
@functools.lru_cache(maxsize=4096)
def date_seconds(utc: str) -> float:
    """Unix seconds of a UTCDate (fractional seconds kept)."""
    whole, _, fraction = utc.rstrip("Z").partition(".")
    if _PLAIN_DATE.fullmatch(whole) and whole[17:19] < "60":
        # the form every stored date has; strptime would cost ten times as much (datetime
        # checks the fields as strptime does; leap seconds are left to strptime)
        seconds = calendar.timegm(datetime.datetime(
            int(whole[0:4]), int(whole[5:7]), int(whole[8:10]),
            int(whole[11:13]), int(whole[14:16]), int(whole[17:19]),
        ).timetuple())
    else:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


def received_score(email: Mapping[str, Any]) -> float:
    return date_seconds(str(email["receivedAt"]))


def header_index(name: str) -> str:
    """The emails that have a header field of that name (Email/query's ``header`` filter)."""
    return f"Email:header:{name.lower()}"


def message_fields(parsed: ParsedMessage) -> JSONObject:
    """The stored properties that the message alone determines."""
    return {
        "size": parsed.size,
        "messageId": parsed.message_id,
        "inReplyTo": parsed.in_reply_to,
        "references": parsed.references,
        "sender": parsed.sender,
        "from": parsed.from_,
        "to": parsed.to,
        "cc": parsed.cc,
        "bcc": parsed.bcc,
        "replyTo": parsed.reply_to,
        "subject": parsed.subject,
        "sentAt": parsed.sent_at,
        "hasAttachment": parsed.has_attachment,
        "preview": parsed.preview,
    }


def stored_email(
    fields: Mapping[str, Any],
    *,
    blob_id: str,
    thread_id: str,
    mailbox_ids: Mapping[str, bool],
    keywords: Mapping[str, bool],
    received_at: str,
) -> JSONObject:
    """The stored value of a new Email, from its ``message_fields``."""
    return {
        "blobId": blob_id,
        "threadId": thread_id,
        "mailboxIds": dict(mailbox_ids),
        "keywords": normalized_keywords(keywords),
        "receivedAt": received_at,
        **fields,
    }


__all__ = [
    "ALL_INDEX",
    "ATTACHMENT_INDEX",
    "DRAFT",
    "EMAIL",
    "MAX_KEYWORDS_PER_EMAIL",
    "PENDING_POSTINGS_INDEX",
    "SEEN",
    "SIZE_INDEX",
    "STALE_POSTINGS_INDEX",
    "STORED_PROPERTIES",
    "TERMS_MAP",
    "THREAD",
    "THREAD_MAP",
    "date_seconds",
    "header_index",
    "is_keyword",
    "is_unread",
    "keyword_index",
    "mailbox_index",
    "message_fields",
    "normalized_keywords",
    "received_score",
    "stored_email",
    "utc_date",
]
