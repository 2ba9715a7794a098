"""A Unix-socket client endpoint whose connections read with a plain ``recv``.

Twisted's Unix client transport reads with ``recvmsg`` so that it can receive file descriptors
as ancillary data. Redis never sends any, and the ``recvmsg`` path (a Python wrapper that sizes
an ancillary buffer, then unpacks a named tuple) cost about an eighth of a Redis round trip's
CPU in the IMAP processes, which make dozens of round trips per client command. The endpoint
is Twisted's own ``UNIXClientEndpoint``, given a reactor whose ``connectUNIX`` builds the
transport below; everything else goes to the real reactor.
"""

from __future__ import annotations

from errno import EWOULDBLOCK
from typing import Any

from twisted.internet import main, unix
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint


class PlainReadClient(unix.Client):
    """A Unix client transport reading with ``recv``, as TCP transports do."""

    def doRead(self) -> Any:
        try:
            data = self.socket.recv(self.bufferSize)
        except OSError as error:
            if error.args[0] == EWOULDBLOCK:
                return None
            return main.CONNECTION_LOST
        return self._dataReceived(data)


class _PlainReadConnector(unix.Connector):
    def _makeTransport(self) -> PlainReadClient:  # type: ignore[override]
        return PlainReadClient(self.address, self, self.reactor)  # type: ignore[no-untyped-call]


class _PlainReadReactor:
    """The reactor, but ``connectUNIX`` makes ``PlainReadClient`` transports."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def connectUNIX(
        self, address: str, factory: Any, timeout: float = 30, checkPID: int = 0
    ) -> unix.Connector:
        connector = _PlainReadConnector(  # type: ignore[no-untyped-call]
            address, factory, timeout, self._reactor, checkPID
        )
        connector.connect()  # type: ignore[no-untyped-call]
        return connector

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


def plain_read_unix_endpoint(reactor: Any, path: str, timeout: float) -> IStreamClientEndpoint:
    """``UNIXClientEndpoint(reactor, path, timeout)`` with ``PlainReadClient`` connections."""
    endpoint: IStreamClientEndpoint = UNIXClientEndpoint(  # type: ignore[no-untyped-call]
        _PlainReadReactor(reactor), path, timeout=timeout
    )
    return endpoint
