"""The JMAP event source (RFC 8620 §7.3): StateChange pushes as a ``text/event-stream``.

``GET /jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}``, authenticated by
the route. Each change of a type the client asked for (``*`` or a comma list) is an event::

    event: state
    id: <pushState token, see jmap/push_state.py>
    data: {"@type":"StateChange","changed":{"<accountId>":{"<Type>":"<state>"}}}

A reconnecting EventSource sends the last ``id`` back as ``Last-Event-ID``; every type that moved
since then is pushed at once, so nothing written while the client was away goes unnoticed.
``closeafter=state`` ends the response after the first state event; ``ping=N`` sends
``event: ping`` with ``data: {"interval": N}`` whenever N seconds pass without an event, N
clamped to [min_ping, max_ping] (the RFC lets servers clamp, to no more than 30 as the minimum
and no less than 300 as the maximum). A client that goes away is detached at once; at shutdown
the stream ends as soon as draining starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.iweb import IRequest
from werkzeug.exceptions import BadRequest

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.http.cors import add_cors_headers
from stalwart_tx.http.long_lived import end_when_draining
from stalwart_tx.jmap.push_hub import PushHub
from stalwart_tx.jmap.push_state import PushFeed, States, TypeFilter, state_change

MIN_PING = 30
MAX_PING = 300
# The most type names one stream may list: more than any server has, few enough to stay cheap.
MAX_TYPES = 64


@dataclass(frozen=True)
class StreamOptions:
    types: frozenset[str] | None
    """The types asked for; None for ``*``."""
    close_after_state: bool
    ping: int
    """Seconds between pings after clamping; 0 for none."""


def parse_stream_options(
    args: Mapping[bytes, list[bytes]], min_ping: int, max_ping: int
) -> StreamOptions:
    """The query parameters, or BadRequest (a 400 problem) naming the one that is wrong.

    Absent parameters take their lenient defaults (all types, no close, no ping): a client that
    filled the template in without them still gets a working stream.
    """
    types_text = _single(args, b"types", "*")
    if types_text == "*":
        types = None
    else:
        names = types_text.split(",")
        if not all(name and name.isascii() and name.isalnum() for name in names):
            raise BadRequest('"types" must be "*" or a comma-separated list of type names.')
        if len(names) > MAX_TYPES:
            raise BadRequest(f'"types" may list at most {MAX_TYPES} types.')
        types = frozenset(names)
    close_after = _single(args, b"closeafter", "no")
    if close_after not in ("state", "no"):
        raise BadRequest('"closeafter" must be "state" or "no".')
    ping_text = _single(args, b"ping", "0")
    # any JMAP UnsignedInt (at most 2^53 - 1) is a valid interval, clamped below; more digits
    # than that is no number the client can mean
    if not (ping_text.isascii() and ping_text.isdigit()) or len(ping_text) > 16 \
            or int(ping_text) > 2**53 - 1:
        raise BadRequest('"ping" must be a whole number of seconds.')
    ping = int(ping_text)
    if ping:
        ping = min(max(ping, min_ping), max_ping)
    return StreamOptions(types, close_after == "state", ping)


def _single(args: Mapping[bytes, list[bytes]], name: bytes, default: str) -> str:
    values = args.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadRequest(f'"{name.decode()}" is given more than once.')
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f'"{name.decode()}" is not UTF-8.') from None


class EventStream:
    """One open response: formats events, pings when idle, ends once (for any reason)."""

    def __init__(
        self, request: IRequest, options: StreamOptions, clock: IReactorTime
    ) -> None:
        self.request = request
        self.options = options
        self.clock = clock
        self.feed = PushFeed(TypeFilter(options.types), self._state_event)
        self.done: Deferred[None] = Deferred()
        self._ended = False
        self._ping_call: IDelayedCall | None = None

    def set_headers(self) -> None:
        request = self.request
        add_cors_headers(request)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/event-stream")
        request.setHeader(b"Cache-Control", b"no-cache, no-store")
        # Buffering proxies (nginx) would hold events back; this asks them not to.
        request.setHeader(b"X-Accel-Buffering", b"no")

    def start(self, catch_up: States) -> None:
        self.set_headers()
        # A comment sends the headers now, so the client knows the stream is open.
        self._write(b": stream open\n\n")
        self.feed.open(catch_up)

    def _state_event(self, changed: States, push_state: str) -> None:
        data = json.dumps(state_change(changed), separators=(",", ":"))
        self._write(f"event: state\nid: {push_state}\ndata: {data}\n\n".encode())
        if self.options.close_after_state:
            self.end()

    def _ping(self) -> None:
        self._ping_call = None
        data = json.dumps({"interval": self.options.ping})
        self._write(f"event: ping\ndata: {data}\n\n".encode())

    def _write(self, chunk: bytes) -> None:
        if self._ended:
            return
        self.request.write(chunk)
        # RFC 8620 §7.3: a ping is due when the interval passes since the previous event.
        if self.options.ping:
            if self._ping_call is not None and self._ping_call.active():
                self._ping_call.reset(self.options.ping)
            else:
                self._ping_call = self.clock.callLater(self.options.ping, self._ping)

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.feed.close()
        if self._ping_call is not None and self._ping_call.active():
            self._ping_call.cancel()
        self._ping_call = None
        if not self.done.called:  # cancelled when the client went away
            self.done.callback(None)


class EventStreams:
    """Serves the event source for authenticated users; one per HTTP app."""

    def __init__(
        self,
        hub: PushHub,
        clock: IReactorTime,
        *,
        min_ping: int = MIN_PING,
        max_ping: int = MAX_PING,
    ) -> None:
        self.hub = hub
        self.clock = clock
        self.min_ping = min_ping
        self.max_ping = max_ping
        self.open_streams: set[EventStream] = set()

    async def serve(self, request: IRequest, user: IMailUser) -> bytes:
        """Stream until closeafter, client disconnect or shutdown; errors before the first byte
        (bad parameters, store unavailable) propagate for the app to answer."""
        options = parse_stream_options(request.args, self.min_ping, self.max_ping)
        account_ids = [user.account_id]  # RequestContext.account_ids: today only their own
        stream = EventStream(request, options, self.clock)
        if request.method == b"HEAD":  # the headers a GET would get, without a stream to hold
            stream.set_headers()
            return b""
        attachment, catch_up = await self.hub.follow(
            account_ids, stream.feed, _last_event_id(request)
        )
        self.open_streams.add(stream)
        try:
            stream.start(catch_up)
            end_when_draining(request, stream.end)
            await stream.done
        finally:
            self.open_streams.discard(stream)
            attachment.detach()
            stream.end()
        return b""


def _last_event_id(request: IRequest) -> str | None:
    header: bytes | None = request.getHeader(b"Last-Event-ID")
    if header is None:
        return None
    # A header that is not even ASCII is no token of ours: catch up on everything.
    return header.decode("ascii", errors="replace")
