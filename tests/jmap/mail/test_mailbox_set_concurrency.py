"""The account-wide Mailbox rules hold under concurrent /set calls: each call's write is
conditional on the mailboxes it checked, so of racing calls that would break a rule together,
one wins and the others see its mailbox and are refused."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet.defer import ensureDeferred, gatherResults

from tests.jmap.mail.conftest import Mail


async def race(mail: Mail, creates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    await mail.ok("Mailbox/get", ids=[])  # the defaults exist before the race
    results: list[dict[str, Any]] = await gatherResults([
        ensureDeferred(mail.set(create={"m": create})) for create in creates
    ])
    return results


@pytest_twisted.ensureDeferred
async def test_racing_creates_of_one_role_make_one_mailbox(mail: Mail) -> None:
    results = await race(mail, [{"name": f"Flagged {i}", "role": "flagged"} for i in range(8)])
    assert sum(result["created"] is not None for result in results) == 1
    refused = [result["notCreated"]["m"] for result in results if result["notCreated"]]
    assert [(e["type"], e["properties"]) for e in refused] == [("invalidProperties", ["role"])] * 7
    flagged = [m for m in (await mail.mailboxes()).values() if m["role"] == "flagged"]
    assert len(flagged) == 1


@pytest_twisted.ensureDeferred
async def test_racing_creates_of_one_sibling_name_make_one_mailbox(mail: Mail) -> None:
    results = await race(mail, [{"name": "Projects"} for _ in range(8)])
    assert sum(result["created"] is not None for result in results) == 1
    assert all(
        result["notCreated"]["m"]["type"] == "alreadyExists"
        for result in results if result["notCreated"]
    )
    found = (await mail.ok("Mailbox/get"))["list"]
    assert [m["name"] for m in found].count("Projects") == 1
