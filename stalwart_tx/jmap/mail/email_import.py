"""Email/import (RFC 8621 §4.8) and Email/parse (§4.9).

Import stores messages already uploaded as blobs: every import of the call is one atomic write
(with its threads, counts, quota and indexes), retried as a whole on a conflict like /set.
Parse reads a blob (or a message/rfc822 part of one, by part blob id) without storing anything.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.mail.email_create import created_entry
from stalwart_tx.jmap.mail.email_get import check_arguments, is_header_property, parsed_values
from stalwart_tx.jmap.mail.email_model import EMAIL, is_keyword, utc_date
from stalwart_tx.jmap.mail.email_write import NewEmail
from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage, parse
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer, analyzer_or_default
from stalwart_tx.jmap.registry import MethodSpec, RegistryOptions
from stalwart_tx.jmap.standard import arguments as args
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.jmap.standard.references import resolver
from stalwart_tx.jmap.standard.retry import optimistically, write_passing_turn
from stalwart_tx.jmap.standard.values import UnresolvedReference, UTCDate
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.mail.blob_ids import parse_part_blob_id
from stalwart_tx.mail.parse import ParsedMessage, part_content
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject

IMPORT_ARGUMENTS: Final = ("accountId", "ifInState", "emails")
PARSE_ARGUMENTS: Final = (
    "accountId", "blobIds", "properties", "bodyProperties", "fetchTextBodyValues",
    "fetchHTMLBodyValues", "fetchAllBodyValues", "maxBodyValueBytes",
)
PARSE_DEFAULT_PROPERTIES: Final = (
    "messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo",
    "subject", "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody",
    "attachments",
)
# §4.9: what a parsed message has no value for
METADATA_PROPERTIES: Final = ("id", "mailboxIds", "keywords", "receivedAt", "threadId")
MESSAGE_PROPERTIES: Final = (
    "blobId", "size", "messageId", "inReplyTo", "references", "sender", "from", "to", "cc",
    "bcc", "replyTo", "subject", "sentAt", "hasAttachment", "preview",
)


def _check_known(arguments: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise MethodError.invalid_arguments(f"unknown arguments: {', '.join(unknown)}")


def _import_entry(
    ctx: RequestContext, created: dict[str, str], entry: Any
) -> dict[str, Any] | SetError:
    from stalwart_tx.jmap.mail.email import MAILBOX_IDS

    if not isinstance(entry, dict):
        return set_errors.invalid_properties([], "an EmailImport must be an object")
    unknown = sorted(set(entry) - {"blobId", "mailboxIds", "keywords", "receivedAt"})
    if unknown:
        return set_errors.invalid_properties(unknown, "unknown properties: " + ", ".join(unknown))
    blob_id = entry.get("blobId")
    if not isinstance(blob_id, str):
        return set_errors.invalid_properties(["blobId"], "blobId is required")
    if blob_id.startswith("#"):
        blob_id = ctx.created_ids.get(blob_id[1:], blob_id)
    try:
        mailbox_ids = MAILBOX_IDS.resolve(entry.get("mailboxIds"), resolver(ctx, created))
    except UnresolvedReference as unresolved:
        return set_errors.invalid_properties(
            ["mailboxIds"], f"refers to {unresolved.reference}, which was not created"
        )
    if MAILBOX_IDS.problem(mailbox_ids) is not None or not mailbox_ids:
        return set_errors.invalid_properties(["mailboxIds"], "mailboxIds must name mailboxes")
    keywords = entry.get("keywords") or {}
    if not isinstance(keywords, dict) or not all(
        is_keyword(k) and v is True for k, v in keywords.items()
    ):
        return set_errors.invalid_properties(["keywords"], "keywords must map keywords to true")
    received_at = entry.get("receivedAt")
    if received_at is not None and UTCDate().problem(received_at) is not None:
        return set_errors.invalid_properties(["receivedAt"], "receivedAt is not a UTCDate")
    return {"blobId": blob_id, "mailboxIds": mailbox_ids, "keywords": keywords,
            "receivedAt": received_at}


async def email_import(
    ctx: RequestContext, arguments: dict[str, Any], *, analyzer: MessageAnalyzer | None = None
) -> JSONObject:
    """``analyzer`` analyses the messages (None: the thread pool of the request's reactor)."""
    from stalwart_tx.jmap.mail.email import email_work

    _check_known(arguments, IMPORT_ARGUMENTS)
    account_id = args.account_id(ctx, arguments)
    if_in_state = args.optional_string(arguments, "ifInState")
    emails = args.optional_object(arguments, "emails")
    if emails is None:
        raise MethodError.invalid_arguments("emails is required")
    if len(emails) > ctx.limits.maxObjectsInSet:
        raise MethodError.request_too_large(
            f"at most {ctx.limits.maxObjectsInSet} emails per import, got {len(emails)}"
        )
    entries = {key: _import_entry(ctx, {}, entry) for key, entry in emails.items()}
    # read and analyse once, outside the retried part (blobs are immutable), every message of
    # the call at once so the analyses run side by side
    wanted = {k: e for k, e in entries.items() if not isinstance(e, SetError)}
    analyzing = analyzer_or_default(analyzer, ctx.reactor)
    messages: dict[str, AnalyzedMessage | SetError] = dict(zip(
        wanted,
        await gather(*(
            _analyzed_blob(ctx, analyzing, account_id, e["blobId"]) for e in wanted.values()
        )),
        strict=True,
    ))
    now = utc_date(ctx.reactor.seconds())

    async def attempt() -> tuple[dict[str, JSONObject], dict[str, SetError], str, str]:
        objects = WorkingSet(ctx.store, account_id)
        # (the Email state a condition only with ifInState: emails are conditions one by one)
        if if_in_state is not None:
            old_state = await objects.state(EMAIL)
            if if_in_state != old_state:
                raise MethodError(
                    "stateMismatch", f"ifInState is {if_in_state!r}, the state is {old_state!r}"
                )
        work = email_work(objects)
        # threading reads the Thread link map under the Thread state, the mailboxes and quotas
        # with it, and the Email state to report, all in one round trip (EmailWork.prepare)
        await work.prepare(
            (m for m in messages.values() if isinstance(m, AnalyzedMessage)),
            (m for e in entries.values() if not isinstance(e, SetError) for m in e["mailboxIds"]),
            peek=(EMAIL,),
        )
        if if_in_state is None:
            old_state = await objects.peek_state(EMAIL)
        created: dict[str, JSONObject] = {}
        not_created: dict[str, SetError] = {}
        for key, entry in entries.items():
            parsed = messages.get(key)
            if isinstance(entry, SetError) or isinstance(parsed, SetError) or parsed is None:
                not_created[key] = entry if isinstance(entry, SetError) else parsed  # type: ignore[assignment]
                continue
            savepoint = objects.savepoint()
            added = await work.add(NewEmail(
                parsed, entry["blobId"], entry["mailboxIds"], entry["keywords"],
                entry["receivedAt"] or now,
            ))
            if isinstance(added, SetError):
                objects.rollback(savepoint)
                not_created[key] = added
                continue
            created[key] = created_entry(*added)
        await objects.finish()
        batch = objects.batch()
        if batch.is_empty():
            return created, not_created, old_state, old_state
        result = await write_passing_turn(ctx, account_id, batch)
        return (created, not_created, result.old_states.get(EMAIL, old_state),
                result.new_states.get(EMAIL, old_state))

    created, not_created, old_state, new_state = await optimistically(
        ctx, attempt, account_id=account_id
    )
    ctx.created_ids.update({key: value["id"] for key, value in created.items()})
    return {
        "accountId": account_id,
        "oldState": old_state,
        "newState": new_state,
        "created": created or None,
        "notCreated": {k: e.to_json() for k, e in not_created.items()} or None,
    }


async def _analyzed_blob(
    ctx: RequestContext, analyzer: MessageAnalyzer, account_id: str, blob_id: str
) -> AnalyzedMessage | SetError:
    try:
        raw = await ctx.store.blobs.get(account_id, blob_id)
    except BlobNotFound:
        return SetError("blobNotFound", f"no blob {blob_id!r}", extra={"notFound": [blob_id]})
    return await analyzer.analyze(raw)


async def _message_of(ctx: RequestContext, account_id: str, blob_id: str) -> bytes | None:
    """The bytes of a stored blob, or of a body part of one (resolved one level at a time)."""
    part = parse_part_blob_id(blob_id)
    if part is None:
        try:
            return await ctx.store.blobs.get(account_id, blob_id)
        except BlobNotFound:
            return None
    message_blob, part_id = part
    container = await _message_of(ctx, account_id, message_blob)
    return None if container is None else part_content(await parse(ctx.reactor, container), part_id)


async def email_parse(ctx: RequestContext, arguments: dict[str, Any]) -> JSONObject:
    from stalwart_tx.jmap.mail.email import EMAIL_TYPE

    _check_known(arguments, PARSE_ARGUMENTS)
    account_id = args.account_id(ctx, arguments)
    blob_ids = args.optional_strings(arguments, "blobIds")
    if blob_ids is None:
        raise MethodError.invalid_arguments("blobIds is required")
    if len(blob_ids) > ctx.limits.maxObjectsInGet:
        raise MethodError.request_too_large(f"at most {ctx.limits.maxObjectsInGet} blobIds")
    properties = args.optional_strings(arguments, "properties")
    properties = list(PARSE_DEFAULT_PROPERTIES) if properties is None else properties
    bad = [p for p in properties if not EMAIL_TYPE.is_property(p)]
    if bad:
        raise MethodError.invalid_arguments(f"unknown properties: {', '.join(bad)}")
    extras = {name: arguments.get(name) for name in PARSE_ARGUMENTS[3:]}
    call = MethodCall(ctx, EMAIL_TYPE, "parse", account_id, arguments, extras)
    check_arguments(call)  # before any blob is read: bad arguments are bad whatever the blobs
    parsed_found: dict[str, JSONObject] = {}
    not_parsable: list[str] = []
    not_found: list[str] = []
    for blob_id in dict.fromkeys(blob_ids):
        raw = await _message_of(ctx, account_id, blob_id)
        if raw is None:
            not_found.append(blob_id)
            continue
        if not raw.strip():
            not_parsable.append(blob_id)
            continue
        parsed = await parse(ctx.reactor, raw)
        base = _message_values(parsed, blob_id)
        computed = parsed_values(call, parsed, blob_id, frozenset(
            p for p in properties if p not in base and p not in METADATA_PROPERTIES
        ))
        parsed_found[blob_id] = {
            p: None if p in METADATA_PROPERTIES else base.get(p, computed.get(p))
            for p in properties
        }
    return {
        "accountId": account_id,
        "parsed": parsed_found or None,
        "notParsable": not_parsable or None,
        "notFound": not_found or None,
    }


def _message_values(parsed: ParsedMessage, blob_id: str) -> JSONObject:
    from stalwart_tx.jmap.mail.email_model import message_fields

    value = {"blobId": blob_id, **message_fields(parsed)}
    return {p: value[p] for p in MESSAGE_PROPERTIES}


def _ensured(specs: list[MethodSpec]) -> list[MethodSpec]:
    from stalwart_tx.jmap.mail.mailbox_defaults import with_default_mailboxes

    return with_default_mailboxes(specs)


def methods(options: RegistryOptions) -> list[MethodSpec]:
    """The methods, Email/import analysing with the analyzer of ``options``."""
    return _ensured([
        MethodSpec(
            name="Email/import", capability=MAIL,
            handler=partial(email_import, analyzer=options.analyzer), writes=True,
        ),
        MethodSpec(name="Email/parse", capability=MAIL, handler=email_parse, writes=False),
    ])


__all__ = ["is_header_property", "methods"]
