"""The child side of ``analysis_workers``: analyse each message framed on stdin, answer on stdout.

A frame is a 4-byte big-endian length and that many bytes. Each message frame read from stdin
is answered, in order, by a frame of the pickled tuple of the fields of its ``analyze_message``
(``fields``, ``postings``... in the order the AnalyzedMessage dataclass declares them). End of
input at a frame boundary is a clean exit (status 0); anything else (a truncated frame, an
exception) exits non-zero so the parent re-analyses what was outstanding.

Only frames may reach the parent's end of fd 1, so the frames go to a private duplicate of it and
fd 1 itself (with ``sys.stdout``) is pointed at stderr, which the parent logs: a stray print, or a
C library writing to stdout, cannot corrupt the stream.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
from typing import Any, BinaryIO

HEADER_SIZE = 4


def as_values(analyzed: Any) -> tuple[Any, ...]:
    """An AnalyzedMessage as the plain tuple of its fields, in declaration order."""
    return tuple(getattr(analyzed, f.name) for f in dataclasses.fields(analyzed))


def read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    """``size`` bytes, or None at end of input before the first of them."""
    chunks: list[bytes] = []
    wanted = size
    while wanted:
        chunk = stream.read(wanted)
        if not chunk:
            if chunks:
                raise EOFError(f"input ended {wanted} bytes into a frame of {size}")
            return None
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def main() -> None:
    # The parent ends a worker by closing its stdin (or by a kill): a Ctrl-C meant for the
    # service's terminal must not interrupt an analysis half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    messages = os.fdopen(os.dup(0), "rb")

    from stalwart_tx.jmap.mail.message_analysis import analyze_message

    while True:
        header = read_exactly(messages, HEADER_SIZE)
        if header is None:
            return
        size = int.from_bytes(header, "big")
        raw = read_exactly(messages, size) if size else b""
        if raw is None:
            raise EOFError(f"input ended before a message of {size} bytes")
        analyzed = analyze_message(raw)
        answer = pickle.dumps(as_values(analyzed), pickle.HIGHEST_PROTOCOL)
        frames.write(len(answer).to_bytes(HEADER_SIZE, "big"))
        frames.write(answer)
        frames.flush()


if __name__ == "__main__":
    main()
