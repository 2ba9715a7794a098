"""Limits of urn:ietf:params:jmap:core, advertised in the session and enforced by the API layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CoreLimits:
    maxSizeUpload: int = 50_000_000
    maxConcurrentUpload: int = 4
    maxSizeRequest: int = 10_000_000
    maxConcurrentRequests: int = 4
    maxCallsInRequest: int = 32
    maxObjectsInGet: int = 500
    maxObjectsInSet: int = 500

    def capability(self) -> dict[str, object]:
        return {
            **asdict(self),
            "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap", "i;unicode-casemap"],
        }
