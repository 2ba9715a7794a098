"""Objects as /get returns them: the requested properties, computed ones filled in by the type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stalwart_tx.jmap.standard.calls import MethodCall
from stalwart_tx.store.records import JSONObject


def computed_names(call: MethodCall, properties: Iterable[str]) -> frozenset[str]:
    """Which of ``properties`` the type's compute hook answers (computed or dynamic ones)."""
    declared = call.data_type.properties
    return frozenset(
        name for name in properties
        if name != "id" and (name not in declared or declared[name].computed)
    )


async def render(
    call: MethodCall, objects: Mapping[str, JSONObject], properties: list[str]
) -> dict[str, JSONObject]:
    """Each object as ``{"id": ..., <property>: <value>, ...}`` for the given properties.

    ``objects`` are stored values; missing properties get their defaults (or null).
    """
    data_type = call.data_type
    full = {object_id: data_type.with_defaults(value) for object_id, value in objects.items()}
    wanted = computed_names(call, properties)
    computed: Mapping[str, JSONObject] = {}
    if wanted and full and data_type.compute is not None:
        computed = await data_type.compute(call, full, wanted)
    rendered: dict[str, JSONObject] = {}
    for object_id, value in full.items():
        out: JSONObject = {"id": object_id}
        extra = computed.get(object_id, {})
        for name in properties:
            if name != "id":
                out[name] = extra.get(name) if name in wanted else value.get(name)
        rendered[object_id] = out
    return rendered


def all_properties(call: MethodCall) -> list[str]:
    """The properties /get returns when the client asks for none in particular."""
    data_type = call.data_type
    if data_type.default_get_properties is not None:
        return ["id", *data_type.default_get_properties]
    return ["id", *data_type.properties]
