"""stalwart-admin commands against a real Redis: results, messages and exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.admin.cli import AdminError, build_parser, run
from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, UNAVAILABLE, USAGE
from stalwart_tx.auth import passwords
from stalwart_tx.auth.tokens import parse_token, secret_matches
from stalwart_tx.store.backend import open_redis_store
from tests.service_process import admin


@pytest.fixture(autouse=True)
def cheap_hashes() -> Iterator[None]:
    previous = passwords.use_hasher(passwords.make_hasher(time_cost=1, memory_cost_kib=8))
    yield
    passwords.use_hasher(previous)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def admin_run(redis_url: str, *argv: str, stdin: str = "") -> str:
    args = build_parser().parse_args(["--redis", redis_url, "--timeout", "2", *argv])
    out = io.StringIO()
    await run(reactor, args, out, io.StringIO(stdin))
    return out.getvalue()


async def expect_error(redis_url: str, code: int, *argv: str, stdin: str = "") -> str:
    with pytest.raises(AdminError) as raised:
        await admin_run(redis_url, *argv, stdin=stdin)
    assert raised.value.code == code, str(raised.value)
    return str(raised.value)


@pytest_twisted.ensureDeferred
async def test_user_lifecycle(redis_url: str) -> None:
    created = json.loads(await admin_run(redis_url, "--json", "user", "add", "Alice",
                                         "--password", "pw1"))
    assert created["name"] == "alice"
    account_id = created["accountId"]
    await admin_run(redis_url, "user", "add", "bob", "--password-stdin", stdin="pw2\nignored\n")
    assert "already exists" in await expect_error(
        redis_url, EXISTS, "user", "add", "ALICE", "--password", "x"
    )
    listing = await admin_run(redis_url, "user", "list")
    assert listing.splitlines() == [f"alice\t{account_id}\tindividual", listing.splitlines()[1]]
    assert listing.splitlines()[1].startswith("bob\t")

    store = await open_redis_store(redis_url, reactor, timeout=2)
    try:
        alice = await store.directory.find_principal("alice")
        assert alice.password_hash and alice.password_hash.startswith("$argon2id$")
        assert "pw1" not in alice.password_hash
        assert await passwords.verify_password(alice.password_hash, "pw1")
        await admin_run(redis_url, "user", "passwd", "alice", "--password", "new")
        alice = await store.directory.find_principal("alice")
        assert await passwords.verify_password(alice.password_hash, "new")
        assert not await passwords.verify_password(alice.password_hash, "pw1")

        await admin_run(redis_url, "user", "delete", "bob")
        names = [p.name for p in await store.directory.list_principals()]
        assert names == ["alice"]
    finally:
        await store.close()
    await expect_error(redis_url, NOT_FOUND, "user", "delete", "bob")
    await expect_error(redis_url, NOT_FOUND, "user", "passwd", "nobody", "--password", "x")


@pytest_twisted.ensureDeferred
async def test_passwords_are_never_empty_and_need_a_source(redis_url: str) -> None:
    await expect_error(redis_url, USAGE, "user", "add", "carol", "--password-stdin", stdin="\n")
    await expect_error(redis_url, USAGE, "user", "add", "carol")  # stdin is no terminal


@pytest_twisted.ensureDeferred
async def test_prompted_password_must_match(redis_url: str, monkeypatch: Any) -> None:
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = build_parser().parse_args(["--redis", redis_url, "user", "add", "dave"])
    with pytest.raises(AdminError) as raised:
        await run(reactor, args, io.StringIO(), Terminal())
    assert raised.value.code == USAGE and "differ" in str(raised.value)


@pytest_twisted.ensureDeferred
async def test_tokens(redis_url: str) -> None:
    await admin_run(redis_url, "user", "add", "alice", "--password", "pw")
    token = (await admin_run(redis_url, "token", "create", "alice", "--label", "phone")).strip()
    parsed = parse_token(token)
    assert parsed is not None
    token_id, secret = parsed
    second = json.loads(await admin_run(redis_url, "--json", "token", "create", "alice"))
    listing = json.loads(await admin_run(redis_url, "--json", "token", "list", "alice"))
    assert [t["tokenId"] for t in listing] == [token_id, second["tokenId"]]
    assert listing[0]["label"] == "phone"

    store = await open_redis_store(redis_url, reactor, timeout=2)
    try:
        record = await store.directory.get_token(token_id)
        assert secret not in record.secret_hash
        assert secret_matches(record, secret)
    finally:
        await store.close()

    await admin_run(redis_url, "token", "revoke", token)
    await admin_run(redis_url, "token", "revoke", second["tokenId"])
    assert json.loads(await admin_run(redis_url, "--json", "token", "list", "alice")) == []
    await expect_error(redis_url, NOT_FOUND, "token", "revoke", token_id)
    await expect_error(redis_url, NOT_FOUND, "token", "create", "nobody")


@pytest_twisted.ensureDeferred
async def test_unreachable_store_is_exit_5(tmp_path: Any) -> None:
    url = f"unix://{tmp_path}/no-redis.sock"
    message = await expect_error(url, UNAVAILABLE, "user", "list")
    assert "unreachable" in message


def test_console_script_exit_codes_and_hash_password() -> None:
    usage = admin("user")
    assert usage.returncode == 2
    hashed = admin("hash-password", "--password-stdin", stdin="secret\n")
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout.startswith("$argon2id$")
    assert "secret" not in hashed.stdout
    bad_config = admin("--config", "/nonexistent/stalwart.toml", "user", "list")
    assert bad_config.returncode == 2 and "cannot read" in bad_config.stderr
