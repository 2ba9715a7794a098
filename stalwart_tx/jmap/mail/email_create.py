"""Email/set creates (RFC 8621 §4.6): a message composed from the create object, then stored.

The message-defining properties (headers, bodyStructure or textBody/htmlBody/attachments,
bodyValues...) go to ``mail.compose``; the composed bytes become a blob of the account and the
Email is stored from them exactly as an imported message would be, so what /get shows is what
the message says. ``created`` answers id, blobId, threadId and size (§4.6).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import SET, DataType
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.email_model import is_keyword, utc_date
from stalwart_tx.jmap.mail.email_write import NewEmail
from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer, analyzer_or_default
from stalwart_tx.jmap.registry import MethodSpec
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.references import resolver
from stalwart_tx.jmap.standard.set import SetComputation, SetRequest, set_objects
from stalwart_tx.jmap.standard.values import UnresolvedReference, UTCDate
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

METADATA: Final = ("mailboxIds", "keywords", "receivedAt")
# Properties a create may not give (§4.6: server-set ones and those of the stored message).
SERVER_SET: Final = frozenset({"id", "blobId", "threadId", "size", "hasAttachment", "preview"})


@dataclass
class CallMemo:
    """What the attempts of one Email/set or Email/copy call share. An attempt that starts
    over after a write conflict composes and analyses nothing again: a created message keeps its
    bytes (creation id -> the properties it was made from, and the message), and bytes (by blob
    id) keep their analysis."""

    composed: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    analysed: dict[str, AnalyzedMessage] = field(default_factory=dict)


class EmailSetComputation(SetComputation):
    """``analyzer`` analyses the messages stored (None: the thread pool of the reactor)."""

    def __init__(
        self, call: SetCall, analyzer: MessageAnalyzer | None = None,
        memo: CallMemo | None = None,
    ) -> None:
        super().__init__(call)
        self.analyzer = analyzer_or_default(analyzer, call.ctx.reactor)
        self.memo = CallMemo() if memo is None else memo

    async def destroy_all(self, destroys: dict[str, str | None]) -> None:
        from stalwart_tx.jmap.mail.email import email_work

        ids = [i for i in destroys.values() if i]
        olds = await self.objects.view(self.data_type.name, ids)
        await email_work(self.objects).prepare_removal(olds)
        await super().destroy_all(destroys)

    async def add_computed_to_created(self) -> None:
        """§4.6: ``created`` has id, blobId, threadId and size only, set by ``_create``."""

    async def _create(
        self, creation_id: str, given: Any, waiting: frozenset[str]
    ) -> SetError | None:

        if not isinstance(given, dict):
            return set_errors.invalid_properties([], "an Email must be an object")
        refused = sorted(name for name in given if name in SERVER_SET)
        if refused:
            return set_errors.invalid_properties(
                refused, "server-set properties: " + ", ".join(refused)
            )
        ctx = self.call.ctx
        metadata = self.metadata(given, default_received=utc_date(ctx.reactor.seconds()))
        if isinstance(metadata, SetError):
            return metadata
        mailbox_ids, keywords, received_at = metadata

        raw_or_error = await self._composed_once(
            creation_id, {k: v for k, v in given.items() if k not in METADATA}
        )
        if isinstance(raw_or_error, SetError):
            return raw_or_error
        return await self.store_new(creation_id, raw_or_error, mailbox_ids, keywords, received_at)

    async def store_new(
        self, creation_id: str, raw: bytes, mailbox_ids: dict[str, bool],
        keywords: dict[str, bool], received_at: str,
    ) -> SetError | None:
        """Store ``raw`` as a blob of the account and a new Email of it; record it as created."""
        from stalwart_tx.jmap.mail.email import email_work

        ctx = self.call.ctx
        info = await ctx.store.blobs.put(self.call.account_id, raw)
        message = self.memo.analysed.get(info.blob_id)
        if message is None:
            message = self.memo.analysed[info.blob_id] = await self.analyzer.analyze(raw)
        added = await email_work(self.objects).add(NewEmail(
            message, info.blob_id, mailbox_ids, keywords, received_at,
        ))
        if isinstance(added, SetError):
            return added
        email_id, value = added
        self.outcome.created_ids[creation_id] = email_id
        self.outcome.created[creation_id] = created_entry(email_id, value)
        return None

    def metadata(
        self, given: dict[str, Any], default_received: str
    ) -> tuple[dict[str, bool], dict[str, bool], str] | SetError:
        """mailboxIds (``#creationId`` resolved), keywords and receivedAt of a new Email."""
        from stalwart_tx.jmap.mail.email import MAILBOX_IDS

        resolve = resolver(self.call.ctx, self.outcome.created_ids)
        try:
            mailbox_ids = MAILBOX_IDS.resolve(given.get("mailboxIds"), resolve)
        except UnresolvedReference as unresolved:
            return set_errors.invalid_properties(
                ["mailboxIds"], f"refers to {unresolved.reference}, which was not created"
            )
        problem = MAILBOX_IDS.problem(mailbox_ids)
        if problem is not None:
            return set_errors.invalid_properties(["mailboxIds"], f"mailboxIds {problem}")
        keywords = given.get("keywords") or {}
        if not isinstance(keywords, dict) or not all(
            is_keyword(k) and v is True for k, v in keywords.items()
        ):
            return set_errors.invalid_properties(["keywords"], "keywords must map keywords to true")
        received_at = given.get("receivedAt")
        if received_at is None:
            received_at = default_received
        elif UTCDate().problem(received_at) is not None:
            return set_errors.invalid_properties(["receivedAt"], "receivedAt is not a UTCDate")
        return mailbox_ids, keywords, received_at

    async def _composed_once(self, creation_id: str, email: dict[str, Any]) -> bytes | SetError:
        """``_compose``, or the message an earlier attempt of the call composed from the same
        properties (so it keeps its Message-ID and Date, and its analysis is reused)."""
        fingerprint = json.dumps(email, sort_keys=True, default=repr)
        kept = self.memo.composed.get(creation_id)
        if kept is not None and kept[0] == fingerprint:
            return kept[1]
        composed = await self._compose(email)
        if not isinstance(composed, SetError):
            self.memo.composed[creation_id] = (fingerprint, composed)
        return composed

    async def _compose(self, email: dict[str, Any]) -> bytes | SetError:
        from stalwart_tx.mail.compose import ComposeError, compose_message

        ctx, account_id = self.call.ctx, self.call.account_id

        async def read_blob(blob_id: str) -> bytes | None:
            try:
                return await ctx.store.blobs.get(account_id, blob_id)
            except BlobNotFound:
                return None

        now = datetime.datetime.fromtimestamp(ctx.reactor.seconds(), datetime.UTC)
        try:
            return await compose_message(
                email, read_blob, now=now, message_id_domain=message_id_domain(ctx)
            )
        except ComposeError as error:
            if getattr(error, "not_found_blob_ids", None):
                return SetError(
                    "blobNotFound", error.description,
                    extra={"notFound": list(error.not_found_blob_ids)},
                )
            return set_errors.invalid_properties(list(error.properties), error.description)


def created_entry(email_id: str, value: JSONObject) -> JSONObject:
    """What ``created`` answers for a new Email (§4.6, §4.7, §4.8): id, blobId, threadId, size."""
    return {
        "id": email_id, "blobId": value["blobId"], "threadId": value["threadId"],
        "size": value["size"],
    }


def message_id_domain(ctx: Any) -> str:
    """The right-hand side of Message-IDs the server makes: its public host name."""
    from urllib.parse import urlsplit

    host = urlsplit(str(getattr(ctx, "public_url", "") or "")).hostname
    return host or "localhost"


def email_set_method(data_type: DataType, analyzer: MessageAnalyzer | None = None) -> MethodSpec:
    async def email_set(ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject:
        computation = partial(EmailSetComputation, analyzer=analyzer, memo=CallMemo())
        return await set_objects(data_type, ctx, arguments, computation_class=computation,
                                 take_turn=_not_just_keywords)

    return MethodSpec(
        name=data_type.method_name(SET), capability=data_type.capability, handler=email_set,
        writes=True,
    )


def _not_just_keywords(request: SetRequest) -> bool:
    """Whether an Email/set waits its turn among the account's writers in this process: all but
    changes of keywords other than $seen do. Those read just the emails they change, conditions
    one by one, so flag changes of several sessions run side by side instead of queueing. ($seen
    moves the counts of the email's thread and mailboxes, conditions as a whole that every other
    such change would conflict with.)"""
    if request.create or request.destroy or request.if_in_state is not None:
        return True
    return not all(
        isinstance(patch, dict) and all(
            isinstance(path, str) and path.startswith("keywords/")
            and path.lower() != "keywords/$seen" for path in patch
        )
        for patch in request.update.values()
    )
