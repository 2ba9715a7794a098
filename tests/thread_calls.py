"""Blocking client calls (imaplib, smtplib, raw sockets) run in a client's own thread while the
server under test runs in the reactor, as a client in another process would talk to it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred

T = TypeVar("T")


async def in_thread(pool: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in ``pool``, its result (or exception) back in the reactor."""
    future = pool.submit(call, *args)
    done: Deferred[T] = Deferred()

    def finished(_: Any) -> None:
        error = future.exception()
        if error is not None:
            reactor.callFromThread(done.errback, error)
        else:
            reactor.callFromThread(done.callback, future.result())

    future.add_done_callback(finished)
    return await done
