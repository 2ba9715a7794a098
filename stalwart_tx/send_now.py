"""Writing to a plain socket transport at once, instead of on the reactor's next turn.

Twisted queues every ``transport.write`` for the next turn of the reactor: the transport asks
epoll to watch the socket for writing, the reactor wakes, sends, and asks epoll to stop
watching. That is one more loop and two epoll changes per write, which for short exchanges (a
Redis command, an IMAP response) cost about as much as the send itself. When nothing is queued
before the data, sending it right away keeps the order and saves all of that.

Only a plain TCP or Unix socket transport qualifies, checked at each write: a TLS one (from
the start, or since STARTTLS) goes through Twisted, which encrypts. Whatever the socket does
not take at once, and any error, goes through ``transport.write`` too, which keeps the order,
buffers the rest with the producer's flow control, and reports the error as a lost connection.

Within a batch (the handling of one piece of input: Redis replies, an IMAP command),
``write_batched`` holds the writes and sends each transport's in one piece when the outermost
batch ends: the Redis commands that the replies of one read set off (sessions going on, a
method's reads side by side) then cost one send between them, not one each, and Redis answers
them together. Nothing waits longer than the handling that wrote it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor

_depth = 0
# transport -> the data written to it in the batch, in order (transports in first-write order)
_held: dict[Any, list[bytes]] = {}


def direct(transport: Any) -> bool:
    """Whether ``write`` may send to this transport's socket itself (no TLS now or later is
    decided here: ``write`` checks again each time)."""
    return (isinstance(transport, FileDescriptor) and hasattr(transport, "socket")
            and hasattr(transport, "_tempDataBuffer") and hasattr(transport, "TLS"))


def write(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, sending at once what the socket takes when nothing waits."""
    if (not transport.TLS and transport.connected and not transport.disconnecting
            and not transport._writeDisconnected
            and not transport.dataBuffer and not transport._tempDataBuffer):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def open_batch() -> None:
    """Hold ``write_batched`` writes until the outermost batch closes (``close_batch``, in a
    ``finally``: plain calls, as a context manager cost more than the sends it saves)."""
    global _depth
    _depth += 1


def close_batch() -> None:
    global _depth
    _depth -= 1
    if not _depth and _held:
        flush()


def write_batched(transport: Any, data: bytes) -> None:
    """``write``, held until the batch ends when one is open."""
    if _depth:
        pieces = _held.get(transport)
        if pieces is None:
            _held[transport] = [data]
        else:
            pieces.append(data)
    else:
        write(transport, data)


def flush() -> None:
    """Send what the batch held, one piece per transport."""
    while _held:
        transport = next(iter(_held))
        pieces = _held.pop(transport)
        write(transport, pieces[0] if len(pieces) == 1 else b"".join(pieces))
