"""The ENVELOPE of a message (RFC 3501 / RFC 9051 section 7.5.2).

Values are the raw header text, unfolded: encoded words stay encoded and 8-bit octets are
passed on (the serialiser sends them as literals), as clients expect from servers. Address
lists are parsed best effort, like the JMAP side's, but keep display names as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stalwart_tx.imap.message_tree import MimePart, parse_message, unfold
from stalwart_tx.imap.message_values import ImapValue, Run, nul_free
from stalwart_tx.mail.addresses import Token, tokens
from stalwart_tx.mail.syntax import without_cfws

# Clients know these placeholders; a NIL host would read as the start of a group.
MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"


def envelope(raw: bytes) -> ImapValue:
    """The ENVELOPE of the message ``raw``."""
    return message_envelope(parse_message(raw))


def message_envelope(message: MimePart) -> ImapValue:
    """The ENVELOPE of a parsed message (the top level or an encapsulated one)."""

    def text(name: bytes) -> bytes | None:
        values = message.field_values(name)
        # The last field, as the JMAP side reads header fields (RFC 8621 section 4.1.3).
        return nul_free(unfold(values[-1])) if values else None

    def address_list(name: bytes) -> ImapValue:
        value = text(name)
        return None if value is None else _address_list(value)

    sender_from = address_list(b"from")
    return [
        text(b"date"),
        text(b"subject"),
        sender_from,
        # Absent or empty Sender and Reply-To are the From list (section 7.5.2).
        address_list(b"sender") or sender_from,
        address_list(b"reply-to") or sender_from,
        address_list(b"to"),
        address_list(b"cc"),
        address_list(b"bcc"),
        text(b"in-reply-to"),
        text(b"message-id"),
    ]


def _is_wsp(char: str) -> bool:
    # the value is raw octets read as latin-1: 0x85 and 0xA0 are text here, not space
    return char in " \t"


def _phrase(words: list[Token]) -> bytes | None:
    """A display or group name with its quoting removed (section 7.5.2, addr-name)."""
    name = " ".join(word.text for word in words).strip(" \t")
    return name.encode("latin-1") if name else None


def _as_written(word: Token) -> str:
    if word.kind != "quoted":
        return word.text
    escaped = word.text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _local_part(text: str) -> str:
    """A local-part with its quoting removed."""
    if '"' not in text:
        return text
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char != '"':
            out.append(char)
    return "".join(out)


def _address(name: bytes | None, spec: str) -> ImapValue:
    spec = without_cfws(spec)
    route: bytes | None = None
    if spec.startswith("@") and ":" in spec:
        # An obsolete source route, <@a,@b:user@host>: the envelope's addr-adl.
        head, spec = spec.split(":", 1)
        route = head.encode("latin-1")
    at = _last_at(spec)
    local, host = (spec, "") if at < 0 else (spec[:at], spec[at + 1 :])
    mailbox = _local_part(local).encode("latin-1") or MISSING_MAILBOX
    return [name, route, mailbox, host.encode("latin-1") or MISSING_DOMAIN]


def _last_at(spec: str) -> int:
    quoted = escaped = False
    found = -1
    for index, char in enumerate(spec):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "@" and not quoted:
            found = index
    return found


@dataclass
class _Parser:
    out: list[ImapValue] = field(default_factory=list)
    in_group: bool = False
    words: list[Token] = field(default_factory=list)
    angle: str | None = None
    comment: str | None = None

    def mailbox(self) -> None:
        words, angle, comment = self.words, self.angle, self.comment
        self.words, self.angle, self.comment = [], None, None
        if angle is not None:
            display = _phrase(words)
            if display is None and not without_cfws(angle):
                return  # <>: no address at all
            self.out.append(_address(display, angle))
            return
        if not words:
            return
        # A bare addr-spec; a comment after it serves as the name.
        at = [i for i, word in enumerate(words) if word.kind == "atom" and "@" in word.text]
        name: bytes | None = None
        start = 0
        if len(words) > 1 and at:
            start = at[-1]
            # A quoted local part ("john doe"@host) is part of the address.
            if start > 0 and words[start].text.startswith("@") and not words[start].space_before:
                start -= 1
            name = _phrase(words[:start])
        if name is None and comment is not None:
            name = " ".join(comment.split()).encode("latin-1") or None
        self.out.append(_address(name, "".join(_as_written(word) for word in words[start:])))

    def feed(self, token: Token) -> None:
        if token.kind in ("atom", "quoted"):
            if self.angle is not None:
                # Text after <addr>: a new mailbox with no comma between them.
                self.mailbox()
            self.words.append(token)
        elif token.kind == "comment":
            self.comment = token.text
        elif token.kind == "angle":
            if self.angle is not None:
                self.mailbox()
            self.angle = token.text
        elif token.kind == ":" and not self.in_group and self.angle is None:
            name = _phrase(self.words)
            self.words, self.comment = [], None
            # Group syntax: a member with a NIL host names the group (section 7.5.2).
            self.out.append([None, None, name or b"", None])
            self.in_group = True
        elif token.kind == ":":
            self.words.append(Token("atom", ":", token.space_before))
        elif token.kind == ",":
            self.mailbox()
        elif token.kind == ";":
            self.mailbox()
            self.end_group()

    def end_group(self) -> None:
        if self.in_group:
            self.out.append([None, None, None, None])
            self.in_group = False


def _address_list(value: bytes) -> ImapValue:
    """An address list of the envelope, or NIL if the field holds no address."""
    parser = _Parser()
    for token in tokens(value.decode("latin-1"), _is_wsp):
        parser.feed(token)
    parser.mailbox()
    parser.end_group()
    return [Run(parser.out)] if parser.out else None
