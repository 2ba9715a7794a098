"""urn:ietf:params:jmap:core: its capability (the core limits) and Core/echo (RFC 8620 §4)."""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import CORE
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec, RegistryOptions


def core_capability(limits: CoreLimits) -> CapabilitySpec:
    # Not an account capability: RFC 8620 gives core nothing per account.
    return CapabilitySpec(uri=CORE, session_value=limits.capability)


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    return [core_capability(options.limits)]


async def echo(ctx: RequestContext, arguments: JSONObject) -> JSONObject:
    """Core/echo: the arguments, unchanged (§4.1); a ping for clients and a test of the path."""
    return dict(arguments)


METHODS: list[MethodSpec] = [
    MethodSpec(name="Core/echo", capability=CORE, handler=echo, takes_account=False),
]
