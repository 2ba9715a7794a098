"""JMAP Quotas (RFC 9425): the capability and Quota/get, /changes, /query, /queryChanges.

Quotas are read-only for clients (the RFC defines no Quota/set): the administrator sets the
limits (``stalwart-admin quota set``) and the mail code moves the usage, both through
``quota_usage``, which also describes the two objects an account has.

Quota/changes answers ``updatedProperties: null``: the change log records which objects
changed, not which properties, and null is always correct.
"""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import QUOTA
from stalwart_tx.jmap.datatype import (
    CHANGES,
    GET,
    QUERY,
    QUERY_CHANGES,
    DataType,
    FilterSpec,
    Predicate,
    Property,
    by_property,
    property_equals,
)
from stalwart_tx.jmap.mail.quota_usage import QUOTA as QUOTA_TYPE_NAME
from stalwart_tx.jmap.registry import CapabilitySpec
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.changes import updated_properties_unknown
from stalwart_tx.jmap.standard.values import Kind, ListOf, Nullable, String, UnsignedInt


def _name_contains(text: str) -> Predicate:
    # RFC 9425 §5.3: "The Quota name property contains the given string"; case-insensitive,
    # like Mailbox's name filter
    folded = text.casefold()
    return lambda quota: folded in quota["name"].casefold()


def _has_type(type_name: str) -> Predicate:
    return lambda quota: type_name in quota["types"]


def _server(kind: Kind) -> Property:
    return Property(kind, server_set=True)


QUOTA_TYPE = DataType(
    name=QUOTA_TYPE_NAME,
    capability=QUOTA,
    properties={
        "resourceType": _server(String()),
        "used": _server(UnsignedInt()),
        "hardLimit": _server(UnsignedInt()),
        "scope": _server(String()),
        "name": _server(String()),
        "types": _server(ListOf(String())),
        "warnLimit": Property(Nullable(UnsignedInt()), default=None, server_set=True),
        "softLimit": Property(Nullable(UnsignedInt()), default=None, server_set=True),
        "description": Property(Nullable(String()), default=None, server_set=True),
    },
    methods=frozenset({GET, CHANGES, QUERY, QUERY_CHANGES}),
    filters={
        "name": FilterSpec(String(), _name_contains),
        "scope": property_equals("scope", String(), immutable=True),
        "resourceType": property_equals("resourceType", String(), immutable=True),
        "type": FilterSpec(String(), _has_type, immutable=True),
    },
    sorts={"name": by_property("name"), "used": by_property("used")},
    response_hooks={"changes": updated_properties_unknown},
)

METHODS = standard_methods(QUOTA_TYPE)

# RFC 9425 §3: both the session and the account value are empty objects
CAPABILITIES = [CapabilitySpec(QUOTA, session_value=dict, account_value=lambda _a: {})]
