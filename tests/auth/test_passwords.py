from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.auth import passwords
from stalwart_tx.auth.passwords import (
    hash_password,
    is_argon2id_hash,
    make_hasher,
    needs_rehash,
    spend_verify_time,
    use_hasher,
    verify_password,
)


def test_production_parameters() -> None:
    assert passwords.TIME_COST == 3
    assert passwords.MEMORY_COST_KIB == 64 * 1024
    assert passwords.PARALLELISM == 1
    assert make_hasher().memory_cost == 64 * 1024


def test_hash_is_argon2id_salted_and_never_clear() -> None:
    first = hash_password("correct horse")
    second = hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert is_argon2id_hash(first)
    assert "correct horse" not in first
    assert first != second  # a fresh salt each time


@pytest_twisted.ensureDeferred
async def test_round_trip() -> None:
    stored = hash_password("s3cret")
    assert await verify_password(stored, "s3cret")
    assert await verify_password(stored, b"s3cret")
    assert not await verify_password(stored, "S3cret")
    assert not await verify_password(stored, "")


@pytest_twisted.ensureDeferred
async def test_malformed_stored_hash_is_a_mismatch() -> None:
    assert not await verify_password("not a hash", "x")
    assert not await verify_password("$argon2id$v=19$garbage", "x")


@pytest_twisted.ensureDeferred
async def test_dummy_verification_always_fails_and_follows_the_hasher() -> None:
    assert await spend_verify_time("anything") is False
    first = passwords._dummy_hash()
    assert passwords._dummy_hash() == first  # fixed while the hasher stays
    previous = use_hasher(make_hasher(time_cost=2, memory_cost_kib=8))
    try:
        assert passwords._dummy_hash() != first
        assert "t=2" in passwords._dummy_hash()
    finally:
        use_hasher(previous)


def test_needs_rehash() -> None:
    current = hash_password("pw")
    assert not needs_rehash(current)
    previous = use_hasher(make_hasher(time_cost=2, memory_cost_kib=8))
    try:
        assert needs_rehash(current)
    finally:
        use_hasher(previous)
    assert needs_rehash("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
    assert needs_rehash("plain")


@pytest.mark.parametrize(
    "value", ["", "secret", "$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$nonsense"]
)
def test_is_argon2id_hash_rejects(value: str) -> None:
    assert not is_argon2id_hash(value)
