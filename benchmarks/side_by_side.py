"""The same 3-call JMAP request driven at several servers in one run with wrk: requests/s, ratio.

    .venv/bin/python benchmarks/side_by_side.py \\
        --target stalwart=http://127.0.0.1:8080,bench,pass \\
        --target cyrus=http://127.0.0.1:18080,bench,pass

For each server the request is built with its own accountId, Inbox id and Authorization:

    Mailbox/get {ids: null}
    Email/query {filter: {inMailbox: INBOX}, sort: [receivedAt desc], limit: 10}
    Email/get   {#ids: result of the query /ids, properties: the message-list properties}

It is checked once from Python (no error responses, Email/get returns what the query found), then
wrk (``three_calls.lua``) sends it for ``--duration`` seconds over ``--connections`` connections,
one server after the other (``--rounds`` > 1 alternates them again and keeps each one's best
round). Reported per server: requests/s (wrk's, every response), ok/s (the successful ones),
latency p50/p99, non-2xx and JMAP error responses. The ratio is the first target's ok/s over each
other's. Exit status 0 only if every server ran
with no error responses; 3 if one lacks a method (its row says which; the others still run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jmapclient import CORE, MAIL, Client, JMAPError, ServerLacks, Target, check, discover
from jmapclient import inbox_and_mailboxes as inbox_of

HERE = Path(__file__).resolve().parent
PROPERTIES = ["id", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "from", "to",
              "subject", "preview", "hasAttachment"]


def request_body(account_id: str, inbox_id: str) -> dict[str, Any]:
    return {
        "using": [CORE, MAIL],
        "methodCalls": [
            ["Mailbox/get", {"accountId": account_id, "ids": None}, "m"],
            ["Email/query", {"accountId": account_id, "filter": {"inMailbox": inbox_id},
                             "sort": [{"property": "receivedAt", "isAscending": False}],
                             "limit": 10}, "q"],
            ["Email/get", {"accountId": account_id,
                           "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                           "properties": PROPERTIES}, "g"],
        ],
    }


def prepare(target: Target) -> tuple[str, bytes, str]:
    """(apiUrl, request body, summary of a checked response); ServerLacks/JMAPError if unusable."""
    session = discover(target)
    client = Client(session)
    try:
        inbox, _ = inbox_of(client)
        body = json.dumps(request_body(session.account_id, inbox)).encode()
        status, data = client.post_raw(body)
        if status != 200:
            raise JMAPError(f"{target.name}: HTTP {status}: {data[:300]!r}")
        responses = json.loads(data)["methodResponses"]
        calls = ("Mailbox/get", "Email/query", "Email/get")
        for (name, result, _), method in zip(responses, calls, strict=False):
            check(target.name, method, name, result)
        if len(responses) != 3:
            raise JMAPError(f"{target.name}: {len(responses)} method responses, expected 3")
        ids = responses[1][1]["ids"]
        got = responses[2][1]["list"]
        if len(got) != len(ids) or not ids:
            raise JMAPError(f"{target.name}: query found {len(ids)} ids, Email/get returned "
                            f"{len(got)} (is the account loaded?)")
        summary = (f"{len(responses[0][1]['list'])} mailboxes, {len(ids)} emails, "
                   f"{len(data)} bytes")
        return session.api_url, body, summary
    finally:
        client.close()


def run_wrk(wrk: str, url: str, body: bytes, authorization: str, connections: int, threads: int,
            duration: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as f:
        f.write(body)
        f.flush()
        env = {**os.environ, "BENCH_BODY_FILE": f.name, "BENCH_AUTH": authorization}
        proc = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
             "-s", str(HERE / "three_calls.lua"), url],
            env=env, capture_output=True, text=True, timeout=duration + 60)
    out = proc.stdout
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise JMAPError(f"wrk failed ({proc.returncode}): {out}{proc.stderr}")
    rps = float(re.search(r"Requests/sec:\s*([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    bench = json.loads(re.search(r"^BENCH (\{.*\})$", out, re.M).group(1))  # type: ignore[union-attr]
    bench["requests_per_s"] = rps
    failed = bench["non2xx"] + bench["jmap_errors"] + bench["incomplete"]
    # wrk's rate counts every response; the comparison is on the successful ones.
    bench["ok_per_s"] = round(rps * (bench["responses"] - failed) / max(1, bench["responses"]), 2)
    bench["errors"] = (bench["non2xx"] + bench["jmap_errors"] + bench["incomplete"]
                       + bench["socket_errors"] + bench["timeouts"])
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", action="append", type=Target.parse, required=True,
                        help="NAME=URL,USER,PASSWORD (repeat; the first is compared to the others)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per server per round")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--wrk", default="/usr/bin/wrk")
    parser.add_argument("--json", type=Path, help="append the results as JSON lines to FILE")
    args = parser.parse_args(argv)

    prepared: dict[str, tuple[str, bytes, str]] = {}
    problems: dict[str, str] = {}
    for target in args.target:
        try:
            prepared[target.name] = prepare(target)
            print(f"{target.name}: request checked ({prepared[target.name][2]})", file=sys.stderr)
        except (ServerLacks, JMAPError) as error:
            problems[target.name] = str(error)
            print(f"{target.name}: NOT RUN: {error}", file=sys.stderr)

    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for target in args.target:
            if target.name not in prepared:
                continue
            url, body, _ = prepared[target.name]
            print(f"{target.name}: wrk -c{args.connections} -d{args.duration}s "
                  f"(round {round_ + 1}/{args.rounds})...", file=sys.stderr, flush=True)
            result = run_wrk(args.wrk, url, body, target.authorization, args.connections,
                             args.threads, args.duration)
            previous = best.get(target.name)
            if previous is None or result["ok_per_s"] > previous["ok_per_s"]:
                best[target.name] = result

    print(f"\n3-call request (Mailbox/get + Email/query limit 10 + Email/get by reference), "
          f"{args.connections} connections, {args.duration} s each, best of {args.rounds}:")
    print(f"{'server':10} {'requests/s':>11} {'ok/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'responses':>10} {'non-2xx':>8} {'jmap err':>9} {'other err':>9}")
    for target in args.target:
        if target.name in problems:
            print(f"{target.name:10} {'pending':>11}  {problems[target.name]}")
            continue
        r = best[target.name]
        print(f"{target.name:10} {r['requests_per_s']:11.1f} {r['ok_per_s']:8.1f} "
              f"{r['p50_us'] / 1000:8.2f} "
              f"{r['p99_us'] / 1000:8.2f} {r['responses']:10d} {r['non2xx']:8d} "
              f"{r['jmap_errors']:9d} {r['incomplete'] + r['socket_errors'] + r['timeouts']:9d}")
    for name, r in best.items():
        if r["errors"]:
            print(f"{name}: responses by HTTP status {r.get('statuses')}; first failure: "
                  f"{r.get('sample', '')[:200]}")
    first = args.target[0].name
    for other in args.target[1:]:
        if first in best and other.name in best:
            ratio = best[first]["ok_per_s"] / max(0.01, best[other.name]["ok_per_s"])
            clean = best[first]["errors"] == 0 and best[other.name]["errors"] == 0
            print(f"ratio {first}/{other.name} (successful requests/s): {ratio:.2f}x "
                  f"(target >= 2.00x with no errors: "
                  f"{'met' if ratio >= 2 and clean else 'NOT met'})")
        else:
            print(f"ratio {first}/{other.name}: pending")
    if args.json:
        with args.json.open("a") as f:
            for name, r in best.items():
                f.write(json.dumps({"step": "side_by_side", "server": name,
                                    "connections": args.connections, "duration": args.duration,
                                    **r}) + "\n")
            for name, why in problems.items():
                f.write(json.dumps({"step": "side_by_side", "server": name, "error": why}) + "\n")
    if any("lacks" in why for why in problems.values()):
        return 3
    return 0 if not problems and all(r["errors"] == 0 for r in best.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
