"""The Envelope of an EmailSubmission (RFC 8621 §7): its kind, its derivation from the Email,
its checks (§7.5), and the FUTURERELEASE hold it may ask for (RFC 4865).

* An envelope left out (or null) is made from the Email: ``mailFrom`` is the address of the
  Sender header field, else of the From header field, or the identity's address when that one
  is not the identity's; ``rcptTo`` is the To, Cc and Bcc addresses, each once (compared
  case-insensitively, the first spelling kept), without parameters.
* ``HOLDFOR=<seconds>`` or ``HOLDUNTIL=<RFC 3339 date-time>`` on ``mailFrom`` holds the message
  (at most ``MAX_DELAYED_SEND`` seconds): the server keeps it pending and sends it when due,
  without those parameters, so the relay need not offer FUTURERELEASE itself.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.jmap.standard.values import ListOf, MapOf, Nullable, Record, String
from stalwart_tx.store.addresses import address_key
from stalwart_tx.store.records import JSONObject

MAX_RECIPIENTS: Final = 100
MAX_DELAYED_SEND: Final = 7 * 24 * 3600  # seconds a client may hold a message for
HOLD_PARAMETERS: Final = frozenset({"HOLDFOR", "HOLDUNTIL"})

# RFC 5321 §4.1.2 esmtp-keyword and esmtp-value (UTF-8 allowed, as RFC 6531 does)
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}\Z")
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]{1,1000}\Z")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z"
)

PARAMETERS = Nullable(MapOf(String(min_length=1, max_length=64), Nullable(String()), max_items=32))
ENVELOPE_ADDRESS = Record(
    fields={"email": String(max_length=256), "parameters": PARAMETERS},
    required=frozenset({"email"}),
)
ENVELOPE = Nullable(Record(
    fields={
        "mailFrom": ENVELOPE_ADDRESS,
        # bounded here only against absurd sizes; tooManyRecipients speaks of MAX_RECIPIENTS
        "rcptTo": ListOf(ENVELOPE_ADDRESS, max_items=10 * MAX_RECIPIENTS),
    },
    required=frozenset({"mailFrom", "rcptTo"}),
))


def addresses_of(email: Mapping[str, Any], *fields: str) -> list[str]:
    """The ``email`` of every EmailAddress in those header properties of a stored Email."""
    found: list[str] = []
    for name in fields:
        for address in email.get(name) or []:
            if isinstance(address, dict) and isinstance(address.get("email"), str):
                found.append(address["email"])
    return found


def same_address(a: str, b: str) -> bool:
    try:
        return address_key(a) == address_key(b)
    except ValueError:
        return False


def deduplicated(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for address in addresses:
        key = address.strip().lower()
        if key not in seen:
            seen.add(key)
            kept.append(address.strip())
    return kept


def derive_envelope(email: Mapping[str, Any], identity_email: str) -> JSONObject | SetError:
    """§7: the envelope of an Email sent as the identity, when the client gave none."""
    senders = addresses_of(email, "sender")
    froms = addresses_of(email, "from")
    if len(senders) > 1 or (not senders and len(froms) > 1):
        field = "sender" if senders else "from"
        return SetError(
            "invalidEmail", f"the {field} header field has more than one address",
            properties=[field],
        )
    mail_from = (senders or froms or [identity_email])[0]
    if not same_address(mail_from, identity_email):
        mail_from = identity_email
    recipients = deduplicated(addresses_of(email, "to", "cc", "bcc"))
    return {
        "mailFrom": {"email": mail_from, "parameters": None},
        "rcptTo": [{"email": address, "parameters": None} for address in recipients],
    }


def check_parameters(parameters: Mapping[str, Any] | None) -> str | None:
    for name, value in (parameters or {}).items():
        if not _KEYWORD.match(name):
            return f"{name!r} is not an SMTP parameter name"
        if value is not None and not _VALUE.match(value):
            return f"the value of {name} is not an SMTP parameter value"
    return None


def check_recipients(envelope: Mapping[str, Any]) -> SetError | None:
    """noRecipients, tooManyRecipients, invalidRecipients or invalidProperties, or None."""
    recipients = envelope["rcptTo"]
    if not recipients:
        return SetError("noRecipients", "the envelope has no recipients")
    if len(recipients) > MAX_RECIPIENTS:
        return SetError(
            "tooManyRecipients", f"at most {MAX_RECIPIENTS} recipients per submission",
            extra={"maxRecipients": MAX_RECIPIENTS},
        )
    invalid = []
    for recipient in recipients:
        try:
            address_key(recipient["email"])
        except ValueError:
            invalid.append(recipient["email"])
    if invalid:
        return SetError(
            "invalidRecipients", "not email addresses: " + ", ".join(repr(a) for a in invalid),
            extra={"invalidRecipients": invalid},
        )
    for address in [envelope["mailFrom"], *recipients]:
        problem = check_parameters(address.get("parameters"))
        if problem is not None:
            return set_errors.invalid_properties(["envelope"], problem)
    return None


def parse_date_time(text: str) -> float | None:
    """Unix seconds of an RFC 3339 date-time, or None."""
    match = _DATE_TIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    fraction = float(match.group(7)) if match.group(7) else 0.0
    zone = match.group(8)
    offset = 0
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds + fraction - offset


def hold_until(parameters: Mapping[str, Any] | None, now: float) -> float | SetError:
    """When a message with these MAIL FROM parameters is to be sent (``now`` without a hold)."""
    given = {name.upper(): value for name, value in (parameters or {}).items()}
    holds = HOLD_PARAMETERS & given.keys()
    if not holds:
        return now
    if len(holds) > 1:
        return set_errors.invalid_properties(
            ["envelope"], "HOLDFOR and HOLDUNTIL cannot both be given"
        )
    [hold] = holds
    value = given[hold]
    if "HOLDFOR" in given:
        if not isinstance(value, str) or not value.isdigit() or len(value) > 9:
            return set_errors.invalid_properties(["envelope"], "HOLDFOR is a number of seconds")
        at = now + int(value)
    else:
        parsed = parse_date_time(value) if isinstance(value, str) else None
        if parsed is None:
            return set_errors.invalid_properties(
                ["envelope"], "HOLDUNTIL is an RFC 3339 date-time"
            )
        at = max(parsed, now)
    if at - now > MAX_DELAYED_SEND:
        return set_errors.invalid_properties(
            ["envelope"], f"a message may be held for at most {MAX_DELAYED_SEND} seconds"
            " (maxDelayedSend)",
        )
    return at


def relay_parameters(parameters: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The MAIL FROM parameters to give the relay: the hold is ours, so it is left out."""
    return {
        name: value for name, value in (parameters or {}).items()
        if name.upper() not in HOLD_PARAMETERS
    }


__all__ = [
    "ENVELOPE",
    "MAX_DELAYED_SEND",
    "MAX_RECIPIENTS",
    "check_recipients",
    "derive_envelope",
    "hold_until",
    "relay_parameters",
    "same_address",
]
