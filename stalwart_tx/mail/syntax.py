"""Lexical helpers of RFC 5322 shared by the header parsers: comments and folding whitespace."""

from __future__ import annotations


def without_comments(value: str) -> str:
    """``value`` with its comments removed (quoted strings kept as they are)."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if char == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and char == ")" and depth > 0:
            depth -= 1
            continue
        if depth == 0:
            out.append(char)
    return "".join(out)


def without_cfws(value: str) -> str:
    """``value`` with comments and whitespace removed, except inside quoted strings."""
    out: list[str] = []
    quoted = False
    escaped = False
    for char in without_comments(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            continue
        out.append(char)
    return "".join(out)
