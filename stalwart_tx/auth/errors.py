"""Errors the auth layer raises on purpose.

Protocol layers translate these in one place each: AuthenticationFailed to HTTP 401 / IMAP NO
[AUTHENTICATIONFAILED], RateLimited to HTTP 429 with Retry-After / IMAP NO [UNAVAILABLE].
StoreUnavailable from the directory passes through untouched (HTTP 503).
"""

from __future__ import annotations

import math


class AuthenticationFailed(Exception):
    """The credentials were not accepted.

    Deliberately carries no detail: an unknown user, a wrong password, a revoked token and a
    malformed token must look the same to the caller.
    """

    def __init__(self) -> None:
        super().__init__("authentication failed")


class RateLimited(Exception):
    """Too many failed logins for this account name or remote address; try again later."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry after {math.ceil(retry_after)} s")
        self.retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for a Retry-After header, never less than one."""
        return max(1, math.ceil(self.retry_after))


class PasswordFileError(ValueError):
    """A ``--auth file:PATH`` password file is unreadable or malformed."""
