"""VacationResponse (RFC 8621 §8) over HTTP on Redis: a singleton that exists before it is set."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.mail.conftest import Mail

DEFAULTS = {
    "id": "singleton", "isEnabled": False, "fromDate": None, "toDate": None, "subject": None,
    "textBody": None, "htmlBody": None,
}


@pytest_twisted.ensureDeferred
async def test_get_answers_the_defaults_before_any_set(mail: Mail) -> None:
    result = await mail.ok("VacationResponse/get")
    assert result["list"] == [DEFAULTS] and result["notFound"] == []
    result = await mail.ok("VacationResponse/get", ids=["singleton", "other"])
    assert result["list"] == [DEFAULTS] and result["notFound"] == ["other"]
    result = await mail.ok("VacationResponse/get", ids=["singleton"], properties=["isEnabled"])
    assert result["list"] == [{"id": "singleton", "isEnabled": False}]


@pytest_twisted.ensureDeferred
async def test_set_updates_the_singleton(mail: Mail) -> None:
    before = (await mail.ok("VacationResponse/get"))["state"]
    reply = {
        "isEnabled": True, "fromDate": "2026-12-20T00:00:00Z", "toDate": "2027-01-04T09:30:00Z",
        "subject": "Away", "textBody": "Back in January.", "htmlBody": "<p>Back in January.</p>",
    }
    result = await mail.ok("VacationResponse/set", ifInState=before,
                           update={"singleton": reply})
    assert result["updated"] == {"singleton": None}
    assert result["oldState"] == before and result["newState"] != before
    got = await mail.ok("VacationResponse/get")
    assert got["list"] == [{"id": "singleton", **reply}]
    assert got["state"] == result["newState"]
    result = await mail.ok("VacationResponse/set", update={"singleton": {"isEnabled": False,
                                                                          "toDate": None}})
    assert result["updated"] == {"singleton": None}
    got = (await mail.ok("VacationResponse/get"))["list"][0]
    assert (got["isEnabled"], got["toDate"], got["subject"]) == (False, None, "Away")


@pytest_twisted.ensureDeferred
async def test_singleton_errors(mail: Mail) -> None:
    result = await mail.ok("VacationResponse/set", create={"v": {"isEnabled": True}},
                           destroy=["singleton"], update={"other": {"isEnabled": True}})
    assert result["notCreated"]["v"]["type"] == "singleton"
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"
    assert result["notUpdated"]["other"]["type"] == "notFound"
    for bad in ({"fromDate": "2026-12-20"}, {"isEnabled": "yes"}, {"subject": 3},
                {"id": "other"}, {"replyTo": "x"}):
        result = await mail.ok("VacationResponse/set", update={"singleton": bad})
        assert result["notUpdated"]["singleton"]["type"] == "invalidProperties", bad
    # null resets a property to its default (RFC 8620 §5.3)
    result = await mail.ok("VacationResponse/set", update={"singleton": {"isEnabled": None}})
    assert result["updated"] == {"singleton": None}
    await mail.error("VacationResponse/query", "unknownMethod")
    await mail.error("VacationResponse/set", "stateMismatch", ifInState="nope",
                     update={"singleton": {"isEnabled": True}})
