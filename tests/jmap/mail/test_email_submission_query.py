"""EmailSubmission/get, /changes, /query and /queryChanges."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from tests.jmap.api.conftest import cheap_hashes, start_server  # noqa: F401
from tests.jmap.mail.email_submission_harness import (  # noqa: F401
    ALICE,
    OTHER,
    Sending,
    sending_fixture,
)
from tests.mail.conftest import smtp_server  # noqa: F401


def held(mail_from: str, seconds: int) -> dict[str, Any]:
    return {"mailFrom": {"email": mail_from, "parameters": {"HOLDFOR": str(seconds)}},
            "rcptTo": [{"email": "bob@example.org"}]}


@pytest_twisted.ensureDeferred
async def test_get_changes_query(sending: Sending) -> None:
    state = (await sending.ok("EmailSubmission/get", ids=[]))["state"]
    alice, other = await sending.identity(), await sending.identity(OTHER)
    first = await sending.draft(subject="First")
    second = await sending.draft(subject="Second", sender=f"Other <{OTHER}>")
    third = await sending.draft(subject="Third")
    # sent now, held 1 h, held 2 h: sendAt orders them first, second, third
    a = await sending.created(identityId=alice, emailId=first["id"])
    b = await sending.created(identityId=other, emailId=second["id"],
                              envelope=held(OTHER, 3600))
    c = await sending.created(identityId=alice, emailId=third["id"], envelope=held(ALICE, 7200))

    got = await sending.ok("EmailSubmission/get", ids=[a["id"], "xmissing"],
                           properties=["emailId", "undoStatus"])
    assert got["list"] == [{"id": a["id"], "emailId": first["id"], "undoStatus": "final"}]
    assert got["notFound"] == ["xmissing"]

    changes = await sending.ok("EmailSubmission/changes", sinceState=state)
    assert sorted(changes["created"]) == sorted([a["id"], b["id"], c["id"]])
    assert changes["updated"] == changes["destroyed"] == []

    async def query(**arguments: Any) -> list[str]:
        ids: list[str] = (await sending.ok("EmailSubmission/query", **arguments))["ids"]
        return ids

    by_sent = [{"property": "sentAt"}]
    assert await query(sort=by_sent) == [a["id"], b["id"], c["id"]]
    assert await query(sort=[{"property": "sentAt", "isAscending": False}]) == [
        c["id"], b["id"], a["id"]]
    assert await query(filter={"undoStatus": "pending"}, sort=by_sent) == [b["id"], c["id"]]
    assert await query(filter={"undoStatus": "final"}) == [a["id"]]
    assert await query(filter={"identityIds": [other]}) == [b["id"]]
    assert await query(filter={"emailIds": [first["id"], third["id"]]}, sort=by_sent) == [
        a["id"], c["id"]]
    assert await query(filter={"threadIds": [second["threadId"]]}) == [b["id"]]
    assert await query(filter={"after": b["sendAt"]}, sort=by_sent) == [b["id"], c["id"]]
    assert await query(filter={"before": b["sendAt"]}) == [a["id"]]
    assert await query(filter={"operator": "NOT", "conditions": [{"undoStatus": "final"}]},
                       sort=by_sent) == [b["id"], c["id"]]
    email_of = {a["id"]: first["id"], b["id"]: second["id"], c["id"]: third["id"]}
    expected_ids = sorted(email_of, key=lambda i: email_of[i])
    assert await query(sort=[{"property": "emailId"}]) == expected_ids
    thread_of = {a["id"]: first["threadId"], b["id"]: second["threadId"],
                 c["id"]: third["threadId"]}
    assert await query(sort=[{"property": "threadId"}]) == sorted(
        thread_of, key=lambda i: thread_of[i])
    answer = await sending.ok("EmailSubmission/query", sort=by_sent, position=1, limit=1,
                              calculateTotal=True)
    assert (answer["ids"], answer["total"]) == ([b["id"]], 3)
    error = await sending.error("EmailSubmission/query", "unsupportedSort",
                                sort=[{"property": "subject"}])
    assert error["type"] == "unsupportedSort"

    # a cancel is a change, and moves the submission out of the pending results
    query_state = (await sending.ok("EmailSubmission/query",
                                    filter={"undoStatus": "pending"}))["queryState"]
    get_state = (await sending.ok("EmailSubmission/get", ids=[]))["state"]
    [[_, result, _]] = await sending.submission_set(update={c["id"]: {"undoStatus": "canceled"}})
    assert result["updated"] == {c["id"]: None}
    changes = await sending.ok("EmailSubmission/changes", sinceState=get_state)
    assert changes["updated"] == [c["id"]]
    moved = await sending.ok("EmailSubmission/queryChanges", sinceQueryState=query_state,
                             filter={"undoStatus": "pending"})
    assert moved["removed"] == [c["id"]] and moved["added"] == []


@pytest_twisted.ensureDeferred
async def test_a_date_of_the_right_form_that_names_no_instant_is_refused(
    sending: Sending,
) -> None:
    for condition in ({"after": "2023-13-01T00:00:00Z"}, {"before": "2023-02-30T10:00:00Z"}):
        await sending.error("EmailSubmission/query", "invalidArguments", filter=condition)
