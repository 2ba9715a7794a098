"""A test data type whose objects take quota, as Email will: Parcel (a size, a name).

Its /set hooks call the quota seam exactly as the Email code is to: ``check_quota`` before
staging a new parcel, ``stage_usage`` with the parcel's size and one message, and the negative
of both on destroy.
"""

from __future__ import annotations

from stalwart_tx.jmap.datatype import DataType, Property
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.quota_usage import check_quota, stage_usage
from stalwart_tx.jmap.registry import CapabilitySpec
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.calls import SetCall
from stalwart_tx.jmap.standard.values import String, UnsignedInt
from stalwart_tx.store.records import JSONObject

CAPABILITY = "urn:example:parcels"


async def parcel_created(call: SetCall, parcel_id: str, value: JSONObject) -> SetError | None:
    error = await check_quota(call.objects, value["size"], 1)
    if error is not None:
        return error
    await stage_usage(call.objects, value["size"], 1)
    return None


async def parcel_destroyed(call: SetCall, parcel_id: str, value: JSONObject) -> SetError | None:
    await stage_usage(call.objects, -value["size"], -1)
    return None


PARCEL = DataType(
    name="Parcel",
    capability=CAPABILITY,
    properties={
        "name": Property(String(), default=""),
        "size": Property(UnsignedInt(), required=True, immutable=True),
    },
    on_create=parcel_created,
    on_destroy=parcel_destroyed,
)

METHODS = standard_methods(PARCEL)
CAPABILITIES = [CapabilitySpec(CAPABILITY, session_value=dict, account_value=lambda _a: {})]
