"""stalwart-admin user address add|remove|list against a real Redis: results and exit codes."""

from __future__ import annotations

import json

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, USAGE
from stalwart_tx.store.backend import open_redis_store
from tests.admin.test_cli import (  # noqa: F401  (cheap_hashes is an autouse fixture)
    admin_run,
    cheap_hashes,
    expect_error,
)


@pytest_twisted.ensureDeferred
async def test_address_lifecycle(redis_url: str) -> None:
    await admin_run(redis_url, "user", "add", "alice", "--password", "pw")
    await admin_run(redis_url, "user", "add", "bob", "--password", "pw")
    assert await admin_run(redis_url, "user", "address", "add", "alice", "Alice@Example.ORG") == (
        "added Alice@example.org to alice\n"
    )
    added = json.loads(await admin_run(
        redis_url, "--json", "user", "address", "add", "ALICE", "a@example.org"
    ))
    assert added == {"name": "alice", "address": "a@example.org"}
    assert await admin_run(redis_url, "user", "address", "list", "alice") == (
        "Alice@example.org\na@example.org\n"
    )

    store = await open_redis_store(redis_url, reactor, timeout=2)
    try:
        alice = await store.directory.find_principal("alice")
        assert await store.directory.principal_for_address("alice@example.org") == alice.id
        await store.directory.set_alias("sales@example.org", [alice.id])
    finally:
        await store.close()
    expected = [
        {"address": "Alice@example.org", "alias": False},
        {"address": "a@example.org", "alias": False},
        {"address": "sales@example.org", "alias": True},
    ]
    # --json before the command or after it
    for argv in (("--json", "user", "address", "list", "alice"),
                 ("user", "address", "list", "alice", "--json")):
        assert json.loads(await admin_run(redis_url, *argv)) == expected
    assert (await admin_run(redis_url, "user", "address", "list", "alice")).splitlines()[2] == (
        "sales@example.org\talias"
    )

    assert "taken" in await expect_error(
        redis_url, EXISTS, "user", "address", "add", "bob", "ALICE@example.org"
    )
    await expect_error(redis_url, USAGE, "user", "address", "add", "bob", "no-at-sign")
    await expect_error(redis_url, NOT_FOUND, "user", "address", "add", "nobody", "n@example.org")
    await expect_error(redis_url, NOT_FOUND, "user", "address", "list", "nobody")
    # only the owner gives an address up
    await expect_error(redis_url, NOT_FOUND, "user", "address", "remove", "bob", "a@example.org")
    await expect_error(redis_url, NOT_FOUND, "user", "address", "remove", "bob", "garbage")
    assert await admin_run(redis_url, "user", "address", "remove", "alice", "A@EXAMPLE.org") == (
        "removed A@EXAMPLE.org from alice\n"
    )
    await admin_run(redis_url, "user", "address", "add", "bob", "a@example.org")
    assert await admin_run(redis_url, "user", "address", "list", "bob") == "a@example.org\n"
    # deleting a user frees their addresses
    await admin_run(redis_url, "user", "delete", "alice")
    await admin_run(redis_url, "user", "address", "add", "bob", "alice@example.org")
    assert json.loads(await admin_run(
        redis_url, "user", "address", "list", "bob", "--json"
    )) == [{"address": "a@example.org", "alias": False},
           {"address": "alice@example.org", "alias": False}]
