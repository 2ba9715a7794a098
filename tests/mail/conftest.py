"""Fixtures for the mail tests: local SMTP servers on free ports, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.certificates import make_certificates
from tests.smtp_server import ServerOptions, SilentServer, SMTPTestServer


@pytest.fixture(scope="module")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A test CA and a server certificate for 127.0.0.1 (and one for another name only)."""
    directory = tmp_path_factory.mktemp("smtp-certificates")
    files = make_certificates(directory / "ip", server_names=("127.0.0.1",))
    other = make_certificates(directory / "other", server_names=("mail.example.org",))
    files["other_server"] = other["server"]
    files["other_server_key"] = other["server_key"]
    files["other_ca"] = other["ca"]
    return files


@pytest_twisted.async_yield_fixture
async def smtp_server() -> AsyncIterator[Callable[..., SMTPTestServer]]:
    """Starts test SMTP servers: ``smtp_server(auth=("u", "p"), ...)`` (see ServerOptions)."""
    servers: list[SMTPTestServer] = []

    def start(**options: Any) -> SMTPTestServer:
        server = SMTPTestServer(ServerOptions(**options)).listen(reactor)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


@pytest_twisted.async_yield_fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """A server that accepts connections and never answers."""
    server = SilentServer().listen(reactor)
    try:
        yield server
    finally:
        await server.stop()
