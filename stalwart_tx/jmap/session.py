"""The JMAP Session resource of RFC 8620 section 2, built for one authenticated user."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.registry import MethodRegistry

CORE = "urn:ietf:params:jmap:core"


@dataclass(frozen=True)
class SessionUrls:
    """Absolute URLs (and RFC 6570 level-1 templates) derived from the public base URL."""

    api: str
    download: str
    upload: str
    event_source: str

    @classmethod
    def under(cls, public_url: str) -> SessionUrls:
        base = public_url.rstrip("/")
        return cls(
            api=f"{base}/jmap/api/",
            download=f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?type={{type}}",
            upload=f"{base}/jmap/upload/{{accountId}}/",
            event_source=(
                f"{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"
            ),
        )


@dataclass(frozen=True)
class SessionAccount:
    account_id: str
    name: str
    is_personal: bool = True
    is_read_only: bool = False


def build_session(
    username: str,
    accounts: list[SessionAccount],
    primary_account_id: str,
    urls: SessionUrls,
    limits: CoreLimits,
    account_capabilities: dict[str, dict[str, object]] | None = None,
    *,
    capabilities: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The session object; its ``state`` changes whenever anything else in it does.

    ``capabilities`` replaces the default (core alone, from ``limits``).
    """
    capabilities = dict(capabilities) if capabilities is not None else {CORE: limits.capability()}
    per_account = account_capabilities or {}
    session: dict[str, object] = {
        "capabilities": capabilities,
        "accounts": {
            account.account_id: {
                "name": account.name,
                "isPersonal": account.is_personal,
                "isReadOnly": account.is_read_only,
                "accountCapabilities": per_account,
            }
            for account in accounts
        },
        "primaryAccounts": {uri: primary_account_id for uri in per_account},
        "username": username,
        "apiUrl": urls.api,
        "downloadUrl": urls.download,
        "uploadUrl": urls.upload,
        "eventSourceUrl": urls.event_source,
    }
    canonical = json.dumps(session, sort_keys=True, separators=(",", ":")).encode()
    session["state"] = hashlib.sha256(canonical).hexdigest()[:16]
    return session


def session_for_user(
    user: IMailUser, urls: SessionUrls, limits: CoreLimits, registry: MethodRegistry
) -> dict[str, object]:
    """The session of ``user``, capabilities as the registry's CapabilitySpecs describe them.

    The API layer answers ``sessionState`` from this same object, so the two always agree.
    """
    account_id: str = user.account_id
    per_account = account_capabilities(account_id, registry)
    return build_session(
        username=user.name,
        accounts=[SessionAccount(account_id=account_id, name=user.name)],
        primary_account_id=account_id,
        urls=urls,
        limits=limits,
        account_capabilities=per_account,
        capabilities={
            uri: spec.session_value() for uri, spec in registry.capabilities.items()
            if spec.advertised
        },
    )


def account_capabilities(account_id: str, registry: MethodRegistry) -> dict[str, dict[str, object]]:
    """``accountCapabilities`` of ``account_id``: the part of the session that may change while
    the server runs (a value may depend on the clock, e.g. submission's FUTURERELEASE date)."""
    per_account: dict[str, dict[str, object]] = {}
    for uri, spec in registry.capabilities.items():
        if not spec.advertised:
            continue
        value = spec.account_value(account_id) if spec.account_value is not None else None
        if value is not None:
            per_account[uri] = value
    return per_account
