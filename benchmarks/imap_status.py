"""STATUS of a big mailbox: how the cost of each item grows with the messages in it.

Clients poll STATUS on every folder (Thunderbird, phones), so an item whose cost follows the
mailbox's size is paid over and over. For each ``--messages`` count this starts stalwart-tx on
its embedded Redis (one IMAP process), seeds INBOX with that many messages of the benchmark
corpus (``corpus.py``, as ``imap_load.py`` does), then times ``--repeat`` STATUS commands of
each item set and reports the mean latency and the Redis script time per command (Redis
``INFO commandstats``, reset before each set)::

    .venv/bin/python benchmarks/imap_status.py                       # 200 and 5,000 messages
    .venv/bin/python benchmarks/imap_status.py --messages 20000 --repeat 100
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from imap_load import Imap, Stalwart, login, seed, setup_command

ITEM_SETS = (b"UNSEEN", b"MESSAGES UIDNEXT UIDVALIDITY", b"MESSAGES RECENT UIDNEXT UNSEEN")


def script_microseconds(socket_path: str) -> int:
    """Redis's EVALSHA time since its stats were reset (every read here is a script)."""
    out = subprocess.run(["redis-cli", "-s", socket_path, "INFO", "commandstats"],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(line.split("usec=")[1].split(",")[0]) for line in out.splitlines()
               if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")))


async def measure(messages: int, repeat: int) -> None:
    server = Stalwart(1)
    server.start()
    try:
        await seed(server, messages)
        client, _ = await Imap.connect(server.port)
        await setup_command(server, client, login(server))
        socket_path = str(server.data / "redis.sock")
        for items in ITEM_SETS:
            command = b"STATUS INBOX (%s)" % items
            await setup_command(server, client, command)  # warm: the mailbox tree is kept
            subprocess.run(["redis-cli", "-s", socket_path, "CONFIG", "RESETSTAT"],
                           capture_output=True, check=True)
            started = time.perf_counter()
            for _ in range(repeat):
                reply = await setup_command(server, client, command)
            elapsed = (time.perf_counter() - started) / repeat
            redis_us = script_microseconds(socket_path) / repeat
            answer = reply.untagged.strip().decode(errors="replace")
            print(f"{messages:7d} messages  STATUS ({items.decode()}): {elapsed * 1000:6.2f} ms, "
                  f"Redis scripts {redis_us:8.1f} us per command  [{answer}]", flush=True)
        await client.command(b"LOGOUT")
        client.close()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[200, 5000])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    for messages in args.messages:
        asyncio.run(measure(messages, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
