"""Messages analysed in real worker processes: same results as in-process, deaths, stopping."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.mail.analysis_workers import WORKER_MODULE, AnalysisWorkers
from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage, analyze_message
from stalwart_tx.jmap.mail.message_analyzer import MessageAnalyzer, ThreadAnalyzer
from tests.service_process import pid_alive

GOLDEN = Path(__file__).parents[2] / "mail" / "golden"


def golden_messages() -> list[bytes]:
    return [path.read_bytes() for path in sorted(GOLDEN.glob("*.eml"))]


def garbage(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def big_message(megabytes: int = 8) -> bytes:
    line = b"Plenty of words to index in this rather large message body.\r\n"
    text = line * (megabytes * 1024 * 1024 // len(line))
    return b"From: a@example.com\r\nSubject: Big\r\n\r\n" + text


def numbered(count: int) -> list[bytes]:
    """``count`` different messages, the golden ones with a distinct subject line each."""
    golden = golden_messages()
    return [b"Subject: number %d\r\n" % i + golden[i % len(golden)] for i in range(count)]


def worker_children(parent: int | None = None) -> list[int]:
    """Live analysis worker processes whose parent is ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and WORKER_MODULE.encode() in command:
            found.append(int(entry.name))
    return found


Started = Callable[..., AnalysisWorkers]


@pytest_twisted.async_yield_fixture
async def start_workers() -> AsyncIterator[Started]:
    started: list[AnalysisWorkers] = []

    def start(count: int, **options: str) -> AnalysisWorkers:
        workers = AnalysisWorkers(reactor, count, **options)
        workers.startService()
        started.append(workers)
        return workers

    yield start
    for workers in started:
        if workers.running:
            await workers.stopService()


async def analysed_all(analyzer: MessageAnalyzer, messages: list[bytes]) -> list[AnalyzedMessage]:
    return list(await gather(*(analyzer.analyze(raw) for raw in messages)))


def check(results: list[AnalyzedMessage], messages: list[bytes]) -> None:
    assert len(results) == len(messages)
    for raw, result in zip(messages, results, strict=True):
        assert result == analyze_message(raw)


def test_thread_analyzer_and_workers_are_message_analyzers() -> None:
    analyzers: list[MessageAnalyzer] = [ThreadAnalyzer(reactor), AnalysisWorkers(reactor, 1)]
    assert all(callable(a.analyze) for a in analyzers)


@pytest_twisted.ensureDeferred
async def test_results_equal_the_in_process_analysis(start_workers: Started) -> None:
    workers = start_workers(2)
    assert workers.pids == ()  # nothing runs before the first analysis
    messages = [*golden_messages(), b"", garbage(100_000), garbage(3), big_message()]
    check(await analysed_all(workers, messages), messages)
    assert len(workers.pids) >= 1
    assert sum(workers.answers_by_pid.values()) == len(messages)


@pytest_twisted.ensureDeferred
async def test_what_an_answer_sets_off_runs_in_one_send_batch(start_workers: Started) -> None:
    # the caller goes on inside the delivery of the answer: its Redis commands (an import's
    # reads, side by side) are then held and leave together
    from stalwart_tx import send_now

    workers = start_workers(1)
    await workers.analyze(golden_messages()[0])
    assert send_now._depth > 0
    await deferLater(reactor, 0, lambda: None)
    assert send_now._depth == 0


@pytest_twisted.ensureDeferred
async def test_a_hundred_at_once_use_both_workers(start_workers: Started) -> None:
    workers = start_workers(2)
    messages = numbered(100)
    check(await analysed_all(workers, messages), messages)
    assert len(workers.pids) == 2
    assert set(workers.answers_by_pid) == set(workers.pids)
    assert all(count > 0 for count in workers.answers_by_pid.values())
    assert sum(workers.answers_by_pid.values()) == 100


@pytest_twisted.ensureDeferred
async def test_a_killed_worker_loses_no_analysis_and_is_replaced(start_workers: Started) -> None:
    workers = start_workers(1)
    body = b"words and more words\r\n" * 20_000
    messages = [b"Subject: %d\r\n\r\n" % i + body for i in range(20)]
    pending = Deferred.fromCoroutine(analysed_all(workers, messages))
    [killed] = workers.pids
    os.kill(killed, signal.SIGKILL)
    check(await pending, messages)
    later = b"Subject: later\r\n\r\nstill analysed in a worker\r\n"
    assert await workers.analyze(later) == analyze_message(later)
    [replacement] = workers.pids
    assert replacement != killed and not pid_alive(killed)
    assert workers.answers_by_pid.get(replacement, 0) >= 1


@pytest_twisted.ensureDeferred
async def test_workers_that_keep_dying_leave_it_to_the_fallback(start_workers: Started) -> None:
    workers = start_workers(1)
    for i in range(3):
        raw = b"Subject: doomed %d\r\n\r\nbody\r\n" % i
        pending = Deferred.fromCoroutine(workers.analyze(raw))
        [pid] = workers.pids
        os.kill(pid, signal.SIGKILL)
        assert await pending == analyze_message(raw)
    assert workers.pids == ()
    messages = numbered(10)
    check(await analysed_all(workers, messages), messages)
    assert workers.pids == () and worker_children() == []


@pytest_twisted.ensureDeferred
async def test_a_worker_that_cannot_start_leaves_it_to_the_fallback(
    start_workers: Started, tmp_path: Path
) -> None:
    workers = start_workers(2, executable=str(tmp_path / "no-such-python"))
    messages = numbered(5)
    check(await analysed_all(workers, messages), messages)
    assert workers.answers_by_pid == {}


@pytest_twisted.ensureDeferred
async def test_stopping_ends_every_worker(start_workers: Started) -> None:
    workers = start_workers(2)
    messages = numbered(40)
    check(await analysed_all(workers, messages), messages)
    pids = workers.pids
    assert len(pids) == 2 and sorted(worker_children()) == sorted(pids)
    # requests in flight when the service stops are still answered
    in_flight = numbered(10)
    pending = Deferred.fromCoroutine(analysed_all(workers, in_flight))
    await workers.stopService()
    check(await pending, in_flight)
    assert not any(pid_alive(pid) for pid in pids)
    assert worker_children() == []
    # after the stop, analyses run in threads and start nothing
    check(await analysed_all(workers, messages[:3]), messages[:3])
    assert workers.pids == () and worker_children() == []


@pytest_twisted.ensureDeferred
async def test_no_workers_means_threads_only(start_workers: Started) -> None:
    workers = start_workers(0)
    messages = [*numbered(10), b"", garbage(1000)]
    check(await analysed_all(workers, messages), messages)
    assert workers.pids == () and workers.answers_by_pid == {}
    assert worker_children() == []


@pytest_twisted.ensureDeferred
async def test_the_reactor_runs_while_a_worker_analyses_a_big_message(
    start_workers: Started,
) -> None:
    workers = start_workers(1)
    await workers.analyze(b"Subject: warm-up\r\n\r\n")
    [pid] = workers.pids
    raw = big_message()
    # A stopped worker cannot read or answer: the 8 MB stay in the pipe and the parent's buffer.
    # The reactor must still run a timed call, and the analysis completes once it continues.
    os.kill(pid, signal.SIGSTOP)
    try:
        pending = Deferred.fromCoroutine(workers.analyze(raw))
        await deferLater(reactor, 0.05, lambda: None)
        assert not pending.called
    finally:
        os.kill(pid, signal.SIGCONT)
    assert await pending == analyze_message(raw)
    assert workers.pids == (pid,)


@pytest_twisted.ensureDeferred
async def test_workers_import_the_parents_package_whatever_the_directory(
    start_workers: Started, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stalwart_tx in the current directory that would break any analysis imported from it
    decoy = tmp_path / "stalwart_tx"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise SystemExit('the wrong stalwart_tx')\n")
    monkeypatch.chdir(tmp_path)
    workers = start_workers(1)
    messages = numbered(3)
    check(await analysed_all(workers, messages), messages)
    assert sum(workers.answers_by_pid.values()) == 3
