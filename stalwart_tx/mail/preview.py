"""The preview property: the start of the message's text, as one line of plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_PREVIEW = 256
# Enough text for 256 characters after whitespace collapsing, without decoding huge parts.
PREVIEW_SOURCE_BYTES = 64 * 1024

# Controls are not text anyone wants in a one-line preview.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SKIPPED = frozenset({"script", "style", "head", "title", "template"})
_BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td"})


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BREAKS:
            self.text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self.skipping:
            self.skipping -= 1
        elif tag in _BREAKS:
            self.text.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.text.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOf()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        # HTMLParser is lenient, but whatever it chokes on must not cost the preview.
        pass
    return "".join(parser.text)


def make_preview(text: str, is_html: bool) -> str:
    """Up to 256 characters, whitespace collapsed, from a text/plain or text/html body."""
    if is_html:
        text = html_to_text(text)
    else:
        # Quoted replies say nothing new; the preview is better without them (RFC 8621 4.1.4).
        own = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
        text = own if own.strip() else text
    return " ".join(_CONTROLS.sub(" ", text).split())[:MAX_PREVIEW].rstrip()
