"""RFC 8620 §4.1 Core/echo: the arguments come back unchanged, under the same method call id."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE
from tests.jmap.api.conftest import ApiServer


@pytest_twisted.ensureDeferred
async def test_echo_returns_its_arguments(server: ApiServer) -> None:
    arguments = {"hello": True, "high": 5, "nested": {"list": [1, "two", None, 3.5]}, "ü": "ß"}
    response = await server.call(["Core/echo", arguments, "b3ff"], using=[CORE])
    assert response["methodResponses"] == [["Core/echo", arguments, "b3ff"]]


@pytest_twisted.ensureDeferred
async def test_echo_with_empty_arguments(server: ApiServer) -> None:
    response = await server.call(["Core/echo", {}, "0"], using=[CORE])
    assert response["methodResponses"] == [["Core/echo", {}, "0"]]
