"""The storage boundary: every backend implements these, every caller depends only on them.

Every method is ``async def`` (so mypy-zope checks implementations and callers alike); callers
``await`` them (and wrap them with ``Deferred.fromCoroutine`` where a Deferred is needed).
Errors are the typed ones of ``stalwart_tx.store.errors``; any backend failure to reach its server
surfaces as StoreUnavailable, never as a backend-specific exception.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import Attribute, Interface

from stalwart_tx.store.records import (
    BlobInfo,
    Changes,
    ChangesRequest,
    IndexPage,
    IndexRequest,
    JSONObject,
    MarkRequest,
    Plan,
    Principal,
    Snapshot,
    StateChange,
    TokenRecord,
    WriteBatch,
    WriteResult,
)


class IAccountStore(Interface):
    """Objects of one account, by type name ("Mailbox", "Email", ...) and object id.

    All data of an account lives together (one Redis hash tag), so a write never spans shards.
    """

    async def get(
        account_id: str, type_name: str, ids: list[str] | None
    ) -> dict[str, JSONObject]:
        """Objects by id; ``ids=None`` means every object of the type.

        Missing ids are simply absent from the result.
        """

    async def get_with_state(
        account_id: str, type_name: str, ids: list[str] | None, at_most: int | None = None
    ) -> tuple[str, dict[str, JSONObject]]:
        """The type's state (as IChangeLog.current_state gives it) and ``get``'s objects, both
        read at one instant: the objects are exactly those of that state.

        With ``ids=None`` and ``at_most``, a type of more objects than that raises TooManyObjects
        (with their number) having read none of them.
        """

    async def list_ids(account_id: str, type_name: str) -> list[str]:
        """Every object id of the type, in no particular order."""

    async def write(account_id: str, batch: WriteBatch) -> WriteResult:
        """Apply a WriteBatch atomically and return its WriteResult.

        In the same atomic step the store advances the account's modseq, records every change in the
        change log (IChangeLog), moves the state of each touched type, and publishes the new states
        through the notifier. Raises ObjectExists, ObjectNotFound or StateMismatch with nothing
        applied. An empty batch changes nothing and returns the current states of its
        ``if_in_state`` types.

        The write is issued before the call first waits: what this process reads of the
        account after that comes after the write (or after its refusal), answered or not yet.
        The method layer passes the account's write turn on at that point
        (``retry.write_passing_turn``). Nothing but speed depends on it: a store that lost
        the order (a dropped connection) makes the next writer conflict and compute again.
        """

    async def destroy_account(account_id: str) -> None:
        """Remove every object, change-log entry, blob and counter of the account."""


class IChangeLog(Interface):
    """Per account and type, what changed since a state: the source of JMAP /changes, IMAP MODSEQ.

    A state is an opaque string. A type that was never written has a valid initial state too.
    States are positions in the account's one change sequence, so a state read for another type
    of the same account is a valid (if unusual) starting point, not an error.
    """

    async def current_state(account_id: str, type_name: str) -> str:
        """The state of the type now."""

    async def current_states(account_id: str, type_names: list[str]) -> dict[str, str]:
        """States of several types read at one instant."""

    async def shape_state(account_id: str, type_name: str) -> str:
        """The modseq of the type's last create, update or destroy ("0": none), which counter
        adjusts (``WriteBatch.adjust``) do not move: what was computed from the type's objects
        apart from their counters still holds while it stays."""

    async def account_modseq(account_id: str) -> int:
        """The highest modseq handed out in the account (0 when nothing was ever written)."""

    async def changes_since(
        account_id: str, type_name: str, since_state: str, max_changes: int | None
    ) -> Changes:
        """The Changes from ``since_state`` to now, at most ``max_changes`` ids in all.

        An object created and destroyed since ``since_state`` is reported in neither list; one
        created and updated is only in ``created``. Raises InvalidState for a token this store did
        not issue for the account, CannotCalculateChanges when the log no longer reaches back that
        far. When ``has_more`` is true, ``new_state`` is an intermediate state to ask from next.

        The log stops reaching back after ``compact``, and by retention: a store keeps a bounded
        number of destroyed-object records per type, and the write that destroys more forgets
        the oldest and raises the type's floor to the newest forgotten. States at or above the
        floor still get exact answers; the floor never moves back.
        """

    async def modseqs(account_id: str, type_name: str, ids: list[str]) -> dict[str, int]:
        """The modseq of the last change of each given live object (IMAP MODSEQ).

        Objects that do not exist (never created, or destroyed) are left out. Read at one instant.
        """

    async def state_and_modseqs(
        account_id: str, type_name: str, ids: list[str]
    ) -> tuple[str, dict[str, int]]:
        """The type's state and ``modseqs`` of the ids, both read at one instant (one read where
        a caller would otherwise ask for the state first and the modseqs after)."""

    async def state_modseqs_and_scores(
        account_id: str, type_name: str, ids: list[str], index: str
    ) -> tuple[str, dict[str, int], dict[str, float]]:
        """``state_and_modseqs``, and the ids' scores in the index (as IIndexStore.index_scores
        gives them), all read at one instant: an IMAP view's MODSEQs and UIDs in one read."""

    async def compact(account_id: str, type_name: str, keep_after_state: str) -> None:
        """Forget destroyed-object records at or before ``keep_after_state``.

        Afterwards changes_since for an older state raises CannotCalculateChanges.
        """


class IIndexStore(Interface):
    """Sorted indexes and string maps of one account: data derived from its objects.

    A data type with many objects (Email) keeps, beside them, what its queries need: sorted
    indexes (a set of members, each with a float score, like "the emails of mailbox M by
    receivedAt") and maps (field -> string, like "email -> its thread"). They are written only
    through WriteBatch (``index_add``, ``index_remove``, ``map_set``, ``map_delete``), in the
    same atomic step as the objects they derive from, so they never disagree with them. They
    belong to the account: destroy_account removes them, and accounts never see each other's.

    Names are the caller's (such as ``"Email:mailbox:<id>"``); an index or map that has no
    members does not exist, and reading it gives nothing, never an error.
    """

    async def index_query(
        account_id: str, plan: Plan, *, descending: bool = False, offset: int = 0,
        limit: int | None = None, count: bool = True,
    ) -> IndexPage:
        """The members the plan selects, ordered by score then member (both reversed when
        ``descending``), from ``offset`` (>= 0), at most ``limit``; with the total count.

        With ``count`` False the caller does not need the total: the store may leave it None
        and, for a window of a big result, find the window without computing the whole result.

        The plan is evaluated at one instant. Raises ValueError for a malformed or too big plan
        (``records.check_plan``) or a negative offset or limit.
        """

    async def snapshot(
        account_id: str, type_name: str, queries: list[IndexRequest],
        objects: tuple[str, list[str]] | None = None, changes: ChangesRequest | None = None,
        mark: MarkRequest | None = None,
    ) -> Snapshot:
        """The state of ``type_name``, the objects ``objects`` names (a type and ids, as
        IAccountStore.get gives them) and each query's page (as index_query gives it), all read
        at one instant: what a view of the type needs without a state read before and after.

        With ``changes``, the type's changes since a state (as IChangeLog.changes_since gives
        them) and the modseqs and index scores it asks for, at the same instant: what a view
        catching up needs, in one read. Raises as changes_since does (InvalidState,
        CannotCalculateChanges, ValueError), having read nothing.

        With ``mark``, the mark's reading (MarkRequest) at the same instant; a claim raises it
        there, the only write a snapshot makes, and only when nothing raises.

        Raises ValueError as index_query does, having read nothing.
        """

    async def index_size(account_id: str, index: str) -> int:
        """How many members the index has."""

    async def index_scores(account_id: str, index: str, members: list[str]) -> dict[str, float]:
        """The score of each given member that is in the index (absent ones are left out)."""

    async def map_get(account_id: str, name: str, fields: list[str]) -> dict[str, str]:
        """The value of each given field the map has (absent ones are left out)."""

    async def map_get_at_state(
        account_id: str, type_name: str, name: str, fields: list[str]
    ) -> tuple[str, dict[str, str]]:
        """The state of ``type_name`` and what ``map_get`` gives, read at one instant: a map
        whose content a write is conditional on, without a state read before it."""

    async def map_raise(account_id: str, name: str, field: str, value: int) -> int:
        """Set the field to ``value`` if it holds less (or nothing); return what it held (0 when
        nothing), atomically.

        The one map write outside WriteBatch: a high-water mark that only rises and that no
        object derives from (which IMAP session was first to see a message as \\Recent). Of
        callers racing with the same value, exactly one sees a smaller previous value. The map
        belongs to the account like any other (destroy_account removes it).
        """


class IBlobUpload(Interface):
    """A blob being written in pieces, so large uploads never sit whole in memory."""

    size = Attribute("Bytes written so far.")

    async def write(chunk: bytes) -> None:
        """Append a piece."""

    async def commit() -> BlobInfo:
        """Finish and return the BlobInfo; the blob id is derived from the content."""

    async def abort() -> None:
        """Drop what was written."""


class IBlobStore(Interface):
    """Immutable binary content per account, addressed by a content-derived id.

    A blob of one account is never readable through another account's id space.

    Every blob is either *referenced* (some object claims it, through WriteBatch.claim_blob in
    IAccountStore.write) or *unreferenced*, stamped with the time on the store's ``clock`` when it
    became so: when it was stored (put, a committed upload) or when its last claim was released.
    Storing bytes that are already an unreferenced blob stamps it afresh (RFC 8620 §6: a
    re-upload resets the expiry); storing a referenced blob's bytes leaves it referenced.
    ``sweep_unreferenced`` deletes what stayed unreferenced too long.
    """

    clock = Attribute("The IReactorTime whose seconds() stamps blobs as they become unreferenced.")

    async def put(account_id: str, data: bytes) -> BlobInfo:
        """Store ``data`` and return its BlobInfo; the same bytes stored twice get the same id."""

    async def open_upload(account_id: str) -> IBlobUpload:
        """Start a streamed upload."""

    async def get(
        account_id: str, blob_id: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        """Bytes ``[offset, offset+length)`` of the blob (to its end when ``length`` is None).

        Raises BlobNotFound.
        """

    async def stat(account_id: str, blob_id: str) -> BlobInfo:
        """The BlobInfo of a stored blob; raises BlobNotFound."""

    async def delete(account_id: str, blob_id: str) -> None:
        """Remove the blob and its claims; deleting a missing blob is not an error."""

    async def referrers(account_id: str, blob_ids: list[str]) -> dict[str, set[tuple[str, str]]]:
        """For each stored blob among ``blob_ids``, the (type name, object id) claiming it.

        Blobs the account does not hold are absent from the answer; an unreferenced one maps to
        an empty set. Read at one instant per blob.
        """

    async def sweep_unreferenced(unreferenced_before: float, limit: int) -> int:
        """Delete, in any account, blobs unreferenced since ``unreferenced_before`` or earlier.

        Does at most ``limit`` deletions and examines a bounded number of accounts (through an
        index of accounts holding unreferenced blobs, never by scanning every account); returns
        how many blobs it deleted, so a caller seeing ``limit`` knows more may be due. A blob
        claimed meanwhile is never deleted.
        """


class ISubscription(Interface):
    async def cancel() -> None:
        """Stop delivering notifications to this listener."""


class INotifier(Interface):
    """Publish/subscribe of StateChange across every process that shares the store."""

    async def publish(change: StateChange) -> None:
        """Deliver a StateChange to every subscriber in every process."""

    async def subscribe(listener: Callable[[StateChange], object]) -> ISubscription:
        """Call ``listener(StateChange)`` for each published change, until cancelled.

        Changes written through IAccountStore.write are published without the caller doing so.
        """


class IClaims(Interface):
    """First-come claims shared by every process on the store.

    Every process hears every notification; a claim lets exactly one of them act on it (send one
    push, run one clean-up) without a lock holder that could die holding it.
    """

    async def claim(account_id: str, name: str, ttl: float) -> bool:
        """Claim ``name`` within the account for ``ttl`` seconds.

        True for exactly one caller across every process sharing the store; False for every
        other caller until the claim expires, after which the name can be claimed again. Raises
        ValueError for an invalid account id, an empty name or a ``ttl`` that is not positive.
        """

    async def held(account_id: str, name: str) -> bool:
        """Whether ``name`` is claimed within the account now (taking nothing). Raises
        ValueError as ``claim`` does for an invalid account id or an empty name."""


class IDueAccounts(Interface):
    """Which accounts have work due when, across every account: one small index per purpose.

    A scheduler (EmailSubmission's sending) keeps, inside each account, a sorted index of its
    work by due time (IIndexStore); this lists the accounts that may have any, scored by their
    earliest due time, so the scheduler visits only those, never every account. ``name`` is the
    purpose ("EmailSubmission"). Like the blob sweep index it lives outside every account, so it
    is not written in the account's atomic write: writers call ``note_due`` after (and, to
    survive a crash in between, before) the write; the scheduler, after working on an account,
    calls ``set_due`` with the account's new earliest time, then reads the account's index once
    more and calls ``note_due`` again if it finds something, so no interleaving loses work.
    """

    async def note_due(name: str, account_id: str, at: float) -> None:
        """List the account under ``name`` no later than ``at`` (an earlier time stays)."""

    async def set_due(name: str, account_id: str, at: float | None) -> None:
        """List the account at exactly ``at``, or take it off the list when ``at`` is None."""

    async def due_accounts(name: str, until: float, limit: int) -> list[tuple[str, float]]:
        """Accounts listed under ``name`` at ``until`` or earlier, earliest first, at most
        ``limit`` of them, each with its time. Raises ValueError for an invalid name."""


class IDirectory(Interface):
    """Principals (users), their credentials and API tokens, mail domains and aliases.

    Names of principals, domains and addresses compare case-insensitively and are stored lowercased.
    """

    async def create_principal(
        name: str, password_hash: str | None, kind: str = "individual"
    ) -> Principal:
        """Create and return a Principal with a new, never reused id; raises PrincipalExists."""

    async def get_principal(principal_id: str) -> Principal:
        """The Principal by id; raises PrincipalNotFound."""

    async def find_principal(name: str) -> Principal:
        """The Principal by login name; raises PrincipalNotFound."""

    async def list_principals() -> list[Principal]:
        """Every principal, sorted by name."""

    async def set_password_hash(principal_id: str, password_hash: str | None) -> None:
        """Replace the stored hash; raises PrincipalNotFound."""

    async def delete_principal(principal_id: str) -> None:
        """Remove the principal, its tokens, its addresses and the aliases that point only at it.

        Raises PrincipalNotFound. Account data is removed separately (IAccountStore).
        """

    async def add_token(record: TokenRecord) -> None:
        """Store a TokenRecord; raises PrincipalNotFound for an unknown principal."""

    async def get_token(token_id: str) -> TokenRecord:
        """The TokenRecord; raises TokenNotFound (also for revoked tokens)."""

    async def list_tokens(principal_id: str) -> list[TokenRecord]:
        """Live tokens of a principal, oldest first."""

    async def revoke_token(token_id: str) -> None:
        """Make the token unusable at once; raises TokenNotFound."""

    async def add_domain(domain: str) -> None:
        """Accept mail for the domain; raises PrincipalExists if already present."""

    async def remove_domain(domain: str) -> None:
        """Stop accepting the domain; raises PrincipalNotFound if absent."""

    async def list_domains() -> list[str]:
        """Every domain, sorted."""

    async def set_alias(address: str, principal_ids: list[str]) -> None:
        """Point an address at one or more principals (replacing any earlier target list)."""

    async def remove_alias(address: str) -> None:
        """Remove the alias; raises PrincipalNotFound if absent."""

    async def resolve_alias(address: str) -> list[str]:
        """Principal ids the address points at; empty when it is no alias."""

    async def list_aliases() -> list[tuple[str, list[str]]]:
        """Every alias with the principal ids it points at (as resolve_alias), by address."""

    async def add_address(principal_id: str, address: str) -> None:
        """Give the principal an address (stored with its domain lowercased).

        An address belongs to one principal at most, compared case-insensitively: raises
        PrincipalExists if any principal has it already, PrincipalNotFound for an unknown
        principal, ValueError for something that is not ``local@domain``.
        """

    async def remove_address(principal_id: str, address: str) -> None:
        """Take the address from the principal; raises PrincipalNotFound if it is not theirs."""

    async def addresses_of(principal_id: str) -> list[str]:
        """The principal's own addresses and the aliases that point at it, sorted.

        Empty for an unknown principal.
        """

    async def principal_for_address(address: str) -> str | None:
        """The id of the principal owning the address (aliases not included), or None."""
