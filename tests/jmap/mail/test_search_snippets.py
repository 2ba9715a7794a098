"""SearchSnippet/get: highlighted subject and body where the filter's words match."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.mail.conftest import Emails, message


@pytest_twisted.ensureDeferred
async def test_snippets_mark_the_matching_words(emails: Emails) -> None:
    hit = await emails.import_raw(message(
        "Budget for <2024>", message_id="b@x",
        body="Intro text. " * 40 + "The budget meeting moved to Friday & Saturday.\r\n",
    ))
    miss = await emails.import_raw(message("Lunch", message_id="l@x", body="Pizza?\r\n"))
    result = await emails.ok("SearchSnippet/get", filter={"text": "budget"},
                             emailIds=[hit["id"], miss["id"], "xmissing"])
    by_id = {s["emailId"]: s for s in result["list"]}
    assert by_id[hit["id"]]["subject"] == "<mark>Budget</mark> for &lt;2024&gt;"
    preview = by_id[hit["id"]]["preview"]
    assert "<mark>budget</mark> meeting" in preview and "&amp;" in preview
    assert len(preview) <= 255 and not preview.startswith("Intro text. Intro text. Intro")
    assert by_id[miss["id"]] == {"emailId": miss["id"], "subject": None, "preview": None}
    assert result["notFound"] == ["xmissing"]


@pytest_twisted.ensureDeferred
async def test_subject_and_body_conditions_and_negations(emails: Emails) -> None:
    email = await emails.import_raw(message(
        "Gardens in spring", message_id="s@x", body="The gardens bloom in spring.\r\n"))
    result = await emails.ok("SearchSnippet/get", emailIds=[email["id"]], filter={
        "operator": "AND", "conditions": [
            {"subject": "garden"},  # stems: garden matches gardens
            {"operator": "NOT", "conditions": [{"body": "spring"}]},
        ],
    })
    [snippet] = result["list"]
    assert snippet["subject"] == "<mark>Gardens</mark> in spring"
    assert snippet["preview"] is None  # body words under NOT are not highlighted
    bad = await emails.invoke("SearchSnippet/get", emailIds=[email["id"]], filter={"x": 1})
    assert bad[0] == "error" and bad[1]["type"] == "unsupportedFilter"
