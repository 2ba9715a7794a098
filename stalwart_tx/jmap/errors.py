"""JMAP errors as typed exceptions: raised by handlers, turned into JSON in exactly one place each.

Request-level errors (RFC 8620 §3.6.1) become RFC 7807 problem responses in the HTTP layer.
Method-level errors (§3.6.2) become ``["error", {...}, callId]`` in the API layer.
SetErrors (§5.3) are values, not exceptions: they go into notCreated/notUpdated/notDestroyed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUEST_ERROR_PREFIX = "urn:ietf:params:jmap:error:"


class RequestError(Exception):
    """The whole request is rejected (unknownCapability, notJSON, notRequest, limit)."""

    def __init__(
        self, error_type: str, status: int, detail: str, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.type = REQUEST_ERROR_PREFIX + error_type
        self.status = status
        self.detail = detail
        self.extra = extra

    @classmethod
    def unknown_capability(cls, uri: str) -> RequestError:
        return cls("unknownCapability", 400, f"The capability {uri!r} is not supported.")

    @classmethod
    def not_json(cls, detail: str) -> RequestError:
        return cls("notJSON", 400, detail)

    @classmethod
    def not_request(cls, detail: str) -> RequestError:
        return cls("notRequest", 400, detail)

    @classmethod
    def limit(cls, limit: str, detail: str, status: int = 400) -> RequestError:
        return cls("limit", status, detail, limit=limit)


class MethodError(Exception):
    """One method call fails; the others in the request go on.

    ``error_type`` is the RFC's name (``invalidArguments``, ``stateMismatch``, ...); ``extra``
    are further properties of the error object.
    """

    def __init__(self, error_type: str, description: str | None = None, **extra: Any) -> None:
        super().__init__(description or error_type)
        self.type = error_type
        self.description = description
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, **self.extra}
        if self.description:
            body["description"] = self.description
        return body

    # The RFC 8620 §3.6.2 general errors and the standard-method ones of §5, by name.
    @classmethod
    def server_fail(cls, description: str | None = None) -> MethodError:
        return cls("serverFail", description)

    @classmethod
    def server_unavailable(cls) -> MethodError:
        return cls("serverUnavailable", "The store is temporarily unreachable; retry shortly.")

    @classmethod
    def unknown_method(cls, name: str) -> MethodError:
        return cls("unknownMethod", f"Unknown method {name!r}.")

    @classmethod
    def invalid_arguments(cls, description: str) -> MethodError:
        return cls("invalidArguments", description)

    @classmethod
    def invalid_result_reference(cls, description: str) -> MethodError:
        return cls("invalidResultReference", description)

    @classmethod
    def forbidden(cls, description: str | None = None) -> MethodError:
        return cls("forbidden", description)

    @classmethod
    def account_not_found(cls) -> MethodError:
        return cls("accountNotFound")

    @classmethod
    def account_not_supported_by_method(cls) -> MethodError:
        return cls("accountNotSupportedByMethod")

    @classmethod
    def account_read_only(cls) -> MethodError:
        return cls("accountReadOnly")

    @classmethod
    def request_too_large(cls, description: str | None = None) -> MethodError:
        return cls("requestTooLarge", description)

    @classmethod
    def state_mismatch(cls) -> MethodError:
        return cls("stateMismatch")

    @classmethod
    def cannot_calculate_changes(cls) -> MethodError:
        return cls("cannotCalculateChanges")

    @classmethod
    def anchor_not_found(cls) -> MethodError:
        return cls("anchorNotFound")

    @classmethod
    def unsupported_filter(cls, description: str | None = None) -> MethodError:
        return cls("unsupportedFilter", description)

    @classmethod
    def unsupported_sort(cls, description: str | None = None) -> MethodError:
        return cls("unsupportedSort", description)

    @classmethod
    def from_account_not_found(cls) -> MethodError:
        return cls("fromAccountNotFound")

    @classmethod
    def from_account_not_supported_by_method(cls) -> MethodError:
        return cls("fromAccountNotSupportedByMethod")

    @classmethod
    def too_many_changes(cls) -> MethodError:
        return cls("tooManyChanges")


@dataclass
class SetError:
    """A SetError of RFC 8620 §5.3 (forbidden, overQuota, tooLarge, rateLimit, notFound,
    invalidPatch, willDestroy, invalidProperties, singleton, alreadyExists, and type-specific ones).
    """

    type: str
    description: str | None = None
    properties: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, **self.extra}
        if self.description:
            body["description"] = self.description
        if self.properties is not None:
            body["properties"] = self.properties
        return body
