"""Values the IMAP grammar produces and its error types.

``grammar`` re-exports every name here; see its docstring.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal as TypingLiteral

__all__ = [
    "STAR",
    "ImapSyntaxError",
    "ImapTagError",
    "Partial",
    "Section",
    "SeqNumber",
    "SequenceSet",
    "Star",
]


class ImapSyntaxError(ValueError):
    """The command does not parse: the protocol answers ``tag BAD reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImapTagError(ImapSyntaxError):
    """Not even the tag is usable: the protocol answers ``* BAD reason``."""


class Star(enum.Enum):
    STAR = "*"


STAR = Star.STAR
SeqNumber = int | TypingLiteral[Star.STAR]


@dataclass(frozen=True)
class SequenceSet:
    """``1:3,5,*`` as ranges of (first, last) as written; ``$`` as ``saved=True``, no ranges."""

    ranges: tuple[tuple[SeqNumber, SeqNumber], ...] = ()
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive ranges with ``*`` read as ``largest``; ``$`` gives []."""
        spans = []
        for first, last in self.ranges:
            a = largest if first is STAR else first
            b = largest if last is STAR else last
            spans.append((min(a, b), max(a, b)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def contains(self, number: int, largest: int) -> bool:
        return any(a <= number <= b for a, b in self.resolve(largest))

    @property
    def has_star(self) -> bool:
        return any(STAR in r for r in self.ranges)


@dataclass(frozen=True)
class Section:
    """A FETCH section spec: ``part`` numbers, then ``text`` (HEADER, HEADER.FIELDS,
    HEADER.FIELDS.NOT, TEXT, MIME or None) with ``fields`` for the HEADER.FIELDS forms."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        items = [str(n) for n in self.part]
        if self.text is not None:
            items.append(self.text)
        spec = ".".join(items)
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True)
class Partial:
    """``<offset.length>``; the response names only ``<offset>``."""

    offset: int
    length: int
