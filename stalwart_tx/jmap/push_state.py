"""What one push client has been told: StateChange objects (RFC 8620 §7.1) and pushState tokens.

Both push transports keep a PushCursor per client: the EventSource stream (whose event ``id`` is
the token, echoed back by browsers as ``Last-Event-ID`` when they reconnect) and the WebSocket
(whose StateChange carries the token as ``pushState``, RFC 8887 §4.3.5).

A pushState token encodes, per account and per data type, the state the server was at when the
token was issued: ``"1"`` + unpadded base64url of ``{"accountId": {"Type": "state"}}`` as
compact JSON. It stays opaque to clients (they only echo it). Handed back on reconnection, it
lets the server tell exactly which types moved since, and send just those at once. A token the
server cannot read, as from a forger or an older server, is treated as knowing nothing: every
type the client asked for is sent. Store states are short decimals, so with the handful of mail
types a token is a couple of hundred characters.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping

from stalwart_tx.jmap.registry import JSONObject, MethodRegistry

# RFC 8620 §7.1: changes to PushSubscription objects are never pushed.
NEVER_PUSHED = frozenset({"PushSubscription"})
# Method-name prefixes that are not data types with a state (Core/echo; Blob/get: blobs are
# immutable and have no state to push).
# pseudo-types with a /get but no state of their own
NOT_DATA_TYPES = frozenset({"Core", "Blob", "SearchSnippet"})

TOKEN_VERSION = "1"

States = dict[str, dict[str, str]]
"""accountId → type name → state."""


def _advertised(registry: MethodRegistry, capability: str) -> bool:
    spec = registry.capabilities.get(capability)
    return spec is None or spec.advertised


def push_data_types(registry: MethodRegistry) -> frozenset[str]:
    """The data types ``types=*`` / ``dataTypes: null`` stand for: every type with a /get method.

    PushSubscription is left out (never pushed), so is the Core pseudo-type, and so are the
    pseudo-types of capabilities the Session does not advertise (the IMAP bridge's view).
    """
    types = {
        name.split("/", 1)[0] for name, spec in registry.methods.items()
        if name.endswith("/get") and _advertised(registry, spec.capability)
    }
    return frozenset(types - NEVER_PUSHED - NOT_DATA_TYPES)


def state_change(changed: Mapping[str, Mapping[str, str]]) -> JSONObject:
    """The StateChange object for ``changed`` (accountId → type → state)."""
    return {
        "@type": "StateChange",
        "changed": {account: dict(types) for account, types in changed.items()},
    }


def encode_token(states: Mapping[str, Mapping[str, str]]) -> str:
    canonical = json.dumps(
        {account: dict(sorted(types.items())) for account, types in sorted(states.items())},
        separators=(",", ":"),
    )
    return TOKEN_VERSION + base64.urlsafe_b64encode(canonical.encode()).decode().rstrip("=")


def decode_token(token: str) -> States | None:
    """The states a token encodes; None for anything this server did not issue."""
    if not isinstance(token, str) or not token.startswith(TOKEN_VERSION):
        return None
    body = token[len(TOKEN_VERSION):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    states: States = {}
    for account, types in value.items():
        if not isinstance(types, dict) or not all(
            isinstance(t, str) and isinstance(s, str) for t, s in types.items()
        ):
            return None
        states[account] = dict(types)
    return states


class TypeFilter:
    """The data types one client asked for: an explicit set, or every type (``None``)."""

    def __init__(self, types: Iterable[str] | None) -> None:
        self.types = None if types is None else frozenset(types) - NEVER_PUSHED

    def admits(self, type_name: str) -> bool:
        if type_name in NEVER_PUSHED:
            return False
        return self.types is None or type_name in self.types

    def names(self, every_type: Iterable[str]) -> frozenset[str]:
        """The concrete type names to read states for; ``every_type`` stands in for 'all'."""
        if self.types is not None:
            return self.types
        return frozenset(t for t in every_type if self.admits(t))


class PushCursor:
    """Where one client stands: the states its token encodes, and what it was actually told.

    ``states`` starts at the server's states when the client connected (``start_at``) and follows
    every push; it is what ``token()`` encodes. ``advance`` takes a change as the hub delivers it
    and returns only what this client wants and was not already told, so the same state is not
    pushed twice when a catch-up and the notification of the same write cross. It compares with
    what was pushed, never with the connect-time read: a client that synced before connecting
    must still hear of a write that landed in between.
    """

    def __init__(self, wanted: TypeFilter) -> None:
        self.wanted = wanted
        self.states: States = {}
        self.told: States = {}

    def start_at(self, states: Mapping[str, Mapping[str, str]]) -> None:
        for account, types in states.items():
            self.states.setdefault(account, {}).update(
                {t: s for t, s in types.items() if self.wanted.admits(t)}
            )

    def advance(self, account_id: str, changed: Mapping[str, str]) -> dict[str, str]:
        told = self.told.setdefault(account_id, {})
        news = {t: s for t, s in changed.items() if self.wanted.admits(t) and told.get(t) != s}
        told.update(news)
        self.states.setdefault(account_id, {}).update(news)
        return news

    def token(self) -> str:
        return encode_token(self.states)


def changed_since(
    previous: States | None, current: Mapping[str, Mapping[str, str]]
) -> States:
    """Per account, the types whose current state differs from ``previous`` (all when None)."""
    changed: States = {}
    for account, types in current.items():
        before = (previous or {}).get(account)
        moved = {
            t: s for t, s in types.items() if previous is None or before is None
            or before.get(t) != s
        }
        if moved:
            changed[account] = moved
    return changed


Emit = Callable[[States, str], None]
"""``emit(changed, push_state)``: send one StateChange of ``changed``, token ``push_state``."""


class PushFeed:
    """One client's push: the hub's receiver on one side, its transport's ``emit`` on the other.

    Changes that arrive while the client is being set up (between attaching to the hub and the
    transport being ready to send) are held and go out with the catch-up in ``open``, as one
    StateChange. After ``close`` nothing more is emitted.
    """

    def __init__(self, wanted: TypeFilter, emit: Emit) -> None:
        self.cursor = PushCursor(wanted)
        self._emit = emit
        self._opened = False
        self._closed = False
        self._early: States = {}

    @property
    def wanted(self) -> TypeFilter:
        return self.cursor.wanted

    def receive(self, account_id: str, changed: Mapping[str, str]) -> None:
        """The hub's receiver."""
        if self._opened:
            self.push({account_id: dict(changed)})
        elif not self._closed:
            self._early.setdefault(account_id, {}).update(changed)

    def open(self, catch_up: Mapping[str, Mapping[str, str]]) -> None:
        """Start emitting: first ``catch_up`` and whatever arrived meanwhile, in one StateChange."""
        self._opened = True
        pending: States = {account: dict(types) for account, types in catch_up.items()}
        for account, types in self._early.items():
            pending.setdefault(account, {}).update(types)
        self._early = {}
        self.push(pending)

    def push(self, changed: Mapping[str, Mapping[str, str]]) -> None:
        """Emit what of ``changed`` the client wants and was not told yet, if anything."""
        if self._closed:
            return
        news: States = {}
        for account, types in changed.items():
            advanced = self.cursor.advance(account, types)
            if advanced:
                news[account] = advanced
        if news:
            self._emit(news, self.cursor.token())

    def close(self) -> None:
        self._closed = True
        self._early = {}
