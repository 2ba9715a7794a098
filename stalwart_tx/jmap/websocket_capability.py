"""The ``urn:ietf:params:jmap:websocket`` capability (RFC 8887 §3): where the WebSocket is.

A session-level capability only; it has no methods. Its URL follows the public URL, with the
scheme a browser needs (``https`` → ``wss``, ``http`` → ``ws``).
"""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import WEBSOCKET
from stalwart_tx.jmap.registry import CapabilitySpec, MethodSpec, RegistryOptions

WEBSOCKET_PATH = "/jmap/ws/"

METHODS: list[MethodSpec] = []


def websocket_url(public_url: str) -> str:
    base = public_url.rstrip("/")
    scheme, sep, rest = base.partition("://")
    ws_scheme = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme) if sep else "ws"
    return f"{ws_scheme}://{rest if sep else base}{WEBSOCKET_PATH}"


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    value = {"url": websocket_url(options.public_url), "supportsPush": True}
    return [CapabilitySpec(WEBSOCKET, session_value=lambda: dict(value))]
