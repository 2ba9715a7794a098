"""Methods and capabilities are data: a registry maps each name to its capability and handler.

Adding a data type means adding a module that exposes ``METHODS`` (and possibly ``CAPABILITIES``)
and naming that module in ``stalwart_tx.jmap.methods``; no dispatcher changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stalwart_tx.jmap.limits import CoreLimits

if TYPE_CHECKING:
    from stalwart_tx.jmap.context import RequestContext
    from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer
    from stalwart_tx.mail.smtp_relay import RelayConfig

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class Responses:
    """Several responses to one method call, in order, each ``(response name, arguments)``.

    A handler returns this instead of a plain arguments object when one call answers more than
    once: Foo/copy with ``onSuccessDestroyOriginal`` returns
    ``Responses((("Foo/copy", copy_args), ("Foo/set", set_args)))``. Every response carries the
    call's method call id (RFC 8620 §3.2, §5.4).
    """

    items: tuple[tuple[str, JSONObject], ...]


Handler = Callable[["RequestContext", JSONObject], Awaitable[JSONObject | Responses]]
"""A method implementation: ``await handler(ctx, arguments)``.

Returns the response arguments (one response named like the method), or ``Responses`` for
several. Raises MethodError for a method-level error; StoreUnavailable becomes
serverUnavailable and any other exception serverFail (logged, never shown to the client).
"""


@dataclass(frozen=True)
class MethodSpec:
    """One JMAP method.

    The API layer checks, before calling ``handler``: that ``capability`` is in ``using``; for
    ``takes_account``, that ``arguments["accountId"]`` names an account the user may use (else
    accountNotFound) that has ``capability`` (else accountNotSupportedByMethod); for ``writes``,
    that the account is not read-only (accountReadOnly). The handler gets the arguments with
    result references already resolved and returns the response arguments.
    """

    name: str
    capability: str
    handler: Handler
    takes_account: bool = True
    writes: bool = False


@dataclass(frozen=True)
class CapabilitySpec:
    """A capability URI with what the session advertises for it.

    ``session_value`` is the object under ``capabilities`` in the session; ``account_value``, when
    given, makes it an account capability (listed in ``accountCapabilities`` and
    ``primaryAccounts``) with the object it returns for an account. It returns None for an
    account that lacks the capability: the session leaves it out there, and methods of the
    capability called on that account fail with accountNotSupportedByMethod.
    ``advertised`` False keeps the capability out of the session altogether: one the server's
    own front ends use in process (the IMAP bridge's view), which JMAP clients need not know.
    """

    uri: str
    session_value: Callable[[], JSONObject]
    account_value: Callable[[str], JSONObject | None] | None = None
    advertised: bool = True


@dataclass(frozen=True)
class RegistryOptions:
    """What a method module may need to describe its capabilities or build its methods (see
    ``jmap/methods.py``). ``relay`` is the SMTP relay EmailSubmission sends through (None: not
    configured, so nothing can be sent); ``analyzer`` analyses the messages Email/import,
    Email/set and Email/copy store (None: the thread pool of the request's reactor)."""

    limits: CoreLimits
    public_url: str = "http://localhost"
    relay: RelayConfig | None = None
    analyzer: MessageAnalyzer | None = None


class MethodRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}
        self._capabilities: dict[str, CapabilitySpec] = {}

    def add_method(self, spec: MethodSpec) -> None:
        if spec.name in self._methods:
            raise ValueError(f"method {spec.name} is registered twice")
        self._methods[spec.name] = spec

    def add_methods(self, specs: Iterable[MethodSpec]) -> None:
        for spec in specs:
            self.add_method(spec)

    def add_capability(self, spec: CapabilitySpec) -> None:
        if spec.uri in self._capabilities:
            raise ValueError(f"capability {spec.uri} is registered twice")
        self._capabilities[spec.uri] = spec

    def method(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    @property
    def methods(self) -> Mapping[str, MethodSpec]:
        return self._methods

    @property
    def capabilities(self) -> Mapping[str, CapabilitySpec]:
        return self._capabilities
