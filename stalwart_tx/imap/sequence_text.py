"""Numbers as an IMAP sequence set: ``1:3,7,9:10``."""

from __future__ import annotations

from collections.abc import Iterable


def sequence_text(numbers: Iterable[int]) -> bytes:
    """The shortest ranges of the numbers, ascending; empty for none."""
    ordered = sorted(set(numbers))
    parts: list[bytes] = []
    start = previous = None
    for number in ordered:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None and previous is not None:
            parts.append(_range(start, previous))
        start = previous = number
    if start is not None and previous is not None:
        parts.append(_range(start, previous))
    return b",".join(parts)


def _range(first: int, last: int) -> bytes:
    return b"%d" % first if first == last else b"%d:%d" % (first, last)
