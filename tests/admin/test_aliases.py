"""stalwart-admin alias set|remove|list against a real Redis: results and exit codes."""

from __future__ import annotations

import json

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, OK, USAGE
from stalwart_tx.store.backend import open_redis_store
from tests.admin.test_cli import (  # noqa: F401  (cheap_hashes is an autouse fixture)
    admin_run,
    cheap_hashes,
    expect_error,
)
from tests.service_process import admin


async def users_and_domain(redis_url: str) -> None:
    for name in ("alice", "bob", "carol"):
        await admin_run(redis_url, "user", "add", name, "--password", "pw")
    await admin_run(redis_url, "domain", "add", "example.org")


@pytest_twisted.ensureDeferred
async def test_alias_lifecycle(redis_url: str) -> None:
    await users_and_domain(redis_url)
    assert await admin_run(redis_url, "alias", "list") == ""
    assert await admin_run(redis_url, "alias", "set", "Sales@Example.ORG", "alice", "BOB") == (
        "sales@example.org delivers to alice, bob\n"
    )
    added = json.loads(await admin_run(
        redis_url, "--json", "alias", "set", "help@example.org", "carol", "carol"
    ))
    assert added == {"address": "help@example.org", "users": ["carol"]}
    # setting again replaces the targets
    await admin_run(redis_url, "alias", "set", "help@example.org", "bob")
    assert await admin_run(redis_url, "alias", "list") == (
        "help@example.org\tbob\nsales@example.org\talice\tbob\n"
    )
    expected = [{"address": "help@example.org", "users": ["bob"]},
                {"address": "sales@example.org", "users": ["alice", "bob"]}]
    for argv in (("--json", "alias", "list"), ("alias", "list", "--json")):
        assert json.loads(await admin_run(redis_url, *argv)) == expected

    store = await open_redis_store(redis_url, reactor, timeout=2)
    try:
        alice = await store.directory.find_principal("alice")
        bob = await store.directory.find_principal("bob")
        assert await store.directory.resolve_alias("sales@example.org") == [alice.id, bob.id]
    finally:
        await store.close()
    # an alias shows among the addresses of every user it names
    assert (await admin_run(redis_url, "user", "address", "list", "alice")) == (
        "sales@example.org\talias\n"
    )

    assert await admin_run(redis_url, "alias", "remove", "HELP@example.org") == (
        "removed alias help@example.org\n"
    )
    removed = json.loads(await admin_run(
        redis_url, "--json", "alias", "remove", "sales@example.org"
    ))
    assert removed == {"address": "sales@example.org"}
    assert json.loads(await admin_run(redis_url, "alias", "list", "--json")) == []
    assert "sales@example.org" in await expect_error(
        redis_url, NOT_FOUND, "alias", "remove", "sales@example.org"
    )


@pytest_twisted.ensureDeferred
async def test_deleting_a_user_takes_them_out_of_aliases(redis_url: str) -> None:
    await users_and_domain(redis_url)
    await admin_run(redis_url, "alias", "set", "team@example.org", "alice", "bob")
    await admin_run(redis_url, "alias", "set", "solo@example.org", "alice")
    await admin_run(redis_url, "user", "delete", "alice")
    assert await admin_run(redis_url, "alias", "list") == "team@example.org\tbob\n"


@pytest_twisted.ensureDeferred
async def test_refusals(redis_url: str) -> None:
    await users_and_domain(redis_url)
    assert "'nobody'" in await expect_error(
        redis_url, NOT_FOUND, "alias", "set", "sales@example.org", "alice", "nobody"
    )
    for bad in ("no-at-sign", "a b@example.org", "@"):
        await expect_error(redis_url, USAGE, "alias", "set", bad, "alice")
    assert "domain add other.org" in await expect_error(
        redis_url, NOT_FOUND, "alias", "set", "sales@Other.org", "alice"
    )
    # delivery looks an owned address up first: an alias on it would never be used
    await admin_run(redis_url, "user", "address", "add", "alice", "Alice@example.org")
    assert "'alice'" in await expect_error(
        redis_url, EXISTS, "alias", "set", "ALICE@example.org", "bob"
    )
    await expect_error(redis_url, NOT_FOUND, "alias", "remove", "garbage")
    # none of the refused aliases was stored
    assert await admin_run(redis_url, "alias", "list") == ""


def test_exit_codes_of_the_installed_command(redis_url: str) -> None:
    """The real entry point, in a process of its own, as scripts run it."""
    assert admin("--redis", redis_url, "user", "add", "dave", "--password", "pw").returncode == OK
    unknown_domain = admin("--redis", redis_url, "alias", "set", "x@example.org", "dave")
    assert unknown_domain.returncode == NOT_FOUND
    assert "example.org is no domain of this server" in unknown_domain.stderr
    assert admin("--redis", redis_url, "domain", "add", "example.org").returncode == OK
    done = admin("--redis", redis_url, "alias", "set", "x@example.org", "dave")
    assert (done.returncode, done.stdout) == (OK, "x@example.org delivers to dave\n")
    unknown_user = admin("--redis", redis_url, "alias", "set", "x@example.org", "erin")
    assert unknown_user.returncode == NOT_FOUND
    assert unknown_user.stderr == "stalwart-admin: no user named 'erin'\n"
    no_users = admin("--redis", redis_url, "alias", "set", "x@example.org")
    assert no_users.returncode == USAGE


@pytest_twisted.ensureDeferred
async def test_a_domain_catch_all_is_the_alias_at_domain(redis_url: str) -> None:
    await users_and_domain(redis_url)
    assert await admin_run(redis_url, "alias", "set", "@Example.ORG", "alice") == (
        "@example.org delivers to alice\n"
    )
    assert await admin_run(redis_url, "alias", "list") == "@example.org\talice\n"
    await expect_error(redis_url, USAGE, "alias", "set", "@", "alice")
    await expect_error(redis_url, NOT_FOUND, "alias", "set", "@other.test", "alice")
    await admin_run(redis_url, "alias", "remove", "@example.org")
    assert await admin_run(redis_url, "alias", "list") == ""
