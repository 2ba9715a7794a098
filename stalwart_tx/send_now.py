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
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor


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
