"""Run the whole benchmark: start the servers, load the same corpus into each, measure, compare.

    .venv/bin/python benchmarks/run_all.py --count 100000            # stalwart-tx and Cyrus
    .venv/bin/python benchmarks/run_all.py --count 20000 --no-cyrus  # ours only

Steps, each also runnable alone (see README.md):

1. start stalwart-tx (``twistd -n stalwart`` on a fresh ``--data`` directory, embedded Redis, JMAP
   on a free loopback port) and create user ``bench``; or use ``--stalwart-url`` for a running one;
2. start Cyrus with ``../shared/peers/cyrus.sh start`` (needs root) unless it already answers,
   add user ``--cyrus-user`` and log it in once over IMAP (Cyrus creates the mailboxes then);
3. ``load.py`` into each (``--if-loaded skip``: an account already holding the corpus is reused);
4. ``query_latency.py`` on each;
5. ``side_by_side.py`` with both.

Every result is appended as JSON lines to ``--results`` (default /tmp/stalwart-bench/results.jsonl).
A server that lacks a method is reported as such and the other one is still measured. What this
script started, it stops at the end (``--keep`` leaves them running).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
CYRUS_SH = REPO.parent / "shared" / "peers" / "cyrus.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, user: str, password: str) -> bool:
    auth = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}),
                                    timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
        return True
    except OSError:
        return False


def repo_env() -> dict[str, str]:
    env = dict(os.environ)
    # The source tree first, so that its package and twisted/plugins are the ones that run.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class Stalwart:
    def __init__(self, user: str, password: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="stalwart-bench-"))
        self.port = free_port()
        self.user, self.password = user, password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        admin = [PYTHON, "-c", "from stalwart_tx.admin.cli import main; main()",
                 "--data", str(self.data)]
        subprocess.run([*admin, "user", "add", self.user, "--password-stdin"],
                       input=self.password + "\n", text=True, env=repo_env(), check=True,
                       capture_output=True)
        twistd = str(Path(PYTHON).with_name("twistd"))
        log = (self.data / "service.log").open("wb")
        self.process = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "stalwart", "--data", str(self.data),
             "--jmap", f"tcp:{self.port}:interface=127.0.0.1"],
            cwd=self.data, stdout=log, stderr=subprocess.STDOUT, env=repo_env())
        deadline = time.monotonic() + 60
        while not answers(self.url + "/.well-known/jmap", self.user, self.password):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stalwart-tx did not start; log in {self.data}/service.log")
            time.sleep(0.3)
        print(f"stalwart-tx: {self.url} (pid {self.process.pid}, data {self.data})",
              file=sys.stderr)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def start_cyrus(user: str, password: str, url: str) -> bool:
    """Make sure Cyrus runs and ``user`` exists with its mailboxes; True if we started Cyrus."""
    started = False
    if not listening(url):
        subprocess.run([str(CYRUS_SH), "start"], check=True)
        started = True
    subprocess.run([str(CYRUS_SH), "adduser", user, password], check=True)
    # Cyrus creates a user's INBOX (and its JMAP account) at the first IMAP login.
    imap = imaplib.IMAP4("127.0.0.1", 14310)
    imap.login(user, password)
    imap.logout()
    return started


def step(script: str, *args: str) -> int:
    command = [PYTHON, str(HERE / script), *args]
    print("\n$ " + " ".join(command[1:]), file=sys.stderr, flush=True)
    return subprocess.run(command).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--cyrus-count", type=int, help="a smaller N for Cyrus (default --count)")
    parser.add_argument("--seed", type=int, default=8621)
    parser.add_argument("--no-stalwart", action="store_true")
    parser.add_argument("--stalwart-url", help="use this running server instead of starting one")
    parser.add_argument("--stalwart-user", default="bench")
    parser.add_argument("--no-cyrus", action="store_true")
    parser.add_argument("--cyrus-url", default="http://127.0.0.1:18080")
    parser.add_argument("--cyrus-user", default="bench")
    parser.add_argument("--password", default="pass")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=10, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=1, help="side-by-side rounds")
    parser.add_argument("--results", type=Path, default=Path("/tmp/stalwart-bench/results.jsonl"))
    parser.add_argument("--keep", action="store_true", help="leave started servers running")
    args = parser.parse_args(argv)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    results = ["--json", str(args.results)]

    stalwart = None
    cyrus_started = False
    targets: list[tuple[str, int, int]] = []  # (target spec, count, connections)
    try:
        if not args.no_stalwart:
            url = args.stalwart_url
            if not url:
                stalwart = Stalwart(args.stalwart_user, args.password)
                stalwart.start()
                url = stalwart.url
            targets.append((f"stalwart={url},{args.stalwart_user},{args.password}",
                            args.count, 4))
        if not args.no_cyrus:
            cyrus_started = start_cyrus(args.cyrus_user, args.password, args.cyrus_url)
            # Cyrus imports fastest on one connection (more contend for its mailbox locks).
            targets.append((f"cyrus={args.cyrus_url},{args.cyrus_user},{args.password}",
                            args.cyrus_count or args.count, 1))
        status = 0
        for spec, count, connections in targets:
            code = step("load.py", "--target", spec, "--count", str(count), "--seed",
                        str(args.seed), "--connections", str(connections), "--if-loaded", "skip",
                        *results)
            status = status or code
            if code == 0:
                code = step("query_latency.py", "--target", spec, "--runs", str(args.runs),
                            *results)
                status = status or code
        side = []
        for spec, _, _ in targets:
            side += ["--target", spec]
        if side:
            code = step("side_by_side.py", *side, "--duration", str(args.duration),
                        "--connections", str(args.connections), "--rounds", str(args.rounds),
                        *results)
            status = status or code
        print(f"\nresults appended to {args.results}", file=sys.stderr)
        return status
    finally:
        if not args.keep:
            if stalwart:
                stalwart.stop()
            if cyrus_started:
                subprocess.run([str(CYRUS_SH), "stop"], check=False)


if __name__ == "__main__":
    sys.exit(main())
