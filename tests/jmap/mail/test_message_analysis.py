"""Analysing a message (parse + full-text postings) happens off the reactor thread."""

from __future__ import annotations

import threading

import pytest
import pytest_twisted
from twisted.internet import reactor

from stalwart_tx.jmap.mail import message_analysis
from stalwart_tx.jmap.mail.message_analysis import analyze, analyze_message


def big_message() -> bytes:
    text = b"Plenty of words to index in this message body.\r\n" * 120_000  # about 6 MB
    return b"From: a@example.com\r\nSubject: Big\r\n\r\n" + text


@pytest_twisted.ensureDeferred
async def test_the_reactor_keeps_running_while_a_big_message_is_analysed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The analysis waits until the reactor has run a timed call; that can only happen if the
    # reactor is free while the analysis runs (on the reactor thread it would wait in vain).
    raw = big_message()
    reactor_ran = threading.Event()
    real = message_analysis.parse_message

    def waiting_for_the_reactor(message: bytes) -> object:
        reactor_ran.wait(timeout=10)
        return real(message)

    monkeypatch.setattr(message_analysis, "parse_message", waiting_for_the_reactor)
    reactor.callLater(0.01, reactor_ran.set)
    analyzed = await analyze(reactor, raw)
    assert reactor_ran.is_set()
    monkeypatch.undo()
    again = analyze_message(raw)
    assert (analyzed.fields, analyzed.postings) == (again.fields, again.postings)
    assert analyzed.size == len(raw)
    assert "Email:term:subject:big" in analyzed.postings


@pytest_twisted.ensureDeferred
async def test_analysis_runs_on_a_pool_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = message_analysis.parse_message

    def recording(raw: bytes) -> object:
        seen.append(threading.get_ident())
        return real(raw)

    monkeypatch.setattr(message_analysis, "parse_message", recording)
    await message_analysis.parse(reactor, b"Subject: x\r\n\r\nbody\r\n")
    await analyze(reactor, b"Subject: y\r\n\r\nbody\r\n")
    assert len(seen) == 2 and threading.get_ident() not in seen
