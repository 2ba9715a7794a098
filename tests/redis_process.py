"""A real redis-server child for tests: unix socket in a temp dir, no persistence, stopped after."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stalwart_tx.store.redis_binary import find_redis_server


def _ping(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_command(socket_path: Path, *words: str) -> bytes:
    """Send one command over a raw socket and return the raw reply (for test setup and checks)."""
    payload = f"*{len(words)}\r\n".encode()
    for word in words:
        data = word.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(socket_path))
        sock.sendall(payload)
        return sock.recv(65536)


@contextmanager
def running_redis(directory: Path, *extra_args: str) -> Iterator[Path]:
    """Start redis-server with its socket in ``directory``; yield the socket path; stop it."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "redis.sock"
    argv = [
        str(find_redis_server()),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "no",
        *extra_args,
    ]
    with supervised(argv, lambda: _ping(socket_path), "redis-server"):
        yield socket_path


@contextmanager
def supervised(argv: list[str], is_up: Callable[[], bool], what: str) -> Iterator[None]:
    """Run ``argv`` until the block ends; enter the block once ``is_up()`` says it answers."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not is_up():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.02)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
