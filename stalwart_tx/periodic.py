"""A service that runs a bounded piece of work every ``interval`` seconds on an injected clock.

Subclasses define ``run_once`` (which must not raise: it logs its own failures) and may decline
to run at all (``enabled``). Stopping stops the loop and waits for a run in progress, so what
the run uses (the store) is not closed under it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall


class PeriodicService(Service, ABC):
    # whether the first run happens at start, or one interval later
    run_at_start = False

    def __init__(self, clock: Any, interval: float) -> None:
        self.clock = clock
        self.interval = interval
        self._loop: LoopingCall | None = None
        self._stopped: Deferred[Any] | None = None

    @property
    def enabled(self) -> bool:
        return True

    @abstractmethod
    async def run_once(self) -> object:
        """One run of the work; must not raise (it logs its own failures)."""

    def startService(self) -> None:
        super().startService()
        if not self.enabled:
            return
        self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self.run_once()))
        self._loop.clock = self.clock
        self._stopped = self._loop.start(self.interval, now=self.run_at_start)

    def stopService(self) -> Deferred[Any]:  # type: ignore[override]
        super().stopService()
        loop, stopped, self._loop, self._stopped = self._loop, self._stopped, None, None
        if loop is None or stopped is None:
            return succeed(None)
        if loop.running:
            loop.stop()  # fires ``stopped`` now, or when the run in progress ends
        return stopped
