"""The JMAP Core request layer (RFC 8620 §2, §3.3-3.7) with the mail capability (RFC 8621 §1.3),
checked over HTTP with the default registry as an independent suite checks it: the Session object
field by field, every request-level error as problem JSON, method-level errors, result references
between real mail methods, creation ids across calls, createdIds and sessionState."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
import treq

from stalwart_tx.jmap.capabilities import CORE, MAIL, SUBMISSION, VACATION_RESPONSE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.mail.smtp_relay import RelayConfig
from tests.jmap.api.conftest import ApiServer, Reply, StartServer
from tests.jmap.mail import conftest as mail_conftest
from tests.jmap.mail.conftest import USING, Emails, message

emails = mail_conftest.emails  # the mail fixture: the default registry on a real Redis store

ERROR = "urn:ietf:params:jmap:error:"
CORE_LIMITS = (
    "maxSizeUpload", "maxConcurrentUpload", "maxSizeRequest", "maxConcurrentRequests",
    "maxCallsInRequest", "maxObjectsInGet", "maxObjectsInSet",
)


def ref(result_of: str, name: str, path: str) -> dict[str, str]:
    return {"resultOf": result_of, "name": name, "path": path}


def is_unsigned_int(value: object) -> bool:
    # RFC 8620 §1.3: an integer 0 <= n <= 2^53-1, and JSON true is no number
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53 - 1


def assert_request_error(reply: Reply, error_type: str, **extra: object) -> dict[str, Any]:
    """RFC 8620 §3.6.1: an RFC 7807 problem whose type is the JMAP error URI, status matching."""
    assert 400 <= reply.code < 500, reply.body
    assert reply.content_type.split(";")[0].strip() == "application/problem+json"
    body: dict[str, Any] = reply.json()
    assert body["type"] == ERROR + error_type, body
    assert body["status"] == reply.code
    for name, value in extra.items():
        assert body[name] == value, body
    return body


def only_response(response: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    [(name, arguments, call_id)] = response["methodResponses"]
    return name, arguments, call_id


def errors_of(response: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(error type or None for a success, call id) of every response."""
    return [
        (arguments["type"] if name == "error" else None, call_id)
        for name, arguments, call_id in response["methodResponses"]
    ]


@pytest_twisted.async_yield_fixture
async def small(start_server: StartServer) -> AsyncIterator[ApiServer]:
    """The default registry with small request limits, on the in-memory store."""
    limits = CoreLimits(maxSizeRequest=4000, maxCallsInRequest=3)
    yield await start_server(limits=limits, registry=default_registry(limits))


# ---- §2 the Session object ----


@pytest_twisted.ensureDeferred
async def test_session_object_has_every_field_with_its_type(emails: Emails) -> None:
    server = emails.server
    response = await treq.get(server.base + "/.well-known/jmap", headers=server.auth())
    assert response.code == 200
    content_type = response.headers.getRawHeaders("Content-Type")[0]
    assert content_type.split(";")[0].strip() == "application/json"
    session = json.loads(await response.content())
    for field in ("capabilities", "accounts", "primaryAccounts", "username", "apiUrl",
                  "downloadUrl", "uploadUrl", "eventSourceUrl", "state"):
        assert field in session, field

    core = session["capabilities"][CORE]
    for limit in CORE_LIMITS:
        assert is_unsigned_int(core[limit]), (limit, core[limit])
    assert core["maxSizeRequest"] > 0 and core["maxCallsInRequest"] > 0
    assert isinstance(core["collationAlgorithms"], list)
    assert all(isinstance(c, str) for c in core["collationAlgorithms"])
    for uri in (MAIL, SUBMISSION, VACATION_RESPONSE):
        assert isinstance(session["capabilities"][uri], dict)

    assert session["username"] == "alice"
    assert list(session["accounts"]) == [emails.account]
    account = session["accounts"][emails.account]
    assert isinstance(account["name"], str) and account["name"]
    assert account["isPersonal"] is True
    assert account["isReadOnly"] is False
    capabilities = account["accountCapabilities"]
    # every capability of an account is one the server has; a primary account is a real one
    assert set(capabilities) <= set(session["capabilities"])
    assert {MAIL, SUBMISSION, VACATION_RESPONSE} <= set(capabilities)
    assert set(session["primaryAccounts"]) <= set(session["capabilities"])
    for uri in (MAIL, SUBMISSION, VACATION_RESPONSE):
        assert session["primaryAccounts"][uri] == emails.account
    assert all(a in session["accounts"] for a in session["primaryAccounts"].values())

    assert session["apiUrl"] == "https://mail.example.org/jmap/api/"
    for variable in ("{accountId}", "{blobId}", "{type}", "{name}"):
        assert variable in session["downloadUrl"], variable
    assert "{accountId}" in session["uploadUrl"]
    for variable in ("{types}", "{closeafter}", "{ping}"):
        assert variable in session["eventSourceUrl"], variable
    for url in ("apiUrl", "downloadUrl", "uploadUrl", "eventSourceUrl"):
        assert session[url].startswith("https://mail.example.org/"), url
    assert isinstance(session["state"], str) and session["state"]


@pytest_twisted.ensureDeferred
async def test_mail_and_submission_account_capabilities_have_their_types(emails: Emails) -> None:
    session = await emails.server.session()
    # RFC 8621 §1.3.1: the session-level value is an empty object
    assert session["capabilities"][MAIL] == {}
    mail = session["accounts"][emails.account]["accountCapabilities"][MAIL]
    assert set(mail) == {
        "maxMailboxesPerEmail", "maxMailboxDepth", "maxSizeMailboxName",
        "maxSizeAttachmentsPerEmail", "emailQuerySortOptions", "mayCreateTopLevelMailbox",
    }
    for limit in ("maxMailboxesPerEmail", "maxMailboxDepth"):  # UnsignedInt|null, >= 1
        assert mail[limit] is None or (is_unsigned_int(mail[limit]) and mail[limit] >= 1)
    assert is_unsigned_int(mail["maxSizeMailboxName"]) and mail["maxSizeMailboxName"] >= 100
    assert is_unsigned_int(mail["maxSizeAttachmentsPerEmail"])
    assert isinstance(mail["emailQuerySortOptions"], list)
    assert all(isinstance(o, str) for o in mail["emailQuerySortOptions"])
    assert "receivedAt" in mail["emailQuerySortOptions"]  # Email/query's default sort
    assert isinstance(mail["mayCreateTopLevelMailbox"], bool)

    # RFC 8621 §1.3.2
    submission = session["accounts"][emails.account]["accountCapabilities"][SUBMISSION]
    assert is_unsigned_int(submission["maxDelayedSend"])
    extensions = submission["submissionExtensions"]
    assert isinstance(extensions, dict)
    for name, arguments in extensions.items():
        assert isinstance(name, str)
        assert isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)
    # RFC 8621 §1.3.3
    assert session["capabilities"][VACATION_RESPONSE] == {}
    assert session["accounts"][emails.account]["accountCapabilities"][VACATION_RESPONSE] == {}


@pytest_twisted.ensureDeferred
async def test_session_state_of_mail_requests_is_the_sessions_state(emails: Emails) -> None:
    session = await emails.server.session()
    for calls in ([], [["Mailbox/get", {"accountId": emails.account}, "0"]],
                  [["Mailbox/get", {"accountId": "nobody"}, "0"]]):
        response = await emails.server.call(*calls, using=USING)
        assert response["sessionState"] == session["state"]
        assert "createdIds" not in response


# ---- §3.6.1 request-level errors ----


@pytest_twisted.ensureDeferred
async def test_bodies_that_are_not_json(emails: Emails) -> None:
    for body in (b"", b"{", b"using", b'{"using": [], "methodCalls": []} trailing', b"\xff\xfe"):
        assert_request_error(await emails.server.post(body), "notJSON")


@pytest_twisted.ensureDeferred
async def test_json_that_is_not_a_request(emails: Emails) -> None:
    account = emails.account
    call = ["Mailbox/get", {"accountId": account}, "0"]
    for value in (
        [], "request", None, 7, [USING, [call]],
        {"methodCalls": [call]},                                   # no using
        {"using": USING},                                          # no methodCalls
        {"using": MAIL, "methodCalls": [call]},                    # using not an array
        {"using": [CORE, 1], "methodCalls": [call]},               # using with a non-String
        {"using": USING, "methodCalls": call},                     # methodCalls not an array
        {"using": USING, "methodCalls": [["Mailbox/get", {"accountId": account}]]},
        {"using": USING, "methodCalls": [[*call, "extra"]]},
        {"using": USING, "methodCalls": [[1, {"accountId": account}, "0"]]},
        {"using": USING, "methodCalls": [[None, {"accountId": account}, "0"]]},
        {"using": USING, "methodCalls": [["Mailbox/get", [account], "0"]]},
        {"using": USING, "methodCalls": [["Mailbox/get", {"accountId": account}, 0]]},
        {"using": USING, "methodCalls": [{"name": "Mailbox/get"}]},
        {"using": USING, "methodCalls": [call, "Mailbox/get"]},
    ):
        reply = await emails.server.post(json.dumps(value).encode())
        assert_request_error(reply, "notRequest")


@pytest_twisted.ensureDeferred
async def test_unknown_capability_in_using(emails: Emails) -> None:
    unknown = "urn:ietf:params:jmap:calendars:nonexistent"
    reply = await emails.server.post({
        "using": [*USING, unknown],
        "methodCalls": [["Mailbox/get", {"accountId": emails.account}, "0"]],
    })
    body = assert_request_error(reply, "unknownCapability")
    assert unknown in body["detail"]


@pytest_twisted.ensureDeferred
async def test_more_calls_than_max_calls_in_request(small: ApiServer) -> None:
    session = await small.session()
    assert session["capabilities"][CORE]["maxCallsInRequest"] == 3
    echo = ["Core/echo", {}, "e"]
    assert len((await small.call(*[echo] * 3, using=[CORE]))["methodResponses"]) == 3
    reply = await small.post({"using": [CORE], "methodCalls": [echo] * 4})
    assert_request_error(reply, "limit", limit="maxCallsInRequest")


@pytest_twisted.ensureDeferred
async def test_body_over_max_size_request(small: ApiServer) -> None:
    session = await small.session()
    assert session["capabilities"][CORE]["maxSizeRequest"] == 4000
    request = {"using": [CORE], "methodCalls": [["Core/echo", {"pad": ""}, "e"]]}
    size = len(json.dumps(request).encode())
    request["methodCalls"][0][1]["pad"] = "x" * (4000 - size)
    assert len(json.dumps(request).encode()) == 4000
    assert (await small.call(*request["methodCalls"], using=[CORE]))["methodResponses"]
    request["methodCalls"][0][1]["pad"] += "x"
    reply = await small.post(request)
    assert_request_error(reply, "limit", limit="maxSizeRequest")


# ---- §3.6.2 method-level errors ----


@pytest_twisted.ensureDeferred
async def test_method_of_a_capability_not_in_using_is_unknown(emails: Emails) -> None:
    account = emails.account
    response = await emails.server.call(
        ["Mailbox/get", {"accountId": account}, "m"],
        ["Core/echo", {"still": "runs"}, "e"],
        ["Email/query", {"accountId": account}, "q"],
        ["EmailSubmission/get", {"accountId": account}, "s"],
        ["Mailbox/nonexistent", {"accountId": account}, "x"],
        using=[CORE],
    )
    assert errors_of(response) == [
        ("unknownMethod", "m"), (None, "e"), ("unknownMethod", "q"), ("unknownMethod", "s"),
        ("unknownMethod", "x"),
    ]
    assert response["methodResponses"][1] == ["Core/echo", {"still": "runs"}, "e"]
    # with mail but not submission, only the submission method is unknown
    response = await emails.server.call(
        ["Mailbox/get", {"accountId": account}, "m"],
        ["EmailSubmission/get", {"accountId": account}, "s"],
        using=[CORE, MAIL],
    )
    assert errors_of(response) == [(None, "m"), ("unknownMethod", "s")]


@pytest_twisted.ensureDeferred
async def test_unknown_account_is_account_not_found(emails: Emails) -> None:
    server = emails.server
    for account in ("nonexistent", server.other_user_id):
        response = await server.call(
            ["Mailbox/get", {"accountId": account}, "m"],
            ["Email/query", {"accountId": account}, "q"],
            ["Mailbox/set", {"accountId": account, "create": {"n": {"name": "X"}}}, "s"],
            ["Mailbox/get", {"accountId": emails.account, "ids": []}, "ok"],
            using=USING,
        )
        assert errors_of(response) == [
            ("accountNotFound", "m"), ("accountNotFound", "q"), ("accountNotFound", "s"),
            (None, "ok"),
        ]
    # bob's account got no mailbox from alice's attempt
    assert "X" not in await emails.mailboxes()


@pytest_twisted.ensureDeferred
async def test_missing_or_malformed_account_id_is_invalid_arguments(emails: Emails) -> None:
    response = await emails.server.call(
        ["Mailbox/get", {}, "a"], ["Mailbox/get", {"accountId": 5}, "b"],
        ["Mailbox/get", {"accountId": None}, "c"], using=USING,
    )
    assert errors_of(response) == [
        ("invalidArguments", "a"), ("invalidArguments", "b"), ("invalidArguments", "c"),
    ]


# ---- §3.7 result references ----


@pytest_twisted.ensureDeferred
async def test_ids_from_a_query_and_from_a_list_mapped_with_a_star(emails: Emails) -> None:
    account = emails.account
    response = await emails.server.call(
        ["Mailbox/query", {"accountId": account}, "q"],
        ["Mailbox/get", {"accountId": account, "#ids": ref("q", "Mailbox/query", "/ids"),
                         "properties": ["name"]}, "g"],
        ["Mailbox/get", {"accountId": account, "#ids": ref("g", "Mailbox/get", "/list/*/id"),
                         "properties": ["role"]}, "h"],
        using=USING,
    )
    assert errors_of(response) == [(None, "q"), (None, "g"), (None, "h")]
    ids = response["methodResponses"][0][1]["ids"]
    assert ids
    assert [m["id"] for m in response["methodResponses"][1][1]["list"]] == ids
    assert [m["id"] for m in response["methodResponses"][2][1]["list"]] == ids
    assert response["methodResponses"][2][1]["notFound"] == []


@pytest_twisted.ensureDeferred
async def test_the_rfc_example_chain_with_real_mail(emails: Emails) -> None:
    first = await emails.import_raw(message("One", message_id="one@x"))
    second = await emails.import_raw(
        message("Re: One", message_id="two@x", in_reply_to="one@x", references=["one@x"],
                date="Mon, 02 Jan 2023 11:00:00 +0000")
    )
    third = await emails.import_raw(message("Other", message_id="three@x"))
    assert first["threadId"] == second["threadId"] != third["threadId"]
    account = emails.account
    response = await emails.server.call(
        ["Email/query", {"accountId": account, "collapseThreads": True,
                         "sort": [{"property": "receivedAt", "isAscending": False}]}, "t0"],
        ["Email/get", {"accountId": account, "#ids": ref("t0", "Email/query", "/ids"),
                       "properties": ["threadId"]}, "t1"],
        ["Thread/get", {"accountId": account,
                        "#ids": ref("t1", "Email/get", "/list/*/threadId")}, "t2"],
        ["Email/get", {"accountId": account, "#ids": ref("t2", "Thread/get", "/list/*/emailIds"),
                       "properties": ["subject"]}, "t3"],
        using=USING,
    )
    assert errors_of(response) == [(None, "t0"), (None, "t1"), (None, "t2"), (None, "t3")]
    threads = response["methodResponses"][2][1]["list"]
    assert len(threads) == 2
    # "*" over the threads, each emailIds an array: flattened into one array of ids
    expected = [email_id for thread in threads for email_id in thread["emailIds"]]
    assert sorted(expected) == sorted([first["id"], second["id"], third["id"]])
    assert [e["id"] for e in response["methodResponses"][3][1]["list"]] == expected


@pytest_twisted.ensureDeferred
async def test_references_that_fail_to_resolve(emails: Emails) -> None:
    account = emails.account

    def get(reference: dict[str, str], call_id: str) -> list[Any]:
        return ["Mailbox/get", {"accountId": account, "#ids": reference}, call_id]

    response = await emails.server.call(
        ["Mailbox/query", {"accountId": account}, "q"],
        ["Mailbox/get", {"accountId": "nonexistent"}, "bad"],
        get(ref("q", "Mailbox/query", "/ids/*/id"), "star-over-strings"),
        get(ref("q", "Mailbox/query", "/position/*"), "star-over-number"),
        get(ref("q", "Mailbox/query", "/filter/*"), "star-over-null"),
        get(ref("q", "Mailbox/query", "/nonexistent"), "no-such-property"),
        get(ref("q", "Mailbox/get", "/ids"), "wrong-name"),
        get(ref("bad", "Mailbox/get", "/list/*/id"), "failed-call"),
        get(ref("later", "Mailbox/query", "/ids"), "later-call"),
        get(ref("nowhere", "Mailbox/query", "/ids"), "unknown-call"),
        get(ref("q", "Mailbox/query", "ids"), "not-a-pointer"),
        get({"resultOf": "q", "path": "/ids"}, "no-name"),
        ["Mailbox/query", {"accountId": account}, "later"],
        get(ref("later", "Mailbox/query", "/ids"), "now-earlier"),
        using=USING,
    )
    types = errors_of(response)
    assert types[:2] == [(None, "q"), ("accountNotFound", "bad")]
    for error_type, call_id in types[2:12]:
        assert error_type == "invalidResultReference", (call_id, error_type)
    assert types[12:] == [(None, "later"), (None, "now-earlier")]


@pytest_twisted.ensureDeferred
async def test_a_reference_naming_an_error_response(emails: Emails) -> None:
    # §3.7 compares the response name and nothing else: naming the response "error" may resolve
    # to the error object, or the server may refuse it; it never takes another response
    response = await emails.server.call(
        ["Mailbox/get", {"accountId": "nonexistent"}, "bad"],
        ["Core/echo", {"#value": ref("bad", "error", "/type")}, "e"],
        ["Core/echo", {"#value": ref("bad", "Mailbox/get", "/type")}, "f"],
        using=USING,
    )
    responses = response["methodResponses"]
    assert responses[1] in (
        ["Core/echo", {"value": "accountNotFound"}, "e"],
        ["error", {"type": "invalidResultReference", **responses[1][1]}, "e"],
    )
    assert responses[2][0] == "error"
    assert responses[2][1]["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_a_call_id_used_twice_references_the_first_response(emails: Emails) -> None:
    account = emails.account
    inbox = await emails.inbox()
    response = await emails.server.call(
        ["Mailbox/get", {"accountId": account, "ids": [inbox], "properties": ["name"]}, "x"],
        ["Mailbox/query", {"accountId": account}, "x"],
        ["Mailbox/get", {"accountId": account, "#ids": ref("x", "Mailbox/get", "/list/*/id"),
                         "properties": ["name"]}, "first"],
        ["Mailbox/get", {"accountId": account, "#ids": ref("x", "Mailbox/query", "/ids"),
                         "properties": ["name"]}, "second"],
        using=USING,
    )
    responses = response["methodResponses"]
    # §3.7 step 1: the first response with the call id; its name must then match
    assert responses[2][0] == "Mailbox/get"
    assert [m["id"] for m in responses[2][1]["list"]] == [inbox]
    assert responses[3][0] == "error"
    assert responses[3][1]["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_plain_and_referenced_argument_together(emails: Emails) -> None:
    account = emails.account
    response = await emails.server.call(
        ["Mailbox/query", {"accountId": account}, "q"],
        ["Mailbox/get", {"accountId": account, "ids": [],
                         "#ids": ref("q", "Mailbox/query", "/ids")}, "g"],
        using=USING,
    )
    assert errors_of(response) == [(None, "q"), ("invalidArguments", "g")]


# ---- §3.3 / §5.3 creation ids and createdIds ----


@pytest_twisted.ensureDeferred
async def test_created_ids_round_trip_with_mailboxes(emails: Emails) -> None:
    account = emails.account
    inbox = await emails.inbox()
    response = await emails.server.call(
        # "#box" names the inbox through the request's createdIds
        ["Mailbox/set", {"accountId": account, "create": {
            "parent": {"name": "Parent", "parentId": "#box"},
        }}, "s1"],
        ["Mailbox/set", {"accountId": account, "create": {
            "child": {"name": "Child", "parentId": "#parent"},
        }}, "s2"],
        ["Mailbox/get", {"accountId": account, "ids": ["#child"],
                         "properties": ["name", "parentId"]}, "g"],
        using=USING, createdIds={"box": inbox},
    )
    assert errors_of(response) == [(None, "s1"), (None, "s2"), (None, "g")]
    parent = response["methodResponses"][0][1]["created"]["parent"]["id"]
    child = response["methodResponses"][1][1]["created"]["child"]["id"]
    assert response["createdIds"] == {"box": inbox, "parent": parent, "child": child}
    mailboxes = await emails.mailboxes()
    assert mailboxes["Parent"]["parentId"] == inbox
    assert mailboxes["Child"]["parentId"] == parent
    # Mailbox/get takes ids as given: RFC 8620 §5.1 does not resolve creation ids in /get
    assert response["methodResponses"][2][1]["notFound"] in ([], ["#child"])

    # sent back in a later request, the map still resolves and comes back
    response = await emails.server.call(
        ["Mailbox/set", {"accountId": account, "update": {"#child": {"name": "Renamed"}}}, "u"],
        using=USING, createdIds=response["createdIds"],
    )
    assert response["methodResponses"][0][1]["updated"] == {child: None}
    assert response["createdIds"] == {"box": inbox, "parent": parent, "child": child}


@pytest_twisted.ensureDeferred
async def test_created_ids_only_when_the_request_had_them(emails: Emails) -> None:
    account = emails.account
    create = ["Mailbox/set", {"accountId": account, "create": {"n": {"name": "New"}}}, "s"]
    response = await emails.server.call(create, using=USING)
    assert response["methodResponses"][0][1]["created"]["n"]["id"]
    assert "createdIds" not in response
    create[1]["create"] = {"n": {"name": "Newer"}}
    response = await emails.server.call(create, using=USING, createdIds={})
    assert response["createdIds"] == {"n": response["methodResponses"][0][1]["created"]["n"]["id"]}


@pytest_twisted.ensureDeferred
async def test_an_unknown_creation_id_creates_nothing(emails: Emails) -> None:
    response = await emails.server.call(
        ["Mailbox/set", {"accountId": emails.account, "create": {
            "c": {"name": "Orphan", "parentId": "#nonexistent"},
        }}, "s"],
        using=USING, createdIds={},
    )
    name, result, _ = only_response(response)
    assert name == "Mailbox/set"
    assert result["created"] is None
    assert result["notCreated"]["c"]["type"] == "invalidProperties"
    assert response["createdIds"] == {}
    assert "Orphan" not in await emails.mailboxes()


@pytest_twisted.ensureDeferred
async def test_session_state_when_a_session_value_moves_with_time(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a relay, submissionExtensions' FUTURERELEASE names the latest hold date-time, which
    # moves with the clock; §3.4: sessionState is the *current* state of the Session object.
    import stalwart_tx.jmap.mail.submission_capability as submission_capability

    now = [1_800_000_000.0]
    monkeypatch.setattr(submission_capability.time, "time", lambda: now[0])
    limits = CoreLimits()
    relay = RelayConfig(endpoint="tcp:host=127.0.0.1:port=1", starttls="off")
    server = await start_server(limits=limits, registry=default_registry(limits, relay=relay))
    before = await server.session()
    assert (await server.call(using=[CORE]))["sessionState"] == before["state"]
    # the date is a day's start (this clock is at 08:00 UTC): an hour later nothing moved, so
    # clients do not fetch the Session again every second
    now[0] += 3_600
    assert (await server.session())["state"] == before["state"]
    now[0] += 86_400
    after = await server.session()
    extensions = after["accounts"][server.user_id]["accountCapabilities"][SUBMISSION]
    assert extensions != before["accounts"][server.user_id]["accountCapabilities"][SUBMISSION]
    assert after["state"] != before["state"]  # §2: any other property changed, so does state
    assert (await server.call(using=[CORE]))["sessionState"] == after["state"]
