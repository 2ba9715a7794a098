"""The Identity data type (RFC 8621 §6): Identity/get, /changes and /set.

* ``email`` is immutable and must be one of the addresses of the account's principal
  (``IDirectory.addresses_of``: its own addresses and the aliases pointing at it), compared
  case-insensitively and stored as the directory writes it; any other is ``forbiddenFrom``.
  Wildcard identities (``*@domain``) are not offered yet.
* ``replyTo`` and ``bcc`` are EmailAddress lists or null; a ``name`` left out is stored null.
* ``mayDelete`` is server-set true: no identity is protected.
* Every method first makes sure of the account's default identities (``identity_defaults``).
"""

from __future__ import annotations

from typing import Final

from stalwart_tx.jmap.capabilities import SUBMISSION
from stalwart_tx.jmap.datatype import CHANGES, GET, SET, DataType, Property
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.email_address import ADDRESS_LIST, Address, complete_addresses
from stalwart_tx.jmap.mail.identity_defaults import (
    IDENTITY,
    sendable_addresses,
    with_default_identities,
)
from stalwart_tx.jmap.standard import set_errors, standard_methods
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.values import Boolean, String
from stalwart_tx.store.addresses import address_key
from stalwart_tx.store.records import JSONObject

# a bound on what one account stores; a person has a handful of identities
MAX_IDENTITIES: Final = 100
# signatures and names are shown, not processed; bounded so a client cannot store megabytes
MAX_NAME_LENGTH: Final = 256
MAX_SIGNATURE_LENGTH: Final = 65_536


def _complete(value: JSONObject) -> None:
    value["replyTo"] = complete_addresses(value["replyTo"])
    value["bcc"] = complete_addresses(value["bcc"])


async def identity_created(call: SetCall, identity_id: str, value: JSONObject) -> SetError | None:
    mine = await sendable_addresses(call.ctx, call.account_id)
    email = mine.get(address_key(value["email"]))  # the Address kind has checked it parses
    if email is None:
        return SetError(
            "forbiddenFrom", f"{value['email']} is not an address of this account"
        )
    if len(await call.objects.get_all(IDENTITY)) >= MAX_IDENTITIES:
        return set_errors.over_quota(f"an account has at most {MAX_IDENTITIES} identities")
    value["email"] = email
    value["mayDelete"] = True
    _complete(value)
    return None


async def identity_updated(
    call: SetCall, identity_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    _complete(new)
    return None


SIGNATURE = Property(String(max_length=MAX_SIGNATURE_LENGTH), default="")

IDENTITY_TYPE = DataType(
    name=IDENTITY,
    capability=SUBMISSION,
    properties={
        "name": Property(String(max_length=MAX_NAME_LENGTH), default=""),
        "email": Property(Address(), required=True, immutable=True),
        "replyTo": Property(ADDRESS_LIST, default=None),
        "bcc": Property(ADDRESS_LIST, default=None),
        "textSignature": SIGNATURE,
        "htmlSignature": SIGNATURE,
        "mayDelete": Property(Boolean(), default=True, server_set=True),
    },
    methods=frozenset({GET, CHANGES, SET}),
    on_create=identity_created,
    on_update=identity_updated,
)

METHODS = with_default_identities(standard_methods(IDENTITY_TYPE))
