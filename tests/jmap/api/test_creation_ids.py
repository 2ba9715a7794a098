"""Creation ids must be Ids (RFC 8620 §3.3, §5.3) in every method that creates, not only /set:
a client sends createdIds back, and a Request whose createdIds are not Ids is no Request."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.capabilities import BLOB, CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from tests.jmap.api.conftest import StartServer, error_of

BAD_CREATION_IDS = ["a b", "", "#k", "x" * 256, "ü"]


@pytest.mark.parametrize("bad", BAD_CREATION_IDS)
@pytest_twisted.ensureDeferred
async def test_blob_upload_refuses_creation_ids_that_are_not_ids(
    start_server: StartServer, bad: str
) -> None:
    server = await start_server(registry=default_registry(CoreLimits()))
    response = await server.call(
        ["Blob/upload", {"accountId": server.user_id,
                         "create": {bad: {"data": [{"data:asText": "hi"}]}}}, "c1"],
        using=[CORE, BLOB],
    )
    assert error_of(response)["type"] == "invalidArguments"


@pytest.mark.parametrize("bad", BAD_CREATION_IDS)
@pytest_twisted.ensureDeferred
async def test_push_subscription_set_refuses_creation_ids_that_are_not_ids(
    start_server: StartServer, bad: str
) -> None:
    server = await start_server(registry=default_registry(CoreLimits()))
    response = await server.call(
        ["PushSubscription/set", {"create": {bad: {
            "deviceClientId": "d", "url": "https://push.example/x", "types": None}}}, "c1"],
        using=[CORE],
    )
    assert error_of(response)["type"] == "invalidArguments"
