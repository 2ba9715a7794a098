"""The EmailSubmission data type (RFC 8621 §7): /get, /changes, /query, /queryChanges, /set.

* ``identityId``, ``emailId`` and ``envelope`` are given on create and never change;
  ``threadId``, ``sendAt``, ``deliveryStatus``, ``dsnBlobIds`` and ``mdnBlobIds`` are the
  server's. ``undoStatus`` starts ``pending`` and a client may only change it to ``canceled``
  while it is pending (else ``cannotUnsend``).
* A create is checked here (``submission_created``, §7.5) and stored pending in the /set's
  atomic write; sending happens after that write (``email_submission_set``), later ones through
  the scheduler (``email_submission_scheduler``), both with ``email_submission_send``.
* Derived data written with the submissions: the index ``EmailSubmission:due`` (submission
  with something left to send -> when to try next, Unix seconds), the map
  ``EmailSubmission:blob`` (such a submission -> the blob of its message, which the submission
  claims, so destroying the Email before a held message goes keeps its bytes) and the map
  ``EmailSubmission:retry`` (a submission some of whose recipients are retried -> those
  recipients, a JSON list; absent: all of them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from stalwart_tx.jmap.capabilities import SUBMISSION
from stalwart_tx.jmap.datatype import (
    CHANGES,
    GET,
    QUERY,
    QUERY_CHANGES,
    SET,
    DataType,
    FilterSpec,
    Property,
    SortSpec,
    by_property,
)
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.email_model import EMAIL, date_seconds, utc_date
from stalwart_tx.jmap.mail.email_submission_envelope import (
    ENVELOPE,
    addresses_of,
    check_recipients,
    derive_envelope,
    hold_until,
    same_address,
)
from stalwart_tx.jmap.mail.identity_defaults import (
    IDENTITY,
    sendable_addresses,
    with_default_identities,
)
from stalwart_tx.jmap.registry import MethodSpec, RegistryOptions
from stalwart_tx.jmap.standard import set_errors, standard_methods
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.values import (
    JSON,
    Id,
    ListOf,
    MapOf,
    Nullable,
    OneOf,
    String,
    UTCDate,
    same_json,
)
from stalwart_tx.mail.headers import split_header_block
from stalwart_tx.mail.smtp_relay import RelayConfig
from stalwart_tx.store.addresses import address_key
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import JSONObject, WriteBatch

SUBMISSION_TYPE_NAME: Final = "EmailSubmission"
DUE_INDEX: Final = "EmailSubmission:due"
BLOB_MAP: Final = "EmailSubmission:blob"
RETRY_MAP: Final = "EmailSubmission:retry"
DUE_LIST: Final = "EmailSubmission"  # the IDueAccounts name
PENDING: Final = "pending"
FINAL: Final = "final"
CANCELED: Final = "canceled"
# A send in progress holds the claim of its attempt this long; a process that dies mid-send
# leaves the attempt to the scheduler once it runs out.
CLAIM_TTL: Final = 600.0


def claim_name(submission_id: str, due: float) -> str:
    """The claim of one sending attempt: a submission due at ``due`` is tried by one process."""
    return f"send:{submission_id}:{due!r}"


@dataclass
class SubmissionCall(SetCall):
    """An EmailSubmission/set computation: what its hooks need beyond a SetCall.

    ``claimed`` maps the pending submissions this call may cancel or destroy to the attempt it
    claimed (their due time); ``emails`` collects the Email of every submission the call
    created, updated or destroyed (onSuccessUpdateEmail / onSuccessDestroyEmail); ``held`` the
    created ones to be sent later.
    """

    relay: RelayConfig | None = field(kw_only=True, default=None)
    now: float = field(kw_only=True, default=0.0)
    claimed: dict[str, float] = field(kw_only=True, default_factory=dict)
    emails: dict[str, str] = field(kw_only=True, default_factory=dict)
    due: dict[str, float] = field(kw_only=True, default_factory=dict)
    held: set[str] = field(kw_only=True, default_factory=set)


def _submission_call(call: SetCall) -> SubmissionCall:
    if not isinstance(call, SubmissionCall):
        raise TypeError("EmailSubmission hooks run only in EmailSubmission/set")
    return call


async def submission_created(
    set_call: SetCall, submission_id: str, value: JSONObject
) -> SetError | None:
    call = _submission_call(set_call)
    if call.relay is None:
        return SetError("forbiddenToSend", "no SMTP relay configured")
    if value.get("undoStatus") != PENDING:
        return set_errors.invalid_properties(["undoStatus"], "a new submission is pending")
    identity = await call.objects.get_one(IDENTITY, value["identityId"])
    if identity is None:
        return set_errors.invalid_properties(["identityId"], "no such identity")
    email = await call.objects.get_one(EMAIL, value["emailId"])
    if email is None:
        return set_errors.invalid_properties(["emailId"], "no such email")
    repeated = await _repeated_fields(call, str(email["blobId"]))
    if repeated:
        # RFC 5322 §3.6 allows one of each; with two, which From would the check and the
        # envelope (RFC 8621 §7.5, "SHOULD reject") go by, and which would the recipients see?
        return SetError(
            "invalidEmail", f"the message has more than one {repeated[0]} header field",
            properties=[name.lower() for name in repeated],
        )
    froms = addresses_of(email, "from")
    if not froms:
        return SetError("invalidEmail", "the email has no From address", properties=["from"])
    foreign = [a for a in froms if not same_address(a, identity["email"])]
    if foreign:
        return SetError(
            "forbiddenFrom",
            f"the From address {foreign[0]} is not the identity's ({identity['email']})",
        )
    envelope = value.get("envelope")
    if envelope is None:
        made = derive_envelope(email, identity["email"])
        if isinstance(made, SetError):
            return made
        envelope = made
    mail_from = envelope["mailFrom"]["email"]
    try:
        allowed = address_key(mail_from) in await sendable_addresses(call.ctx, call.account_id)
    except ValueError:
        allowed = False
    if not allowed:
        return SetError(
            "forbiddenMailFrom", f"{mail_from!r} is not an address of this account"
        )
    refused = check_recipients(envelope)
    if refused is not None:
        return refused
    send_at = hold_until(envelope["mailFrom"].get("parameters"), call.now)
    if isinstance(send_at, SetError):
        return send_at
    value.update({
        "threadId": email["threadId"],
        "envelope": envelope,
        "sendAt": utc_date(send_at),
        "deliveryStatus": None,
        "dsnBlobIds": [],
        "mdnBlobIds": [],
    })
    held = send_at > call.now
    # a message sent now is the /set's to send; the scheduler takes it if that never happens
    due = send_at if held else call.now + CLAIM_TTL / 2
    blob_id = email["blobId"]

    def derived(batch: WriteBatch) -> None:
        batch.index_add(DUE_INDEX, submission_id, due)
        batch.map_set(BLOB_MAP, submission_id, blob_id)
        batch.claim_blob(blob_id, SUBMISSION_TYPE_NAME, submission_id)

    call.objects.stage_derived(derived)
    call.emails[submission_id] = value["emailId"]
    call.due[submission_id] = due
    if held:
        call.held.add(submission_id)
    return None


async def _repeated_fields(call: SubmissionCall, blob_id: str) -> list[str]:
    """The originator fields (From, Sender) the message has more than one of."""
    try:
        message = await call.ctx.store.blobs.get(call.account_id, blob_id)
    except BlobNotFound:
        return []  # not ours to judge: the send reports the message gone
    fields, _ = split_header_block(message)
    counts = Counter(field.name.lower() for field in fields)
    return [name for name in ("From", "Sender") if counts[name.lower()] > 1]


def forget_pending(blob_id: str | None, submission_id: str) -> Callable[[WriteBatch], None]:
    """The derived writes of a submission that will not be sent (any more)."""

    def derived(batch: WriteBatch) -> None:
        batch.index_remove(DUE_INDEX, submission_id)
        batch.map_delete(BLOB_MAP, submission_id)
        batch.map_delete(RETRY_MAP, submission_id)
        if blob_id is not None:
            batch.release_blob(blob_id, SUBMISSION_TYPE_NAME, submission_id)

    return derived


async def _may_stop(call: SubmissionCall, submission_id: str) -> SetError | None:
    """Whether this call holds the claim of the submission's current attempt (nobody sends)."""
    scores = await call.ctx.store.indexes.index_scores(
        call.account_id, DUE_INDEX, [submission_id]
    )
    current = scores.get(submission_id)
    if current is None or call.claimed.get(submission_id) != current:
        return SetError("cannotUnsend", "the message is being sent right now")
    blobs = await call.ctx.store.indexes.map_get(call.account_id, BLOB_MAP, [submission_id])
    call.objects.stage_derived(forget_pending(blobs.get(submission_id), submission_id))
    return None


async def submission_updated(
    set_call: SetCall, submission_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    call = _submission_call(set_call)
    call.emails[submission_id] = old["emailId"]
    if same_json(old.get("undoStatus"), new.get("undoStatus")):
        return None
    if old.get("undoStatus") != PENDING:
        return SetError("cannotUnsend", f"the submission is {old.get('undoStatus')} already")
    if new.get("undoStatus") != CANCELED:
        return set_errors.invalid_properties(
            ["undoStatus"], "a client may only change undoStatus from pending to canceled"
        )
    return await _may_stop(call, submission_id)


async def submission_destroyed(
    set_call: SetCall, submission_id: str, value: JSONObject
) -> SetError | None:
    call = _submission_call(set_call)
    call.emails[submission_id] = value["emailId"]
    scores = await call.ctx.store.indexes.index_scores(
        call.account_id, DUE_INDEX, [submission_id]
    )
    if value.get("undoStatus") == PENDING or submission_id in scores:
        # still to be sent (to some recipients): only when no send of it is under way
        return await _may_stop(call, submission_id)
    return None


def _in(name: str) -> FilterSpec:
    return FilterSpec(
        ListOf(Id()), lambda ids: lambda obj: obj.get(name) in set(ids), immutable=True
    )


def _send_time(obj: JSONObject) -> float:
    return date_seconds(str(obj["sendAt"])) if obj.get("sendAt") else 0.0


SERVER_SET: Final = {"server_set": True}

EMAIL_SUBMISSION_TYPE = DataType(
    name=SUBMISSION_TYPE_NAME,
    capability=SUBMISSION,
    properties={
        "identityId": Property(Id(IDENTITY), required=True, immutable=True),
        "emailId": Property(Id(EMAIL), required=True, immutable=True),
        "threadId": Property(Id(), **SERVER_SET),
        "envelope": Property(ENVELOPE, default=None, immutable=True),
        "sendAt": Property(UTCDate(), **SERVER_SET),
        "undoStatus": Property(OneOf(PENDING, FINAL, CANCELED), default=PENDING),
        "deliveryStatus": Property(JSON(), default=None, **SERVER_SET),
        "dsnBlobIds": Property(ListOf(Id()), default=[], **SERVER_SET),
        "mdnBlobIds": Property(ListOf(Id()), default=[], **SERVER_SET),
    },
    methods=frozenset({GET, CHANGES, SET, QUERY, QUERY_CHANGES}),
    on_create=submission_created,
    on_update=submission_updated,
    on_destroy=submission_destroyed,
    filters={
        "identityIds": _in("identityId"),
        "emailIds": _in("emailId"),
        "threadIds": _in("threadId"),
        "undoStatus": FilterSpec(
            OneOf(PENDING, FINAL, CANCELED),
            lambda status: lambda obj: obj.get("undoStatus") == status,
        ),
        "before": FilterSpec(
            UTCDate(), lambda date: lambda obj: _send_time(obj) < date_seconds(date),
            immutable=True,
        ),
        "after": FilterSpec(
            UTCDate(), lambda date: lambda obj: _send_time(obj) >= date_seconds(date),
            immutable=True,
        ),
    },
    sorts={
        "emailId": by_property("emailId", immutable=True),
        "threadId": by_property("threadId", immutable=True),
        "sentAt": SortSpec(key=lambda _arguments: _send_time, immutable=True),
    },
    extra_arguments={
        "set": {
            "onSuccessUpdateEmail": Nullable(MapOf(String(min_length=1), JSON())),
            "onSuccessDestroyEmail": Nullable(ListOf(String(min_length=1))),
        },
    },
)


def methods(options: RegistryOptions) -> list[MethodSpec]:
    """The methods, /set sending through the relay of ``options`` (none: nothing is sent)."""
    from stalwart_tx.jmap.mail.email_submission_set import submission_set

    specs: list[MethodSpec] = []
    for spec in standard_methods(EMAIL_SUBMISSION_TYPE):
        if spec.name == EMAIL_SUBMISSION_TYPE.method_name(SET):
            spec = MethodSpec(
                name=spec.name, capability=spec.capability,
                handler=partial(submission_set, options.relay), writes=True,
            )
        specs.append(spec)
    return with_default_identities(specs)


__all__ = [
    "BLOB_MAP",
    "CLAIM_TTL",
    "DUE_INDEX",
    "DUE_LIST",
    "EMAIL_SUBMISSION_TYPE",
    "RETRY_MAP",
    "SUBMISSION_TYPE_NAME",
    "SubmissionCall",
    "claim_name",
    "forget_pending",
    "methods",
]
