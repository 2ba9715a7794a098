"""API tokens: ``stx_<token_id>_<secret>``.

Both parts are drawn from [A-Za-z0-9] only, so splitting on ``_`` is unambiguous, the token is one
word for double-click selection, and it needs no escaping in headers, URLs or IMAP atoms. The
secret has 43 such characters (256 bits), so a single fast SHA-256 is the right stored form: there
is nothing for a slow hash to protect against that brute force could reach.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from stalwart_tx.store.records import TokenRecord

PREFIX = "stx"
ALPHABET = string.ascii_letters + string.digits
TOKEN_ID_LENGTH = 12
SECRET_LENGTH = 43  # 43 * log2(62) > 256 bits, as much as 32 random bytes
_ALPHABET_SET = frozenset(ALPHABET)


def _random_word(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token(principal_id: str, label: str, now: float) -> tuple[str, TokenRecord]:
    """A fresh token string (shown to the user once) and the record to store for it."""
    token_id = _random_word(TOKEN_ID_LENGTH)
    secret = _random_word(SECRET_LENGTH)
    record = TokenRecord(
        token_id=token_id,
        principal_id=principal_id,
        secret_hash=hash_secret(secret),
        created_at=now,
        label=label,
    )
    return f"{PREFIX}_{token_id}_{secret}", record


def _is_word(value: str, length: int) -> bool:
    return len(value) == length and all(c in _ALPHABET_SET for c in value)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)``, or None for anything that is not exactly one of our tokens."""
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    _, token_id, secret = parts
    if not (_is_word(token_id, TOKEN_ID_LENGTH) and _is_word(secret, SECRET_LENGTH)):
        return None
    return token_id, secret


def secret_matches(record: TokenRecord, secret: str) -> bool:
    """Constant-time comparison of the presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), record.secret_hash)
