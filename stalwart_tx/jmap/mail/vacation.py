"""The VacationResponse singleton (RFC 8621 §8): VacationResponse/get and /set.

It exists implicitly with its defaults (disabled) until first set; creating or destroying it
is the ``singleton`` SetError. Delivery reads it to send the automatic replies; this module
only stores it.
"""

from __future__ import annotations

from stalwart_tx.jmap.capabilities import VACATION_RESPONSE
from stalwart_tx.jmap.datatype import GET, SET, DataType, Property
from stalwart_tx.jmap.mail.mailbox_defaults import with_default_mailboxes
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.values import Boolean, Nullable, String, UTCDate

VACATION_RESPONSE_TYPE = DataType(
    name="VacationResponse",
    capability=VACATION_RESPONSE,
    properties={
        "isEnabled": Property(Boolean(), default=False),
        "fromDate": Property(Nullable(UTCDate()), default=None),
        "toDate": Property(Nullable(UTCDate()), default=None),
        "subject": Property(Nullable(String()), default=None),
        "textBody": Property(Nullable(String()), default=None),
        "htmlBody": Property(Nullable(String()), default=None),
    },
    methods=frozenset({GET, SET}),
    singleton=True,
)

# a mail method like the others: the account's first use of any makes its default mailboxes
METHODS = with_default_mailboxes(standard_methods(VACATION_RESPONSE_TYPE))
