"""Running a type's response hook, the one way a type adds fields to a standard response."""

from __future__ import annotations

from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.store.records import JSONObject


async def with_response_hook(call: MethodCall, response: JSONObject) -> JSONObject:
    hook = call.data_type.response_hooks.get(call.method)
    if hook is not None:
        response.update(await hook(call, response))
    return response
