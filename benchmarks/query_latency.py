"""Latency of Email/query and Email/get on a loaded account (after load.py), one request at a time.

    .venv/bin/python benchmarks/query_latency.py --target cyrus=http://127.0.0.1:18080,bench,pass

Cases (each one JMAP request with one method call, sent sequentially on one keep-alive connection,
``--runs`` times after ``--warmup`` untimed ones):

- ``sort``: Email/query inMailbox Inbox, sort receivedAt desc, limit 50, collapseThreads false;
- ``sort+collapse``: the same with collapseThreads true;
- ``text`` / ``text+collapse``: the same with ``text: "marmalade"`` in the filter (the corpus's
  mid-frequency search term, about 4% of messages);
- ``get50``: Email/get of the 50 ids ``sort`` returns, with the properties a message list shows;
- ``sort@MAILBOX``: ``sort`` in each of the five benchmark mailboxes (50%, 25%, 13%, 8% and 4% of
  the messages), to see how the cost grows with mailbox size.

The time is the HTTP round trip on loopback, measured by the client: an upper bound of the
server-side time. If the server reports its own time (a ``Server-Timing`` header, or any header
whose name mentions "time"), its median is printed too.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from corpus import BENCHMARK_TERM, MAILBOXES
from jmapclient import Client, JMAPError, ServerLacks, Target, check, discover

LIST_PROPERTIES = [
    "id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "sentAt",
    "messageId", "inReplyTo", "from", "to", "cc", "subject", "preview", "hasAttachment",
]
MAILBOX_NAMES = {key: f"Bench {key.capitalize()}" for key, _ in MAILBOXES if key != "inbox"}


def find_mailboxes(client: Client) -> dict[str, tuple[str, int]]:
    """Benchmark mailbox key → (id, totalEmails)."""
    result = client.call_one("Mailbox/get", {"ids": None})
    found = {}
    for m in result["list"]:
        key = "inbox" if m.get("role") == "inbox" else next(
            (k for k, name in MAILBOX_NAMES.items() if name == m["name"] and not m.get("parentId")),
            None)
        if key:
            found[key] = (m["id"], int(m.get("totalEmails", 0)))
    if "inbox" not in found:
        raise JMAPError(f"{client.session.target.name}: no Inbox")
    return found


def query_args(mailbox_id: str, collapse: bool, text: str | None, limit: int = 50
               ) -> dict[str, Any]:
    condition: dict[str, Any] = {"inMailbox": mailbox_id}
    if text:
        condition["text"] = text
    return {"filter": condition, "sort": [{"property": "receivedAt", "isAscending": False}],
            "collapseThreads": collapse, "limit": limit}


def server_time_ms(headers: dict[str, str]) -> float | None:
    """A server-reported duration in ms, if the response carries one."""
    if "server-timing" in headers:
        durations = [float(d) for d in re.findall(r"dur=([0-9.]+)", headers["server-timing"])]
        if durations:
            return sum(durations)
    for name, value in headers.items():
        if "time" in name and name not in ("date",):
            match = re.match(r"\s*([0-9.]+)\s*(ms|s|us)?", value)
            if match:
                scale = {"s": 1000, "us": 0.001}.get(match.group(2) or "ms", 1)
                return float(match.group(1)) * scale
    return None


def measure(client: Client, method: str, args: dict[str, Any], runs: int, warmup: int
            ) -> dict[str, Any]:
    body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                       "methodCalls": [[method, {"accountId": client.account_id, **args}, "0"]]}
                      ).encode()
    times: list[float] = []
    server_times: list[float] = []
    result: dict[str, Any] = {}
    for i in range(warmup + runs):
        started = time.perf_counter()
        status, data = client.post_raw(body)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise JMAPError(f"{method}: HTTP {status}: {data[:300]!r}")
        name, result, _ = json.loads(data)["methodResponses"][0]
        check(client.session.target.name, method, name, result)
        if i >= warmup:
            times.append(elapsed)
            reported = server_time_ms(client.last_headers)
            if reported is not None:
                server_times.append(reported)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
        "min_ms": round(times[0], 2),
        "server_p50_ms": round(statistics.median(server_times), 2) if server_times else None,
        "result": result,
    }


def run(target: Target, runs: int, warmup: int, term: str) -> list[dict[str, Any]]:
    session = discover(target)
    client = Client(session)
    mailboxes = find_mailboxes(client)
    inbox, inbox_total = mailboxes["inbox"]
    # How many messages the text filter matches in the Inbox (once, with calculateTotal).
    try:
        matches = client.call_one("Email/query", {**query_args(inbox, False, term, 0),
                                                  "calculateTotal": True}).get("total")
    except ServerLacks:
        raise
    except JMAPError:
        matches = "?"
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("sort", "Email/query", query_args(inbox, False, None), f"Inbox {inbox_total}"),
        ("sort+collapse", "Email/query", query_args(inbox, True, None), f"Inbox {inbox_total}"),
        ("text", "Email/query", query_args(inbox, False, term), f"{matches} match '{term}'"),
        ("text+collapse", "Email/query", query_args(inbox, True, term), f"{matches} match"),
    ]
    rows = []
    ids: list[str] = []
    for name, method, args, note in cases:
        try:
            stats = measure(client, method, args, runs, warmup)
        except ServerLacks:
            raise
        except JMAPError as error:  # e.g. a text filter the server cannot evaluate
            rows.append({"server": target.name, "case": name, "note": note, "error": str(error)})
            continue
        if name == "sort":
            ids = stats["result"]["ids"]
            note += f", {len(ids)} ids"
        rows.append({"server": target.name, "case": name, "note": note,
                     **{k: v for k, v in stats.items() if k != "result"}})
    stats = measure(client, "Email/get", {"ids": ids, "properties": LIST_PROPERTIES}, runs, warmup)
    got = len(stats["result"]["list"])
    rows.append({"server": target.name, "case": "get50",
                 "note": f"{got} emails x {len(LIST_PROPERTIES)} properties",
                 **{k: v for k, v in stats.items() if k != "result"}})
    for key, (mailbox_id, total) in sorted(mailboxes.items(), key=lambda kv: kv[1][1]):
        stats = measure(client, "Email/query", query_args(mailbox_id, False, None), runs, warmup)
        rows.append({"server": target.name, "case": f"sort@{key}", "note": f"{total} messages",
                     "mailbox_total": total, **{k: v for k, v in stats.items() if k != "result"}})
    client.close()
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'server':10} {'case':18} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8} "
          f"{'srv p50':>8}  note")
    for r in rows:
        if "error" in r:
            print(f"{r['server']:10} {r['case']:18} {'ERROR':>8}  {r['error']}")
            continue
        srv = "-" if r["server_p50_ms"] is None else f"{r['server_p50_ms']:.2f}"
        print(f"{r['server']:10} {r['case']:18} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} "
              f"{r['min_ms']:8.2f} {srv:>8}  {r['note']}")
    scaling = [r for r in rows if r["case"].startswith("sort@") and r.get("mailbox_total")]
    if len(scaling) >= 2:
        small, large = scaling[0], scaling[-1]
        size_ratio = large["mailbox_total"] / small["mailbox_total"]
        time_ratio = large["p50_ms"] / small["p50_ms"]
        print(f"scaling: {small['case']} → {large['case']}: mailbox {size_ratio:.1f}x larger, "
              f"query p50 {time_ratio:.2f}x "
              f"({'sublinear' if time_ratio < size_ratio / 2 else 'NEAR-LINEAR'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, type=Target.parse,
                        help="NAME=URL,USER,PASSWORD, e.g. cyrus=http://127.0.0.1:18080,bench,pass")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--term", default=BENCHMARK_TERM, help="the text filter's word")
    parser.add_argument("--json", type=Path, help="append the rows as JSON lines to FILE")
    args = parser.parse_args(argv)
    try:
        rows = run(args.target, args.runs, args.warmup, args.term)
    except ServerLacks as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 3
    print_rows(rows)
    if args.json:
        with args.json.open("a") as f:
            for r in rows:
                f.write(json.dumps({"step": "query", **r}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
