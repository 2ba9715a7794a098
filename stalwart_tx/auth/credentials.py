"""Credentials types of our own; username/password uses twisted.cred's IUsernamePassword."""

from __future__ import annotations

from twisted.cred.credentials import ICredentials
from zope.interface import Attribute, implementer


class IBearerToken(ICredentials):
    """An API token presented as-is (HTTP ``Authorization: Bearer``, IMAP XOAUTH-style SASL)."""

    token = Attribute("The whole token string as the client sent it (str).")


@implementer(IBearerToken)
class BearerToken:
    def __init__(self, token: str | bytes) -> None:
        if isinstance(token, bytes):
            # Non-ASCII cannot be a token of ours; replacement characters make it fail to parse.
            token = token.decode("ascii", "replace")
        self.token = token

    def __repr__(self) -> str:
        # The secret must never reach a log through a repr.
        return "BearerToken(<redacted>)"


def username_text(username: str | bytes) -> str | None:
    """A credentials username as text; None when the bytes are not UTF-8 (no user has that name).

    IUsernamePassword carries bytes by convention, but some producers hand over str.
    """
    if isinstance(username, str):
        return username
    try:
        return username.decode("utf-8")
    except UnicodeDecodeError:
        return None
