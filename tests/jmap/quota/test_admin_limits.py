"""Limits set by stalwart-admin reach JMAP clients: Quota/get, Quota/changes and overQuota."""

from __future__ import annotations

import io

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.admin.cli import build_parser, run
from tests.jmap.quota.conftest import Client


async def admin_run(redis_url: str, *argv: str) -> str:
    args = build_parser().parse_args(["--redis", redis_url, "--timeout", "2", *argv])
    out = io.StringIO()
    await run(reactor, args, out, io.StringIO())
    return out.getvalue()


@pytest_twisted.ensureDeferred
async def test_admin_limits_reach_clients(client: Client, redis_url: str) -> None:
    since = (await client.ok("Quota/get", ids=[]))["state"]
    await admin_run(redis_url, "quota", "set", "alice", "--storage", "100")
    quotas = await client.quotas()
    assert (quotas["storage"]["hardLimit"], quotas["storage"]["warnLimit"]) == (100, 90)
    changes = await client.ok("Quota/changes", sinceState=since)
    assert sorted(changes["created"]) == ["messages", "storage"]
    refused = await client.ok("Parcel/set", create={"p": {"size": 101}})
    assert refused["notCreated"]["p"]["type"] == "overQuota"
    made = await client.ok("Parcel/set", create={"p": {"size": 60}})
    assert made["notCreated"] is None
    assert (await admin_run(redis_url, "quota", "show", "alice")).splitlines() == [
        "storage\t60\t100", "messages\t1\tnone"
    ]
    since = (await client.ok("Quota/get", ids=[]))["state"]
    await admin_run(redis_url, "quota", "set", "alice", "--storage", "none")
    changes = await client.ok("Quota/changes", sinceState=since)
    assert changes["updated"] == ["storage"]
    made = await client.ok("Parcel/set", create={"p": {"size": 1000}})
    assert made["notCreated"] is None
