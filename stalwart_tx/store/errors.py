"""Typed errors raised by every store implementation.

Protocol layers translate these in exactly one place each (HTTP problem JSON, JMAP method errors,
IMAP responses); store code never formats a protocol answer.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error a store raises on purpose."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached or did not answer in time.

    Temporary: the caller should answer with a retryable error (HTTP 503, IMAP NO [UNAVAILABLE],
    LMTP 451) and never assume the write did or did not happen unless the store says so.
    """


class StateMismatch(StoreError):
    """A conditional write found a type's state moved on since the caller read it."""

    def __init__(self, type_name: str, expected: str, actual: str) -> None:
        super().__init__(f"{type_name}: expected state {expected!r}, store is at {actual!r}")
        self.type_name = type_name
        self.expected = expected
        self.actual = actual


class ObjectNotFound(StoreError):
    """An update or destroy named an object that does not exist."""

    def __init__(self, type_name: str, object_id: str) -> None:
        super().__init__(f"{type_name} {object_id!r} does not exist")
        self.type_name = type_name
        self.object_id = object_id


class ObjectExists(StoreError):
    """A create named an id that is already taken."""

    def __init__(self, type_name: str, object_id: str) -> None:
        super().__init__(f"{type_name} {object_id!r} already exists")
        self.type_name = type_name
        self.object_id = object_id


class TooManyObjects(StoreError):
    """A read of every object of a type found more than the caller would take."""

    def __init__(self, type_name: str, count: int) -> None:
        super().__init__(f"{count} {type_name} objects")
        self.type_name = type_name
        self.count = count


class CannotCalculateChanges(StoreError):
    """The asked-for state is unknown or older than what the change log still holds."""


class InvalidState(CannotCalculateChanges):
    """The state token is not one this store ever issued."""


class BlobNotFound(StoreError):
    """No blob of that id is stored for that account."""


class PrincipalNotFound(StoreError):
    """The directory has no principal by that name or id."""


class PrincipalExists(StoreError):
    """A principal (or domain, or alias) of that name already exists."""


class TokenNotFound(StoreError):
    """No live API token has that id."""
