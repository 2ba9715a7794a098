"""Text to search terms: the tokenizer shared by indexing, queries and snippets.

Normalisation of a word: NFKC, case folding, then accents dropped (`Résumé` -> `resume`; see
search_language.strip_marks for which scripts).
Words are runs of letters, marks and digits (Unicode categories L, M, N); everything else
separates them. Each token has a position (its ordinal among the tokens, for phrase matching)
and its span in the original text (for highlighting).

- Apostrophes inside a word (`o'neill`, `l’homme`) split it into parts at consecutive positions,
  and the joined form (`oneill`) is indexed too, at the first part's position.
- Chinese, Japanese and Korean scripts are written without spaces between words, and no
  dictionary segmenter is used, so a run of such characters is indexed as overlapping bigrams
  (`東京都` -> `東京`, `京都`) at consecutive positions; a query string goes through the same
  split, so it matches as a phrase of bigrams. A lone character is a unigram, so a
  one-character query matches only a character standing alone.
- E-mail addresses and URLs give their word parts (so `john smith` or `example` match), and
  also the whole address/URL and its domain as extra terms.
- A token longer than MAX_TOKEN_LENGTH is dropped (it still takes its position, so a phrase
  never matches across it), and a document gives at most MAX_TOKENS tokens: hostile input
  costs bounded time and index space.
"""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001, RUF002, RUF003

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import regex  # type: ignore[import-untyped]

from stalwart_tx.mail.search_language import detect_language, stem, strip_marks

MAX_TOKEN_LENGTH = 64
MAX_TOKENS = 100_000
# Stem terms are "~<language>:<stem>"; a word term never holds "~", so the two cannot collide,
# and a stem only matches documents of its own language.
STEM_PREFIX = "~"

_WORD_CHARS = r"[\p{L}\p{M}\p{N}]"
_WORD = regex.compile(rf"{_WORD_CHARS}+(?:['’]{_WORD_CHARS}+)*")
_APOSTROPHE = regex.compile(r"['’]")
# Script extensions, not scripts: the prolonged sound mark `ー` and the iteration mark `々` are
# "Common" by script but belong inside Japanese words.
_CJK_RUN = regex.compile(
    r"([\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]\p{M}*)+", regex.VERSION1
)
_CHUNK = regex.compile(r"\S+")
_GRAPHEME = regex.compile(r"\X")
# Surrounding punctuation of an address or URL in running text: `<a@b.c>`, `(see http://x).`
_EDGE_PUNCTUATION = "<>()[]{}\"'.,;:!?«»“”‘’"
_EMAIL = regex.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
_URL = regex.compile(r"(?:https?|ftp)://([\w.-]+)(?:[:/?#]\S*)?|www\.([\w-]+(?:\.[\w-]+)+)\S*")
# What makes a whitespace-delimited chunk a candidate address or URL, and the last whitespace
# before a position (searched backwards). An address has one `@`, between characters that
# _EMAIL allows there: a chunk with no such `@` (nor `://`, `www.`) matches neither pattern.
_MARKER = regex.compile(r"(?<=[\w.+-])@(?=[\w-])|://|www\.")
_SPACE_BEFORE = regex.compile(r"\s", regex.REVERSE)


class Token(NamedTuple):
    """One word of a text: its search term, ordinal position and span in the original text.

    A tuple rather than a frozen dataclass: a long text makes one per word, and tuples are built
    several times faster.
    """

    term: str  # folded, marks dropped: what is indexed and compared
    position: int
    start: int
    end: int
    folded: str  # folded with marks kept: what the stemmer reads


def fold(text: str) -> str:
    """NFKC case folding, marks kept (the stemmers' input)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _pieces(word: str) -> Iterator[tuple[str, int, int]]:
    """The folded pieces of one word, with their spans in the folded word.

    CJK runs become bigrams; the rest stays whole.
    """
    folded = fold(word)
    # NFKC can introduce separators (`½` -> `1⁄2`), so the folded form is split again.
    for part in _WORD.finditer(folded):
        last = part.start()
        for run in _CJK_RUN.finditer(folded, part.start(), part.end()):
            if run.start() > last:
                yield folded[last : run.start()], last, run.start()
            # Lazily, pair by pair: a hostile run may be megabytes long.
            previous: tuple[int, int] | None = None
            for grapheme in _GRAPHEME.finditer(folded, run.start(), run.end()):
                if previous is not None:
                    yield folded[previous[0] : grapheme.end()], previous[0], grapheme.end()
                previous = grapheme.span()
            if previous == run.span():
                yield run.group(), run.start(), run.end()
            last = run.end()
        if last < part.end():
            yield folded[last : part.end()], last, part.end()


@dataclass(slots=True)
class _Scan:
    tokens: list[Token] = field(default_factory=list)
    # Extra terms at positions: joined apostrophe words, whole addresses, URLs and domains.
    extras: list[Token] = field(default_factory=list)
    position: int = 0

    def add(self, piece: str, start: int, end: int) -> None:
        term = strip_marks(piece)
        if term and len(term) <= MAX_TOKEN_LENGTH:
            self.tokens.append(Token(term, self.position, start, end, piece))
        self.position += 1

    def extra(self, text: str, position: int, start: int, end: int) -> None:
        term = strip_marks(fold(text))
        if term and len(term) <= MAX_TOKEN_LENGTH:
            self.extras.append(Token(term, position, start, end, term))


def _scan(text: str) -> _Scan:
    scan = _Scan()
    addresses = _addresses(text)
    next_address = 0
    for match in _WORD.finditer(text):
        if scan.position >= MAX_TOKENS:
            break
        start = match.start()
        # An address's extra terms go at the position of its first word.
        while next_address < len(addresses) and addresses[next_address][0] <= start:
            address_start, address_end, extras = addresses[next_address]
            for extra in extras:
                scan.extra(extra, scan.position, address_start, address_end)
            next_address += 1
        word = match.group()
        if word.isascii() and "'" not in word:
            # Most mail is plain ASCII words: folding is lower(), there are no marks or CJK.
            scan.add(word.lower(), start, match.end())
            continue
        budget = 2 * (MAX_TOKENS - scan.position) + MAX_TOKEN_LENGTH + 2
        if len(word) > budget:
            # Every token takes at least two characters of an apostrophe word and one of a CJK
            # run, so the rest of a hostile giant word could not fit under the cap: folding it
            # would cost time for nothing.
            word = word[:budget]
        parts = _APOSTROPHE.split(word)
        word_first = scan.position
        offset = start
        for part in parts:
            if scan.position >= MAX_TOKENS:
                break
            if part.isascii():
                scan.add(part.lower(), offset, offset + len(part))
                offset += len(part) + 1
                continue
            # Folding rarely changes a word's length; when it does, spans cover the part.
            same_length = len(fold(part)) == len(part)
            for piece, piece_start, piece_end in _pieces(part):
                if scan.position >= MAX_TOKENS:
                    break
                if same_length:
                    scan.add(piece, offset + piece_start, offset + piece_end)
                else:
                    scan.add(piece, offset, offset + len(part))
            offset += len(part) + 1
        if len(parts) > 1:
            scan.extra("".join(parts), word_first, start, start + len(word))
    return scan


def _addresses(text: str, before: int | None = None) -> list[tuple[int, int, tuple[str, str]]]:
    """(start, end, (whole, domain)) of each e-mail address and URL standing alone in the text
    (with `before`, of those starting before that index)."""
    return list(_iter_addresses(text, before))


def _iter_addresses(
    text: str, before: int | None = None
) -> Iterator[tuple[int, int, tuple[str, str]]]:
    """_addresses, one at a time.

    A candidate is a whitespace-delimited chunk holding `@`, `://` or `www.`; only those chunks
    are looked at (found from their markers), so the cost does not grow with the word count.
    """
    if "@" not in text and "://" not in text and "www." not in text:
        return
    position = 0
    while (marker := _MARKER.search(text, position)) is not None:
        space = _SPACE_BEFORE.search(text, position, marker.start())
        chunk = _CHUNK.match(text, space.end() if space is not None else position)
        if before is not None and chunk.start() >= before:
            return
        position = chunk.end()
        word = chunk.group()
        candidate = word.strip(_EDGE_PUNCTUATION)
        start = chunk.start() + len(word) - len(word.lstrip(_EDGE_PUNCTUATION))
        if before is not None and start >= before:
            return  # the address itself, not its chunk's leading punctuation, is what counts
        if email := _EMAIL.fullmatch(candidate):
            yield start, start + len(candidate), (candidate, email.group(1))
        elif url := _URL.fullmatch(candidate):
            yield start, start + len(candidate), (candidate, url.group(1) or url.group(2))


def tokenize(text: str) -> list[Token]:
    """The word tokens of a text, in order (without the extra address and apostrophe terms)."""
    return _scan(text).tokens


def terms(text: str) -> list[str]:
    """Just the terms of tokenize(): `terms(" ".join(terms(t))) == terms(t)`."""
    return [token.term for token in tokenize(text)]


@dataclass(frozen=True, slots=True)
class DocumentTerms:
    """What the index stores for one text: term -> sorted positions, and the language used."""

    language: str | None
    positions: dict[str, list[int]]


@lru_cache(maxsize=200_000)
def stem_term(language: str, folded: str) -> str | None:
    """The stem term of a folded word, or None for numbers (no stemmer changes them)."""
    if folded.isdigit():
        return None
    return f"{STEM_PREFIX}{language}:{strip_marks(stem(language, folded))}"


@dataclass(frozen=True, slots=True)
class Analysis:
    """A text's tokens, its extra terms (with the span of the word or address they stand for)
    and the resulting index terms."""

    tokens: list[Token]
    extras: list[Token]
    terms: DocumentTerms


def analyze(text: str, language: str | None = None) -> Analysis:
    """Tokens and index terms in one pass (snippets need both)."""
    scan = _scan(text)
    if language is None:
        language = detect_language(token.folded for token in scan.tokens)
    positions: dict[str, list[int]] = {}
    for token in scan.tokens:
        positions.setdefault(token.term, []).append(token.position)
        if language is not None and (stemmed := stem_term(language, token.folded)):
            positions.setdefault(stemmed, []).append(token.position)
    for extra in scan.extras:
        positions.setdefault(extra.term, []).append(extra.position)
    for found in positions.values():
        found.sort()
    terms = DocumentTerms(language, {t: _dedupe(p) for t, p in positions.items()})
    return Analysis(scan.tokens, scan.extras, terms)


def document_terms(text: str, language: str | None = None) -> DocumentTerms:
    """Index terms of a text: every word, the extras, and each word's stem in the language.

    `language` is a code from SNOWBALL_NAMES (e.g. from Content-Language); None detects it.
    """
    return analyze(text, language).terms


def _dedupe(sorted_positions: list[int]) -> list[int]:
    # A stem equal for two pieces of one CJK word, or an extra equal to a word, repeats a position.
    return [p for i, p in enumerate(sorted_positions) if i == 0 or sorted_positions[i - 1] != p]
