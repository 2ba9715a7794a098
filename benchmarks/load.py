"""Load N generated messages into a JMAP account and report the Email/import rate.

    .venv/bin/python benchmarks/load.py --target cyrus=http://127.0.0.1:18080,bench,pass \\
        --count 100000 --connections 1

Creates (by Mailbox/set) the benchmark's mailboxes next to the Inbox ("Bench Archive", "Bench
Lists", ...; the Inbox itself is the mailbox with role inbox), generates the corpus
(``corpus.py``, same seed → same messages on every server), then imports it: each worker thread
uploads each message to the session's uploadUrl (or, with ``--upload blob``, sends them inside the
request with RFC 9404 Blob/upload) and calls Email/import for a batch (default 50, at most the
server's maxObjectsInSet) on its own keep-alive connection. The corpus is generated before the
clock starts, so the rate is upload + import only. Exit status 3 if the server lacks
Email/import (the message says so).
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from corpus import DEFAULT_COUNT, DEFAULT_SEED, MAILBOXES, Generated, generate
from jmapclient import BLOB, CORE, MAIL, Client, JMAPError, ServerLacks, Target, discover

MAILBOX_NAMES = {key: f"Bench {key.capitalize()}" for key, _ in MAILBOXES if key != "inbox"}


def ensure_mailboxes(client: Client) -> dict[str, str]:
    """Mailbox key → id: the Inbox by role, the others found by name or created."""
    result = client.call_one("Mailbox/get", {"ids": None})
    by_name = {m["name"]: m["id"] for m in result["list"] if not m.get("parentId")}
    ids = {}
    for m in result["list"]:
        if m.get("role") == "inbox":
            ids["inbox"] = m["id"]
    if "inbox" not in ids:
        if "Inbox" in by_name or "INBOX" in by_name:
            ids["inbox"] = by_name.get("Inbox") or by_name["INBOX"]
        else:
            MAILBOX_NAMES["inbox"] = "Inbox"
    create = {key: {"name": name, "parentId": None}
              for key, name in MAILBOX_NAMES.items() if name not in by_name and key not in ids}
    for key, name in MAILBOX_NAMES.items():
        if name in by_name:
            ids[key] = by_name[name]
    if create:
        result = client.call_one("Mailbox/set", {"create": create})
        if result.get("notCreated"):
            raise JMAPError(f"Mailbox/set did not create: {result['notCreated']}")
        for key, created in result["created"].items():
            ids[key] = created["id"]
    return ids


def mailbox_totals(client: Client, ids: dict[str, str]) -> dict[str, int]:
    result = client.call_one("Mailbox/get", {"ids": list(ids.values()),
                                             "properties": ["totalEmails"]})
    total = {m["id"]: int(m.get("totalEmails", 0)) for m in result["list"]}
    return {key: total.get(mid, 0) for key, mid in ids.items()}


def probe_import(client: Client) -> None:
    """Raise ServerLacks if the server does not know Email/import (nothing is imported)."""
    name, result, _ = client.call(
        [["Email/import", {"accountId": client.account_id, "emails": {}}, "0"]])[0]
    if name == "error" and result.get("type") in ("unknownMethod", "unknownCapability"):
        raise ServerLacks(f"{client.session.target.name}: server lacks Email/import "
                          f"({result.get('type')})")


class Loader:
    def __init__(self, target: Target, batches: list[list[Generated]], mailbox_ids: dict[str, str],
                 connections: int, upload: str, session: Any, max_seconds: float | None = None
                 ) -> None:
        self.target = target
        self.session = session
        self.mailbox_ids = mailbox_ids
        self.upload = upload
        self.work: queue.Queue[list[Generated] | None] = queue.Queue()
        for batch in batches:
            self.work.put(batch)
        for _ in range(connections):
            self.work.put(None)
        self.connections = connections
        self.lock = threading.Lock()
        self.imported = 0
        self.bytes = 0
        self.failures: list[str] = []
        self.batch_seconds: list[float] = []
        self.fatal: BaseException | None = None
        self.max_seconds = max_seconds
        self.deadline = float("inf")
        self.stopped_early = False

    def run(self) -> float:
        threads = [threading.Thread(target=self._worker, daemon=True)
                   for _ in range(self.connections)]
        started = time.perf_counter()
        if self.max_seconds:
            self.deadline = started + self.max_seconds
        for t in threads:
            t.start()
        last = started
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
            now = time.perf_counter()
            if now - last >= 10:
                last = now
                with self.lock:
                    done = self.imported
                print(f"  {done} imported, {done / (now - started):.0f}/s", file=sys.stderr,
                      flush=True)
        return time.perf_counter() - started

    def _worker(self) -> None:
        client = Client(self.session)
        try:
            while (batch := self.work.get()) is not None:
                if self.fatal is not None:
                    continue
                if time.perf_counter() > self.deadline:
                    self.stopped_early = True
                    continue
                started = time.perf_counter()
                created, failures = self._import(client, batch)
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.imported += created
                    self.bytes += sum(len(g.data) for g in batch)
                    self.failures += failures
                    self.batch_seconds.append(elapsed)
        except BaseException as error:
            self.fatal = error
        finally:
            client.close()

    def _import(self, client: Client, batch: list[Generated]) -> tuple[int, list[str]]:
        emails: dict[str, dict[str, Any]] = {}
        calls: list[list[Any]] = []
        using = [CORE, MAIL]
        if self.upload == "blob":
            using.append(BLOB)
            create = {
                f"b{g.index}": {"data": [{"data:asBase64": base64.b64encode(g.data).decode()}],
                                "type": "message/rfc822"}
                for g in batch
            }
            calls.append(["Blob/upload", {"accountId": client.account_id, "create": create}, "u"])
        for g in batch:
            blob_id = f"#b{g.index}" if self.upload == "blob" else client.upload(g.data)
            emails[f"m{g.index}"] = {
                "blobId": blob_id,
                "mailboxIds": {self.mailbox_ids[g.mailbox]: True},
                "keywords": g.keywords,
                "receivedAt": g.received_at_utc,
            }
        calls.append(["Email/import", {"accountId": client.account_id, "emails": emails}, "i"])
        responses = client.call(calls, using)
        failures = []
        for name, result, _ in responses:
            if name == "error":
                if result.get("type") in ("unknownMethod", "unknownCapability"):
                    raise ServerLacks(f"{self.target.name}: server lacks Email/import")
                failures.append(f"method error: {result}")
        result = responses[-1][1]
        for key, why in (result.get("notCreated") or {}).items():
            failures.append(f"{key}: {why}")
        return len(result.get("created") or {}), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, type=Target.parse,
                        help="NAME=URL,USER,PASSWORD, e.g. cyrus=http://127.0.0.1:18080,bench,pass")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch", type=int, default=50, help="messages per Email/import")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent connections (capped by maxConcurrentRequests)")
    parser.add_argument("--upload", choices=("http", "blob"), default="http",
                        help="http: POST each message to uploadUrl (RFC 8620 §6.1); "
                             "blob: RFC 9404 Blob/upload in the import request")
    parser.add_argument("--if-loaded", choices=("fail", "skip", "append"), default="fail",
                        help="what to do when the benchmark mailboxes already hold mail")
    parser.add_argument("--max-seconds", type=float,
                        help="stop starting new batches after this long (a smaller N for slow "
                             "servers: the account then holds the corpus's first messages)")
    parser.add_argument("--json", type=Path, help="append the result as a JSON line to FILE")
    args = parser.parse_args(argv)
    target: Target = args.target

    try:
        session = discover(target)
        client = Client(session)
        probe_import(client)
        ids = ensure_mailboxes(client)
        totals = mailbox_totals(client, ids)
    except ServerLacks as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 3
    present = sum(totals.values())
    if present:
        if args.if_loaded == "skip" and present >= args.count:
            print(f"{target.name}: already loaded ({present} messages: {totals}); skipping")
            return 0
        if args.if_loaded != "append":
            print(f"{target.name}: the benchmark mailboxes already hold {present} messages "
                  f"({totals}); use a fresh account, or --if-loaded skip/append", file=sys.stderr)
            return 2
    batch_size = min(args.batch, session.limit("maxObjectsInSet", args.batch))
    connections = min(args.connections, session.limit("maxConcurrentRequests", args.connections))
    if args.upload == "blob" and not session.has_blob_upload:
        print(f"FAILED: {target.name}: server lacks {BLOB} (Blob/upload)", file=sys.stderr)
        return 3

    print(f"{target.name}: generating {args.count} messages (seed {args.seed})...",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    batches: list[list[Generated]] = []
    for g in generate(args.count, args.seed):
        if not batches or len(batches[-1]) >= batch_size:
            batches.append([])
        batches[-1].append(g)
    total_bytes = sum(len(g.data) for b in batches for g in b)
    print(f"  generated {total_bytes / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s; "
          f"importing in batches of {batch_size} over {connections} connections "
          f"({args.upload} upload)", file=sys.stderr, flush=True)

    loader = Loader(target, batches, ids, connections, args.upload, session, args.max_seconds)
    seconds = loader.run()
    if isinstance(loader.fatal, ServerLacks):
        print(f"FAILED: {loader.fatal}", file=sys.stderr)
        return 3
    if loader.fatal is not None:
        print(f"FAILED: {target.name}: {loader.fatal!r}", file=sys.stderr)
        return 1
    batch_ms = sorted(s * 1000 for s in loader.batch_seconds)
    result = {
        "server": target.name, "step": "import", "count": args.count, "seed": args.seed,
        "imported": loader.imported, "stopped_early": loader.stopped_early,
        "failed": len(loader.failures), "seconds": round(seconds, 2),
        "messages_per_s": round(loader.imported / seconds, 1),
        "mb_per_s": round(loader.bytes / seconds / 1e6, 2),
        "batch": batch_size, "connections": connections, "upload": args.upload,
        "batch_ms_p50": round(statistics.median(batch_ms), 1),
        "batch_ms_p95": round(batch_ms[int(len(batch_ms) * 0.95)], 1),
        "mailboxes": mailbox_totals(client, ids),
    }
    client.close()
    print(f"{target.name}: imported {loader.imported}/{args.count} messages "
          f"({loader.bytes / 1e6:.0f} MB) in {seconds:.1f} s = {result['messages_per_s']} "
          f"messages/s, {result['mb_per_s']} MB/s; batch of {batch_size}: "
          f"p50 {result['batch_ms_p50']} ms, p95 {result['batch_ms_p95']} ms; "
          f"{len(loader.failures)} failed"
          + (" (stopped by --max-seconds)" if loader.stopped_early else ""))
    for failure in loader.failures[:5]:
        print(f"  not created: {failure}", file=sys.stderr)
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return 1 if loader.failures else 0


if __name__ == "__main__":
    sys.exit(main())
