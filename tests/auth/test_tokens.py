from __future__ import annotations

import hashlib

import pytest

from stalwart_tx.auth.tokens import (
    ALPHABET,
    SECRET_LENGTH,
    TOKEN_ID_LENGTH,
    new_token,
    parse_token,
    secret_matches,
)


def test_new_token_shape_and_record() -> None:
    token, record = new_token("a123", "laptop", 1000.0)
    prefix, token_id, secret = token.split("_")
    assert prefix == "stx"
    assert len(token_id) == TOKEN_ID_LENGTH and len(secret) == SECRET_LENGTH
    assert set(token_id + secret) <= set(ALPHABET)
    assert record.token_id == token_id
    assert record.principal_id == "a123"
    assert record.label == "laptop"
    assert record.created_at == 1000.0
    assert record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(record)


def test_tokens_are_unique() -> None:
    tokens = {new_token("a1", "", 0.0)[0] for _ in range(200)}
    assert len(tokens) == 200


def test_parse_round_trip_and_secret_check() -> None:
    token, record = new_token("a1", "", 0.0)
    parsed = parse_token(token)
    assert parsed is not None
    token_id, secret = parsed
    assert token_id == record.token_id
    assert secret_matches(record, secret)
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    assert not secret_matches(record, other_secret)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "stx",
        "stx__",
        "stx_abcdefghijkl",
        "xyz_abcdefghijkl_" + "a" * SECRET_LENGTH,
        "stx_abcdefghijk_" + "a" * SECRET_LENGTH,  # id too short
        "stx_abcdefghijkl_" + "a" * (SECRET_LENGTH - 1),  # secret too short
        "stx_abcdefghijkl_" + "a" * (SECRET_LENGTH + 1),
        "stx_abcdefghijkl_" + "a" * (SECRET_LENGTH - 1) + "-",
        "stx_abcdefghijkl_" + "a" * (SECRET_LENGTH - 1) + "é",
        "stx_abcdefghijkl_" + "a" * 20 + "_" + "a" * 22,
        " stx_abcdefghijkl_" + "a" * SECRET_LENGTH,
    ],
)
def test_malformed_tokens_do_not_parse(value: str) -> None:
    assert parse_token(value) is None
