"""Turning an HTTP Authorization header into twisted.cred credentials."""

from __future__ import annotations

import binascii
from base64 import b64decode
from dataclasses import dataclass

from twisted.cred.credentials import ICredentials, UsernamePassword

from stalwart_tx.auth.credentials import BearerToken
from stalwart_tx.auth.tokens import parse_token

REALM = "stalwart-tx"
CHALLENGES = (
    f'Basic realm="{REALM}", charset="UTF-8"'.encode(),
    f'Bearer realm="{REALM}"'.encode(),
)


@dataclass(frozen=True)
class PresentedCredentials:
    credentials: ICredentials
    # What failed logins are counted against: the login name, or the token id.
    limit_key: str


def parse_authorization(header: bytes | None) -> PresentedCredentials | None:
    """Credentials from the header, or None when it is absent or malformed (both mean 401)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(b" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == b"basic":
        try:
            decoded = b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            return None
        return PresentedCredentials(
            UsernamePassword(username.encode(), password.encode()), username.strip().lower()
        )
    if scheme == b"bearer":
        try:
            token = value.decode("ascii")
        except UnicodeDecodeError:
            return None
        parsed = parse_token(token)
        limit_key = f"token:{parsed[0]}" if parsed else "token:malformed"
        return PresentedCredentials(BearerToken(token), limit_key)
    return None
