"""urn:ietf:params:jmap:core: its capability (the core limits) and Core/echo (RFC 8620 §4)."""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec, RegistryOptions


def core_capability(limits: CoreLimits) -> CapabilitySpec:
    # Core holds no per-account settings, but its methods (Blob/copy, the data of every account)
    # work per account, and clients pick their default account from primaryAccounts: some look
    # for core there first, so every account lists it, with an empty object.
    return CapabilitySpec(
        uri=CORE, session_value=limits.capability, account_value=lambda _account_id: {}
    )


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    return [core_capability(options.limits)]


async def echo(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """Core/echo: the arguments, unchanged (§4.1); a ping for clients and a test of the path."""
    return dict(arguments)


METHODS: list[MethodSpec] = [
    MethodSpec(name="Core/echo", capability=CORE, handler=echo, takes_account=False),
]
