"""JMAP over WebSocket (RFC 8887) at ``/jmap/ws/``, on Twisted's own websocket support.

The route authenticates the upgrade request like any other (RFC 8887 §4.1) and hands it to
``JMAPWebSockets.upgrade``, which checks the handshake and returns a resource that switches the
connection over. Every check fails before the switch, as an ordinary HTTP problem response:
not a WebSocket handshake (400, or 426 for another version), no ``jmap`` subprotocol offered
(400, §4.2), a browser page of another origin (403: browsers attach cached Basic credentials to
cross-site handshakes, and CORS does not apply to WebSockets).

On the connection, each text message is one JSON object (§4.3):

* ``{"@type": "Request", "id"?: ...}`` runs through the same ``JMAPApi`` as ``POST /jmap/api/``
  and is answered by ``{"@type": "Response", "requestId"?: ...}``; requests run concurrently and
  may be answered out of order. The per-user maxConcurrentRequests limit is shared with HTTP.
* ``WebSocketPushEnable`` (``dataTypes``, ``pushState``) starts StateChange pushes, each with a
  ``pushState`` token (see jmap/push_state.py); a ``pushState`` sent back that differs from now
  brings an immediate StateChange of what moved. ``WebSocketPushDisable`` stops them.
* Anything else, malformed JSON, a message over maxSizeRequest (never buffered past the limit)
  or a request-level failure is answered by a ``RequestError``: the problem details object with
  ``"@type": "RequestError"`` and the ``requestId`` when the message had a String ``id``.

A binary message closes the connection with 1003 (§4.3.1); shutdown closes it with 1001. Closing
cancels running requests and drops the push subscription.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._websocket_impl import _handleEvent, _WebSocketWireProtocol, serverBootstrap
from twisted.web.http import RESPONSES
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException
from wsproto import ConnectionType
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, TextMessage
from wsproto.events import Request as HandshakeRequest
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.http.long_lived import end_when_draining
from stalwart_tx.jmap.api import JMAPApi, decode_json
from stalwart_tx.jmap.errors import RequestError
from stalwart_tx.jmap.push_hub import Attachment, PushHub
from stalwart_tx.jmap.push_state import PushFeed, States, TypeFilter, state_change
from stalwart_tx.jmap.registry import JSONObject
from stalwart_tx.store.errors import StoreUnavailable

SUBPROTOCOL = "jmap"
WEBSOCKET_VERSION = b"13"
# RFC 6455 §7.4.1 close codes
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
# Echoed back in errors; a longer "@type" is cut, not repeated whole.
MAX_ECHOED_TYPE = 40


class UpgradeRequired(HTTPException):
    code = 426
    description = "This server speaks WebSocket version 13 only."


class JMAPWebSockets:
    """Checks upgrade requests and runs one JMAPWebSocketProtocol per connection.

    ``public_url`` gives the origin a browser page of this server has; ``allowed_origins`` adds
    others (exact ``scheme://host[:port]``) whose pages may open connections too.
    """

    def __init__(
        self, hub: PushHub, *, public_url: str, allowed_origins: Iterable[str] = ()
    ) -> None:
        self.hub = hub
        self.allowed_origins = {origin_of(public_url)} | {origin_of(o) for o in allowed_origins}
        self.connections: set[JMAPWebSocketProtocol] = set()

    def upgrade(self, request: IRequest, user: IMailUser, api: JMAPApi) -> IResource:
        """The resource that switches ``request`` to a JMAP WebSocket for ``user``.

        Raises an HTTPException (problem response) when the request is not an acceptable
        JMAP WebSocket handshake.
        """
        if request.method != b"GET":  # HEAD, which routing lets through with GET
            raise BadRequest("A WebSocket handshake is a GET request.")
        if not hasattr(request.channel, "_protocolUpgradeForWebsockets"):  # type: ignore[attr-defined]
            raise BadRequest("WebSocket connections need HTTP/1.1.")
        origin: bytes | None = request.getHeader(b"Origin")
        if origin is not None and origin_of(origin.decode("latin-1")) not in self.allowed_origins:
            raise Forbidden("WebSocket connections from pages of this origin are not allowed.")
        handshake = H11Handshake(ConnectionType.SERVER)
        headers = [
            (name, value)
            for name, values in request.requestHeaders.getAllRawHeaders()
            for value in values
        ]
        try:
            handshake.initiate_upgrade_connection(headers, request.uri)
        except RemoteProtocolError as error:
            hint = getattr(error, "event_hint", None)
            if getattr(hint, "status_code", None) == 426:
                request.setHeader(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)
                raise UpgradeRequired() from None
            raise BadRequest(f"Not a WebSocket handshake: {error}") from None
        offered = next(
            (e.subprotocols for e in handshake.events() if isinstance(e, HandshakeRequest)), []
        )
        if SUBPROTOCOL not in offered:
            raise BadRequest(
                f'The WebSocket subprotocol "{SUBPROTOCOL}" is required (RFC 8887 section 4.2).'
            )
        protocol = JMAPWebSocketProtocol(api, self.hub, user, request, self.connections)
        return _SwitchToWebSocket(handshake, protocol, api.limits.maxSizeRequest)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lowercased, default ports left out."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return url
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


class _SwitchToWebSocket(Resource):
    """Answers the handshake (with the jmap subprotocol) and hands the connection over.

    Twisted's WebSocketResource accepts every handshake without naming a subprotocol, while
    RFC 8887 §4.2 needs the reply to carry ``jmap``. So this resource answers the handshake
    itself and reuses the rest of Twisted's implementation: its wire protocol and the channel's
    upgrade hook, both private (the tests here hold them to their behaviour across upgrades).
    """

    isLeaf = True

    def __init__(
        self, handshake: H11Handshake, protocol: JMAPWebSocketProtocol, max_message: int
    ) -> None:
        super().__init__()
        self.handshake = handshake
        self.protocol = protocol
        self.max_message = max_message

    def render_GET(self, request: IRequest) -> int:
        accept = self.handshake.send(AcceptConnection(subprotocol=SUBPROTOCOL))
        connection = self.handshake.connection
        assert connection is not None, "wsproto accepted no connection"
        wire = _BoundedWire(connection, serverBootstrap, self.protocol)
        wire.max_message = self.max_message
        channel: Any = request.channel  # type: ignore[attr-defined]
        transport = channel.transport
        channel._protocolUpgradeForWebsockets(wire)
        transport.write(accept)
        self.protocol.negotiationFinished()
        return NOT_DONE_YET  # type: ignore[no-any-return]


@dataclass
class _BoundedWire(_WebSocketWireProtocol["JMAPWebSocketProtocol"]):
    """Twisted's wire protocol, but a text message is never buffered past ``max_message`` bytes
    and a binary message is reported at its first fragment instead of being collected."""

    max_message: int = 10_000_000
    _message_size: int = 0
    _too_large: bool = False

    def can_send(self) -> bool:
        return bool(self._wsconn.state == ConnectionState.OPEN)

    def dataReceived(self, data: bytes) -> None:
        if not self.can_send():
            return
        self._wsconn.receive_data(data)
        for event in self._wsconn.events():
            if isinstance(event, TextMessage):
                self._text_part(event)
            elif isinstance(event, BytesMessage):
                self._wsp.bytesMessageReceived(b"")
            else:
                _handleEvent(event, self)
            if not self.can_send():
                return

    def _text_part(self, event: TextMessage) -> None:
        if not self._too_large:
            self._message_size += len(event.data.encode("utf-8", errors="surrogatepass"))
            if self._message_size > self.max_message:
                self._too_large = True
                self._textBuffer.done()  # let go of what was gathered
            else:
                self._textBuffer.add(event.data)
        if event.message_finished:
            too_large, self._too_large, self._message_size = self._too_large, False, 0
            if too_large:
                self._wsp.messageTooLarge()
            else:
                self._wsp.textMessageReceived(self._textBuffer.done())


class JMAPWebSocketProtocol:
    """One JMAP WebSocket connection of an authenticated user."""

    log = Logger()

    def __init__(
        self,
        api: JMAPApi,
        hub: PushHub,
        user: IMailUser,
        http_request: IRequest,
        registry: set[JMAPWebSocketProtocol],
    ) -> None:
        self.api = api
        self.hub = hub
        self.user = user
        self.http_request = http_request
        self.registry = registry
        self.transport: _BoundedWire | None = None
        self.closed = False
        self._running: set[Deferred[None]] = set()
        self._push: tuple[PushFeed, Attachment] | None = None
        # bumped by every enable and disable, so a slow enable that lost the race stands down
        self._push_generation = 0

    # -- the WebSocketProtocol interface ----------------------------------------------------

    def negotiationStarted(self, transport: Any) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.registry.add(self)
        end_when_draining(self.http_request, lambda: self.close(GOING_AWAY))

    def textMessageReceived(self, message: str) -> None:
        self._dispatch(message)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        # RFC 8887 §4.3.1: JMAP messages are text; a binary frame closes with Unsupported Data.
        self.close(UNSUPPORTED_DATA)

    def messageTooLarge(self) -> None:
        self._send_error(
            RequestError.limit(
                "maxSizeRequest",
                f"The message is larger than {self.api.limits.maxSizeRequest} bytes.",
            ),
            None,
        )

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        self.closed = True
        self.registry.discard(self)
        self._disable_push()
        for running in list(self._running):
            running.cancel()
        # The upgraded HTTP request never finishes by itself: let the site (and its draining
        # shutdown) know it is over.
        lost = getattr(self.http_request, "connectionLost", None)
        if lost is not None and not getattr(self.http_request, "_disconnected", False):
            lost(reason)

    # -- messages ------------------------------------------------------------------------

    def close(self, code: int) -> None:
        if self.transport is not None and self.transport.can_send():
            self.transport.loseConnection(code)

    def _dispatch(self, text: str) -> None:
        try:
            value = decode_json(text.encode("utf-8", errors="surrogatepass"))
        except RequestError as error:
            self._send_error(error, None)
            return
        if not isinstance(value, dict):
            self._send_error(RequestError.not_request("A message must be a JSON object."), None)
            return
        request_id = value.get("id")
        if request_id is not None and not isinstance(request_id, str):
            self._send_error(RequestError.not_request('"id" must be a String.'), None)
            return
        kind = value.get("@type")
        if kind == "Request":
            self._spawn(self._answer(value, request_id))
        elif kind == "WebSocketPushEnable":
            self._spawn(self._enable_push(value, request_id))
        elif kind == "WebSocketPushDisable":
            self._disable_push()
        else:
            shown = repr(kind)[:MAX_ECHOED_TYPE] if kind is not None else "none"
            self._send_error(
                RequestError.not_request(
                    f'"@type" must be "Request", "WebSocketPushEnable" or '
                    f'"WebSocketPushDisable", not {shown}.'
                ),
                request_id,
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        running = Deferred.fromCoroutine(work)
        self._running.add(running)

        def done(result: object) -> None:
            self._running.discard(running)
            if isinstance(result, Failure) and not result.check(CancelledError):
                self.log.failure("WebSocket message handling failed", result)

        running.addBoth(done)

    async def _answer(self, value: JSONObject, request_id: str | None) -> None:
        try:
            response = await self.api.process_request(self.user, value)
        except RequestError as error:
            self._send_error(error, request_id)
            return
        except StoreUnavailable:
            self._send_problem(
                503, "The mail store is temporarily unreachable; retry shortly.", request_id
            )
            return
        except CancelledError:
            return  # the connection closed
        except Exception:
            self.log.failure("Answering a WebSocket request failed")
            self._send_problem(500, "The server failed; it was logged.", request_id)
            return
        message: JSONObject = {"@type": "Response", **response}
        if request_id is not None:
            message["requestId"] = request_id
        self._send(self.api.encode_response(message).decode("utf-8"))

    async def _enable_push(self, value: JSONObject, request_id: str | None) -> None:
        data_types = value.get("dataTypes")
        if data_types is not None and not (
            isinstance(data_types, list) and all(isinstance(t, str) and t for t in data_types)
        ):
            self._send_error(
                RequestError.not_request('"dataTypes" must be null or an array of type names.'),
                request_id,
            )
            return
        push_state = value.get("pushState")
        if push_state is not None and not isinstance(push_state, str):
            self._send_error(
                RequestError.not_request('"pushState" must be a String.'), request_id
            )
            return
        self._disable_push()
        generation = self._push_generation
        feed = PushFeed(TypeFilter(data_types), self._send_state_change)
        try:
            attachment, catch_up = await self.hub.follow(
                [self.user.account_id], feed, push_state
            )
        except StoreUnavailable:
            self._send_problem(
                503, "Push notifications are unavailable right now; retry shortly.", request_id
            )
            return
        if generation != self._push_generation or self.closed:
            attachment.detach()  # disabled, enabled again or closed while we waited
            return
        self._push = (feed, attachment)
        feed.open(catch_up)

    def _disable_push(self) -> None:
        self._push_generation += 1
        push, self._push = self._push, None
        if push is not None:
            feed, attachment = push
            feed.close()
            attachment.detach()

    # -- sending -------------------------------------------------------------------------

    def _send_state_change(self, changed: States, push_state: str) -> None:
        self._send_json({**state_change(changed), "pushState": push_state})

    def _send_error(self, error: RequestError, request_id: str | None) -> None:
        self._send_problem(error.status, error.detail, request_id, error.type, **error.extra)

    def _send_problem(
        self,
        status: int,
        detail: str,
        request_id: str | None,
        type_uri: str = "about:blank",
        **extra: object,
    ) -> None:
        problem: JSONObject = {
            "@type": "RequestError",
            "type": type_uri,
            "status": status,
            "title": RESPONSES.get(status, b"Error").decode(),
            "detail": detail,
            **extra,
        }
        if request_id is not None:
            problem["requestId"] = request_id
        self._send_json(problem)

    def _send_json(self, message: JSONObject) -> None:
        self._send(json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    def _send(self, text: str) -> None:
        if self.transport is not None and self.transport.can_send():
            self.transport.sendTextMessage(text)
