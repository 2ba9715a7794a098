from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_process import redis_command, running_redis


@pytest.fixture(scope="session")
def redis_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real redis-server for the whole run, on a unix socket in a temp dir."""
    with running_redis(tmp_path_factory.mktemp("redis")) as socket_path:
        yield socket_path


@pytest.fixture
def redis_url(redis_socket: Path) -> str:
    """A URL of an empty database on the shared test redis-server."""
    redis_command(redis_socket, "FLUSHALL")
    return f"unix://{redis_socket}"
