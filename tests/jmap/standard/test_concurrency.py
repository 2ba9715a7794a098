"""Concurrent writers: /set computes optimistically and retries, so nothing is lost or doubled,
and a client sees stateMismatch only when its own ifInState is stale."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest_twisted
from twisted.internet import defer

from stalwart_tx.jmap.datatype import CHANGES, GET, QUERY, QUERY_CHANGES, SET, DataType, Property
from stalwart_tx.jmap.errors import MethodError, SetError
from stalwart_tx.jmap.standard import retry, standard_methods
from stalwart_tx.jmap.standard.calls import QueryCall, SetCall
from stalwart_tx.jmap.standard.query import load_and_filter
from stalwart_tx.jmap.standard.values import Int
from stalwart_tx.store.records import JSONObject, WriteBatch
from tests.jmap.standard.widgets import A, Api, fetch, make, method_error


async def gather(*calls: Any) -> list[Any]:
    return list(await defer.gatherResults(
        [defer.Deferred.fromCoroutine(call) for call in calls], consumeErrors=True
    ))


@pytest_twisted.ensureDeferred
async def test_concurrent_patches_of_one_object_all_land(api: Api) -> None:
    [widget_id] = await make(api, {"name": "shared"})
    responses = await gather(*(
        api("Widget/set", {"update": {widget_id: {f"tags/t{n}": True}}}) for n in range(12)
    ))
    assert all(r["notUpdated"] is None for r in responses)
    widget = await fetch(api, widget_id)
    assert widget["tags"] == {f"t{n}": True for n in range(12)}
    assert widget["revision"] == 12  # each update counted exactly once
    # every response's states chain: each applied on the state another left behind
    assert len({r["newState"] for r in responses}) == 12


@pytest_twisted.ensureDeferred
async def test_concurrent_creates_checked_against_each_other_admit_exactly_one(
    api: Api,
) -> None:
    responses = await gather(*(
        api("Widget/set", {"create": {"c": {"name": "unique-name"}}}) for _ in range(8)
    ))
    created = [r for r in responses if r["created"]]
    refused = [r["notCreated"]["c"] for r in responses if r["notCreated"]]
    assert len(created) == 1
    assert len(refused) == 7
    assert {error["type"] for error in refused} == {"alreadyExists"}
    assert {error["existingId"] for error in refused} == {created[0]["created"]["c"]["id"]}
    assert len(await api.store.accounts.list_ids(A, "Widget")) == 1


@pytest_twisted.ensureDeferred
async def test_a_stale_if_in_state_is_a_state_mismatch_not_a_retry(api: Api) -> None:
    [widget_id] = await make(api, {"name": "w"})
    seen = await api.state()
    await api("Widget/set", {"update": {widget_id: {"count": 1}}})  # another client
    error = await method_error(api, "Widget/set", {
        "ifInState": seen, "update": {widget_id: {"count": 2}},
    })
    assert error.type == "stateMismatch"
    assert (await fetch(api, widget_id))["count"] == 1


# -- a race made to order -----------------------------------------------------------------------


@dataclass
class Interference:
    """A hook that, while ``remaining`` lasts, lets another writer in right before our write."""

    remaining: int
    attempts: int = 0
    seen_states: list[str] = field(default_factory=list)

    async def write_in_between(self, call: SetCall) -> None:
        self.attempts += 1
        self.seen_states.append(await call.objects.state("Counter"))
        if self.remaining > 0:
            self.remaining -= 1
            await call.ctx.store.accounts.write(
                call.account_id,
                WriteBatch().update("Counter", "other", {"value": self.attempts}),
            )


def counter_type(interference: Interference) -> DataType:
    async def on_update(
        call: SetCall, counter_id: str, old: JSONObject, new: JSONObject
    ) -> SetError | None:
        await interference.write_in_between(call)
        return None

    async def query_engine(call: QueryCall) -> list[str]:
        ids = await load_and_filter(call)
        if interference.remaining > 0:
            interference.remaining -= 1
            await call.ctx.store.accounts.write(
                call.account_id, WriteBatch().update("Counter", "other", {"value": -1})
            )
        return ids

    return DataType(
        name="Counter",
        capability="urn:example:counters",
        properties={"value": Property(Int(), default=0)},
        methods=frozenset({GET, CHANGES, SET, QUERY, QUERY_CHANGES}),
        on_update=on_update,
        query_engine=query_engine,
    )


async def call(api: Api, data_type: DataType, method: str, arguments: dict[str, Any]) -> Any:
    [spec] = [s for s in standard_methods(data_type) if s.name.endswith("/" + method)]
    return await spec.handler(api.ctx, {"accountId": A, **arguments})


async def counters(api: Api) -> None:
    await api.store.accounts.write(
        A, WriteBatch().create("Counter", "mine", {"value": 0}).create("Counter", "other", {})
    )


@pytest_twisted.ensureDeferred
async def test_a_write_between_read_and_write_makes_the_set_compute_again(api: Api) -> None:
    await counters(api)
    interference = Interference(remaining=3)
    counter = counter_type(interference)
    response = await call(api, counter, "set", {"update": {"mine": {"value": 5}}})
    assert response["notUpdated"] is None
    assert interference.attempts == 4
    assert len(set(interference.seen_states)) == 4  # each attempt read afresh
    # the response tells the state the write was really applied on
    assert response["oldState"] == interference.seen_states[-1]
    assert response["newState"] == await api.state("Counter")
    stored = await api.store.accounts.get(A, "Counter", ["mine", "other"])
    assert stored == {"mine": {"value": 5}, "other": {"value": 3}}


@pytest_twisted.ensureDeferred
async def test_endless_conflicts_end_in_server_unavailable_with_nothing_written(
    api: Api,
) -> None:
    await counters(api)
    interference = Interference(remaining=10**6)
    counter = counter_type(interference)
    try:
        await call(api, counter, "set", {"update": {"mine": {"value": 5}}})
    except MethodError as error:
        assert error.type == "serverUnavailable"
    else:
        raise AssertionError("the set should have given up")
    assert interference.attempts == retry.ATTEMPTS
    assert (await api.store.accounts.get(A, "Counter", ["mine"])) == {"mine": {"value": 0}}


@pytest_twisted.ensureDeferred
async def test_query_changes_reads_again_when_a_write_lands_while_it_reads(api: Api) -> None:
    await counters(api)
    interference = Interference(remaining=0)
    counter = counter_type(interference)
    since = (await call(api, counter, "query", {}))["queryState"]
    await api.store.accounts.write(A, WriteBatch().update("Counter", "mine", {"value": 1}))
    interference.remaining = 1  # the engine's first run is raced by a writer
    response = await call(api, counter, "queryChanges", {"sinceQueryState": since})
    assert response["newQueryState"] == await api.state("Counter")
    assert sorted(response["removed"]) == ["mine", "other"]
    assert sorted(a["id"] for a in response["added"]) == ["mine", "other"]
