"""IMAP command framing: the client byte stream cut into whole commands, with no I/O of its own.

Contract for the protocol (the only user):

* ``reader = CommandReader(max_line=..., max_literal=..., inline_literal=..., literal_minus=...)``;
  every chunk received goes to ``reader.feed(data)``, which returns a list of events and never
  raises, whatever the bytes.
* Events, in stream order:

  - ``Command(tag, line, raw_size)``: one complete command. ``tag`` is the first word as sent
    (latin-1 decoded, *not* validated: the grammar does that). ``line`` alternates text segments
    and literals, ``[text, literal, text, ..., text]``, so it always has odd length. Text segments
    are ``bytes`` without CRLF; the first one starts after the tag and its space; a literal's
    ``{N}`` / ``{N+}`` / ``~{N}`` marker is removed from the text before it, the literal object
    sitting in its place. ``raw_size`` counts every octet of the command, CRLFs and literals
    included.
  - ``Continue()``: a synchronizing literal was accepted; answer ``+ Ready`` now.
  - ``LiteralTooBig(tag, size)``: a literal was refused (larger than ``max_literal``, or over
    4096 octets with LITERAL-). The command is dropped; answer ``tag NO [TOOBIG]`` or
    ``tag BAD`` (``* BAD`` when ``tag`` is None). For a synchronizing literal this comes at
    once, without ``+``, and nothing more is read for
    that command; for a non-synchronizing one, the octets already on their way are skipped first,
    then the rest of the command, then the event comes.
  - ``LineTooLong(tag)``: the command's text (literals not counted) exceeded ``max_line``; the
    rest of it is skipped without being buffered, up to the end of the command.
  - ``RawLine(data)``: in ``raw_line_mode``, the next line without CRLF or any literal handling
    (IDLE's ``DONE``, SASL responses). The reader pauses after each one (and after a
    ``LineTooLong`` in that mode), since whether the line after is raw too depends on it.

* Literals are ``LiteralBytes`` (a ``bytes`` subclass) when small, ``SpooledLiteral`` (a temporary
  file, written as the octets arrive) when larger than ``inline_literal`` or when the command's
  inline literals would together exceed it. Both have ``size``, ``binary`` (sent as ``~{N}``,
  RFC 3516), ``chunks()`` and ``close()``; the session closes spooled literals it has finished
  with. Memory per connection stays near ``max_line + inline_literal`` whatever the client sends.
* Pausing: after a Command whose verb is in ``PAUSING_VERBS`` (IDLE, AUTHENTICATE, STARTTLS,
  COMPRESS) the reader stops and keeps what follows buffered: the meaning of those bytes depends on
  the command's outcome. ``feed`` then only buffers and returns ``[]``. The protocol sets
  ``raw_line_mode`` as it needs and calls ``resume()`` (or ``expect_line()``, which does both for
  the raw mode); after STARTTLS or COMPRESS it calls ``take_buffered()`` first, to discard the
  plaintext a client must not have pipelined, or to decompress what is already there.
  While paused the reader holds whatever arrives: a protocol whose pause may last (a password
  check) stops reading the transport when ``buffered_size`` grows past a bound of its choosing.
* An empty line between commands is ignored. A bare LF ends a line as CRLF does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

__all__ = [
    "PAUSING_VERBS",
    "Command",
    "CommandReader",
    "Continue",
    "Event",
    "LineTooLong",
    "Literal",
    "LiteralBytes",
    "LiteralTooBig",
    "RawLine",
    "SpooledLiteral",
]

PAUSING_VERBS = frozenset({b"IDLE", b"AUTHENTICATE", b"STARTTLS", b"COMPRESS"})

# RFC 7888 section 5: with LITERAL- a non-synchronizing literal may carry at most this many octets.
LITERAL_MINUS_MAX = 4096

# A literal marker longer than this cannot be a real size; it is only needed to recognise one at
# the end of a line being skipped, and to keep int() away from absurd digit strings.
_MAX_SIZE_DIGITS = 20
_TAIL = _MAX_SIZE_DIGITS + 4


class LiteralBytes(bytes):
    """A literal held in memory: plain ``bytes`` that also says whether it was sent as ``~{N}``."""

    binary: bool

    def __new__(cls, data: bytes, binary: bool = False) -> LiteralBytes:
        self = super().__new__(cls, data)
        self.binary = binary
        return self

    @property
    def size(self) -> int:
        return len(self)

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        for start in range(0, len(self), max(size, 1)):
            yield bytes(self[start : start + size])

    def close(self) -> None:
        pass


class SpooledLiteral:
    """A large literal written to an anonymous temporary file as it arrives."""

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary
        self.size = 0
        self._file: IO[bytes] | None = tempfile.TemporaryFile()

    def write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)
            self.size += len(data)

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        if self._file is None:
            raise ValueError("literal closed")
        self._file.seek(0)
        while True:
            data = self._file.read(max(size, 1))
            if not data:
                return
            yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"SpooledLiteral(size={self.size}, binary={self.binary})"


Literal = LiteralBytes | SpooledLiteral


@dataclass(frozen=True)
class Command:
    tag: str
    line: list[bytes | Literal]
    raw_size: int = 0

    @property
    def verb(self) -> bytes:
        """The command name as sent, upper-cased (empty if none)."""
        first = self.line[0] if self.line else b""
        if not isinstance(first, bytes) or isinstance(first, LiteralBytes):
            return b""
        return first.split(b" ", 1)[0].upper()


@dataclass(frozen=True)
class Continue:
    pass


@dataclass(frozen=True)
class LiteralTooBig:
    tag: str | None
    size: int


@dataclass(frozen=True)
class LineTooLong:
    tag: str | None


@dataclass(frozen=True)
class RawLine:
    data: bytes


Event = Command | Continue | LiteralTooBig | LineTooLong | RawLine

# Reader states.
_LINE = "line"  # reading a text line of a command (or a raw line)
_LITERAL = "literal"  # reading the octets of an accepted literal
_SKIP = "skip"  # dropping the octets of a refused non-synchronizing literal
_DISCARD = "discard"  # dropping a line of a command already refused


@dataclass
class _Pending:
    """The command being assembled."""

    tag: str | None = None
    line: list[bytes | Literal] = field(default_factory=list)
    text_size: int = 0
    inline_size: int = 0
    raw_size: int = 0


def _tag_of(first: bytes) -> str:
    return first.split(b" ", 1)[0].decode("latin-1")


def _valid_tag(tag: str) -> bool:
    return bool(tag) and all(0x21 <= ord(c) <= 0x7E and c not in '(){%*"\\+' for c in tag)


def _literal_marker(line: bytes) -> tuple[int, int, bool, bool] | None:
    """(marker start, size, non-synchronizing, binary) if ``line`` ends with a literal marker."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        return None
    inner = line[start + 1 : -1]
    plus = inner.endswith(b"+")
    digits = inner[:-1] if plus else inner
    if not digits or not digits.isdigit():
        return None
    size = int(digits) if len(digits) <= _MAX_SIZE_DIGITS else 10**_MAX_SIZE_DIGITS
    binary = start > 0 and line[start - 1 : start] == b"~"
    return (start - 1 if binary else start), size, plus, binary


class CommandReader:
    def __init__(
        self,
        max_line: int = 65536,
        max_literal: int = 64 * 2**20,
        inline_literal: int = 262144,
        literal_minus: bool = False,
    ) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self.inline_literal = inline_literal
        self.literal_minus = literal_minus
        self.raw_line_mode = False
        self._buffer = bytearray()
        self._state = _LINE
        self._pending = _Pending()
        self._paused = False
        # The literal being read, and how many octets it still lacks (also used by _SKIP).
        self._literal: LiteralBytes | SpooledLiteral | None = None
        self._inline = bytearray()
        self._literal_binary = False
        self._remaining = 0
        # A refused command: the event to emit once its end is reached, and the last octets of
        # the line being dropped, enough to see a literal marker there.
        self._refusal: LiteralTooBig | None = None
        self._tail = b""
        self._discard_raw = False
        # Octets at the start of the buffer already known to hold no line end.
        self._searched = 0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def buffered_size(self) -> int:
        """Octets received and not yet turned into events."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        if self._paused:
            return []
        return self._run()

    def resume(self) -> list[Event]:
        self._paused = False
        return self._run()

    def expect_line(self) -> list[Event]:
        self.raw_line_mode = True
        return self.resume()

    def take_buffered(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        self._searched = 0
        return data

    def _run(self) -> list[Event]:
        events: list[Event] = []
        while not self._paused:
            before = len(self._buffer)
            state = self._state
            if state == _LINE:
                progressed = self._read_line(events)
            elif state == _LITERAL:
                progressed = self._read_literal(events)
            elif state == _SKIP:
                progressed = self._skip_literal()
            else:
                progressed = self._discard_line(events)
            if not progressed and len(self._buffer) == before and self._state == state:
                break
        return events

    # -- lines --------------------------------------------------------------------------------

    def _read_line(self, events: list[Event]) -> bool:
        buffer = self._buffer
        # A line arriving in many small pieces is searched for its end once, not once per piece.
        end = buffer.find(b"\n", self._searched)
        pending = self._pending
        limit = self.max_line - pending.text_size
        if end < 0:
            # One more octet than the limit may be the CR of a line exactly at the limit.
            if len(buffer) > limit + 1:
                self._searched = 0
                self._too_long(events, bytes(buffer[: limit + 1]))
                return True
            self._searched = len(buffer)
            return False
        self._searched = 0
        raw = bytes(buffer[: end + 1])
        line = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if len(line) > limit:
            self._too_long(events, raw[: limit + 1])
            return True
        del buffer[: end + 1]
        if self.raw_line_mode and not pending.line:
            events.append(RawLine(line))
            self._paused = True
            return True
        if not line and not pending.line:
            return True
        pending.raw_size += len(raw)
        pending.text_size += len(raw)
        # The marker is found before the tag is cut off, so that a line holding only a tag and a
        # literal still has its literal read, whatever the tag turns out to be worth.
        marker = _literal_marker(line)
        text = line if marker is None else line[: marker[0]]
        if not pending.line:
            tag = _tag_of(text)
            pending.tag = tag
            text = text[len(tag) + 1 :]
        pending.line.append(text)
        if marker is None:
            self._emit_command(events)
            return True
        _, size, plus, binary = marker
        too_big = size > self.max_literal or (
            plus and self.literal_minus and size > LITERAL_MINUS_MAX
        )
        if too_big:
            refusal = LiteralTooBig(self._usable_tag(), size)
            self._drop_pending()
            if plus:
                self._refusal = refusal
                self._remaining = size
                self._state = _SKIP
            else:
                events.append(refusal)
            return True
        self._start_literal(size, binary)
        if not plus:
            events.append(Continue())
        return True

    def _usable_tag(self) -> str | None:
        tag = self._pending.tag
        return tag if tag is not None and _valid_tag(tag) else None

    def _too_long(self, events: list[Event], head: bytes) -> None:
        raw = self.raw_line_mode and not self._pending.line
        if self._pending.tag is None and not raw:
            space = head.find(b" ")
            if space > 0:
                self._pending.tag = head[:space].decode("latin-1")
        events.append(LineTooLong(self._usable_tag()))
        if raw:
            self._paused = True
        self._drop_pending()
        self._refusal = None
        self._tail = b""
        self._discard_raw = raw
        self._state = _DISCARD

    def _discard_line(self, events: list[Event]) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            self._tail = (self._tail + bytes(buffer))[-_TAIL:]
            buffer.clear()
            return False
        tail = (self._tail + bytes(buffer[:end]))[-_TAIL:]
        del buffer[: end + 1]
        self._tail = b""
        if tail.endswith(b"\r"):
            tail = tail[:-1]
        marker = _literal_marker(tail)
        if marker is not None and marker[2] and not self._discard_raw:
            # A non-synchronizing literal is on its way regardless: its octets are not commands.
            self._remaining = marker[1]
            self._state = _SKIP
            return True
        if self._refusal is not None:
            events.append(self._refusal)
            self._refusal = None
        self._state = _LINE
        return True

    # -- literals -----------------------------------------------------------------------------

    def _start_literal(self, size: int, binary: bool) -> None:
        pending = self._pending
        self._remaining = size
        self._literal_binary = binary
        self._inline = bytearray()
        if size > self.inline_literal or pending.inline_size + size > self.inline_literal:
            self._literal = SpooledLiteral(binary)
        else:
            self._literal = None
            pending.inline_size += size
        pending.raw_size += size
        self._state = _LITERAL

    def _read_literal(self, events: list[Event]) -> bool:
        buffer = self._buffer
        take = min(self._remaining, len(buffer))
        if take:
            chunk = bytes(buffer[:take])
            del buffer[:take]
            self._remaining -= take
            if isinstance(self._literal, SpooledLiteral):
                self._literal.write(chunk)
            else:
                self._inline += chunk
        if self._remaining:
            return False
        literal: Literal
        if isinstance(self._literal, SpooledLiteral):
            literal = self._literal
        else:
            literal = LiteralBytes(bytes(self._inline), self._literal_binary)
        self._literal = None
        self._inline = bytearray()
        self._pending.line.append(literal)
        self._state = _LINE
        return True

    def _skip_literal(self) -> bool:
        take = min(self._remaining, len(self._buffer))
        del self._buffer[:take]
        self._remaining -= take
        if self._remaining:
            return False
        self._state = _DISCARD
        self._tail = b""
        return True

    # -- commands -----------------------------------------------------------------------------

    def _emit_command(self, events: list[Event]) -> None:
        pending = self._pending
        command = Command(pending.tag or "", pending.line, pending.raw_size)
        self._pending = _Pending()
        events.append(command)
        if command.verb in PAUSING_VERBS:
            self._paused = True

    def _drop_pending(self) -> None:
        for part in self._pending.line:
            if isinstance(part, SpooledLiteral):
                part.close()
        if isinstance(self._literal, SpooledLiteral):
            self._literal.close()
        self._literal = None
        self._pending = _Pending()
