"""stalwart-admin quota set|show against a real Redis: results, messages and exit codes."""

from __future__ import annotations

import io
import json

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.admin.cli import AdminError, build_parser, run
from stalwart_tx.admin.exitcodes import NOT_FOUND, OK, USAGE
from stalwart_tx.jmap.mail.quota_usage import UNLIMITED, stage_usage
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.backend import open_redis_store
from tests.service_process import admin


async def admin_run(redis_url: str, *argv: str) -> str:
    args = build_parser().parse_args(["--redis", redis_url, "--timeout", "2", *argv])
    out = io.StringIO()
    await run(reactor, args, out, io.StringIO())
    return out.getvalue()


async def expect_error(redis_url: str, code: int, *argv: str) -> str:
    with pytest.raises(AdminError) as raised:
        await admin_run(redis_url, *argv)
    assert raised.value.code == code, str(raised.value)
    return str(raised.value)


async def add_user(redis_url: str, name: str) -> str:
    created = json.loads(await admin_run(redis_url, "--json", "user", "add", name,
                                         "--password", "pw"))
    account_id: str = created["accountId"]
    return account_id


@pytest_twisted.ensureDeferred
async def test_set_and_show(redis_url: str) -> None:
    account = await add_user(redis_url, "alice")
    assert await admin_run(redis_url, "quota", "show", "alice") == (
        "storage\t0\tnone\nmessages\t0\tnone\n"
    )
    said = await admin_run(redis_url, "quota", "set", "Alice", "--storage", "1000000")
    assert said == "limits of alice: storage 1000000, messages none\n"
    said = await admin_run(redis_url, "quota", "set", "alice", "--messages", "50")
    assert said == "limits of alice: storage 1000000, messages 50\n"  # storage kept

    store = await open_redis_store(redis_url, reactor, timeout=2)
    try:  # usage counted by the mail code shows next to the limits
        objects = WorkingSet(store, account)
        await stage_usage(objects, 1234, 2)
        await store.accounts.write(account, objects.batch())
    finally:
        await store.close()
    assert await admin_run(redis_url, "quota", "show", "alice") == (
        "storage\t1234\t1000000\nmessages\t2\t50\n"
    )
    expected = {"name": "alice", "accountId": account,
                "storage": {"used": 1234, "limit": 1000000},
                "messages": {"used": 2, "limit": 50}}
    for argv in (("--json", "quota", "show", "alice"), ("quota", "show", "alice", "--json")):
        assert json.loads(await admin_run(redis_url, *argv)) == expected

    said = await admin_run(redis_url, "--json", "quota", "set", "alice", "--storage", "none",
                           "--messages", "NONE")
    assert json.loads(said) == {**expected, "storage": {"used": 1234, "limit": None},
                                "messages": {"used": 2, "limit": None}}
    await admin_run(redis_url, "quota", "set", "alice", "--storage", "0")
    assert (await admin_run(redis_url, "quota", "show", "alice")).splitlines()[0] == (
        "storage\t1234\t0"
    )


@pytest_twisted.ensureDeferred
async def test_errors_and_exit_codes(redis_url: str) -> None:
    await add_user(redis_url, "alice")
    assert "nobody" in await expect_error(redis_url, NOT_FOUND, "quota", "show", "nobody")
    await expect_error(redis_url, NOT_FOUND, "quota", "set", "nobody", "--storage", "1")
    assert "--storage" in await expect_error(redis_url, USAGE, "quota", "set", "alice")
    for bad in ("-1", "lots", "1.5", str(UNLIMITED)):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(["quota", "set", "alice", "--storage", bad])
        assert exited.value.code == USAGE


def test_exit_codes_of_the_installed_command(redis_url: str) -> None:
    """The real entry point, in a process of its own, as scripts run it."""
    added = admin("--redis", redis_url, "user", "add", "carol", "--password", "pw")
    assert added.returncode == OK, added.stderr
    done = admin("--redis", redis_url, "quota", "set", "carol", "--messages", "7")
    assert (done.returncode, done.stdout) == (OK, "limits of carol: storage none, messages 7\n")
    missing = admin("--redis", redis_url, "quota", "show", "nobody")
    assert missing.returncode == NOT_FOUND
    assert missing.stderr == "stalwart-admin: no user named 'nobody'\n"
    empty = admin("--redis", redis_url, "quota", "set", "carol")
    assert empty.returncode == USAGE and "--storage" in empty.stderr
    bad = admin("--redis", redis_url, "quota", "set", "carol", "--storage", "-5")
    assert bad.returncode == USAGE and "out of range" in bad.stderr
