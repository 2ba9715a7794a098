from __future__ import annotations

from collections.abc import Iterator

import pytest

from stalwart_tx.auth.passwords import make_hasher, use_hasher


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    """Real argon2id, with the cheapest parameters argon2 allows, so the suite stays fast."""
    previous = use_hasher(make_hasher(time_cost=1, memory_cost_kib=8, parallelism=1))
    yield
    use_hasher(previous)
