"""Requests/s of Core/echo with HTTP Basic auth on every request, credentials cache on and off.

    .venv/bin/python benchmarks/basic_auth.py                       # starts the service twice
    .venv/bin/python benchmarks/basic_auth.py --duration 30 --connections 20
    .venv/bin/python benchmarks/basic_auth.py --url http://127.0.0.1:8080 --user bench \\
        --password secret                                            # a running service, as is

Without ``--url`` it starts ``twistd -n stalwart`` on a fresh ``--data`` directory (embedded Redis,
a free loopback port) once per ``auth-cache-ttl`` in ``--ttl`` (default ``300`` and ``0``: cache on
and off), creates the user with stalwart-admin, and drives POST /jmap/api/ with one Core/echo call
and ``Authorization: Basic`` on every request, as many JMAP clients do. It also measures the same
request with a Bearer API token (no password hashing at all), as the ceiling the cache can reach.

The load comes from wrk (``--wrk``, default /usr/bin/wrk; its Lua script is written to a temporary
file) or, with ``--client python`` or when wrk is missing, from a thread per connection on
keep-alive ``http.client`` connections. Before measuring, each connection sends one request, so a
cache starts warm (the first verification of each process is not what is measured). Output: one
line per run, and with ``--json`` one JSON object per run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
CORE = "urn:ietf:params:jmap:core"
BODY = json.dumps(
    {"using": [CORE], "methodCalls": [["Core/echo", {"hello": "world"}, "0"]]}
).encode()

LUA = r"""
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

responses = 0
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or not body:find('"Core/echo"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local r, b = 0, 0
  for _, thread in ipairs(threads) do
    r = r + (thread:get("responses") or 0)
    b = b + (thread:get("bad") or 0)
  end
  io.write(string.format(
    'BENCH {"responses": %d, "bad": %d, "socket_errors": %d, "timeouts": %d, ' ..
    '"duration_us": %d, "p50_us": %d, "p99_us": %d}\n',
    r, b, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def repo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def echo_once(url: str, authorization: str) -> bool:
    request = urllib.request.Request(
        url + "/jmap/api/", data=BODY, method="POST",
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Service:
    """``twistd -n stalwart`` on a fresh data directory with one user and one API token."""

    def __init__(self, ttl: str, user: str, password: str) -> None:
        self.ttl = ttl
        self.user, self.password = user, password
        self.data = Path(tempfile.mkdtemp(prefix="stalwart-basic-auth-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""

    def admin(self, *args: str, stdin: str | None = None) -> str:
        command = [PYTHON, "-c", "from stalwart_tx.admin.cli import main; main()",
                   "--data", str(self.data), *args]
        done = subprocess.run(command, input=stdin, text=True, env=repo_env(), check=True,
                              capture_output=True)
        return done.stdout

    def start(self) -> None:
        self.admin("user", "add", self.user, "--password-stdin", stdin=self.password + "\n")
        self.token = self.admin("token", "create", self.user, "--label", "bench").strip()
        twistd = str(Path(PYTHON).with_name("twistd"))
        log = (self.data / "service.log").open("wb")
        self.process = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "stalwart", "--data", str(self.data),
             "--jmap", f"tcp:{self.port}:interface=127.0.0.1", "--auth-cache-ttl", self.ttl],
            cwd=self.data, stdout=log, stderr=subprocess.STDOUT, env=repo_env())
        deadline = time.monotonic() + 60
        while not echo_once(self.url, basic(self.user, self.password)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stalwart-tx did not start; log in {self.data}/service.log")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def run_wrk(wrk: str, url: str, authorization: str, connections: int, threads: int,
            duration: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "basic_auth.lua"
        script.write_text(LUA)
        body = Path(tmp) / "body.json"
        body.write_bytes(BODY)
        env = dict(os.environ, BENCH_BODY_FILE=str(body), BENCH_AUTH=authorization)
        done = subprocess.run(
            [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s",
             "--timeout", "10s", "-s", str(script), url + "/jmap/api/"],
            env=env, capture_output=True, text=True, check=False,
        )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    raw = json.loads(line[len("BENCH "):])
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["responses"], "seconds": seconds,
        "requests_per_s": raw["responses"] / seconds, "errors": raw["bad"]
        + raw["socket_errors"] + raw["timeouts"],
        "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
    }


def run_python(url: str, authorization: str, connections: int, duration: float
               ) -> dict[str, float]:
    parts = urlsplit(url)
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)

        def one() -> bool:
            conn.request("POST", "/jmap/api/", body=BODY, headers=headers)
            response = conn.getresponse()
            return response.status == 200 and b'"Core/echo"' in response.read()

        one()  # warm: connection open, credentials seen once
        start.wait()
        mine: list[float] = []
        bad = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at[0]:
                break
            try:
                ok = one()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            mine.append(time.perf_counter() - t0)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for w in workers:
        w.start()
    stop_at[0] = time.perf_counter() + 3600
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + duration
    for w in workers:
        w.join()
    seconds = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"requests": len(latencies), "seconds": seconds,
            "requests_per_s": len(latencies) / seconds, "errors": errors[0],
            "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def verification_seconds(samples: int = 5) -> float:
    """Seconds one argon2id verification takes here, with the service's parameters, one thread."""
    code = (
        "import time\n"
        "from stalwart_tx.auth.passwords import hash_password, _verify_blocking\n"
        "h = hash_password('x'); t = time.perf_counter()\n"
        f"for _ in range({samples}): _verify_blocking(h, 'x')\n"
        f"print((time.perf_counter() - t) / {samples})\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=repo_env(), capture_output=True, text=True,
                          check=True)
    return float(done.stdout)


def measure(args: argparse.Namespace, url: str, authorization: str) -> dict[str, float]:
    # one request per connection first, so the cache (if on) holds the credentials
    if not echo_once(url, authorization):
        raise RuntimeError(f"{url}: Core/echo with these credentials does not answer 200")
    if args.client == "wrk":
        return run_wrk(args.wrk, url, authorization, args.connections, args.threads,
                       args.duration)
    return run_python(url, authorization, args.connections, args.duration)


def report(args: argparse.Namespace, label: str, result: dict[str, float]) -> None:
    if args.json:
        print(json.dumps({"run": label, "client": args.client, "connections": args.connections,
                          **{k: round(v, 2) for k, v in result.items()}}))
    else:
        print(f"{label:<28} {result['requests_per_s']:>9.1f} req/s  "
              f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
              f"{int(result['requests'])} requests, {int(result['errors'])} errors")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service instead of starting one")
    parser.add_argument("--user", default="bench")
    parser.add_argument("--password", default="bench-password-1234")
    parser.add_argument("--ttl", nargs="+", default=["300", "0"],
                        help="auth-cache-ttl values to start the service with (default 300 0)")
    parser.add_argument("--no-bearer", action="store_true", help="skip the Bearer baseline")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk")
    parser.add_argument("--wrk", default="/usr/bin/wrk")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args(argv)
    if args.client == "wrk" and not shutil.which(args.wrk):
        print(f"{args.wrk} not found; using the Python client", file=sys.stderr)
        args.client = "python"
    authorization = basic(args.user, args.password)
    cost = verification_seconds()
    if args.json:
        print(json.dumps({"run": "argon2id verification", "seconds": round(cost, 3)}))
    else:
        print(f"one argon2id verification: {cost:.3f} s of CPU ({os.cpu_count()} CPUs, "
              f"{args.client}, {args.connections} connections, {args.duration:g} s per run)")
    if args.url:
        report(args, f"Basic @ {args.url}", measure(args, args.url.rstrip("/"), authorization))
        return 0
    for ttl in args.ttl:
        service = Service(ttl, args.user, args.password)
        try:
            service.start()
            label = f"Basic, auth-cache-ttl {ttl}"
            report(args, label, measure(args, service.url, authorization))
            if not args.no_bearer:
                report(args, f"Bearer, auth-cache-ttl {ttl}",
                       measure(args, service.url, f"Bearer {service.token}"))
                args.no_bearer = True  # the token path does not depend on the setting
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
