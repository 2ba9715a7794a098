"""The same IMAP workload driven at stalwart-tx and at Dovecot: commands/s, sessions/s, the ratio.

    .venv/bin/python benchmarks/imap_load.py                      # both, 10 clients, 20 s a phase
    .venv/bin/python benchmarks/imap_load.py --only stalwart --duration 5 --clients 2
    .venv/bin/python benchmarks/imap_load.py --profile /tmp/imap.txt   # py-spy on stalwart-tx

Each server is started fresh: stalwart-tx as ``twistd -n stalwart`` on a new ``--data`` directory
(embedded Redis, JMAP and IMAP on free loopback ports, ``--imap-processes`` one per CPU unless
given, user ``bench`` made with stalwart-admin);
Dovecot with ``../shared/peers/dovecot.sh start PORT`` (any user, password ``pass``; a new user
name per run, so its maildir starts empty; a Dovecot already running from that script is used as
it is and left running). Then, one server after the other:

1. seed: one session creates the mailboxes the other server has (Archive, Drafts, Junk, Sent,
   Trash) and APPENDs the first ``--messages`` messages of the benchmark corpus (``corpus.py``)
   to INBOX with their flags and dates;
2. sessions: ``--clients`` sessions, logged in and INBOX selected beforehand, each looping for
   ``--duration`` seconds over LIST, STATUS INBOX, SELECT INBOX, FETCH 1:N (UID FLAGS), FETCH of
   a page of 20 (UID ENVELOPE), FETCH BODY.PEEK[] of one message, STORE +FLAGS and -FLAGS
   (\\Flagged) on it, APPEND of a small message, UID STORE +FLAGS (\\Deleted) on the UID its
   APPENDUID gave, EXPUNGE: 11 commands, the mailbox back to its size. Client i's iteration j works
   on message (i + clients * j) mod N + 1, so both servers get the same byte stream. Only the N
   seeded messages are fetched (1:N, not 1:*): the appended ones come and go, and a FETCH naming
   one that another session has just expunged may be refused (NO [EXPUNGEISSUED], RFC 2180
   4.1.2), which would make the count depend on timing;
3. login/logout: ``--clients`` clients each looping connect, LOGIN, SELECT INBOX, LOGOUT.

The client is asyncio on plain sockets in this process: one command at a time per session, no
pipelining, synchronizing literals (the client waits for ``+`` before sending an APPEND's
message). Every tagged OK counts as a command; a tagged NO or BAD, or a connection that closes, is
an error, counted per command with the first responses printed. Reported per server and phase:
commands/s (sessions/s for the login phase), mean latency per command, CPU seconds the server's
processes used per 1,000 commands (the server's process tree, children included) and the client's
own CPU; then the ratio stalwart/dovecot. Exit status 0 when no phase had errors, 1 when one did,
2 when a server could not be started or seeded (the command and its answer are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from corpus import generate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
DOVECOT_SH = REPO.parent / "shared" / "peers" / "dovecot.sh"
PEER_DIR = Path(os.environ.get("PEER_DIR", "/tmp/stalwart-peers")) / "dovecot"
MAILBOXES = ("Archive", "Drafts", "Junk", "Sent", "Trash")
FLAGS = {"$seen": "\\Seen", "$flagged": "\\Flagged", "$answered": "\\Answered"}
PAGE = 20
TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LITERAL = re.compile(rb"\{(\d+)\}$")


class SetupError(Exception):
    """A server could not be started or seeded; the message has the command and the answer."""


class Closed(Exception):
    """The server closed the connection; the argument is the last bytes it sent."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def repo_env() -> dict[str, str]:
    env = dict(os.environ)
    # The source tree first, so that its package and twisted/plugins are the ones that run.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def greets(port: int) -> bytes:
    """The server's greeting on 127.0.0.1:port, or b"" if nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(4096)
    except OSError:
        return b""


def logs_in(port: int, user: str, password: str) -> bytes:
    """The answer to a LOGIN on 127.0.0.1:port (b"" if the server does not answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            stream = sock.makefile("rb")
            if not stream.readline().startswith(b"* OK"):
                return b""
            sock.sendall(b'r1 LOGIN "%s" "%s"\r\n' % (user.encode(), password.encode()))
            while not (line := stream.readline()).startswith(b"r1 "):
                if not line:
                    return b""
            sock.sendall(b"r2 LOGOUT\r\n")
            return line.strip()
    except OSError:
        return b""


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants, plus those of their reaped children."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        stats[int(entry)] = (int(fields[1]), ticks / CLOCK_TICKS)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo.extend(children.get(pid, ()))
    return total


class Server(ABC):
    """A server under test: one of the two the run compares."""

    name = ""
    user = ""
    password = ""
    port = 0

    @abstractmethod
    def start(self) -> None:
        """Start it fresh and return once a LOGIN succeeds."""

    @abstractmethod
    def pid(self) -> int:
        """The process whose tree's CPU is the server's."""

    @abstractmethod
    def stop(self) -> None:
        """Stop what ``start`` started (also after a failure part way)."""


class Stalwart(Server):
    """``twistd -n stalwart`` on a fresh data directory, embedded Redis, one user."""

    name = "stalwart-tx"

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self.data = Path(tempfile.mkdtemp(prefix="stalwart-imap-bench-"))
        self.user, self.password = "bench", "bench-password-1234"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

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
             "--jmap", f"tcp:{free_port()}:interface=127.0.0.1",
             "--imap", f"tcp:{self.port}:interface=127.0.0.1",
             "--imap-processes", str(self.processes)],
            cwd=self.data, stdout=log, stderr=subprocess.STDOUT, env=repo_env())
        # Ready when a LOGIN succeeds: the listener greets before the store is reachable, and a
        # LOGIN then answers NO [UNAVAILABLE].
        deadline = time.monotonic() + 60
        while not (answer := logs_in(self.port, self.user, self.password)).startswith(b"r1 OK"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SetupError(f"stalwart-tx did not start (LOGIN: {answer!r}); log in "
                                 f"{self.data}/service.log")
            time.sleep(0.3)
        print(f"stalwart-tx: IMAP 127.0.0.1:{self.port} (twistd pid {self.process.pid}, "
              f"{self.processes} IMAP processes, data {self.data})", file=sys.stderr, flush=True)

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data, ignore_errors=True)


class Dovecot(Server):
    """Dovecot from the peers script; a new user per run, its maildir removed at the end."""

    name = "dovecot"

    def __init__(self) -> None:
        self.user, self.password = f"bench{os.getpid()}x{int(time.time())}", "pass"
        self.started = False

    def running_port(self) -> int | None:
        """The port of a Dovecot the peers script already runs, if one does."""
        try:
            os.kill(int((PEER_DIR / "run" / "master.pid").read_text()), 0)
            config = (PEER_DIR / "dovecot.conf").read_text()
        except (OSError, ValueError):
            return None
        found = re.search(r"inet_listener imap \{\s*address = [^\n]*\n\s*port = (\d+)", config)
        return int(found.group(1)) if found else None

    def start(self) -> None:
        port = self.running_port()
        if port is None:
            port = free_port()
            self.started = True  # stopped at the end even if the script fails half way
            # Not a pipe: the daemon inherits the script's output and would hold a pipe open.
            with tempfile.TemporaryFile() as output:
                done = subprocess.run([str(DOVECOT_SH), "start", str(port)], stdout=output,
                                      stderr=subprocess.STDOUT, check=False)
                output.seek(0)
                said = output.read().decode(errors="replace").strip()
            if done.returncode != 0:
                raise SetupError(f"{DOVECOT_SH} start {port} failed: {said}")
        self.port = port
        deadline = time.monotonic() + 30
        while not greets(port).startswith(b"* OK"):
            if time.monotonic() > deadline:
                raise SetupError(f"dovecot does not answer on 127.0.0.1:{port}")
            time.sleep(0.3)
        print(f"dovecot: IMAP 127.0.0.1:{port} (master pid {self.pid()}, user {self.user}, "
              f"{'started' if self.started else 'already running'})", file=sys.stderr,
              flush=True)

    def pid(self) -> int:
        return int((PEER_DIR / "run" / "master.pid").read_text())

    def stop(self) -> None:
        if self.started:
            subprocess.run([str(DOVECOT_SH), "stop"], capture_output=True, check=False)
            self.started = False
        shutil.rmtree(PEER_DIR / "mail" / self.user, ignore_errors=True)


@dataclass
class Reply:
    status: bytes  # OK, NO or BAD
    tagged: bytes  # the tagged line
    untagged: bytes  # everything before it


class Imap:
    """One IMAP connection: a command at a time, the response read until its tagged line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()
        self.tags = 0

    @classmethod
    async def connect(cls, port: int) -> tuple[Imap, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        client = cls(reader, writer)
        return client, await client.line()

    def close(self) -> None:
        self.writer.close()

    async def fill(self) -> None:
        data = await self.reader.read(1 << 18)
        if not data:
            raise Closed(bytes(self.buffer[-400:]))
        self.buffer += data

    async def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self.fill()
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        return line

    async def command(self, text: bytes, literal: bytes | None = None) -> Reply:
        self.tags += 1
        tag = b"a%d" % self.tags
        if literal is None:
            self.writer.write(b"%s %s\r\n" % (tag, text))
        else:
            self.writer.write(b"%s %s {%d}\r\n" % (tag, text, len(literal)))
            while not (line := await self.line()).startswith(b"+"):
                if line.startswith(tag + b" "):  # the literal refused
                    return Reply(line.split(b" ", 2)[1], line, b"")
            self.writer.write(literal + b"\r\n")
        return await self.response(tag)

    async def response(self, tag: bytes) -> Reply:
        """Read up to the tagged line, skipping literals (which may hold any bytes)."""
        marker = b"\r\n" + tag + b" "
        buffer = self.buffer
        scanned = 0  # nothing before this is a tagged line or an unskipped literal
        after_literal = 0  # where the last skipped literal ended
        while True:
            if scanned == 0 and buffer.startswith(tag + b" "):
                start = 0
            else:
                found = buffer.find(marker, scanned)
                start = found + 2 if found >= 0 else -1
            brace = buffer.find(b"}\r\n", scanned)
            if brace >= 0 and (start < 0 or brace < start):
                opening = buffer.rfind(b"{", max(after_literal, brace - 12), brace)
                if opening >= 0 and buffer[opening + 1:brace].isdigit():
                    end = brace + 3 + int(buffer[opening + 1:brace])
                    while len(buffer) < end:
                        await self.fill()
                    scanned = after_literal = end
                else:
                    scanned = brace + 1
                continue
            if start >= 0:
                end = buffer.find(b"\r\n", start)
                if end >= 0:
                    tagged = bytes(buffer[start:end])
                    untagged = bytes(buffer[:start])
                    del buffer[:end + 2]
                    return Reply(tagged.split(b" ", 2)[1], tagged, untagged)
            else:
                scanned = max(scanned, after_literal, len(buffer) - len(marker))
            await self.fill()


@dataclass
class Phase:
    """What one phase at one server did."""

    ok: dict[str, int] = field(default_factory=dict)  # tagged OKs per command
    timed: dict[str, list[float]] = field(default_factory=dict)  # command: [answers, seconds]
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    sessions: int = 0
    ready: int = 0  # clients logged in and waiting for the clock
    elapsed: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def commands(self) -> int:
        return sum(self.ok.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def time(self, name: str, seconds: float) -> None:
        timed = self.timed.setdefault(name, [0, 0.0])
        timed[0] += 1
        timed[1] += seconds

    def error(self, name: str, text: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(text)

    async def run(self, client: Imap, name: str, text: bytes,
                  literal: bytes | None = None) -> Reply | None:
        began = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT):
                reply = await client.command(text, literal)
        except (Closed, OSError, TimeoutError) as failure:
            last = failure.args[0] if isinstance(failure, Closed) else repr(failure)
            self.error(name, f"{name}: {text[:80]!r}: connection lost: {last!r}")
            raise Closed(last) from None
        self.time(name, time.perf_counter() - began)
        if reply.status != b"OK":
            self.error(name, f"{name}: {text[:80]!r} -> {reply.tagged[:300]!r}")
            return None
        self.ok[name] = self.ok.get(name, 0) + 1
        return reply


async def setup_command(server: Server, client: Imap, text: bytes,
                        literal: bytes | None = None) -> Reply:
    reply = await client.command(text, literal)
    if reply.status != b"OK":
        raise SetupError(f"{server.name}: {text[:200]!r} answered {reply.tagged!r}")
    return reply


def login(server: Server) -> bytes:
    return b'LOGIN "%s" "%s"' % (server.user.encode(), server.password.encode())


async def seed(server: Server, count: int) -> None:
    """The same mailboxes and the same ``count`` messages in INBOX at every server."""
    client, _ = await Imap.connect(server.port)
    try:
        await setup_command(server, client, login(server))
        capabilities = (await setup_command(server, client, b"CAPABILITY")).untagged
        if b"UIDPLUS" not in capabilities:
            raise SetupError(f"{server.name} lacks UIDPLUS (APPENDUID): {capabilities!r}")
        listed = (await setup_command(server, client, b'LIST "" "*"')).untagged
        for name in MAILBOXES:
            if f'"{name}"'.encode() not in listed and f" {name}\r\n".encode() not in listed:
                await setup_command(server, client, b'CREATE "%s"' % name.encode())
        selected = await setup_command(server, client, b"SELECT INBOX")
        if b"* 0 EXISTS" not in selected.untagged:
            raise SetupError(f"{server.name}: INBOX is not empty: {selected.untagged!r}")
        for message in generate(count):
            flags = " ".join(FLAGS[k] for k in sorted(message.keywords) if k in FLAGS)
            date = message.received_at.strftime("%d-%b-%Y %H:%M:%S +0000")
            await setup_command(server, client, b'APPEND INBOX (%s) "%s"'
                                % (flags.encode(), date.encode()), message.data)
        status = await setup_command(server, client, b"STATUS INBOX (MESSAGES)")
        if b"MESSAGES %d)" % count not in status.untagged:
            raise SetupError(f"{server.name}: after seeding {status.untagged!r}")
        await client.command(b"LOGOUT")
    finally:
        client.close()


def small_message(client: int, iteration: int) -> bytes:
    lines = [
        "From: Load Tester <load@example.com>",
        "To: Bench <bench@example.com>",
        f"Subject: load test {client}.{iteration}",
        "Date: Sun, 29 Nov 2026 04:00:00 +0000",
        f"Message-ID: <load-{client}-{iteration}@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        *(["A small message appended, flagged deleted and expunged again."] * 8),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


async def session_client(server: Server, phase: Phase, index: int, clients: int, count: int,
                         start: asyncio.Event, stop: list[float]) -> None:
    client, _ = await Imap.connect(server.port)
    try:
        await setup_command(server, client, login(server))
        await setup_command(server, client, b"SELECT INBOX")
        phase.ready += 1
        await start.wait()
        iteration = 0
        while time.monotonic() < stop[0]:
            k = index + clients * iteration
            seq = k % count + 1
            first = (k * PAGE) % count + 1
            last = min(first + PAGE - 1, count)
            await phase.run(client, "LIST", b'LIST "" "*"')
            await phase.run(client, "STATUS",
                            b"STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
            await phase.run(client, "SELECT", b"SELECT INBOX")
            await phase.run(client, "FETCH FLAGS", b"FETCH 1:%d (UID FLAGS)" % count)
            await phase.run(client, "FETCH ENVELOPE", b"FETCH %d:%d (UID ENVELOPE)" % (first, last))
            await phase.run(client, "FETCH BODY", b"FETCH %d (BODY.PEEK[])" % seq)
            await phase.run(client, "STORE +FLAGS", b"STORE %d +FLAGS (\\Flagged)" % seq)
            await phase.run(client, "STORE -FLAGS", b"STORE %d -FLAGS (\\Flagged)" % seq)
            appended = await phase.run(client, "APPEND", b"APPEND INBOX (\\Seen)",
                                       small_message(index, iteration))
            uid = APPENDUID.search(appended.tagged) if appended else None
            if uid:
                await phase.run(client, "UID STORE \\Deleted",
                                b"UID STORE %s +FLAGS (\\Deleted)" % uid.group(1))
                await phase.run(client, "EXPUNGE", b"EXPUNGE")
            elif appended:
                phase.error("APPEND", f"APPEND: no APPENDUID in {appended.tagged!r}")
            iteration += 1
        await client.command(b"LOGOUT")
    except Closed:
        return  # Phase.run counted the dropped connection; this client is done
    finally:
        client.close()


async def login_client(server: Server, phase: Phase, start: asyncio.Event,
                       stop: list[float]) -> None:
    phase.ready += 1
    await start.wait()
    while time.monotonic() < stop[0]:
        try:
            began = time.perf_counter()
            client, greeting = await Imap.connect(server.port)
            phase.time("connect", time.perf_counter() - began)
        except OSError as failure:
            phase.error("connect", f"connect: {failure!r}")
            await asyncio.sleep(0.1)
            continue
        try:
            if not greeting.startswith(b"* OK"):
                phase.error("connect", f"connect: greeting {greeting!r}")
                continue
            if not await phase.run(client, "LOGIN", login(server)):
                continue
            await phase.run(client, "SELECT", b"SELECT INBOX")
            if await phase.run(client, "LOGOUT", b"LOGOUT"):
                phase.sessions += 1
        except Closed:
            pass
        finally:
            client.close()


async def measure(server: Server, clients: int, duration: float,
                  make: Callable[[Phase, asyncio.Event, list[float]], list[Awaitable[None]]],
                  on_start: Callable[[], None] | None = None) -> Phase:
    phase = Phase()
    start = asyncio.Event()
    stop = [float("inf")]
    tasks = [asyncio.ensure_future(c) for c in make(phase, start, stop)]
    deadline = time.monotonic() + 120
    while phase.ready < clients:  # the sessions log in and select before the clock starts
        for task in tasks:
            if task.done() and task.exception():
                raise SetupError(f"{server.name}: {task.exception()!r}")
        if time.monotonic() > deadline:
            raise SetupError(f"{server.name}: {phase.ready} of {clients} sessions logged in")
        await asyncio.sleep(0.05)
    if on_start:
        on_start()
    cpu_before, client_before = tree_cpu(server.pid()), time.process_time()
    began = time.monotonic()
    stop[0] = began + duration
    start.set()
    await asyncio.gather(*tasks)
    phase.elapsed = time.monotonic() - began
    phase.server_cpu = tree_cpu(server.pid()) - cpu_before
    phase.client_cpu = time.process_time() - client_before
    return phase


def summary(server: Server, label: str, phase: Phase, clients: int) -> dict[str, object]:
    commands = phase.commands
    return {
        "server": server.name, "phase": label, "clients": clients,
        "seconds": round(phase.elapsed, 2), "commands": commands,
        "commands_per_s": round(commands / phase.elapsed, 1),
        "sessions": phase.sessions, "sessions_per_s": round(phase.sessions / phase.elapsed, 1),
        "errors": phase.error_count, "errors_by_command": phase.errors,
        "server_cpu_s": round(phase.server_cpu, 2), "client_cpu_s": round(phase.client_cpu, 2),
        "server_cpu_ms_per_1000": round(1e6 * phase.server_cpu / max(commands, 1), 1),
        "mean_ms": {name: round(1000 * seconds / answers, 2)
                    for name, (answers, seconds) in phase.timed.items()},
    }


def report(row: dict[str, object], phase: Phase) -> None:
    if row["phase"] == "sessions":
        rate = f"{row['commands_per_s']:>8} commands/s"
    else:
        rate = f"{row['sessions_per_s']:>8} sessions/s ({row['commands_per_s']} commands/s)"
    print(f"{row['server']:<12} {row['phase']:<13} {rate}  {row['commands']} commands in "
          f"{row['seconds']} s, {row['clients']} clients, {row['errors']} errors; server CPU "
          f"{row['server_cpu_s']} s ({row['server_cpu_ms_per_1000']} ms per 1,000 commands), "
          f"client CPU {row['client_cpu_s']} s")
    means = row["mean_ms"]
    assert isinstance(means, dict)
    print("    mean ms: " + ", ".join(f"{name} {ms}" for name, ms in means.items()))
    if phase.error_count:
        print(f"    ERRORS: {phase.errors}")
        for sample in phase.samples:
            print(f"      {sample}")
    sys.stdout.flush()


def start_profile(out: Path, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    py_spy = str(Path(PYTHON).with_name("py-spy"))
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--subprocesses", "--duration",
                             str(max(1, int(seconds))), "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def bench(server: Server, args: argparse.Namespace) -> list[dict[str, object]]:
    await seed(server, args.messages)
    profiler: list[subprocess.Popen[bytes]] = []

    def profile() -> None:
        if args.profile and isinstance(server, Stalwart):
            profiler.append(start_profile(args.profile, server.pid(), args.duration))

    sessions = await measure(
        server, args.clients, args.duration,
        lambda phase, start, stop: [
            session_client(server, phase, i, args.clients, args.messages, start, stop)
            for i in range(args.clients)],
        profile)
    for process in profiler:
        process.wait(60)
    rows = [summary(server, "sessions", sessions, args.clients)]
    report(rows[-1], sessions)
    logins = await measure(
        server, args.clients, args.duration,
        lambda phase, start, stop: [login_client(server, phase, start, stop)
                                    for _ in range(args.clients)])
    rows.append(summary(server, "login/logout", logins, args.clients))
    report(rows[-1], logins)
    return rows


def mean_of(rows: list[dict[str, object]], server: str, phase: str, key: str) -> float | None:
    """The mean of ``key`` over the rounds' rows of that server and phase (None: none)."""
    found = [float(row[key]) for row in rows  # type: ignore[arg-type]
             if row["server"] == server and row["phase"] == phase]
    return sum(found) / len(found) if found else None


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200, help="messages seeded into INBOX")
    parser.add_argument("--only", choices=["stalwart", "dovecot"])
    parser.add_argument("--imap-processes", type=int, default=os.cpu_count() or 1,
                        help="stalwart-tx's imap-processes (default: one per CPU)")
    parser.add_argument("--profile", type=Path,
                        help="py-spy raw profile of stalwart-tx during its sessions phase")
    parser.add_argument("--json", type=Path, help="append one JSON line per server and phase")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure both servers this many times, in turn first, and give "
                             "the ratio of the means (single runs move with the machine's phase)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    signal.signal(signal.SIGTERM, interrupted)
    makers: list[Callable[[], Server]] = []
    if args.only != "dovecot":
        makers.append(lambda: Stalwart(args.imap_processes))
    if args.only != "stalwart":
        makers.append(Dovecot)
    print(f"{args.clients} clients, {args.duration:g} s per phase, {args.messages} messages in "
          f"INBOX, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    rows: list[dict[str, object]] = []
    for round_number in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_number + 1} of {args.rounds}", flush=True)
        # odd rounds reverse the order, so each server is as often first as second
        for make in makers if round_number % 2 == 0 else makers[::-1]:
            server = make()
            try:
                server.start()
                rows += [{**row, "round": round_number + 1}
                         for row in asyncio.run(bench(server, args))]
            except SetupError as failure:
                print(f"{server.name}: FAILED: {failure}", flush=True)
                return 2
            finally:
                server.stop()
    if args.json:
        with args.json.open("a") as out:
            for row in rows:
                out.write(json.dumps({"benchmark": "imap_load", **row}) + "\n")
    for label, key in (("sessions", "commands_per_s"), ("login/logout", "sessions_per_s")):
        ours = mean_of(rows, "stalwart-tx", label, key)
        theirs = mean_of(rows, "dovecot", label, key)
        if ours is not None and theirs is not None:
            ratio = ours / max(theirs, 1e-9)
            means = f" (means of {args.rounds} rounds: {ours:.1f} / {theirs:.1f})" \
                if args.rounds > 1 else ""
            print(f"ratio stalwart/dovecot, {label} {key.replace('_per_s', '/s')}: "
                  f"{ratio:.2f}x{means}")
    errors = sum(int(row["errors"]) for row in rows)  # type: ignore[call-overload]
    if errors:
        print(f"THIS RUN HAD {errors} ERRORS (see above)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
