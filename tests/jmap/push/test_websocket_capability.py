"""RFC 8887 §3: the WebSocket capability in the session, its URL following the public URL."""

from __future__ import annotations

import pytest

from stalwart_tx.jmap.capabilities import WEBSOCKET
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.websocket_capability import websocket_url


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        ("https://mail.example.org", "wss://mail.example.org/jmap/ws/"),
        ("https://mail.example.org/", "wss://mail.example.org/jmap/ws/"),
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/jmap/ws/"),
        ("HTTPS://example.org/base/", "wss://example.org/base/jmap/ws/"),
    ],
)
def test_url_from_the_public_url(public: str, expected: str) -> None:
    assert websocket_url(public) == expected


def test_the_default_registry_advertises_it() -> None:
    registry = default_registry(CoreLimits(), public_url="https://mail.example.org")
    spec = registry.capabilities[WEBSOCKET]
    assert spec.session_value() == {"url": "wss://mail.example.org/jmap/ws/", "supportsPush": True}
    assert spec.account_value is None, "a session capability, not an account one"
