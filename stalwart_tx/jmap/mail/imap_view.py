"""What the IMAP bridge reads beyond RFC 8621: UIDs, MODSEQs, expunges, \\Recent.

These are methods of the JMAP method layer like any other, under the private capability
``IMAP_VIEW`` (never advertised in the Session), so the bridge reaches the store through the
same path as every client: it builds a Request, the API runs the calls. Their data is kept by
``mailbox_imap`` in the writes that change mailboxes and emails.

* ``ImapMailbox/get`` ``{accountId, ids, uids, uidsAbove}``: per mailbox its UIDVALIDITY and
  UIDNEXT and, with ``uids``, every ``[uid, emailId]`` in UID order (only those above
  ``uidsAbove`` when given); with ``firstUnseen`` the lowest UID without ``$seen`` (null when
  none); with ``unseenCount`` how many messages lack ``$seen`` (drafts too: IMAP's UNSEEN, not
  the Mailbox's unreadEmails); ``state`` is the Email state all of it was read at, in one read
  (``IIndexStore.snapshot``), so replaying the changes since it neither misses nor repeats
  anything; ``stateAfter`` is the same state (callers of an earlier version compared the two,
  when the state was read before the UIDs and again after). A mailbox made before IMAP state
  existed gets it here, its emails numbered in receivedAt order. With ``emailChangesSince``
  (one mailbox only) it also answers, read at the same instant, ``emailChanges`` (what
  Email/changes would, at most ``maxChanges``) and ``emails``: per live email of those created
  or updated and of ``alsoIds``, ``{id, modseq, uid}`` as ImapEmail/get gives them
  (``emailsNotFound`` the others): all a session catching up needs, in one store read.
  With ``recent`` (one mailbox only), read at the same instant too: ``"read"`` gives the
  entry ``recentMark``, the \\Recent mark (the highest UID some session took), ``recentTop``,
  the mailbox's highest UID, and ``recentCount``, how many UIDs are above the mark (rev1's
  RECENT); ``"claim"`` also takes every UID above the mark for the calling session, as
  ``claimRecent`` with the highest UID would, and answers the mark as it was before.
* ``ImapEmail/get`` ``{accountId, mailboxId, ids, alsoIds, uidValidity}``: per live email of
  ``ids`` and ``alsoIds`` (two lists, so two result references can fill one call) its MODSEQ
  and, when ``mailboxId`` is given, its UID there (null when it is not in it), and with
  ``uidValidity: true`` the mailbox's UIDVALIDITY (null when it has no IMAP state yet or is
  gone); ``state`` is the Email state read before them (null when no ids were asked: then
  nothing is read at all).
* ``ImapMailbox/vanished`` ``{accountId, mailboxId, sinceModseq}``: the UIDs that left the
  mailbox after that modseq (QRESYNC); ``complete`` is false when records that old were
  dropped (``mailbox_imap.MAX_EXPUNGED``), and the list may then miss some.
* ``ImapEmail/query``: Email/query exactly, without the cap on how many ids one answer holds.
* ``ImapEmail/expunge`` ``{accountId, mailboxId, ids}``: EXPUNGE, decided in the write
  (``imap_expunge``); without ``ids`` it finds the ``$deleted`` emails of the mailbox itself.
* ``ImapMailbox/claimRecent`` ``{accountId, mailboxId, uid}``: takes the UIDs up to ``uid`` as
  \\Recent for the calling session; answers the highest UID some session had taken before, so
  exactly one session sees each message as recent.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Final, cast

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.email_model import DRAFT, EMAIL, SEEN, keyword_index, mailbox_index
from stalwart_tx.jmap.mail.imap_arguments import id_list, known_only, one_id, unsigned
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX, counts_of
from stalwart_tx.jmap.mail.mailbox_defaults import with_default_mailboxes
from stalwart_tx.jmap.mail.mailbox_imap import (
    IMAP_KEY,
    RECENT_MAP,
    expunged_index,
    imap_state_of,
    mailbox_imap_work,
    uid_index,
)
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec
from stalwart_tx.jmap.standard.arguments import account_id as account_argument
from stalwart_tx.jmap.standard.changes import changes_fields
from stalwart_tx.jmap.standard.retry import optimistically
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.errors import CannotCalculateChanges
from stalwart_tx.store.records import (
    ChangesRequest,
    Difference,
    Index,
    IndexRequest,
    Intersection,
    MarkRequest,
    ScoreRange,
    Snapshot,
    WriteBatch,
)

IMAP_VIEW: Final = "urn:stalwart-tx:imap-view"


def _number(index: str, email_ids: list[str], batch: WriteBatch) -> None:
    for uid, email_id in enumerate(email_ids, start=1):
        batch.index_add(index, email_id, float(uid))


async def _ensure_imap_state(ctx: RequestContext, account: str, mailbox_ids: list[str]) -> None:
    """Give IMAP state to mailboxes made before it existed: a UIDVALIDITY, and UIDs to their
    emails in receivedAt order, in one write conditional on everything it read."""

    async def attempt() -> None:
        objects = WorkingSet(ctx.store, account)
        mailboxes = await objects.get(MAILBOX, mailbox_ids)
        lacking = sorted(i for i, m in mailboxes.items() if imap_state_of(m) is None)
        if not lacking:
            return
        work = mailbox_imap_work(objects)
        await objects.state(EMAIL)  # the mailbox indexes are then preconditions
        for mailbox_id in lacking:
            page = await ctx.store.indexes.index_query(account, Index(mailbox_index(mailbox_id)))
            value = mailboxes[mailbox_id]
            state = await work.new_state()
            count = len(page.ids)
            value[IMAP_KEY] = {**state, "uidNext": count + 1}
            objects.update(MAILBOX, mailbox_id, value)
            objects.stage_derived(partial(_number, uid_index(mailbox_id), list(page.ids)))
        await objects.finish()
        await ctx.store.accounts.write(account, objects.batch())

    await optimistically(ctx, attempt, account_id=account)


def _changes_request(arguments: JSONObject, ids: list[str]) -> ChangesRequest | None:
    """The Email changes ImapMailbox/get reads with the mailbox, when asked for."""
    since = arguments.get("emailChangesSince")
    if since is None:
        if arguments.get("maxChanges") is not None or arguments.get("alsoIds") is not None:
            raise MethodError.invalid_arguments(
                "'maxChanges' and 'alsoIds' go with 'emailChangesSince'"
            )
        return None
    if not isinstance(since, str):
        raise MethodError.invalid_arguments("'emailChangesSince' must be a String")
    if len(ids) != 1:
        raise MethodError.invalid_arguments("'emailChangesSince' reads one mailbox")
    most = unsigned(arguments, "maxChanges") if arguments.get("maxChanges") is not None else None
    if most is not None and most < 1:
        raise MethodError.invalid_arguments("'maxChanges' must be positive")
    also = tuple(id_list(arguments, "alsoIds")) if arguments.get("alsoIds") is not None else ()
    return ChangesRequest(since, most, uid_index(ids[0]), also)


def _mark_request(arguments: JSONObject, ids: list[str]) -> MarkRequest | None:
    """The \\Recent mark ImapMailbox/get reads (or claims) with the mailbox, when asked for."""
    recent = arguments.get("recent")
    if recent is None:
        return None
    if recent not in ("read", "claim"):
        raise MethodError.invalid_arguments("'recent' must be \"read\" or \"claim\"")
    if len(ids) != 1:
        raise MethodError.invalid_arguments("'recent' reads one mailbox")
    return MarkRequest(RECENT_MAP, ids[0], uid_index(ids[0]), claim=recent == "claim")


async def imap_mailbox_get(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    known_only(arguments, "ids", "uids", "uidsAbove", "firstUnseen", "unseenCount",
               "emailChangesSince", "maxChanges", "alsoIds", "recent")
    account = account_argument(ctx, arguments)
    ids = id_list(arguments, "ids")
    changes_request = _changes_request(arguments, ids)
    mark = _mark_request(arguments, ids)
    with_uids = arguments.get("uids", False)
    if not isinstance(with_uids, bool):
        raise MethodError.invalid_arguments("'uids' must be a Boolean")
    above = unsigned(arguments, "uidsAbove") if arguments.get("uidsAbove") is not None else 0
    first_unseen = arguments.get("firstUnseen", False)
    if not isinstance(first_unseen, bool):
        raise MethodError.invalid_arguments("'firstUnseen' must be a Boolean")
    unseen_count = arguments.get("unseenCount", False)
    if not isinstance(unseen_count, bool):
        raise MethodError.invalid_arguments("'unseenCount' must be a Boolean")
    def requests_of(mailbox_id: str) -> list[IndexRequest]:
        wanted: list[IndexRequest] = []
        if with_uids:
            wanted.append(IndexRequest(
                ScoreRange(uid_index(mailbox_id), float(above + 1), None) if above
                else Index(uid_index(mailbox_id))
            ))
        if first_unseen:
            # the difference keeps the UID index's scores: the lowest first
            wanted.append(IndexRequest(
                Difference(Index(uid_index(mailbox_id)), Index(keyword_index(SEEN))),
                limit=1, count=False,
            ))
        if unseen_count:
            # IMAP's UNSEEN is the mailbox's unreadEmails (neither $seen nor $draft), a count
            # kept in the Mailbox read with it, plus its drafts without $seen: counted from the
            # drafts' index, whatever the mailbox's size (STATUS is what clients poll)
            wanted.append(IndexRequest(
                Difference(
                    Intersection((Index(uid_index(mailbox_id)), Index(keyword_index(DRAFT)))),
                    Index(keyword_index(SEEN)),
                ),
                limit=0,
            ))
        return wanted

    async def read() -> tuple[Snapshot, dict[str, tuple[Any, Any, Any]]]:
        # the mailboxes, their UIDs and first unseen, the Email state they belong to (and the
        # Email changes asked for), all at one instant
        try:
            taken = await ctx.store.indexes.snapshot(
                account, EMAIL, [r for i in ids for r in requests_of(i)], objects=(MAILBOX, ids),
                changes=changes_request, mark=mark,
            )
        except CannotCalculateChanges as error:  # InvalidState too: a token never issued
            raise MethodError("cannotCalculateChanges", str(error)) from None
        pages = iter(taken.pages)
        per_mailbox: dict[str, tuple[Any, Any, Any]] = {}
        for mailbox_id in ids:
            uids = ([[int(score), email_id] for email_id, score in next(pages).members]
                    if with_uids else None)
            unseen: int | None = None
            if first_unseen:
                found = next(pages).members
                unseen = int(found[0][1]) if found else None
            count = next(pages).total if unseen_count else None
            per_mailbox[mailbox_id] = (uids, unseen, count)
        return taken, per_mailbox

    taken, per_mailbox = await read()
    if any(imap_state_of(m) is None for m in taken.objects.values()):
        await _ensure_imap_state(ctx, account, sorted(taken.objects))
        # read again: a first sight of an old mailbox is rare
        taken, per_mailbox = await read()
    state, mailboxes = taken.state, taken.objects
    found: list[JSONObject] = []
    for mailbox_id in ids:
        value = mailboxes.get(mailbox_id)
        imap = imap_state_of(value) if value is not None else None
        if imap is None or value is None:
            continue
        entry: JSONObject = {
            "id": mailbox_id, "uidValidity": imap.uid_validity, "uidNext": imap.uid_next,
            "totalEmails": counts_of(value)["totalEmails"],
        }
        uids, unseen_uid, count = per_mailbox[mailbox_id]
        if with_uids:
            entry["uids"] = uids
        if first_unseen:
            entry["firstUnseen"] = unseen_uid
        if unseen_count:
            entry["unseenCount"] = counts_of(value)["unreadEmails"] + (count or 0)
        if taken.mark is not None:
            entry["recentMark"] = taken.mark.before
            entry["recentTop"] = taken.mark.top
            entry["recentCount"] = taken.mark.above
        found.append(entry)
    listed = {entry["id"] for entry in found}
    answer: JSONObject = {
        # one read: the UIDs are those of ``state`` exactly (callers of old compared the two)
        "accountId": account, "state": state, "stateAfter": state, "list": found,
        "notFound": [i for i in ids if i not in listed],
    }
    changed = taken.changes
    if changes_request is not None and changed is not None:
        answer["emailChanges"] = changes_fields(changed)
        wanted = changes_request.ids_of(changed)
        answer["emails"] = [
            {"id": i, "modseq": taken.modseqs[i],
             "uid": int(taken.scores[i]) if i in taken.scores else None}
            for i in wanted if i in taken.modseqs
        ]
        answer["emailsNotFound"] = [i for i in wanted if i not in taken.modseqs]
    return answer


async def imap_email_get(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    known_only(arguments, "ids", "alsoIds", "mailboxId", "uidValidity")
    account = account_argument(ctx, arguments)
    ids = id_list(arguments, "ids")
    if arguments.get("alsoIds") is not None:
        ids = list(dict.fromkeys([*ids, *id_list(arguments, "alsoIds")]))
    mailbox_id = one_id(arguments, "mailboxId", nullable=True)
    with_validity = arguments.get("uidValidity", False)
    if not isinstance(with_validity, bool):
        raise MethodError.invalid_arguments("'uidValidity' must be a Boolean")
    if not ids:
        return {"accountId": account, "state": None, "list": [], "notFound": []}
    # the state with the modseqs, then the rest (a later read: newer, never older, than both)
    state: str
    modseqs: dict[str, int]
    uids: dict[str, float] = {}
    validity: int | None = None
    if mailbox_id is None:
        state, modseqs = await ctx.store.changes.state_and_modseqs(account, EMAIL, ids)
    else:
        reads: list[Any] = [
            ctx.store.changes.state_modseqs_and_scores(account, EMAIL, ids, uid_index(mailbox_id))
        ]
        if with_validity:
            reads.append(ctx.store.accounts.get(account, MAILBOX, [mailbox_id]))
        read = await gather(*reads)
        state, modseqs, uids = cast(tuple[str, dict[str, int], dict[str, float]], read[0])
        if with_validity:
            mailbox = cast(dict[str, JSONObject], read[1]).get(mailbox_id)
            imap = imap_state_of(mailbox) if mailbox is not None else None
            validity = imap.uid_validity if imap is not None else None
    answer: JSONObject = {"accountId": account, "state": state}
    if mailbox_id is not None and with_validity:
        answer["uidValidity"] = validity
    answer["list"] = [
        {"id": i, "modseq": modseqs[i], "uid": int(uids[i]) if i in uids else None}
        for i in ids if i in modseqs
    ]
    answer["notFound"] = [i for i in ids if i not in modseqs]
    return answer


async def imap_mailbox_vanished(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    known_only(arguments, "mailboxId", "sinceModseq")
    account = account_argument(ctx, arguments)
    mailbox_id = one_id(arguments, "mailboxId")
    assert mailbox_id is not None
    since = unsigned(arguments, "sinceModseq")
    # the floor first: a trim between the two reads then shows as incomplete, never as whole
    mailboxes = await ctx.store.accounts.get(account, MAILBOX, [mailbox_id])
    imap = imap_state_of(mailboxes[mailbox_id]) if mailbox_id in mailboxes else None
    page = await ctx.store.indexes.index_query(
        account, ScoreRange(expunged_index(mailbox_id), float(since + 1), None)
    )
    floor = imap.vanished_floor if imap is not None else 0
    return {"accountId": account, "uids": sorted(int(uid) for uid in page.ids),
            "complete": since >= floor}


async def imap_mailbox_claim_recent(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    known_only(arguments, "mailboxId", "uid")
    account = account_argument(ctx, arguments)
    mailbox_id = one_id(arguments, "mailboxId")
    assert mailbox_id is not None
    uid = unsigned(arguments, "uid")
    previous = await ctx.store.indexes.map_raise(account, RECENT_MAP, mailbox_id, uid)
    return {"accountId": account, "previous": previous}


async def imap_mailbox_shape(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """The Mailbox type's shape state (IChangeLog.shape_state): while it stays, the
    mailboxes' ids, names, parents, roles and subscriptions stay as they were; only their
    counts and IMAP numbers move without it."""
    known_only(arguments)
    account = account_argument(ctx, arguments)
    return {"accountId": account,
            "shapeState": await ctx.store.changes.shape_state(account, MAILBOX)}


CAPABILITIES = [
    CapabilitySpec(IMAP_VIEW, session_value=dict, account_value=lambda _a: {}, advertised=False)
]

def _email_query_uncapped() -> MethodSpec:
    """Email/query without the result cap clients get: an IMAP SEARCH answers every match."""
    from stalwart_tx.jmap.mail.email import EMAIL_TYPE
    from stalwart_tx.jmap.standard.query import query

    return MethodSpec(
        "ImapEmail/query", IMAP_VIEW, partial(query, replace(EMAIL_TYPE, max_query_limit=None))
    )


def _email_expunge() -> MethodSpec:
    from stalwart_tx.jmap.mail.imap_expunge import imap_email_expunge

    return MethodSpec("ImapEmail/expunge", IMAP_VIEW, imap_email_expunge, writes=True)


METHODS = with_default_mailboxes([
    _email_query_uncapped(),
    _email_expunge(),
    MethodSpec("ImapMailbox/get", IMAP_VIEW, imap_mailbox_get),
    MethodSpec("ImapEmail/get", IMAP_VIEW, imap_email_get),
    MethodSpec("ImapMailbox/vanished", IMAP_VIEW, imap_mailbox_vanished),
    MethodSpec("ImapMailbox/claimRecent", IMAP_VIEW, imap_mailbox_claim_recent),
    MethodSpec("ImapMailbox/shape", IMAP_VIEW, imap_mailbox_shape),
])
