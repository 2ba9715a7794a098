"""FETCH data items (RFC 3501 section 6.4.5, RFC 9051, RFC 3516, RFC 7162, RFC 8474, RFC 8970).

Each item is a ``FetchAtt(name, section, partial, peek, lazy)``:

* ``name`` is canonical upper case: ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER
  RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID BINARY BINARY.SIZE MODSEQ EMAILID THREADID
  PREVIEW SAVEDATE.
* ``BODY`` without a section is the non-extensible body structure; ``BODY[...]`` and
  ``BODY.PEEK[...]`` have name ``BODY`` with ``section`` set (``peek`` for the latter);
  ``BINARY[...]`` / ``BINARY.PEEK[...]`` likewise with ``section.part`` only; ``BINARY.SIZE[...]``
  has ``section`` too.
* ``partial`` is ``grammar.Partial(offset, length)`` for ``<offset.length>``.
* ``lazy`` is ``PREVIEW (LAZY)`` (RFC 8970).

``label()`` gives the name the response uses for the item (``BODY[1.HEADER]<0>``; PEEK dropped).
The macros ALL, FAST and FULL are expanded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalwart_tx.imap.grammar import ImapSyntaxError, Partial, Scanner, Section

__all__ = ["MACROS", "FetchAtt", "parse_fetch_atts"]


@dataclass(frozen=True)
class FetchAtt:
    name: str
    section: Section | None = None
    partial: Partial | None = None
    peek: bool = False
    lazy: bool = False

    def label(self) -> str:
        if self.section is None:
            return self.name
        label = f"{self.name}[{self.section}]"
        if self.partial is not None:
            label += f"<{self.partial.offset}>"
        return label


_SIMPLE = frozenset(
    {
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "BODY",
        "BODYSTRUCTURE",
        "UID",
        "MODSEQ",
        "EMAILID",
        "THREADID",
        "SAVEDATE",
    }
)
_ALL = (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"), FetchAtt("ENVELOPE"))
MACROS: dict[str, tuple[FetchAtt, ...]] = {
    "ALL": _ALL,
    "FAST": _ALL[:3],
    "FULL": (*_ALL, FetchAtt("BODY")),
}
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")


def _att(scanner: Scanner) -> FetchAtt:
    name = scanner.span(_NAME_CHARS).decode("ascii").upper()
    if not name:
        raise ImapSyntaxError("expected fetch attribute")
    if name in ("BODY", "BODY.PEEK") and scanner.peek() == 0x5B:
        section = scanner.section()
        return FetchAtt("BODY", section, scanner.partial(), peek=name == "BODY.PEEK")
    if name in ("BINARY", "BINARY.PEEK"):
        section = scanner.binary_section()
        return FetchAtt("BINARY", section, scanner.partial(), peek=name == "BINARY.PEEK")
    if name == "BINARY.SIZE":
        return FetchAtt("BINARY.SIZE", scanner.binary_section())
    if name == "PREVIEW":
        # Only LAZY is defined; "PREVIEW (" followed by anything else is the next argument, as in
        # the single-item form followed by FETCH modifiers.
        if scanner.take_if(b" (LAZY"):
            while scanner.take_if(b" LAZY"):
                pass
            scanner.expect(b")", '")"')
            return FetchAtt("PREVIEW", lazy=True)
        return FetchAtt("PREVIEW")
    if name in _SIMPLE:
        return FetchAtt(name)
    raise ImapSyntaxError("unknown fetch attribute")


def parse_fetch_atts(scanner: Scanner) -> tuple[FetchAtt, ...]:
    """``"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``."""
    if scanner.peek() == 0x28:
        return tuple(scanner.paren_list(lambda: _att(scanner), empty=False))
    start = scanner.pos
    word = scanner.span(_NAME_CHARS).decode("ascii").upper()
    if word in MACROS and scanner.peek() != 0x5B:
        return MACROS[word]
    scanner.pos = start
    return (_att(scanner),)
