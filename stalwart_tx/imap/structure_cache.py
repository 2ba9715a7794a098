"""ENVELOPE, BODY and BODYSTRUCTURE of recently fetched messages, by message blob id.

Mail clients fetch these for every message they list, again and again across sessions; each
costs a read of the whole message and a parse. A message blob never changes (its id is its
content's digest), so the rendered answers are kept per process, the most recently used first,
within a bound on their total size.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

MAX_BYTES: Final = 16 * 2**20


class StructureCache:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0

    def get(self, blob_id: str, item: str) -> bytes | None:
        key = (blob_id, item)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, blob_id: str, item: str, rendered: bytes) -> None:
        key = (blob_id, item)
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old)
        if len(rendered) > self.max_bytes:
            return
        self._items[key] = rendered
        self._size += len(rendered)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)


STRUCTURES = StructureCache()
