"""How many sessions each IMAP process serves, in memory every process of the service maps.

The processes share the listening sockets, and every one of them is woken by a new connection:
left to the race, the one that happens to answer first takes it, and sessions opened one after
another (each logging in before the next connects) can all land in one process while another
idles. With the board, a process that serves more sessions than another lets that one take the
connection (see ``FairAccept``). It is advice only: a process that does not answer in time (busy,
stopped) is not waited for.

One slot per process (a 32-bit count; slot 0 the main process, then one per extra process), in a
memfd the main process creates and hands to each child as an inherited file descriptor.
"""

from __future__ import annotations

import mmap
import os
from typing import Final

SLOT_BYTES: Final = 4


class SessionBoard:
    """This process's view of the board: it writes its own slot and reads the others."""

    def __init__(self, fd: int, slots: int, own: int) -> None:
        if not 0 <= own < slots:
            raise ValueError(f"slot {own} is not on a board of {slots}")
        self.fd = fd
        self.slots = slots
        self.own = own
        self._map = mmap.mmap(fd, slots * SLOT_BYTES)
        self._counts = memoryview(self._map).cast("I")

    @classmethod
    def create(cls, slots: int) -> SessionBoard:
        """A new board, all zero, owning slot 0; its ``fd`` is inheritable by children."""
        fd = os.memfd_create("stalwart-imap-sessions", 0)  # not CLOEXEC: children map it
        os.ftruncate(fd, slots * SLOT_BYTES)
        return cls(fd, slots, 0)

    def publish(self, count: int) -> None:
        self._counts[self.own] = max(0, min(count, 2**32 - 1))

    def count(self, slot: int) -> int:
        return int(self._counts[slot])

    def fewest_elsewhere(self) -> int:
        """The fewest sessions another process serves (this one's own count when alone)."""
        others = [self._counts[s] for s in range(self.slots) if s != self.own]
        return int(min(others)) if others else int(self._counts[self.own])

    def clear(self, slot: int) -> None:
        """A process that ended serves nothing (the main process clears its child's slot)."""
        self._counts[slot] = 0

    def close(self) -> None:
        self._counts.release()
        self._map.close()
