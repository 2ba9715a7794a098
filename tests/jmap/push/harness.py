"""In-process JMAP servers with push, and real clients for them: an event-stream reader over a
real HTTP connection and a WebSocket client from the ``websockets`` library (run in threads)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import websockets.sync.client
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, maybeDeferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from stalwart_tx.auth.portal import build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.http.app import JMAPHttpApp
from stalwart_tx.http.eventsource import EventStreams
from stalwart_tx.http.site import DrainableSite
from stalwart_tx.http.websocket import JMAPWebSockets
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.registry import MethodRegistry
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.records import WriteBatch

PUBLIC = "https://mail.example.org"
DATA_TYPES = frozenset({"Mailbox", "Email", "Thread"})


@dataclass
class Users:
    alice_id: str
    alice_token: str
    bob_id: str
    bob_token: str


@dataclass
class PushServer:
    """One "service process": its own store bundle, hub, HTTP app and listening port."""

    base: str
    store: StoreBundle
    hub: PushHub
    site: DrainableSite
    streams: EventStreams
    sockets: JMAPWebSockets
    users: Users
    port: Any
    # While true the store callable raises StoreUnavailable, as StoreService does before opening.
    down: list[bool] = field(default_factory=lambda: [False])
    _counter: list[int] = field(default_factory=lambda: [0])

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/jmap/ws/"

    def event_source_url(self, types: str = "*", closeafter: str = "no", ping: str = "0") -> str:
        return (
            f"{self.base}/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}"
        )

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.users.alice_token}"}

    async def write(self, *type_names: str, account_id: str | None = None) -> dict[str, str]:
        """Create one object of each type in the account (alice's by default); the new states."""
        batch = WriteBatch()
        for type_name in type_names:
            self._counter[0] += 1
            batch.create(type_name, f"o{self._counter[0]}", {"n": self._counter[0]})
        result = await self.store.accounts.write(account_id or self.users.alice_id, batch)
        return dict(result.new_states)

    async def stop(self) -> None:
        await maybeDeferred(self.port.stopListening)
        await self.hub.stop()


async def make_users(store: StoreBundle) -> Users:
    from stalwart_tx.auth.tokens import new_token

    ids, tokens = [], []
    for name in ("alice", "bob"):
        principal = await store.directory.create_principal(name, None)
        token, record = new_token(principal.id, "test", time.time())
        await store.directory.add_token(record)
        ids.append(principal.id)
        tokens.append(token)
    return Users(ids[0], tokens[0], ids[1], tokens[1])


def start_server(
    store: StoreBundle,
    users: Users,
    *,
    limits: CoreLimits | None = None,
    min_ping: int = 1,
    coalesce_window: float = 0.1,
    data_types: Iterable[str] = DATA_TYPES,
    registry: MethodRegistry | None = None,
) -> PushServer:
    limits = limits or CoreLimits()
    down = [False]

    def current_store() -> StoreBundle:
        if down[0]:
            raise StoreUnavailable("test outage")
        return store

    hub = PushHub(
        current_store, reactor, coalesce_window=coalesce_window, data_types=data_types
    )
    streams = EventStreams(hub, reactor, min_ping=min_ping)
    sockets = JMAPWebSockets(hub, public_url=PUBLIC)
    portal = build_portal(store.directory)
    app = JMAPHttpApp(
        lambda: portal, LoginRateLimiter(Clock()), PUBLIC, limits,
        registry=registry or default_registry(limits, public_url=PUBLIC), store=current_store,
        reactor=reactor, event_streams=streams, web_sockets=sockets,
    )
    site = DrainableSite(app.resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return PushServer(
        f"http://127.0.0.1:{port.getHost().port}", store, hub, site, streams, sockets, users,
        port, down,
    )


# -- event streams -----------------------------------------------------------------------


@dataclass
class Event:
    event: str
    data: str
    id: str | None
    received_at: float

    def json(self) -> Any:
        return json.loads(self.data)


class _EventReader(Protocol):
    """Parses text/event-stream as it arrives (the WHATWG rules this server's output needs)."""

    def __init__(self, events: DeferredQueue[Event | None], ended: Deferred[None]) -> None:
        self.events = events
        self.ended = ended
        self.buffer = b""
        self.fields: dict[str, str] = {}
        self.comments: list[str] = []

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._line(line.decode("utf-8").rstrip("\r"))

    def _line(self, line: str) -> None:
        if not line:
            if "data" in self.fields or "event" in self.fields:
                self.events.put(Event(
                    self.fields.get("event", "message"), self.fields.get("data", ""),
                    self.fields.get("id"), time.monotonic(),
                ))
            self.fields = {}
        elif line.startswith(":"):
            self.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in self.fields:
                value = self.fields["data"] + "\n" + value
            self.fields[name] = value

    def connectionLost(self, reason: Failure = ResponseDone) -> None:  # type: ignore[assignment]
        self.events.put(None)
        if not self.ended.called:
            self.ended.callback(None)


class EventStreamClient:
    """A real HTTP connection reading one event stream; ``disconnect`` drops it abruptly."""

    def __init__(self, response: IResponse) -> None:
        self.response = response
        self.events: DeferredQueue[Event | None] = DeferredQueue()
        self.ended: Deferred[None] = Deferred()
        self.reader = _EventReader(self.events, self.ended)
        response.deliverBody(self.reader)

    @classmethod
    async def open(
        cls, url: str, headers: dict[str, str] | None = None
    ) -> tuple[IResponse, EventStreamClient | None]:
        """GET ``url``; the client when the answer is a 200 stream, else the response alone."""
        agent = Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
        raw = Headers({k: [v] for k, v in (headers or {}).items()})
        response: IResponse = await agent.request(b"GET", url.encode(), raw)
        if response.code != 200:
            return response, None
        return response, cls(response)

    @property
    def content_type(self) -> str:
        return str(self.response.headers.getRawHeaders("Content-Type", [""])[0])

    async def next(self, timeout: float = 3.0) -> Event | None:
        """The next event, None once the stream ended; TimeoutError if none comes in time."""
        waiting = self.events.get()
        waiting.addTimeout(timeout, reactor)
        return await waiting

    async def state(self, timeout: float = 3.0) -> Event:
        """The next ``state`` event, skipping pings."""
        while True:
            event = await self.next(timeout)
            assert event is not None, "the stream ended"
            if event.event == "state":
                return event

    async def no_event(self, within: float) -> None:
        """Assert nothing arrives for ``within`` seconds."""
        from twisted.internet.defer import TimeoutError as DeferTimeout

        try:
            event = await self.next(within)
        except DeferTimeout:
            return
        raise AssertionError(f"unexpected event {event}")

    def disconnect(self) -> None:
        transport = self.reader.transport
        assert transport is not None
        transport.stopProducing()


# -- WebSocket ------------------------------------------------------------------------------


class WSClient:
    """The ``websockets`` library's client, each blocking call in a thread."""

    def __init__(self, connection: websockets.sync.client.ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None,
        *,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> WSClient:
        extra = dict(headers or {})
        if token is not None:
            extra["Authorization"] = f"Bearer {token}"

        def connect() -> websockets.sync.client.ClientConnection:
            connection = websockets.sync.client.connect(
                url,
                subprotocols=subprotocols if subprotocols is not None else ["jmap"],  # type: ignore[misc]
                additional_headers=extra, proxy=None, open_timeout=5, close_timeout=2,
                max_size=None, ping_interval=None,
            )
            assert isinstance(connection, websockets.sync.client.ClientConnection)
            # entered as a context manager would be; closed by close()
            return connection.__enter__()

        return cls(await deferToThread(connect))

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    async def send(self, message: object) -> None:
        """Send a str or bytes as it is, an iterator as fragments, anything else as JSON."""
        payload = message if isinstance(message, str | bytes | Iterator) else json.dumps(message)
        await deferToThread(self.connection.send, payload)

    async def recv_raw(self, timeout: float = 3.0) -> tuple[str | bytes, float]:
        def receive() -> tuple[str | bytes, float]:
            message = self.connection.recv(timeout=timeout)
            return message, time.monotonic()

        return await deferToThread(receive)

    async def recv(self, timeout: float = 3.0) -> Any:
        message, _ = await self.recv_raw(timeout)
        return json.loads(message)

    async def request(self, request: dict[str, Any], timeout: float = 3.0) -> Any:
        await self.send(request)
        return await self.recv(timeout)

    async def nothing_within(self, seconds: float) -> None:
        try:
            message, _ = await self.recv_raw(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message!r}")

    async def close(self) -> None:
        await deferToThread(self.connection.close)
