"""The method registry the server runs with, built from a plain list of method modules.

Each module in ``METHOD_MODULES`` exposes:

* ``METHODS: list[MethodSpec]`` — its methods;
* optionally ``CAPABILITIES: list[CapabilitySpec]`` — capabilities that need nothing from
  configuration;
* or ``def capabilities(options: RegistryOptions) -> list[CapabilitySpec]`` — capabilities built
  from the core limits or the public URL (e.g. the WebSocket URL);
* ``def methods(options: RegistryOptions) -> list[MethodSpec]`` instead of ``METHODS`` when its
  methods need configuration (EmailSubmission: the SMTP relay; Email: the message analyzer).

Adding a data type is adding its module to ``METHOD_MODULES``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from stalwart_tx.jmap import blob_methods, core_methods, push_subscription, websocket_capability
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail import capability as mail_capability
from stalwart_tx.jmap.mail import (
    email,
    email_import,
    email_submission,
    identity,
    imap_view,
    mailbox,
    quota,
    search_snippets,
    submission_capability,
    threads,
    vacation,
)
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer
from stalwart_tx.jmap.registry import CapabilitySpec, MethodRegistry, MethodSpec, RegistryOptions
from stalwart_tx.mail.smtp_relay import RelayConfig

METHOD_MODULES: list[ModuleType] = [
    core_methods,
    websocket_capability,
    push_subscription,
    blob_methods,
    mail_capability,
    mailbox,
    threads,
    email,
    email_import,
    search_snippets,
    vacation,
    quota,
    submission_capability,
    identity,
    email_submission,
    imap_view,
]


def default_registry(
    limits: CoreLimits,
    *,
    public_url: str = "http://localhost",
    modules: Sequence[ModuleType] | None = None,
    relay: RelayConfig | None = None,
    analyzer: MessageAnalyzer | None = None,
) -> MethodRegistry:
    """A registry of every method and capability of ``modules`` (``METHOD_MODULES`` by default).

    Raises ValueError when a module is malformed, a name is registered twice, or a method's
    capability is registered by no module: better to fail at start-up than on a client's call.
    """
    options = RegistryOptions(
        limits=limits, public_url=public_url, relay=relay, analyzer=analyzer
    )
    registry = MethodRegistry()
    for module in METHOD_MODULES if modules is None else modules:
        for capability in module_capabilities(module, options):
            registry.add_capability(capability)
        build = getattr(module, "methods", None)
        methods = build(options) if callable(build) else getattr(module, "METHODS", None)
        if not isinstance(methods, list) or not all(isinstance(m, MethodSpec) for m in methods):
            raise ValueError(f"{module.__name__}.METHODS must be a list of MethodSpec")
        registry.add_methods(methods)
    for spec in registry.methods.values():
        if spec.capability not in registry.capabilities:
            raise ValueError(f"method {spec.name}: capability {spec.capability} is not registered")
    return registry


def module_capabilities(module: ModuleType, options: RegistryOptions) -> list[CapabilitySpec]:
    build = getattr(module, "capabilities", None)
    found = build(options) if callable(build) else getattr(module, "CAPABILITIES", [])
    if not isinstance(found, list) or not all(isinstance(c, CapabilitySpec) for c in found):
        raise ValueError(f"{module.__name__}: capabilities must be a list of CapabilitySpec")
    return found
