"""Long-lived responses (event streams, WebSockets) and the draining shutdown of DrainableSite.

Draining waits for in-flight requests; a push stream never finishes on its own, so it would hold
shutdown for the whole grace period. Such responses register how to end themselves instead.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.web.iweb import IRequest

from stalwart_tx.http.site import TrackedRequest


def end_when_draining(request: IRequest, end: Callable[[], object]) -> None:
    """Call ``end`` when the site starts draining, or now if it already has."""
    if not isinstance(request, TrackedRequest):
        return
    request.end_when_draining = end
    site = getattr(request.channel, "site", None)
    if getattr(site, "draining", False):
        end()
