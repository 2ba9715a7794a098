"""Accepting from a listening socket that several processes share, so connections spread.

Every process waiting on a shared socket is woken by a new connection, and Twisted's port then
accepts as many as are queued, up to a hundred at once: the first process awake takes a whole
burst (ten clients connecting together all land in one process while the others idle). A port
shared this way instead accepts one connection per wake-up, then stops listening for a moment
that grows with the connections it already serves, so the other processes, woken by the same
queue, take the next ones. A process with few sessions answers first; one with many yields.

That pause spreads a burst, but not sessions opened one after another: each arrives after the
pause, and the process that wakes first takes it. So processes also publish how many sessions
they serve on a shared ``SessionBoard``: one that serves more than another leaves a waiting
connection to that one (stops listening for ``DEFER``), unless it has been left waiting for
``MAX_DEFER`` already (the other process is busy or stopped) or the connection is gone meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from stalwart_tx.imap.session_board import SessionBoard

# seconds a process stays deaf after an accept, per connection it serves, and at most
PAUSE_PER_CONNECTION: Final = 0.001
MAX_PAUSE: Final = 0.02
# seconds a connection is left to a process serving fewer sessions, each time and at most
DEFER: Final = 0.002
MAX_DEFER: Final = 0.02


class FairAccept:
    """Makes ``port`` (a listening tcp or unix Port) accept one connection per wake-up and
    pause after it, ``PAUSE_PER_CONNECTION`` per connection ``serving()`` counts; with a
    ``board``, leaves a connection to a process that serves fewer sessions than ``total()``
    (this process's sessions on all its ports; ``serving`` when not given)."""

    def __init__(
        self, port: Any, serving: Callable[[], int], clock: IReactorTime, *,
        board: SessionBoard | None = None, total: Callable[[], int] | None = None,
    ) -> None:
        self.port = port
        self.serving = serving
        self.clock = clock
        self.board = board
        self.total = total or serving
        self.resume: IDelayedCall | None = None
        # when this process began leaving the waiting connections to others, and last did
        self.deferring_since: float | None = None
        self.deferred_at = 0.0
        self._accept = port.doRead
        # the reactor calls the port's doRead; this instance's takes its place
        port.doRead = self.doRead

    def doRead(self) -> Any:
        port = self.port
        if self._leave_to_another():
            port.stopReading()
            self.resume = self.clock.callLater(DEFER, self._listen)
            return None
        port.numberAccepts = 1  # the port raises it after a full round; one each time here
        before = port.sessionno
        result = self._accept()
        self.deferring_since = None
        if port.sessionno != before:
            if self.board is not None:
                self.board.publish(self.total())
            if port.connected and self.resume is None:
                pause = min(MAX_PAUSE, PAUSE_PER_CONNECTION * self.serving())
                if pause > 0:
                    port.stopReading()
                    self.resume = self.clock.callLater(pause, self._listen)
        return result

    def _leave_to_another(self) -> bool:
        board = self.board
        if board is None or self.resume is not None:
            return False
        mine = self.total()
        board.publish(mine)
        if mine <= board.fewest_elsewhere():
            return False
        now = self.clock.seconds()
        if self.deferring_since is None or now - self.deferred_at > 3 * DEFER:
            # not woken again right after the last deferral: that connection was taken, and
            # this is a new one
            self.deferring_since = now
        self.deferred_at = now
        return now - self.deferring_since < MAX_DEFER

    def _listen(self) -> None:
        self.resume = None
        if self.port.connected and not self.port.disconnecting:  # not stopped meanwhile
            self.port.startReading()

    def stop(self) -> None:
        if self.resume is not None and self.resume.active():
            self.resume.cancel()
        self.resume = None
