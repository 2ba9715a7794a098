"""The storage boundary: every backend implements these, every caller depends only on them.

Implementations write these methods as ``async def``; callers ``await`` them (and wrap them with
``Deferred.fromCoroutine`` where a Deferred is needed).
Errors are the typed ones of ``stalwart_tx.store.errors``; any backend failure to reach its server
surfaces as StoreUnavailable, never as a backend-specific exception.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IAccountStore(Interface):
    """Objects of one account, by type name ("Mailbox", "Email", ...) and object id.

    All data of an account lives together (one Redis hash tag), so a write never spans shards.
    """

    def get(account_id: str, type_name: str, ids: list[str] | None) -> dict[str, dict]:  # type: ignore[misc]
        """Objects by id; ``ids=None`` means every object of the type.

        Missing ids are simply absent from the result.
        """

    def list_ids(account_id: str, type_name: str) -> list[str]:  # type: ignore[misc]
        """Every object id of the type, in no particular order."""

    def write(account_id: str, batch: object) -> object:  # type: ignore[misc]
        """Apply a WriteBatch atomically and return its WriteResult.

        In the same atomic step the store advances the account's modseq, records every change in the
        change log (IChangeLog), moves the state of each touched type, and publishes the new states
        through the notifier. Raises ObjectExists, ObjectNotFound or StateMismatch with nothing
        applied. An empty batch changes nothing and returns the current states of its
        ``if_in_state`` types.
        """

    def destroy_account(account_id: str) -> None:  # type: ignore[misc]
        """Remove every object, change-log entry, blob and counter of the account."""


class IChangeLog(Interface):
    """Per account and type, what changed since a state; the source of JMAP /changes and IMAP MODSEQ.

    A state is an opaque string. A type that was never written has a valid initial state too.
    """

    def current_state(account_id: str, type_name: str) -> str:  # type: ignore[misc]
        """The state of the type now."""

    def current_states(account_id: str, type_names: list[str]) -> dict[str, str]:  # type: ignore[misc]
        """States of several types read at one instant."""

    def account_modseq(account_id: str) -> int:  # type: ignore[misc]
        """The highest modseq handed out in the account (0 when nothing was ever written)."""

    def changes_since(  # type: ignore[misc]
        account_id: str, type_name: str, since_state: str, max_changes: int | None
    ) -> object:
        """The Changes from ``since_state`` to now, at most ``max_changes`` ids in all.

        An object created and destroyed since ``since_state`` is reported in neither list; one
        created and updated is only in ``created``. Raises InvalidState for a token this store did
        not issue (or a state of another type), CannotCalculateChanges when the log no longer
        reaches back that far.
        """

    def compact(account_id: str, type_name: str, keep_after_state: str) -> None:  # type: ignore[misc]
        """Forget destroyed-object records at or before ``keep_after_state``.

        Afterwards changes_since for an older state raises CannotCalculateChanges.
        """


class IBlobUpload(Interface):
    """A blob being written in pieces, so large uploads never sit whole in memory."""

    size = Attribute("Bytes written so far.")

    def write(chunk: bytes) -> None:  # type: ignore[misc]
        """Append a piece."""

    def commit() -> object:  # type: ignore[misc]
        """Finish and return the BlobInfo; the blob id is derived from the content."""

    def abort() -> None:  # type: ignore[misc]
        """Drop what was written."""


class IBlobStore(Interface):
    """Immutable binary content per account, addressed by a content-derived id.

    A blob of one account is never readable through another account's id space.
    """

    def put(account_id: str, data: bytes) -> object:  # type: ignore[misc]
        """Store ``data`` and return its BlobInfo; storing the same bytes twice yields the same id."""

    def open_upload(account_id: str) -> IBlobUpload:  # type: ignore[misc]
        """Start a streamed upload."""

    def get(  # type: ignore[misc]
        account_id: str, blob_id: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        """Bytes ``[offset, offset+length)`` of the blob (to its end when ``length`` is None).

        Raises BlobNotFound.
        """

    def stat(account_id: str, blob_id: str) -> object:  # type: ignore[misc]
        """The BlobInfo of a stored blob; raises BlobNotFound."""

    def delete(account_id: str, blob_id: str) -> None:  # type: ignore[misc]
        """Remove the blob; deleting a missing blob is not an error."""


class ISubscription(Interface):
    def cancel() -> None:  # type: ignore[misc]
        """Stop delivering notifications to this listener."""


class INotifier(Interface):
    """Publish/subscribe of StateChange across every process that shares the store."""

    def publish(change: object) -> None:  # type: ignore[misc]
        """Deliver a StateChange to every subscriber in every process."""

    def subscribe(listener: object) -> ISubscription:  # type: ignore[misc]
        """Call ``listener(StateChange)`` for each published change, until cancelled.

        Changes written through IAccountStore.write are published without the caller doing so.
        """


class IDirectory(Interface):
    """Principals (users), their credentials and API tokens, mail domains and aliases.

    Names of principals, domains and addresses compare case-insensitively and are stored lowercased.
    """

    def create_principal(name: str, password_hash: str | None, kind: str = "individual") -> object:  # type: ignore[misc]
        """Create and return a Principal with a new, never reused id; raises PrincipalExists."""

    def get_principal(principal_id: str) -> object:  # type: ignore[misc]
        """The Principal by id; raises PrincipalNotFound."""

    def find_principal(name: str) -> object:  # type: ignore[misc]
        """The Principal by login name; raises PrincipalNotFound."""

    def list_principals() -> list[object]:  # type: ignore[misc]
        """Every principal, sorted by name."""

    def set_password_hash(principal_id: str, password_hash: str | None) -> None:  # type: ignore[misc]
        """Replace the stored hash; raises PrincipalNotFound."""

    def delete_principal(principal_id: str) -> None:  # type: ignore[misc]
        """Remove the principal, its tokens and the aliases that point only at it.

        Raises PrincipalNotFound. Account data is removed separately (IAccountStore).
        """

    def add_token(record: object) -> None:  # type: ignore[misc]
        """Store a TokenRecord; raises PrincipalNotFound for an unknown principal."""

    def get_token(token_id: str) -> object:  # type: ignore[misc]
        """The TokenRecord; raises TokenNotFound (also for revoked tokens)."""

    def list_tokens(principal_id: str) -> list[object]:  # type: ignore[misc]
        """Live tokens of a principal, oldest first."""

    def revoke_token(token_id: str) -> None:  # type: ignore[misc]
        """Make the token unusable at once; raises TokenNotFound."""

    def add_domain(domain: str) -> None:  # type: ignore[misc]
        """Accept mail for the domain; raises PrincipalExists if already present."""

    def remove_domain(domain: str) -> None:  # type: ignore[misc]
        """Stop accepting the domain; raises PrincipalNotFound if absent."""

    def list_domains() -> list[str]:  # type: ignore[misc]
        """Every domain, sorted."""

    def set_alias(address: str, principal_ids: list[str]) -> None:  # type: ignore[misc]
        """Point an address at one or more principals (replacing any earlier target list)."""

    def remove_alias(address: str) -> None:  # type: ignore[misc]
        """Remove the alias; raises PrincipalNotFound if absent."""

    def resolve_alias(address: str) -> list[str]:  # type: ignore[misc]
        """Principal ids the address points at; empty when it is no alias."""
