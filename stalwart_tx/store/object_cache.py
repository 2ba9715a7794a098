"""Objects as they were at a known modseq, kept by one process so a write can skip reading them.

A computation of a per-object type (``WorkingSet``, ``condition_per_object``) writes on
condition that each object it read is unchanged since the position it was read at. An object
kept here with that position is therefore as good as one read now: if anyone changed it since,
the store refuses the write, the entry is dropped, and the computation reads it afresh. What a
computation decides without writing (an update that changes nothing) is not checked by any
write, so such a computation reads again instead (``WorkingSet.batch``).

Entries come from reads that return the objects with their type's state (the objects as they
are at that state) and from writes (each object as written, at the modseq the write gave it).
A write refused for a conflict drops the objects it was conditional on. The most recently used
``limit`` entries stay. Values are copied in and out, so no caller can change a kept one.

The positions are those of one store: a store restored from a backup while the process runs
must be followed by a restart (docs/operations.md), as for every other process-local cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from stalwart_tx.store.records import JSONObject, json_copy

DEFAULT_LIMIT: Final = 4096


class ObjectCache:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        # (account, type, id) -> (value, position), least recently used first
        self._entries: OrderedDict[tuple[str, str, str], tuple[JSONObject, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(
        self, account_id: str, type_name: str, ids: list[str]
    ) -> dict[str, tuple[JSONObject, int]] | None:
        """Copies of the objects of all those ids with their positions, or None unless every
        one is kept (a read for the others would cost as much as one for all)."""
        entries = self._entries
        keys = [(account_id, type_name, object_id) for object_id in ids]
        if not keys or any(key not in entries for key in keys):
            return None
        found: dict[str, tuple[JSONObject, int]] = {}
        for key in keys:
            entries.move_to_end(key)
            value, position = entries[key]
            found[key[2]] = (json_copy(value), position)
        return found

    def put(
        self, account_id: str, type_name: str, object_id: str, value: JSONObject, position: int
    ) -> None:
        """Keep the object as it was at ``position``, unless a later one is kept already."""
        key = (account_id, type_name, object_id)
        held = self._entries.get(key)
        if held is not None and held[1] > position:
            return
        self._entries[key] = (json_copy(value), position)
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def forget(self, account_id: str, type_name: str, ids: Iterable[str]) -> None:
        for object_id in ids:
            self._entries.pop((account_id, type_name, object_id), None)

    def clear(self) -> None:
        self._entries.clear()
