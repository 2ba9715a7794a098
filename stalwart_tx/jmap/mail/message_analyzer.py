"""Who analyses a message before it is stored: the ``MessageAnalyzer`` boundary.

Storing an email (Email/import, Email/set create, Email/copy) needs ``analyze_message`` of its
bytes. The service analyses in worker processes (``analysis_workers``) so imports use every
core; ``ThreadAnalyzer`` runs it on the reactor's thread pool (one core, because of the GIL) and
is both the default where nothing is configured and the workers' fallback.
"""

from __future__ import annotations

from typing import Any, Protocol

from stalwart_tx.jmap.mail.message_analysis import AnalyzedMessage, analyze


class MessageAnalyzer(Protocol):
    async def analyze(self, raw: bytes) -> AnalyzedMessage:
        """``analyze_message(raw)``, computed off the reactor thread; never fails."""
        ...


class ThreadAnalyzer:
    """``analyze_message`` on the reactor's thread pool."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    async def analyze(self, raw: bytes) -> AnalyzedMessage:
        return await analyze(self.reactor, raw)


def analyzer_or_default(analyzer: MessageAnalyzer | None, reactor: Any) -> MessageAnalyzer:
    """The configured analyzer, or the thread pool of the request's reactor when none is."""
    return ThreadAnalyzer(reactor) if analyzer is None else analyzer
