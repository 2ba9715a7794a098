"""The standard methods behind the real API dispatcher: creation ids across calls, result
references, and /copy's implicit /set answered under the same call id."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import CapabilitySpec, MethodRegistry
from stalwart_tx.jmap.session import SessionUrls
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.standard.widgets import CAPABILITY, TYPES, A, B, TwoAccountContext


def dispatcher(store: StoreBundle) -> JMAPApi:
    limits = CoreLimits()
    registry = MethodRegistry()
    registry.add_capability(CapabilitySpec(CORE, limits.capability))
    registry.add_capability(CapabilitySpec(CAPABILITY, dict, account_value=lambda _: {}))
    for data_type in TYPES:
        registry.add_methods(standard_methods(data_type))
    return JMAPApi(
        registry, limits, store=lambda: store, reactor=reactor,
        urls=SessionUrls.under("https://mail.example.org"), context_factory=TwoAccountContext,
    )


async def request(store: StoreBundle, *calls: list[Any], **extra: Any) -> Any:
    return await dispatcher(store).process_request(
        MailUser(principal_id=A, name="alice"),
        {"using": [CORE, CAPABILITY], "methodCalls": list(calls), **extra},
    )


@pytest_twisted.ensureDeferred
async def test_creation_ids_and_result_references_flow_between_calls(store: StoreBundle) -> None:
    response = await request(
        store,
        ["Widget/set", {"accountId": A, "create": {
            "p": {"name": "parent", "count": 2}, "c": {"name": "child", "parentId": "#p"},
        }}, "0"],
        ["Widget/get", {"accountId": A, "ids": ["#c"], "properties": ["parentId"]}, "1"],
        ["Widget/query", {"accountId": A, "filter": {"minCount": 1}}, "2"],
        ["Widget/get", {"accountId": A, "#ids": {
            "resultOf": "2", "name": "Widget/query", "path": "/ids",
        }, "properties": ["name"]}, "3"],
        createdIds={},
    )
    [set_response, get_child, _query, get_matching] = response["methodResponses"]
    created = set_response[1]["created"]
    assert get_child[1]["list"] == [{"id": created["c"]["id"], "parentId": created["p"]["id"]}]
    assert get_matching[1]["list"] == [{"id": created["p"]["id"], "name": "parent"}]
    assert response["createdIds"] == {"p": created["p"]["id"], "c": created["c"]["id"]}


@pytest_twisted.ensureDeferred
async def test_copy_with_destroy_answers_twice_under_one_call_id(store: StoreBundle) -> None:
    response = await request(
        store,
        ["Widget/set", {"accountId": B, "create": {"o": {"name": "original"}}}, "a"],
        ["Widget/copy", {
            "fromAccountId": B, "accountId": A, "create": {"k": {"id": "#o"}},
            "onSuccessDestroyOriginal": True,
        }, "b"],
        ["Widget/get", {"accountId": A, "ids": ["#k"], "properties": ["name"]}, "c"],
    )
    names = [(name, call_id) for name, _, call_id in response["methodResponses"]]
    assert names == [
        ("Widget/set", "a"), ("Widget/copy", "b"), ("Widget/set", "b"), ("Widget/get", "c"),
    ]
    [_, _, implicit_set, get_copy] = response["methodResponses"]
    assert implicit_set[1]["accountId"] == B and len(implicit_set[1]["destroyed"]) == 1
    assert get_copy[1]["list"][0]["name"] == "original"


@pytest_twisted.ensureDeferred
async def test_method_errors_become_error_responses(store: StoreBundle) -> None:
    response = await request(
        store,
        ["Widget/query", {"accountId": A, "sort": [{"property": "colour"}]}, "0"],
        ["Widget/changes", {"accountId": A, "sinceState": "bogus"}, "1"],
        ["Widget/set", {"accountId": A, "ifInState": "bogus"}, "2"],
    )
    assert [(name, args["type"]) for name, args, _ in response["methodResponses"]] == [
        ("error", "unsupportedSort"), ("error", "cannotCalculateChanges"),
        ("error", "stateMismatch"),
    ]
