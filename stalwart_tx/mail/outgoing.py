"""What a message loses on its way out: its Bcc header fields.

Bcc recipients get the message through the envelope (RCPT TO); the field itself would show
every recipient who they are (RFC 5322 §3.6.3, RFC 5321 Appendix B, RFC 6409 §8). The stored
Email keeps it, so the sender's own copy still shows whom they sent it to.
"""

from __future__ import annotations

import re

_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")


def without_bcc(message: bytes) -> bytes:
    """``message`` with every top-level Bcc field (and its continuation lines) removed; every
    other byte as it was."""
    out: list[bytes] = []
    pos = 0
    skipping = False
    while pos < len(message):
        end = message.find(b"\n", pos)
        next_pos = len(message) if end < 0 else end + 1
        line = message[pos:next_pos]
        if not line.rstrip(b"\r\n"):
            break  # the blank line: the body follows, untouched
        if line[:1] in (b" ", b"\t"):
            if not out and not skipping:
                break  # a continuation of nothing: the body starts here, as the parser reads it
            if not skipping:
                out.append(line)
        else:
            match = _FIELD_NAME.match(line)
            if match is None and not (pos == 0 and line.startswith(b"From ")):
                break  # not a header field: the body starts here
            skipping = match is not None and match.group(1).lower() == b"bcc"
            if not skipping:
                out.append(line)
        pos = next_pos
    return b"".join(out) + message[pos:]
