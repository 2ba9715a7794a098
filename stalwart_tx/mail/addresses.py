"""Address-list headers as the Addresses and GroupedAddresses forms (RFC 8621 4.1.2.3-4).

Best effort, as the RFC asks: a hand-written tokenizer that accepts whatever real messages and
drafts contain (missing brackets, unclosed groups or quotes) and never fails.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.mail.encoded_words import decode_words, unfold
from stalwart_tx.mail.syntax import without_cfws


@dataclass
class Token:
    kind: str  # "atom", "quoted", "comment", "angle", or one of the specials , : ;
    text: str
    space_before: bool = False


def read_delimited(value: str, start: int, close: str, nests: str | None) -> tuple[str, int]:
    """Text up to the matching ``close`` after ``value[start]``, with quoted-pairs decoded."""
    out: list[str] = []
    depth = 1
    i = start + 1
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if nests is not None and char == nests:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return "".join(out), i + 1
        out.append(char)
        i += 1
    return "".join(out), i


def tokens(value: str, is_space: Callable[[str], bool] = str.isspace) -> list[Token]:
    """The RFC 5322 address tokens of a header value: atoms, quoted strings, comments, angle
    addresses and the specials ``,:;``, each knowing whether space came before it."""
    found: list[Token] = []
    i = 0
    space = False
    while i < len(value):
        char = value[i]
        if is_space(char):
            space = True
            i += 1
            continue
        if char == '"':
            text, i = read_delimited(value, i, '"', None)
            found.append(Token("quoted", text, space))
        elif char == "(":
            text, i = read_delimited(value, i, ")", "(")
            found.append(Token("comment", text, space))
        elif char == "<":
            end = value.find(">", i)
            end = len(value) if end < 0 else end
            found.append(Token("angle", value[i + 1 : end], space))
            i = end + 1
        elif char in ",:;":
            found.append(Token(char, char, space))
            i += 1
        else:
            start = i
            while i < len(value) and not is_space(value[i]) and value[i] not in '"(<,:;':
                i += 1
            found.append(Token("atom", value[start:i], space))
        space = False
    return found


def _phrase(words: list[Token]) -> str | None:
    """A display name or group name: encoded words decoded in atoms only, whitespace tidied."""
    parts: list[str] = []
    run: list[str] = []
    for word in words:
        if word.kind == "atom":
            run.append(word.text)
            continue
        if run:
            parts.append(decode_words(" ".join(run)))
            run = []
        # A quoted-string keeps its inner whitespace (RFC 8621 4.1.2.3); only the ends go.
        parts.append(word.text)
    if run:
        parts.append(decode_words(" ".join(run)))
    name = unicodedata.normalize("NFC", " ".join(parts).strip())
    return name or None


def _as_written(word: Token) -> str:
    if word.kind != "quoted":
        return word.text
    escaped = word.text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _addr_spec(text: str) -> str:
    text = without_cfws(text)
    # An obsolete source route (<@a,@b:user@host>) is not part of the address.
    if text.startswith("@") and ":" in text:
        text = text.split(":", 1)[1]
    return text


@dataclass
class _Parser:
    groups: list[dict[str, Any]] = field(default_factory=list)
    group_name: str | None = None
    in_group: bool = False
    members: list[dict[str, Any]] = field(default_factory=list)
    words: list[Token] = field(default_factory=list)
    angle: str | None = None
    comment: str | None = None

    def mailbox(self) -> None:
        words, angle, comment = self.words, self.angle, self.comment
        self.words, self.angle, self.comment = [], None, None
        if angle is not None:
            self.members.append({"name": _phrase(words), "email": _addr_spec(angle)})
            return
        if not words:
            return
        # A bare addr-spec; a name after it in a comment is used as the name (RFC 8621 4.1.2.3).
        at = [i for i, word in enumerate(words) if word.kind == "atom" and "@" in word.text]
        if len(words) > 1 and at:
            start = at[-1]
            # A quoted local part ("john doe"@host) is part of the address, quotes and all.
            if start > 0 and words[start].text.startswith("@") and not words[start].space_before:
                start -= 1
            email = "".join(_as_written(word) for word in words[start:])
            name = _phrase(words[:start])
        else:
            email = " ".join(_as_written(word) for word in words)
            name = None
        if name is None and comment is not None:
            name = " ".join(comment.split()) or None
        self.members.append({"name": name, "email": email})

    def end_group(self) -> None:
        self.mailbox()
        if self.members or self.in_group:
            self.groups.append({"name": self.group_name, "addresses": self.members})
        self.members, self.group_name, self.in_group = [], None, False

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
            self.words = []
            if self.members:
                self.end_group()
            self.group_name, self.in_group = name, True
        elif token.kind == ":":
            self.words.append(Token("atom", ":", token.space_before))
        elif token.kind == ",":
            self.mailbox()
        elif token.kind == ";":
            if self.in_group:
                self.end_group()
            else:
                self.mailbox()


def grouped_addresses(raw: str) -> list[dict[str, Any]]:
    """EmailAddressGroup[]: mailboxes outside groups form groups with a null name."""
    parser = _Parser()
    for token in tokens(unfold(raw)):
        parser.feed(token)
    parser.end_group()
    return parser.groups


def addresses(raw: str) -> list[dict[str, Any]]:
    """EmailAddress[]: every mailbox, groups flattened."""
    return [address for group in grouped_addresses(raw) for address in group["addresses"]]
