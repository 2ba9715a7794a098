"""RFC 8620 §2 as the registry shapes it: "capabilities" lists every registered capability,
"accountCapabilities" and "primaryAccounts" the account capabilities the account has."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap import core_methods
from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.registry import CapabilitySpec, MethodSpec
from tests.jmap.api.conftest import ApiServer, StartServer
from tests.jmap.api.methods_for_tests import LACKING, TEST


@pytest_twisted.ensureDeferred
async def test_capabilities_come_from_the_registry(server: ApiServer) -> None:
    session = await server.session()
    assert set(session["capabilities"]) == {CORE, TEST, LACKING}
    assert session["capabilities"][CORE] == CoreLimits().capability()
    account = session["accounts"][server.user_id]
    assert account["accountCapabilities"] == {CORE: {}, TEST: {"test": True}}
    assert session["primaryAccounts"] == {CORE: server.user_id, TEST: server.user_id}


@pytest_twisted.ensureDeferred
async def test_core_limits_in_the_session_are_the_enforced_ones(start_server: StartServer) -> None:
    limits = CoreLimits(maxCallsInRequest=7, maxSizeRequest=12345, maxConcurrentRequests=3)
    server = await start_server(limits=limits)
    core = (await server.session())["capabilities"][CORE]
    assert (core["maxCallsInRequest"], core["maxSizeRequest"], core["maxConcurrentRequests"]) == (
        7, 12345, 3
    )


def test_default_registry_has_core_echo() -> None:
    registry = default_registry(CoreLimits())
    assert registry.method("Core/echo") is not None
    assert CORE in registry.capabilities


class Module:
    """Stands in for a method module in the registry-building tests."""

    def __init__(self, name: str, **attributes: object) -> None:
        self.__name__ = name
        self.__dict__.update(attributes)


async def nothing(ctx: object, arguments: dict[str, object]) -> dict[str, object]:
    return {}


def test_registry_refuses_a_method_without_its_capability() -> None:
    orphan = Module("orphan", METHODS=[MethodSpec("X/get", "urn:x", nothing)])
    with pytest.raises(ValueError, match="urn:x"):
        default_registry(CoreLimits(), modules=[core_methods, orphan])  # type: ignore[list-item]


def test_registry_takes_static_or_built_capabilities() -> None:
    static = Module("static", METHODS=[MethodSpec("X/get", "urn:x", nothing)],
                    CAPABILITIES=[CapabilitySpec("urn:x", dict)])
    built = Module("built", METHODS=[],
                   capabilities=lambda options: [CapabilitySpec(
                       "urn:y", lambda: {"url": options.public_url + "/y"})])
    registry = default_registry(CoreLimits(), public_url="https://h", modules=[
        core_methods, static, built])  # type: ignore[list-item]
    assert registry.capabilities["urn:y"].session_value() == {"url": "https://h/y"}
    assert registry.method("X/get") is not None


def test_registry_refuses_malformed_modules_and_duplicates() -> None:
    with pytest.raises(ValueError, match="METHODS"):
        default_registry(CoreLimits(), modules=[Module("bad", METHODS=None)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="twice"):
        default_registry(CoreLimits(), modules=[core_methods, core_methods])
