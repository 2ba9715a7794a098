"""Delivery rate over LMTP: messages/s into one Inbox, over 1 and over 10 connections.

Starts stalwart-tx fresh (``imap_load.Stalwart``: twistd on a new data directory with the
embedded Redis, one user), gives the user ``bench@example.org`` with ``stalwart-admin``, then
delivers ``--count`` messages on its LMTP socket (``lmtp.sock`` in the data directory) for each
``--connections`` value. Each message is a corpus message (``corpus.py``) of at most ``--size``
bytes (10 KB by default, as the target asks) with its body padded to that size. Each
connection says LHLO once and then, per message, pipelines MAIL, RCPT and DATA, waits for the
354, sends the data and waits for the recipient's reply: every 250 is a stored message.
Reports messages/s, the mean and 95th percentile time from MAIL to the 250, and the server's
CPU per message (its process tree)::

    /tmp/bench-venv/bin/python benchmarks/lmtp_delivery.py                  # 2,000 messages
    /tmp/bench-venv/bin/python benchmarks/lmtp_delivery.py --count 500 --connections 1 10 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

from corpus import generate
from imap_load import PYTHON, Stalwart, repo_env, tree_cpu

ADDRESS = b"bench@example.org"


def padded(data: bytes, size: int) -> bytes:
    """The message with text lines appended to its body until it is ``size`` bytes."""
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    missing = max(0, size - len(data))
    return data + line * (missing // len(line) + 1)


def sized(count: int, size: int, seed: int) -> list[bytes]:
    """``count`` corpus messages no bigger than ``size``, each padded to it, dot-stuffed."""
    found: list[bytes] = []
    for message in generate(count * 20, seed=seed):
        if len(message.data) <= size:
            found.append(dot_stuffed(padded(message.data, size)))
            if len(found) == count:
                return found
    raise SystemExit(f"the corpus has fewer than {count} messages of {size} bytes or less")


def dot_stuffed(data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


class LmtpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: str) -> LmtpConnection:
        reader, writer = await asyncio.open_unix_connection(path)
        connection = cls(reader, writer)
        await connection.reply()  # the greeting
        writer.write(b"LHLO bench.example.net\r\n")
        await connection.reply()
        return connection

    async def reply(self) -> bytes:
        """One whole reply (the last line of a multi-line one)."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            if line[3:4] != b"-":
                return line

    async def deliver(self, data: bytes) -> None:
        self.writer.write(b"MAIL FROM:<sender@example.net>\r\n"
                          b"RCPT TO:<" + ADDRESS + b">\r\nDATA\r\n")
        for expected in (b"250", b"250", b"354"):
            line = await self.reply()
            if not line.startswith(expected):
                raise RuntimeError(f"expected {expected!r}, got {line!r}")
        self.writer.write(data + b".\r\n")
        line = await self.reply()
        if not line.startswith(b"250"):
            raise RuntimeError(f"not delivered: {line!r}")

    async def close(self) -> None:
        self.writer.write(b"QUIT\r\n")
        await self.reply()
        self.writer.close()


async def measure(path: str, messages: list[bytes], connections: int) -> list[float]:
    """Deliver every message, ``connections`` at a time; the seconds each took."""
    queue = list(reversed(messages))
    took: list[float] = []

    async def work() -> None:
        connection = await LmtpConnection.open(path)
        while queue:
            data = queue.pop()
            started = time.perf_counter()
            await connection.deliver(data)
            took.append(time.perf_counter() - started)
        await connection.close()

    await asyncio.gather(*(work() for _ in range(connections)))
    return took


def admin(server: Stalwart, *args: str) -> None:
    subprocess.run([PYTHON, "-c", "from stalwart_tx.admin.cli import main; main()",
                    "--data", str(server.data), *args],
                   env=repo_env(), check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages per connection count")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--size", type=int, default=10 * 1024, help="bytes per message")
    args = parser.parse_args(argv)
    server = Stalwart(1)
    server.start()
    try:
        admin(server, "domain", "add", "example.org")
        admin(server, "user", "address", "add", server.user, ADDRESS.decode())
        path = str(Path(server.data) / "lmtp.sock")
        for connections in args.connections:
            messages = sized(args.count, args.size, seed=connections)
            cpu = tree_cpu(server.pid())
            started = time.perf_counter()
            took = asyncio.run(measure(path, messages, connections))
            elapsed = time.perf_counter() - started
            cpu = tree_cpu(server.pid()) - cpu
            ms = sorted(t * 1000 for t in took)
            mean_size = sum(len(m) for m in messages) / len(messages)
            print(f"{connections:3d} connection(s): {len(took)} messages of {mean_size:,.0f} bytes "
                  f"in {elapsed:.2f} s = {len(took) / elapsed:,.1f} messages/s; "
                  f"mean {statistics.fmean(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95)]:.1f} ms; "
                  f"server CPU {cpu / len(took) * 1000:.2f} ms per message", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
