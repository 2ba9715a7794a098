"""Accepting from a listening socket that several processes share, so connections spread.

Every process waiting on a shared socket is woken by a new connection, and Twisted's port then
accepts as many as are queued, up to a hundred at once: the first process awake takes a whole
burst (ten clients connecting together all land in one process while the others idle). A port
shared this way instead accepts one connection per wake-up, then stops listening for a moment
that grows with the connections it already serves, so the other processes, woken by the same
queue, take the next ones. A process with few sessions answers first; one with many yields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from twisted.internet.interfaces import IDelayedCall, IReactorTime

# seconds a process stays deaf after an accept, per connection it serves, and at most
PAUSE_PER_CONNECTION: Final = 0.001
MAX_PAUSE: Final = 0.02


class FairAccept:
    """Makes ``port`` (a listening tcp or unix Port) accept one connection per wake-up and
    pause after it, ``PAUSE_PER_CONNECTION`` per connection ``serving()`` counts."""

    def __init__(self, port: Any, serving: Callable[[], int], clock: IReactorTime) -> None:
        self.port = port
        self.serving = serving
        self.clock = clock
        self.resume: IDelayedCall | None = None
        self._accept = port.doRead
        # the reactor calls the port's doRead; this instance's takes its place
        port.doRead = self.doRead

    def doRead(self) -> Any:
        port = self.port
        port.numberAccepts = 1  # the port raises it after a full round; one each time here
        before = port.sessionno
        result = self._accept()
        if port.sessionno != before and port.connected and self.resume is None:
            pause = min(MAX_PAUSE, PAUSE_PER_CONNECTION * self.serving())
            if pause > 0:
                port.stopReading()
                self.resume = self.clock.callLater(pause, self._listen)
        return result

    def _listen(self) -> None:
        self.resume = None
        if self.port.connected and not self.port.disconnecting:  # not stopped meanwhile
            self.port.startReading()

    def stop(self) -> None:
        if self.resume is not None and self.resume.active():
            self.resume.cancel()
        self.resume = None
