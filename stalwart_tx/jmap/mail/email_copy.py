"""Email/copy (RFC 8621 §4.7): an email of one account copied into another.

The generic Foo/copy (RFC 8620 §5.4) runs the phases; an Email copy is a new Email of the
target account made from the original's message (its bytes stored again, as blobs belong to
one account), with the entry's mailboxIds, keywords and receivedAt (the original's where the
entry gives none). It threads, counts and uses quota in the target account like an import.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.datatype import COPY, DataType
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.email_create import CallMemo, EmailSetComputation
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer
from stalwart_tx.jmap.registry import MethodSpec, Responses
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.copy import copy
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

# §4.7: what an entry of ``create`` may give besides the id of the original
COPY_PROPERTIES: Final = frozenset({"mailboxIds", "keywords", "receivedAt"})


class EmailCopyComputation(EmailSetComputation):
    async def create_copy(
        self, creation_id: str, merged: JSONObject, original: JSONObject
    ) -> str | None:
        savepoint = self.objects.savepoint()
        error = await self._copy(creation_id, merged, original)
        if error is not None:
            self.objects.rollback(savepoint)
            self.outcome.not_created[creation_id] = error
            return None
        return self.outcome.created_ids[creation_id]

    async def _copy(
        self, creation_id: str, merged: JSONObject, original: JSONObject
    ) -> SetError | None:

        unknown = sorted(set(merged) - COPY_PROPERTIES)
        if unknown:
            return set_errors.invalid_properties(
                unknown, "a copy may only set mailboxIds, keywords and receivedAt"
            )
        metadata = self.metadata(merged, default_received=str(original["receivedAt"]))
        if isinstance(metadata, SetError):
            return metadata
        mailbox_ids, keywords, received_at = metadata
        ctx = self.call.ctx
        from_account_id = str(self.call.arguments["fromAccountId"])
        try:
            raw = await ctx.store.blobs.get(from_account_id, str(original["blobId"]))
        except BlobNotFound:
            return set_errors.not_found("the message of the original is gone")
        return await self.store_new(creation_id, raw, mailbox_ids, keywords, received_at)


def email_copy_method(data_type: DataType, analyzer: MessageAnalyzer | None = None) -> MethodSpec:
    async def email_copy(ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject | Responses:
        computation = partial(EmailCopyComputation, analyzer=analyzer, memo=CallMemo())
        return await copy(data_type, ctx, arguments, computation_class=computation)

    return MethodSpec(
        name=data_type.method_name(COPY), capability=data_type.capability, handler=email_copy,
        writes=True,
    )
