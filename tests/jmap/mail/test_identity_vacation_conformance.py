"""Identity (RFC 8621 §6) and VacationResponse (RFC 8621 §8) as an independent client test
suite checks them: what /set answers for defaults, references, unknown ids and properties,
EmailAddress lists, the singleton and its UTCDates."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE, MAIL, SUBMISSION, VACATION_RESPONSE
from tests.jmap.mail.conftest import Emails

IDENTITY_DEFAULTS = {
    "name": "", "replyTo": None, "bcc": None, "textSignature": "", "htmlSignature": "",
}


async def with_addresses(emails: Emails, *addresses: str) -> None:
    for address in addresses:
        await emails.server.store.directory.add_address(emails.account, address)


async def identity_set(emails: Emails, **arguments: Any) -> dict[str, Any]:
    return await emails.ok("Identity/set", **arguments)


# -- Identity ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_created_identity_answers_its_defaults_and_server_set_properties(
    emails: Emails,
) -> None:
    await with_addresses(emails, "alice@example.org")
    result = await identity_set(emails, create={"i": {"email": "alice@example.org"}})
    made = result["created"]["i"]
    # RFC 8620 §5.3: the created object has the server-set properties and every property the
    # client left out and the server gave a default
    assert isinstance(made["id"], str) and made["mayDelete"] is True
    for name, value in IDENTITY_DEFAULTS.items():
        assert made.get(name, "(left out)") == value, name
    [got] = (await emails.ok("Identity/get", ids=[made["id"]]))["list"]
    assert got == {"id": made["id"], "email": "alice@example.org", "mayDelete": True,
                   **IDENTITY_DEFAULTS}


@pytest_twisted.ensureDeferred
async def test_identity_get_ids_and_properties(emails: Emails) -> None:
    await with_addresses(emails, "alice@example.org", "alias@example.org")
    everything = await emails.ok("Identity/get")
    assert sorted(i["email"] for i in everything["list"]) == [
        "alias@example.org", "alice@example.org",
    ]
    assert everything["notFound"] == [] and isinstance(everything["state"], str)
    for identity in everything["list"]:
        assert set(identity) == {"id", "email", "mayDelete", *IDENTITY_DEFAULTS}
    some = everything["list"][0]["id"]
    found = await emails.ok("Identity/get", ids=[some, "xnothere"], properties=["name"])
    assert found["list"] == [{"id": some, "name": ""}]  # the id always comes back
    assert found["notFound"] == ["xnothere"]
    await emails.error("Identity/get", "invalidArguments", properties=["colour"])
    await emails.error("Identity/get", "invalidArguments", ids="x")


@pytest_twisted.ensureDeferred
async def test_identity_set_unknown_ids_properties_and_states(emails: Emails) -> None:
    await with_addresses(emails, "alice@example.org")
    [alice] = (await emails.ok("Identity/get"))["list"]
    result = await identity_set(
        emails, update={"xnothere": {"name": "x"}}, destroy=["xgone"],
    )
    assert result["notUpdated"]["xnothere"]["type"] == "notFound"
    assert result["notDestroyed"]["xgone"]["type"] == "notFound"
    result = await identity_set(emails, update={alice["id"]: {"colour": "red"}})
    assert result["notUpdated"][alice["id"]]["type"] == "invalidProperties"
    assert result["notUpdated"][alice["id"]]["properties"] == ["colour"]
    result = await identity_set(emails, update={alice["id"]: {"id": "other"}})
    assert result["notUpdated"][alice["id"]]["type"] == "invalidProperties"
    result = await identity_set(emails, create={"i": {"email": "alice@example.org", "id": "x"}})
    assert result["notCreated"]["i"]["type"] == "invalidProperties"
    result = await identity_set(emails, create={"i": {"email": ["alice@example.org"]}})
    assert result["notCreated"]["i"]["properties"] == ["email"]
    await emails.error("Identity/set", "stateMismatch", ifInState="nope",
                       update={alice["id"]: {"name": "Alice"}})
    await emails.error("Identity/changes", "cannotCalculateChanges", sinceState="nope")
    await emails.error("Identity/query", "unknownMethod")


@pytest_twisted.ensureDeferred
async def test_identity_creation_ids_are_referable_in_the_request(emails: Emails) -> None:
    await with_addresses(emails, "alice@example.org")
    response = await emails.response(
        ["Identity/set", {"accountId": emails.account, "create": {
            "i": {"email": "alice@example.org", "name": "Work"},
        }}, "0"],
        ["Identity/get", {"accountId": emails.account, "ids": ["#i"]}, "1"],
        ["Identity/set", {"accountId": emails.account, "destroy": ["#i"]}, "2"],
    )
    [[_, created, _], [_, got, _], [_, destroyed, _]] = response["methodResponses"]
    new_id = created["created"]["i"]["id"]
    assert [i["id"] for i in got["list"]] == [new_id] and got["list"][0]["name"] == "Work"
    assert destroyed["destroyed"] == [new_id]


@pytest_twisted.ensureDeferred
async def test_identity_address_lists_round_trip_as_email_addresses(emails: Emails) -> None:
    await with_addresses(emails, "alice@example.org")
    reply_to = [{"name": "Help Desk", "email": "help@example.org"},
                {"name": None, "email": "other@example.org"}]
    bcc = [{"name": "Archive", "email": "archive@example.org"}]
    result = await identity_set(emails, create={"i": {
        "email": "alice@example.org", "replyTo": reply_to, "bcc": bcc,
    }})
    made = result["created"]["i"]
    [got] = (await emails.ok("Identity/get", ids=[made["id"]], properties=["replyTo", "bcc"]))[
        "list"
    ]
    assert got == {"id": made["id"], "replyTo": reply_to, "bcc": bcc}
    # null clears a list; the identity can be destroyed (mayDelete)
    result = await identity_set(emails, update={made["id"]: {"replyTo": None, "bcc": []}})
    assert made["id"] in result["updated"]
    [got] = (await emails.ok("Identity/get", ids=[made["id"]], properties=["replyTo"]))["list"]
    assert got["replyTo"] is None
    result = await identity_set(emails, destroy=[made["id"]])
    assert result["destroyed"] == [made["id"]]


# -- VacationResponse -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_vacation_response_is_advertised_and_needs_its_capability(emails: Emails) -> None:
    session = await emails.server.session()
    assert session["capabilities"][VACATION_RESPONSE] == {}
    account = session["accounts"][emails.account]["accountCapabilities"]
    assert account[VACATION_RESPONSE] == {}
    assert session["primaryAccounts"][VACATION_RESPONSE] == emails.account
    response = await emails.server.call(
        ["VacationResponse/get", {"accountId": emails.account}, "c0"], using=[CORE, MAIL],
    )
    [[name, result, _]] = response["methodResponses"]
    assert (name, result["type"]) == ("error", "unknownMethod")
    response = await emails.server.call(
        ["Identity/get", {"accountId": emails.account}, "c0"], using=[CORE, MAIL],
    )
    [[name, result, _]] = response["methodResponses"]
    assert (name, result["type"]) == ("error", "unknownMethod")
    response = await emails.server.call(
        ["Identity/get", {"accountId": emails.account}, "c0"], using=[CORE, SUBMISSION],
    )
    assert response["methodResponses"][0][0] == "Identity/get"


@pytest_twisted.ensureDeferred
async def test_vacation_response_get_properties(emails: Emails) -> None:
    result = await emails.ok("VacationResponse/get", properties=["subject"])
    assert result["list"] == [{"id": "singleton", "subject": None}]
    await emails.error("VacationResponse/get", "invalidArguments", properties=["colour"])
    await emails.error("VacationResponse/get", "accountNotFound",
                       accountId=emails.server.other_user_id)


@pytest_twisted.ensureDeferred
async def test_vacation_response_create_and_destroy_are_singleton_errors(emails: Emails) -> None:
    result = await emails.ok("VacationResponse/set", create={
        "v": {"isEnabled": True}, "w": {},
    }, destroy=["singleton"])
    assert {k: e["type"] for k, e in result["notCreated"].items()} == {
        "v": "singleton", "w": "singleton",
    }
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"
    assert result["created"] is None and result["destroyed"] is None
    # nothing changed: the singleton keeps its defaults
    [got] = (await emails.ok("VacationResponse/get"))["list"]
    assert got["isEnabled"] is False
    result = await emails.ok("VacationResponse/set", destroy=["other"])
    assert result["notDestroyed"]["other"]["type"] in ("singleton", "notFound")


@pytest_twisted.ensureDeferred
async def test_vacation_response_dates_must_be_utc_dates(emails: Emails) -> None:
    for bad in (
        "2026-12-20", "2026-12-20T00:00:00", "2026-12-20T00:00:00+01:00",
        "2026-12-20t00:00:00z", "2026-12-20 00:00:00Z", "2026-13-20T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-12-20T24:30:00Z", "2026-12-20T10:61:00Z", 20261220,
    ):
        for name in ("fromDate", "toDate"):
            result = await emails.ok("VacationResponse/set", update={"singleton": {name: bad}})
            error = result["notUpdated"]["singleton"]
            assert error["type"] == "invalidProperties", (name, bad)
            assert error["properties"] == [name], (name, bad)
    [got] = (await emails.ok("VacationResponse/get"))["list"]
    assert (got["fromDate"], got["toDate"]) == (None, None)
    good = {"fromDate": "2026-12-20T08:00:00Z", "toDate": "2027-01-04T09:30:00.5Z"}
    result = await emails.ok("VacationResponse/set", update={"singleton": good})
    assert "singleton" in result["updated"]
    [got] = (await emails.ok("VacationResponse/get", properties=["fromDate", "toDate"]))["list"]
    assert got == {"id": "singleton", **good}
