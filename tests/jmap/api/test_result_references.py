"""RFC 8620 §3.7 references to previous method results: the RFC's own example chain, the "*"
extension of JSON Pointer with its flattening, and every way resolution fails."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE
from tests.jmap.api.conftest import ApiServer, error_of
from tests.jmap.api.methods_for_tests import EMAILS, QUERY_IDS, THREADS


def ref(result_of: str, name: str, path: str) -> dict[str, str]:
    return {"resultOf": result_of, "name": name, "path": path}


@pytest_twisted.ensureDeferred
async def test_the_rfc_example_chain(server: ApiServer) -> None:
    account = server.user_id
    response = await server.call(
        ["Email/query", {
            "accountId": account, "filter": {"inMailbox": "mailbox1"},
            "sort": [{"property": "receivedAt", "isAscending": False}], "collapseThreads": True,
            "position": 0, "limit": 10, "calculateTotal": True,
        }, "t0"],
        ["Email/get", {
            "accountId": account, "#ids": ref("t0", "Email/query", "/ids"),
            "properties": ["threadId"],
        }, "t1"],
        ["Thread/get", {
            "accountId": account, "#ids": ref("t1", "Email/get", "/list/*/threadId"),
        }, "t2"],
        ["Email/get", {
            "accountId": account, "#ids": ref("t2", "Thread/get", "/list/*/emailIds"),
            "properties": ["from", "receivedAt", "subject"],
        }, "t3"],
    )
    (n0, query, c0), (n1, emails, c1), (n2, threads, c2), (n3, full, c3) = (
        response["methodResponses"]
    )
    assert (n0, n1, n2, n3) == ("Email/query", "Email/get", "Thread/get", "Email/get")
    assert (c0, c1, c2, c3) == ("t0", "t1", "t2", "t3")
    assert query["ids"] == QUERY_IDS
    # t1 got the ids of t0, in order
    assert [e["id"] for e in emails["list"]] == QUERY_IDS
    assert emails["list"][0] == {"id": "msg1023", "threadId": "trd194"}
    assert emails["notFound"] == []
    # t2 got one threadId per email of t1, in the same order
    assert [t["id"] for t in threads["list"]] == [EMAILS[i]["threadId"] for i in QUERY_IDS]
    assert threads["list"][:2] == [
        {"id": "trd194", "emailIds": ["msg1020", "msg1021", "msg1023"]},
        {"id": "trd114", "emailIds": ["msg201", "msg223"]},
    ]
    # t3 got the emailIds arrays of t2 flattened into one array
    flattened = [i for t in threads["list"] for i in THREADS[t["id"]]]
    assert [e["id"] for e in full["list"]] == flattened
    assert flattened[:5] == ["msg1020", "msg1021", "msg1023", "msg201", "msg223"]
    assert set(full["list"][0]) == {"id", "from", "receivedAt", "subject"}


async def resolve(server: ApiServer, source: dict[str, Any], path: str) -> Any:
    """The value ``path`` picks out of a Core/echo of ``source``, through a result reference."""
    response = await server.call(
        ["Core/echo", source, "src"],
        ["Core/echo", {"#value": ref("src", "Core/echo", path)}, "dst"],
        using=[CORE],
    )
    name, arguments, _ = response["methodResponses"][1]
    if name == "error":
        return ("error", arguments["type"])
    return arguments["value"]


STRUCTURE = {
    "list": [
        {"id": "a", "tags": ["x", "y"], "sub": [{"v": 1}, {"v": 2}]},
        {"id": "b", "tags": [], "sub": [{"v": 3}]},
        {"id": "c", "tags": ["z"], "sub": []},
    ],
    "nested": [[["deep1"], ["deep2"]], [["deep3"]]],
    "a/b": "slash",
    "m~n": "tilde",
    "~1": "literal tilde-one",
    "": "empty name",
    "obj": {"*": "star key", "0": "zero key"},
    "null": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", STRUCTURE),
        ("/list/0/id", "a"),
        ("/list/2/tags/0", "z"),
        ("/list/*/id", ["a", "b", "c"]),
        # arrays from each item are spliced in: ["x", "y"] + [] + ["z"]
        ("/list/*/tags", ["x", "y", "z"]),
        ("/list/*/sub/*/v", [1, 2, 3]),
        ("/list/*/sub", [{"v": 1}, {"v": 2}, {"v": 3}]),
        # one level of flattening only: the items' arrays are spliced, not their contents
        ("/nested/*", [["deep1"], ["deep2"], ["deep3"]]),
        ("/nested/*/*", ["deep1", "deep2", "deep3"]),
        ("/a~1b", "slash"),
        ("/m~0n", "tilde"),
        ("/~01", "literal tilde-one"),
        ("/", "empty name"),
        ("/obj/*", "star key"),  # on an object "*" is just a name
        ("/obj/0", "zero key"),
        ("/null", None),
    ],
)
@pytest_twisted.ensureDeferred
async def test_pointer_evaluation(server: ApiServer, path: str, expected: Any) -> None:
    assert await resolve(server, STRUCTURE, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "list",  # not a JSON Pointer: no leading "/"
        "/missing",
        "/list/3",  # past the end
        "/list/-",  # the RFC 6901 "past the end" token names nothing
        "/list/01",  # leading zeros are not array indexes
        "/list/-1",
        "/list/x",
        "/list/0/id/more",  # past a string
        "/null/x",
        "/m~2n",  # "~" must be followed by 0 or 1
        "/list/*/missing",  # fails for an item: the whole reference fails
        "/obj/*/x",
    ],
)
@pytest_twisted.ensureDeferred
async def test_pointer_that_names_nothing_is_an_invalid_reference(
    server: ApiServer, path: str
) -> None:
    assert await resolve(server, STRUCTURE, path) == ("error", "invalidResultReference")


@pytest.mark.parametrize(
    "reference",
    [
        "src",
        ["src", "Core/echo", "/x"],
        None,
        {"resultOf": "src", "name": "Core/echo"},
        {"resultOf": "src", "path": "/x"},
        {"name": "Core/echo", "path": "/x"},
        {"resultOf": "src", "name": "Core/echo", "path": 5},
        {"resultOf": 1, "name": "Core/echo", "path": "/x"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_malformed_reference_is_invalid(server: ApiServer, reference: Any) -> None:
    response = await server.call(
        ["Core/echo", {"x": 1}, "src"], ["Core/echo", {"#x": reference}, "dst"]
    )
    assert error_of(response, 1)["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_unknown_or_later_call_id_is_invalid(server: ApiServer) -> None:
    response = await server.call(
        ["Core/echo", {"#x": ref("later", "Core/echo", "/x")}, "first"],
        ["Core/echo", {"x": 1}, "later"],
        ["Core/echo", {"#x": ref("nowhere", "Core/echo", "/x")}, "third"],
    )
    assert error_of(response, 0)["type"] == "invalidResultReference"
    assert error_of(response, 2)["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_name_must_match_the_response(server: ApiServer) -> None:
    response = await server.call(
        ["Core/echo", {"x": 1}, "src"],
        ["Core/echo", {"#x": ref("src", "Core/other", "/x")}, "dst"],
    )
    assert error_of(response, 1)["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_a_failed_call_cannot_be_referenced(server: ApiServer) -> None:
    response = await server.call(
        ["Email/query", {"accountId": "nobody"}, "q"],
        ["Email/get", {"accountId": server.user_id, "#ids": ref("q", "Email/query", "/ids")},
         "g"],
    )
    assert error_of(response, 0)["type"] == "accountNotFound"
    assert error_of(response, 1)["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_the_first_response_with_the_call_id_is_used(server: ApiServer) -> None:
    response = await server.call(
        ["Core/echo", {"v": "first"}, "dup"],
        ["Core/echo", {"v": "second"}, "dup"],
        ["Core/echo", {"#v": ref("dup", "Core/echo", "/v")}, "c"],
        # Widget/copy answers Widget/copy then Widget/set, both "cp": only the first is found
        ["Widget/copy", {}, "cp"],
        ["Core/echo", {"#v": ref("cp", "Widget/copy", "/copied")}, "c1"],
        ["Core/echo", {"#v": ref("cp", "Widget/set", "/destroyed")}, "c2"],
    )
    responses = response["methodResponses"]
    assert responses[2] == ["Core/echo", {"v": "first"}, "c"]
    assert responses[5] == ["Core/echo", {"v": True}, "c1"]
    assert error_of(response, 6)["type"] == "invalidResultReference"


@pytest_twisted.ensureDeferred
async def test_plain_and_referenced_form_together_are_invalid_arguments(
    server: ApiServer,
) -> None:
    response = await server.call(
        ["Core/echo", {"ids": ["a"]}, "src"],
        ["Core/echo", {"ids": ["b"], "#ids": ref("src", "Core/echo", "/ids")}, "dst"],
    )
    assert error_of(response, 1)["type"] == "invalidArguments"


@pytest_twisted.ensureDeferred
async def test_references_resolve_before_the_account_check(server: ApiServer) -> None:
    response = await server.call(
        ["Core/echo", {"account": server.user_id}, "src"],
        ["Test/echo", {"#accountId": ref("src", "Core/echo", "/account")}, "dst"],
    )
    assert response["methodResponses"][1] == [
        "Test/echo", {"accountId": server.user_id}, "dst"
    ]


@pytest_twisted.ensureDeferred
async def test_only_top_level_arguments_are_references(server: ApiServer) -> None:
    inner = {"#x": ref("src", "Core/echo", "/x")}
    response = await server.call(
        ["Core/echo", {"x": 1}, "src"], ["Core/echo", {"inner": inner}, "dst"]
    )
    assert response["methodResponses"][1] == ["Core/echo", {"inner": inner}, "dst"]


@pytest_twisted.ensureDeferred
async def test_a_handler_changing_its_arguments_leaves_earlier_responses_alone(
    server: ApiServer,
) -> None:
    response = await server.call(
        ["Core/echo", {"ids": ["a"]}, "src"],
        ["Test/mutate", {"#ids": ref("src", "Core/echo", "/ids")}, "m1"],
        ["Test/mutate", {"#ids": ref("src", "Core/echo", "/ids")}, "m2"],
    )
    responses = response["methodResponses"]
    assert responses[0] == ["Core/echo", {"ids": ["a"]}, "src"]
    assert responses[1] == ["Test/mutate", {"ids": ["a", "added-by-handler"]}, "m1"]
    assert responses[2] == ["Test/mutate", {"ids": ["a", "added-by-handler"]}, "m2"]
