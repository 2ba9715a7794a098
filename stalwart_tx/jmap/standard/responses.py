"""A method handler's answer that is more than one response (RFC 8620 §5.4 /copy)."""

from __future__ import annotations

from typing import Any

from stalwart_tx.store.records import JSONObject


class MultipleResponses(dict[str, Any]):
    """The handler's own response arguments, followed by further responses.

    It *is* the first response's arguments (a dict), so a caller unaware of it still answers
    the method itself correctly. ``follow_ups`` are ``(name, arguments)`` pairs that go into
    methodResponses right after it, with the same call id, before the next method call runs:
    e.g. ``("Foo/set", {...})`` for /copy's onSuccessDestroyOriginal, or ``("error", {...})``
    when that implicit call failed.
    """

    def __init__(self, arguments: JSONObject, follow_ups: list[tuple[str, JSONObject]]) -> None:
        super().__init__(arguments)
        self.follow_ups = follow_ups
