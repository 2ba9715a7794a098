"""The JMAP API request layer (RFC 8620 §3): a Request object in, a Response object out.

Transports authenticate and then hand the request to one shared ``JMAPApi``::

    api = JMAPApi(registry, limits, store=store_service.store, reactor=reactor, urls=urls)
    response = await api.process_body(user, body)     # HTTP: the raw POST body (bytes)
    response = await api.process_request(user, value)  # already-parsed JSON (WebSocket)
    payload = api.encode_response(response)            # bytes to send

Both ``process_*`` return the Response object (``methodResponses``, ``sessionState`` and, when the
request had them, ``createdIds``). They raise RequestError for the request-level errors of
§3.6.1 (notJSON, notRequest, unknownCapability, limit: maxSizeRequest, maxCallsInRequest,
maxConcurrentRequests) and StoreUnavailable when the store is not open at all; the transport
turns those into its own error form. Everything that goes wrong in one method call becomes an
``["error", {...}, callId]`` response for that call and never affects the others (§3.6.2).

A Request object may carry properties beyond ``using``, ``methodCalls`` and ``createdIds``; they
are ignored, so RFC 8887 WebSocket requests (``@type``, ``id``) pass through unchanged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Protocol

from twisted.internet.defer import CancelledError
from twisted.logger import Logger

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.jmap.concurrency import RequestConcurrencyLimiter
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.errors import MethodError, RequestError
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.references import Invocation, resolve_result_references
from stalwart_tx.jmap.registry import JSONObject, MethodRegistry, MethodSpec, Responses
from stalwart_tx.jmap.session import SessionUrls, account_capabilities, session_for_user
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import StoreUnavailable

# Deeper JSON is refused before it is parsed: no real request nests more than a dozen levels, and
# the check keeps a hostile body from costing parser recursion and memory.
MAX_JSON_DEPTH = 64

# RFC 8620 §1.2: an Id is 1-255 characters of the URL-safe base64 alphabet.
_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))
_DEPTH_SLICE = 1 << 16
# An escaped UTF-16 surrogate; only these can put lone surrogates into parsed strings.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ContextFactory(Protocol):
    """Builds the RequestContext of one request; RequestContext itself (or a subclass) is one."""

    def __call__(
        self,
        *,
        user: IMailUser,
        store: StoreBundle,
        limits: CoreLimits,
        using: frozenset[str],
        reactor: Any,
        created_ids: dict[str, str],
    ) -> RequestContext: ...


@dataclass(frozen=True)
class JMAPRequest:
    """A Request object (§3.3) that passed every request-level check."""

    using: frozenset[str]
    method_calls: list[Invocation]
    created_ids: dict[str, str] | None


def decode_json(body: bytes) -> object:
    """The JSON value of a request body; RequestError notJSON when it is not I-JSON (RFC 7493).

    Refused: bytes that are not UTF-8, nesting deeper than MAX_JSON_DEPTH, NaN/Infinity and
    numbers too large for a double, duplicate member names, and lone UTF-16 surrogates (they could
    not be stored or sent as UTF-8 later).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError.not_json(f"The body is not UTF-8 at byte {e.start}.") from None
    if nesting_depth_exceeds(body, MAX_JSON_DEPTH):
        raise RequestError.not_json(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError) as e:
        raise RequestError.not_json(f"The body is not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(value):
        raise RequestError.not_json("The JSON has a string with an unpaired UTF-16 surrogate.")
    return value


def nesting_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``body`` nest deeper than ``limit``, strings not counted.

    Runs before parsing and at C speed throughout: escaped backslashes and then escaped quotes are
    dropped (JSON escapes pair from the left), so splitting at the remaining quotes leaves the text
    outside strings at the even positions; its brackets, as +1/-1, give the depth as a running sum.
    The sum goes slice by slice, so a hostile body is refused as soon as it gets too deep.
    """
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    depth = 0
    for start in range(0, len(brackets), _DEPTH_SLICE):
        steps = map(_DEPTH_STEP.__getitem__, brackets[start:start + _DEPTH_SLICE])
        running = list(accumulate(steps, initial=depth))
        if max(running) > limit:
            return True
        depth = running[-1]
    return False


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise ValueError(f"the member name {name!r} appears twice in one object")
            seen.add(name)
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def _has_lone_surrogate(value: object) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


def parse_request(value: object, registry: MethodRegistry, limits: CoreLimits) -> JMAPRequest:
    """Check a parsed Request object (§3.3) and return it typed.

    Raises RequestError: notRequest when it does not have the Request type signature,
    unknownCapability for a ``using`` entry the server lacks, limit ``maxCallsInRequest``.
    """
    if not isinstance(value, dict):
        raise RequestError.not_request("The request must be a JSON object.")
    using = value.get("using")
    if not isinstance(using, list) or not all(isinstance(uri, str) for uri in using):
        raise RequestError.not_request('"using" must be an array of Strings.')
    calls = value.get("methodCalls")
    if not isinstance(calls, list):
        raise RequestError.not_request('"methodCalls" must be an array of Invocations.')
    method_calls: list[Invocation] = []
    for index, call in enumerate(calls):
        if not (
            isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
            and isinstance(call[1], dict) and isinstance(call[2], str)
        ):
            raise RequestError.not_request(
                f"methodCalls[{index}] must be [String name, Object arguments, String callId]."
            )
        method_calls.append((call[0], call[1], call[2]))
    created_ids: dict[str, str] | None = None
    if "createdIds" in value:
        given = value["createdIds"]
        if not isinstance(given, dict) or not all(
            isinstance(v, str) and _ID.fullmatch(k) and _ID.fullmatch(v) for k, v in given.items()
        ):
            raise RequestError.not_request('"createdIds" must map creation Ids to Ids.')
        created_ids = dict(given)
    for uri in using:
        if uri not in registry.capabilities:
            raise RequestError.unknown_capability(uri)
    if len(method_calls) > limits.maxCallsInRequest:
        raise RequestError.limit(
            "maxCallsInRequest",
            f"The request has {len(method_calls)} method calls; at most "
            f"{limits.maxCallsInRequest} are allowed.",
        )
    return JMAPRequest(frozenset(using), method_calls, created_ids)


# users whose session state is remembered; the oldest is forgotten beyond that
SESSION_STATES_KEPT = 10_000

class JMAPApi:
    """Request processing shared by every transport; holds no per-request state.

    ``store`` is called once per request and raises StoreUnavailable while the store is not open.
    ``context_factory`` builds each request's RequestContext (tests pass subclasses, e.g. one with
    a read-only account). ``concurrency`` is the per-user maxConcurrentRequests limiter; pass the
    same one to every transport.
    """

    log = Logger()

    def __init__(
        self,
        registry: MethodRegistry,
        limits: CoreLimits,
        *,
        store: Callable[[], StoreBundle],
        reactor: Any,
        urls: SessionUrls,
        context_factory: ContextFactory = RequestContext,
        concurrency: RequestConcurrencyLimiter | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.store = store
        self.reactor = reactor
        self.urls = urls
        self.context_factory = context_factory
        self.concurrency = concurrency or RequestConcurrencyLimiter(limits.maxConcurrentRequests)
        # (account id, user name) -> (accountCapabilities, session state)
        self._session_states: dict[tuple[str, str], tuple[object, str]] = {}

    def session(self, user: IMailUser) -> dict[str, object]:
        """The user's session object (§2), whose ``state`` every Response carries."""
        return session_for_user(user, self.urls, self.limits, self.registry)

    def session_state(self, user: IMailUser) -> str:
        """``session(user)["state"]``, remembered while the session stays the same.

        Building the session for every request costs as much as a small method call. Beyond the
        user's name and account the session is this API's fixed configuration, except the
        accountCapabilities values, which may change while the server runs (submission's
        FUTURERELEASE names a date that moves with the clock); those are cheap to compute, so
        the remembered state is used only while they are what it was computed from (§3.4:
        sessionState is the *current* state of the Session object).
        """
        key = (user.account_id, user.name)
        remembered = self._session_states.get(key)
        if remembered is not None:
            per_account, state = remembered
            if account_capabilities(user.account_id, self.registry) == per_account:
                return state
        session = self.session(user)
        state = str(session["state"])
        accounts: Any = session["accounts"]
        per_account = accounts[user.account_id]["accountCapabilities"]
        if key not in self._session_states and len(self._session_states) >= SESSION_STATES_KEPT:
            self._session_states.pop(next(iter(self._session_states)))
        self._session_states[key] = (per_account, state)
        return state

    def check_size(self, size: int) -> None:
        """RequestError limit ``maxSizeRequest`` when a body of ``size`` bytes is too large."""
        if size > self.limits.maxSizeRequest:
            raise RequestError.limit(
                "maxSizeRequest",
                f"The request is larger than {self.limits.maxSizeRequest} bytes.",
            )

    async def process_body(self, user: IMailUser, body: bytes) -> JSONObject:
        """Check size, decode and process a request body; see the module docstring."""
        self.check_size(len(body))
        return await self.process_request(user, decode_json(body))

    async def process_request(self, user: IMailUser, value: object) -> JSONObject:
        """Process a parsed Request object for ``user``; see the module docstring."""
        request = parse_request(value, self.registry, self.limits)
        created_ids = dict(request.created_ids or {})
        responses = await self.run_calls(
            user, request.using, request.method_calls, created_ids=created_ids
        )
        response: JSONObject = {
            "methodResponses": responses,
            "sessionState": self.session_state(user),
        }
        if request.created_ids is not None:
            response["createdIds"] = created_ids
        return response

    async def run_calls(
        self, user: IMailUser, using: frozenset[str],
        method_calls: Sequence[tuple[str, JSONObject, str]],
        created_ids: dict[str, str] | None = None,
    ) -> list[Invocation]:
        """Run method calls of one request, in order, as ``process_request`` does once it has
        checked the Request: for callers in process that build their calls themselves (the IMAP
        bridge), so they skip only the checks of a client's JSON and the Session state."""
        with self.concurrency.slot(user.principal_id):
            ctx = self.context_factory(
                user=user,
                store=self.store(),
                limits=self.limits,
                using=using,
                reactor=self.reactor,
                created_ids=created_ids if created_ids is not None else {},
            )
            responses: list[Invocation] = []
            for name, arguments, call_id in method_calls:
                responses.extend(await self._call(ctx, name, arguments, call_id, responses))
        if created_ids is not None:
            created_ids.update(ctx.created_ids)
        return responses

    async def _call(
        self,
        ctx: RequestContext,
        name: str,
        arguments: JSONObject,
        call_id: str,
        earlier: list[Invocation],
    ) -> list[Invocation]:
        """The responses of one method call; an error here is that call's error alone."""
        try:
            spec = self._method(name, ctx.using)
            resolved = resolve_result_references(arguments, earlier)
            self._check_account(ctx, spec, resolved)
            result = await spec.handler(ctx, resolved)
            return self._responses_of(name, call_id, result)
        except MethodError as error:
            return [("error", error.to_json(), call_id)]
        except StoreUnavailable:
            return [("error", MethodError.server_unavailable().to_json(), call_id)]
        except CancelledError:
            raise  # the client went away: stop the whole request, answer nothing
        except Exception:
            self.log.failure("Method {method} failed", method=name)
            return [("error", MethodError.server_fail().to_json(), call_id)]

    def _method(self, name: str, using: frozenset[str]) -> MethodSpec:
        spec = self.registry.method(name)
        # A method whose capability the client did not ask for is unknown to it (§3.3 "using").
        if spec is None or spec.capability not in using:
            raise MethodError.unknown_method(name)
        return spec

    def _check_account(self, ctx: RequestContext, spec: MethodSpec, arguments: JSONObject) -> None:
        if not spec.takes_account:
            return
        account_id = arguments.get("accountId")
        if not isinstance(account_id, str):
            raise MethodError.invalid_arguments('"accountId" must be a String.')
        if account_id not in ctx.account_ids():
            raise MethodError.account_not_found()
        capability = self.registry.capabilities[spec.capability]
        if capability.account_value is not None and capability.account_value(account_id) is None:
            raise MethodError.account_not_supported_by_method()
        if spec.writes and ctx.is_read_only(account_id):
            raise MethodError.account_read_only()

    def _responses_of(
        self, name: str, call_id: str, result: JSONObject | Responses
    ) -> list[Invocation]:
        if isinstance(result, dict):
            return [(name, result, call_id)]
        if isinstance(result, Responses) and all(
            isinstance(n, str) and isinstance(a, dict) for n, a in result.items
        ):
            return [(n, a, call_id) for n, a in result.items]
        raise TypeError(f"{name} returned {type(result).__name__}, not arguments or Responses")

    def encode_response(self, response: JSONObject) -> bytes:
        """The Response object as UTF-8 JSON.

        A handler that returned something JSON cannot carry (a set, NaN, ...) costs only its own
        call: that response becomes serverFail, the others are sent as they are. The check runs
        only when the whole response fails to encode, so the usual case encodes once.
        """
        try:
            return _dumps(response)
        except (TypeError, ValueError, RecursionError):
            if not isinstance(response.get("methodResponses"), list):
                raise
        encodable: list[Invocation] = []
        for name, arguments, call_id in response["methodResponses"]:
            try:
                _dumps(arguments)
                encodable.append((name, arguments, call_id))
            except (TypeError, ValueError, RecursionError):
                self.log.error("The response {name} cannot be encoded as JSON", name=name)
                encodable.append(("error", MethodError.server_fail().to_json(), call_id))
        return _dumps({**response, "methodResponses": encodable})


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
