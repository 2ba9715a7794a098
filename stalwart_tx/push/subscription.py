"""The PushSubscription object (RFC 8620 §7.2): its properties, their rules, and how it is stored.

Subscriptions live in the store under the owning user's own account, type ``PushSubscription``,
as whole JSON objects holding the RFC properties plus one the client never sees: the verification
code the server pushed (``serverVerificationCode``). ``verificationCode`` is what the client set;
the subscription is verified once the two match.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from twisted.logger import Logger

from stalwart_tx.push.encryption import InvalidKeys, PushKeys
from stalwart_tx.store.errors import ObjectNotFound
from stalwart_tx.store.interfaces import IAccountStore
from stalwart_tx.store.records import JSONObject, WriteBatch

log = Logger()

TYPE_NAME = "PushSubscription"

# The longest lifetime a subscription gets; clients renew by updating "expires" (RFC 8620 §7.2
# lets the server shorten what the client asks for).
MAX_LIFETIME = 7 * 24 * 3600.0

# Properties PushSubscription/get may return; "url" and "keys" are never returned (§7.2.1).
READABLE = ("id", "deviceClientId", "verificationCode", "expires", "types")
PRIVATE = ("url", "keys")

MAX_URL_LENGTH = 2048
MAX_DEVICE_CLIENT_ID_LENGTH = 255
MAX_TYPES = 128
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}\Z")
_UTC_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z\Z")


class InvalidProperty(ValueError):
    """A property value breaks the rules; becomes SetError invalidProperties naming ``property``."""

    def __init__(self, property: str, description: str) -> None:
        super().__init__(description)
        self.property = property


# -- property values --------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(value: object) -> str:
    """The push URL, exactly as given, if it is an absolute https URL.

    RFC 8620 §7.2 requires ``https://``. Plain http is accepted only for a loopback host
    (127.0.0.0/8, ::1, localhost): a push service on the same machine, as in tests, where TLS
    protects nothing. The URL must be printable ASCII (it is sent as is), without user info or a
    fragment, and at most MAX_URL_LENGTH characters.
    """
    if not isinstance(value, str) or not value:
        raise InvalidProperty("url", "url must be an absolute https URL")
    if len(value) > MAX_URL_LENGTH or not all("\x21" <= c <= "\x7e" for c in value):
        raise InvalidProperty(
            "url", f"url must be printable ASCII of at most {MAX_URL_LENGTH} characters"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        raise InvalidProperty("url", "url is not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise InvalidProperty("url", "url must begin with https://")
    if not host or "@" in parts.netloc or parts.fragment or "#" in value:
        raise InvalidProperty("url", "url must name a host, without user info or fragment")
    return value


def parse_keys(value: object) -> PushKeys | None:
    if value is None:
        return None
    try:
        return PushKeys.parse(value)
    except InvalidKeys as error:
        raise InvalidProperty(error.property, str(error)) from None


def parse_types(value: object) -> tuple[str, ...] | None:
    """null (every type) or a list of type names, kept in order without repeats."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_TYPES:
        raise InvalidProperty("types", f"types must be null or a list of at most {MAX_TYPES} names")
    if not all(isinstance(name, str) and _TYPE_NAME.match(name) for name in value):
        raise InvalidProperty("types", "types must hold data type names such as \"Email\"")
    return tuple(dict.fromkeys(value))


def parse_device_client_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_DEVICE_CLIENT_ID_LENGTH:
        raise InvalidProperty(
            "deviceClientId",
            f"deviceClientId must be a string of 1 to {MAX_DEVICE_CLIENT_ID_LENGTH} characters",
        )
    return value


def parse_utc_date(value: object, property: str = "expires") -> float:
    """Seconds since the epoch of a UTCDate (RFC 8620 §1.4: ``2014-10-30T06:12:00Z``)."""
    match = _UTC_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidProperty(property, f"{property} must be a UTCDate like 2024-01-31T12:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise InvalidProperty(property, f"{property} is not a real date and time") from None
    return moment.timestamp() + float(match.group(7) or 0)


def format_utc_date(seconds: float) -> str:
    """A UTCDate without fractional seconds (they are omitted when zero, and we truncate)."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clamp_expires(requested: object, now: float) -> float:
    """The expiry the server grants: what was asked, at most MAX_LIFETIME from now.

    None (or absent) gets the longest lifetime; a moment not in the future is refused, since a
    subscription that is already over could never be verified or pushed to.
    """
    longest = now + MAX_LIFETIME
    if requested is None:
        return float(int(longest))
    # whole seconds, so the value returned to the client is exactly the one stored; checked
    # after truncating, or a moment less than a second ahead would be granted as one already past
    granted = float(int(min(parse_utc_date(requested), longest)))
    if granted <= now:
        raise InvalidProperty("expires", "expires must be at least a whole second in the future")
    return granted


def new_subscription_id() -> str:
    return "P" + secrets.token_hex(12)


def new_verification_code() -> str:
    # 192 random bits: far beyond guessing through PushSubscription/set (RFC 8620 §7.2.2)
    return secrets.token_urlsafe(24)


# -- the stored object ------------------------------------------------------------------------


@dataclass(frozen=True)
class PushSubscription:
    id: str
    device_client_id: str
    url: str
    keys: PushKeys | None
    expires: float
    types: tuple[str, ...] | None
    server_verification_code: str
    verification_code: str | None = None

    @property
    def is_verified(self) -> bool:
        return self.verification_code is not None and hmac.compare_digest(
            self.verification_code, self.server_verification_code
        )

    def is_expired(self, now: float) -> bool:
        return now >= self.expires

    def wants(self, type_name: str) -> bool:
        """Whether a change of ``type_name`` is pushed; never a PushSubscription change."""
        if type_name == TYPE_NAME:
            return False
        return self.types is None or type_name in self.types

    def with_changes(self, **changes: Any) -> PushSubscription:
        return replace(self, **changes)

    def to_json(self) -> JSONObject:
        """Every property, the client-invisible ones included: what the store keeps."""
        return {
            "id": self.id,
            "deviceClientId": self.device_client_id,
            "url": self.url,
            "keys": self.keys.to_json() if self.keys is not None else None,
            "expires": format_utc_date(self.expires),
            "types": list(self.types) if self.types is not None else None,
            "verificationCode": self.verification_code,
            "serverVerificationCode": self.server_verification_code,
        }

    def readable(self) -> JSONObject:
        """The properties PushSubscription/get may show."""
        stored = self.to_json()
        return {name: stored[name] for name in READABLE}

    @classmethod
    def from_json(cls, value: JSONObject) -> PushSubscription:
        """Read a stored object; ValueError if it is not one this module wrote."""
        try:
            code = value["verificationCode"]
            server_code = value["serverVerificationCode"]
            if not isinstance(value["id"], str) or not isinstance(server_code, str):
                raise ValueError("malformed id or verification code")
            if code is not None and not isinstance(code, str):
                raise ValueError("malformed verificationCode")
            return cls(
                id=value["id"],
                device_client_id=parse_device_client_id(value["deviceClientId"]),
                url=parse_url(value["url"]),
                keys=parse_keys(value["keys"]),
                expires=parse_utc_date(value["expires"]),
                types=parse_types(value["types"]),
                server_verification_code=server_code,
                verification_code=code,
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a stored PushSubscription: {error}") from None


# -- reading them back ------------------------------------------------------------------------


async def live_subscriptions(
    accounts: IAccountStore, account_id: str, now: float, ids: list[str] | None = None
) -> dict[str, PushSubscription]:
    """The account's subscriptions (those of ``ids``, or all) that have not expired.

    Expired ones are destroyed on the way (RFC 8620 §7.2 lets the server remove them at or after
    ``expires``); objects that do not parse are skipped and logged, never shown or pushed to.
    """
    found: dict[str, PushSubscription] = {}
    expired: list[str] = []
    for object_id, value in (await accounts.get(account_id, TYPE_NAME, ids)).items():
        try:
            subscription = PushSubscription.from_json(value)
        except ValueError as error:
            log.warn("skipping malformed push subscription {id} of {account}: {error}",
                     id=object_id, account=account_id, error=error)
            continue
        if subscription.is_expired(now):
            expired.append(object_id)
        else:
            found[object_id] = subscription
    for object_id in expired:
        await destroy_quietly(accounts, account_id, object_id)
    return found


async def destroy_quietly(accounts: IAccountStore, account_id: str, object_id: str) -> None:
    """Destroy a subscription that another request or process may have destroyed already."""
    try:
        await accounts.write(account_id, WriteBatch().destroy(TYPE_NAME, object_id))
    except ObjectNotFound:
        pass
