"""The set of index terms of a text, fast: what indexing needs, without positions or spans.

`term_set(text, language)` is exactly `frozenset(search_text.document_terms(text,
language).positions)`: the same words, stems and extra terms, under the same rules (see
search_text), only computed without a Token per word. How:

- The text is split once into chunks at C speed: it is encoded as UTF-8, every ASCII byte that
  is neither a letter, a digit nor `'` becomes a space (no such character is part of a word),
  and the bytes are split at spaces. A chunk is then a run of ASCII letters, digits, `'` and
  non-ASCII characters, and a text's words are the words of its chunks, in order.
- Only distinct chunks are analysed, and the analysis of a chunk is cached across texts (mail
  vocabulary is Zipfian). A plain ASCII chunk (no `'`) is one word, folded by lower(); any other
  goes through search_text's rules word by word (apostrophes, NFKC, case folding, marks, CJK
  bigrams).
- Stems are computed once per distinct folded word (search_text.stem_term, cached).
- The caps of search_text (MAX_TOKENS, and the cut of a giant word that could not fit under
  it) depend on positions. When a text cannot reach them (nearly always), positions are not
  needed at all; when it can, the chunks are counted up to the cap, and a text that also holds
  addresses or long words that the cut could shorten is walked word by word, as search_text
  does, still without Tokens.

TextTerms holds one text's split, so that language detection (detection_tokens) and the term
set read the same split: a field is tokenized once.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import NamedTuple, cast

import regex  # type: ignore[import-untyped]

from stalwart_tx.mail import search_language, search_text
from stalwart_tx.mail.search_language import (
    detect_language,
    language_of_counts,
    strip_marks,
)
from stalwart_tx.mail.search_text import (
    _APOSTROPHE,
    _WORD,
    _WORD_CHARS,
    MAX_TOKEN_LENGTH,
    _addresses,
    _iter_addresses,
    _pieces,
    fold,
    stem_term,
    tokenize,
)

# ASCII bytes other than letters, digits and the apostrophe separate words: they become spaces.
_SEPARATORS = bytes.maketrans(
    bytes(range(128)),
    bytes(b if chr(b).isalnum() or b == ord("'") else ord(" ") for b in range(128)),
)
# Frequent non-ASCII separators, made spaces before the split: the replacement character fills
# text decoded from binary data, and the no-break space text made from HTML.
_BLANKED = ("\ufffd", "\xa0")
# A chunk (in chunks joined by spaces) holding a non-ASCII character or an apostrophe.
_NOT_PLAIN = re.compile(rb"(?<![^ ])[^ \x80-\xff']*+[\x80-\xff'][^ ]*")
_LAST_WORD_CHAR = regex.compile(_WORD_CHARS, regex.REVERSE)
# Chunks up to this many bytes have their analysis cached.
_CACHED_CHUNK = 256
# A word no longer than this is never cut by search_text's budget (which is at least
# MAX_TOKEN_LENGTH + 4 while a token can still be added).
_NEVER_CUT = MAX_TOKEN_LENGTH + 4
# Chunks folded at a time for language detection.
_DETECT_BATCH = 128
# Characters of a text split at a time, after the head.
_SEGMENT = 1 << 16


def _max_tokens() -> int:
    # Read at call time: tests lower the cap in search_text to exercise it on small texts.
    cap: int = search_text.MAX_TOKENS
    return cap


def _detect_words() -> int:
    words: int = search_language.DETECT_WORDS
    return words


def _budget(position: int) -> int:
    """search_text's cut of a word starting at `position` (see search_text._scan)."""
    return 2 * (_max_tokens() - position) + MAX_TOKEN_LENGTH + 2


class _Word(NamedTuple):
    """One word as search_text scans it: per position (term, or None when dropped; folded)."""

    pieces: tuple[tuple[str | None, str], ...]
    joined: str | None  # the joined form of an apostrophe word, when it is indexed


def _piece(piece: str) -> tuple[str | None, str]:
    term = strip_marks(piece)
    return (term if term and len(term) <= MAX_TOKEN_LENGTH else None), piece


def _plain(word: str) -> bool:
    return word.isascii() and "'" not in word


def _scan_word(word: str, limit: int) -> _Word:
    """The first `limit` positions of a word and its joined form (search_text._scan, uncut)."""
    if _plain(word):
        return _Word((_piece(word.lower()),), None)
    parts = _APOSTROPHE.split(word)
    pieces: list[tuple[str | None, str]] = []
    for part in parts:
        if len(pieces) >= limit:
            break
        if part.isascii():
            pieces.append(_piece(part.lower()))
            continue
        for piece, _, _ in _pieces(part):
            if len(pieces) >= limit:
                break
            pieces.append(_piece(piece))
    joined = None
    if len(parts) > 1:
        term = strip_marks(fold("".join(parts)))
        if term and len(term) <= MAX_TOKEN_LENGTH:
            joined = term
    return _Word(tuple(pieces), joined)


@lru_cache(maxsize=1 << 16)
def _cached_word(word: str) -> _Word:
    # Complete: a short word has far fewer positions than any cap.
    return _scan_word(word, 1 << 62)


def _word(word: str, limit: int) -> _Word:
    return _cached_word(word) if len(word) <= _CACHED_CHUNK else _scan_word(word, limit)


class _Chunk(NamedTuple):
    """The analysis of one chunk."""

    positions: int  # positions its words take (more than the cap: cut short, incomplete)
    terms: tuple[str, ...]  # word terms and joined forms
    folded: tuple[str, ...]  # folded form of each indexed token, in order (stems, detection)
    longest: int  # length of its longest word that search_text's budget could cut, or 0


_POSITIONS = itemgetter(0)
_TERMS = itemgetter(1)
_FOLDED = itemgetter(2)
_LONGEST = itemgetter(3)


def _analyse(chunk: bytes, limit: int) -> _Chunk:
    text = chunk.decode("utf-8", "surrogatepass")
    if chunk.isascii() and b"'" not in chunk:
        low = text.lower()
        kept = (low,) if len(low) <= MAX_TOKEN_LENGTH else ()
        return _Chunk(1, kept, kept, 0)
    positions = longest = 0
    terms: list[str] = []
    folded: list[str] = []
    for word in _WORD.findall(text):
        if positions >= limit:
            break
        if not _plain(word):
            longest = max(longest, len(word))
        scanned = _word(word, limit - positions)
        positions += len(scanned.pieces)
        for term, piece in scanned.pieces:
            if term is not None:
                terms.append(term)
                folded.append(piece)
        if scanned.joined is not None:
            terms.append(scanned.joined)
    return _Chunk(positions, tuple(terms), tuple(folded), longest)


@lru_cache(maxsize=1 << 17)
def _cached_chunk(chunk: bytes) -> _Chunk:
    return _analyse(chunk, 1 << 62)


def _chunks(chunks: Iterable[bytes]) -> list[_Chunk]:
    """The analyses of chunks, in order; a giant chunk is analysed only past the cap."""
    chunks = list(chunks)
    if not chunks or max(map(len, chunks)) <= _CACHED_CHUNK:
        return list(map(_cached_chunk, chunks))
    limit = _max_tokens() + 1
    return [_cached_chunk(c) if len(c) <= _CACHED_CHUNK else _analyse(c, limit) for c in chunks]


# language -> folded word -> its stem term (search_text.stem_term), looked up in bulk.
_STEMS: dict[str, dict[str, str | None]] = {}
_STEMS_KEPT = 1 << 18


def _stems(language: str, folded: frozenset[str]) -> set[str]:
    """The stem terms of folded words in a language."""
    known = _STEMS.get(language)
    if known is None or len(known) > _STEMS_KEPT:
        # A full cache is replaced, never emptied: another thread may be reading it.
        known = _STEMS[language] = {}
    missing = folded.difference(known)
    if missing:
        known.update(zip(missing, map(stem_term, repeat(language), missing), strict=True))
    stems: set[str | None] = set(map(known.__getitem__, folded))
    stems.discard(None)
    return cast("set[str]", stems)


def _split(text: str) -> list[bytes]:
    for blank in _BLANKED:
        if blank in text:
            text = text.replace(blank, " ")
    return text.encode("utf-8", "surrogatepass").translate(_SEPARATORS).split()


def _in_chunk(char: str) -> bool:
    return char not in _BLANKED and (not char.isascii() or char.isalnum() or char == "'")


def _extra_terms(extras: Iterable[str]) -> set[str]:
    found = set()
    for extra in extras:
        term = strip_marks(fold(extra))
        if term and len(term) <= MAX_TOKEN_LENGTH:
            found.add(term)
    return found


def _address_terms(text: str) -> set[str]:
    """Extra terms of the text's addresses and URLs, for a text under the token cap.

    search_text gives them when it reaches a word starting at or after the address; a candidate
    starts with no apostrophe and follows no word character, so that is when a word character
    follows its start.
    """
    addresses = _addresses(text)
    if not addresses:
        return set()
    last = _LAST_WORD_CHAR.search(text)
    found = set()
    for start, _, extras in addresses:
        if last is not None and start <= last.start():
            found |= _extra_terms(extras)
    return found


class _Distinct(NamedTuple):
    """The analysis of a set of distinct chunks."""

    terms: set[str]
    folded: set[str]
    most: int  # the most positions of one chunk
    longest: int  # the longest word the budget could cut (_Chunk.longest)
    chunks: Collection[bytes]
    special: list[bytes]  # the chunks that are not plain ASCII words
    infos: list[_Chunk]  # their analyses

    @classmethod
    def of(cls, chunks: Collection[bytes]) -> _Distinct:
        """Plain ASCII chunks (most of them) are folded together by lower(); only the others
        are analysed one by one."""
        if not chunks:
            return cls(set(), set(), 0, 0, chunks, [], [])
        joined = b" ".join(chunks)
        special = [] if joined.isascii() and b"'" not in joined else _NOT_PLAIN.findall(joined)
        infos = _chunks(special)
        plain = set(joined.lower().decode("utf-8", "surrogatepass").split(" "))
        if special:
            plain.difference_update(c.lower().decode("utf-8", "surrogatepass") for c in special)
        positions = max(map(_POSITIONS, infos), default=0)
        if plain:
            positions = max(positions, 1)
            if max(map(len, plain)) > MAX_TOKEN_LENGTH:
                plain = {word for word in plain if len(word) <= MAX_TOKEN_LENGTH}
        longest = max(map(_LONGEST, infos), default=0)
        return cls(
            plain.union(*map(_TERMS, infos)),
            plain.union(*map(_FOLDED, infos)),
            positions,
            longest,
            chunks,
            special,
            infos,
        )

    def positions(self) -> dict[bytes, int]:
        """Chunk -> the positions its words take."""
        count = dict.fromkeys(self.chunks, 1)
        count.update(zip(self.special, map(_POSITIONS, self.infos), strict=True))
        return count


class TextTerms:
    """A text split once: its term set (terms) and its first tokens (detection_tokens).

    With `head`, detection reads only `text[:head]`. The text is split in segments (the first
    is the head), so that a text far over the token cap is split only up to it.
    """

    __slots__ = ("_head", "_read", "_words", "head_text", "text")

    def __init__(self, text: str, head: int | None = None) -> None:
        self.text = text
        self.head_text = text if head is None else text[:head]
        self._head = _split(self.head_text)
        self._words: tuple[frozenset[str], frozenset[str]] | None = None
        # (n, the distinct chunks of _head[:n]) when detection has read them
        self._read: tuple[int, set[bytes]] | None = None

    def words(self) -> tuple[frozenset[str], frozenset[str]]:
        """(terms, folded): word and extra terms, and the folded form of every indexed word."""
        if self._words is None:
            terms, folded = self._scan()
            self._words = frozenset(terms), frozenset(folded)
        return self._words

    def terms(self, language: str | None) -> frozenset[str]:
        """Word and extra terms, plus the stems in `language` (none for None: no detection)."""
        words, folded = self.words()
        if language is None:
            return words
        return words.union(_stems(language, folded))

    def _segments(self) -> Iterator[tuple[list[bytes], int, int]]:
        """The text's chunks by segment, with the end of each segment in the text and a bound
        on the length of its chunks; a chunk going on past the end of a segment is given whole
        with the next one."""
        text = self.text
        start, end = 0, len(self.head_text)
        chunks = self._head
        held = b""
        while True:
            longest = 4 * (end - start) + len(held)  # UTF-8 takes at most 4 bytes a character
            if held:
                chunks = [held + chunks[0], *chunks[1:]]
            if 0 < end < len(text) and _in_chunk(text[end - 1]) and _in_chunk(text[end]):
                held, chunks = chunks[-1], chunks[:-1]
            else:
                held = b""
            yield chunks, end, longest
            if end >= len(text):
                return
            start, end = end, end + _SEGMENT
            chunks = _split(text[start:end])

    def _scan(self) -> tuple[set[str], set[str]]:
        """Terms and folded words. Positions are bounded (chunks times the most positions of
        one), and counted only from the segment where the bound reaches the cap."""
        cap = _max_tokens()
        terms: set[str] = set()
        folded: set[str] = set()
        position = longest = 0  # positions so far: a bound until `bounded` is cleared
        bounded: list[tuple[list[bytes], _Distinct]] | None = []
        read = self._read
        for chunks, end, longest_chunk in self._segments():
            if longest_chunk > _budget(0) and max(map(len, chunks), default=0) > _budget(0):
                # A giant word: search_text cuts it, wherever it starts.
                return self._walk()
            if read is not None and read[0] <= len(chunks):
                # The first segment (the head, maybe without its last chunk): its start is
                # known already.
                distinct = set(read[1])
                distinct.update(chunks[read[0] :])
            else:
                distinct = set(chunks)
            read = None
            found = _Distinct.of(distinct)
            if bounded is not None:
                gained = len(chunks) * found.most
                if position + gained < cap:
                    bounded.append((chunks, found))
                else:
                    # The cap may fall here: count the positions before, exactly.
                    position = 0
                    for before, before_found in bounded:
                        position += sum(map(before_found.positions().__getitem__, before))
                        if before_found.longest > _budget(position):
                            return self._walk()
                    bounded = None
            if bounded is None:
                count = found.positions()
                gained = sum(map(count.__getitem__, chunks))
                if position + gained >= cap:
                    if max(longest, found.longest) > _NEVER_CUT or self._addresses_before(end):
                        # A word may be cut, or an address's terms depend on where the cap
                        # falls: scan word by word.
                        return self._walk()
                    _cut(chunks, count, position, terms, folded)
                    return terms, folded
                if found.longest > _budget(position + gained):
                    return self._walk()
            position += gained
            longest = max(longest, found.longest)
            terms |= found.terms
            folded |= found.folded
        if longest > _budget(position):
            return self._walk()
        terms |= _address_terms(self.text)
        return terms, folded

    def _addresses_before(self, end: int) -> bool:
        return next(_iter_addresses(self.text, end), None) is not None

    def _walk(self) -> tuple[set[str], set[str]]:
        """search_text._scan word by word, for texts that reach the cap or may cut a word."""
        text = self.text
        cap = _max_tokens()
        terms: set[str] = set()
        folded: set[str] = set()
        # Found as the words reach them: none past the cap is looked for.
        addresses = _iter_addresses(text)
        address = next(addresses, None)
        position = 0
        for match in _WORD.finditer(text):
            if position >= cap:
                break
            start = match.start()
            while address is not None and address[0] <= start:
                terms |= _extra_terms(address[2])
                address = next(addresses, None)
            word = match.group()
            budget = _budget(position)
            if len(word) > budget and not _plain(word):
                word = word[:budget]
            position += _take(_word(word, cap - position), cap - position, terms, folded)
        return terms, folded


def _cut(
    chunks: list[bytes], count: dict[bytes, int], position: int, terms: set[str], folded: set[str]
) -> None:
    """Add the terms of the chunks up to the cap (no word cut, no address): the whole chunks
    before the one the cap falls in, then that chunk word by word."""
    cap = _max_tokens()
    reached = list(accumulate(map(count.__getitem__, chunks), initial=position))
    last = bisect_left(reached, cap) - 1
    whole = _Distinct.of(set(chunks[:last]))
    terms |= whole.terms
    folded |= whole.folded
    position = reached[last]
    for word in _WORD.findall(chunks[last].decode("utf-8", "surrogatepass")):
        if position >= cap:
            break
        position += _take(_word(word, cap - position), cap - position, terms, folded)


def _take(scanned: _Word, room: int, terms: set[str], folded: set[str]) -> int:
    """Add a word's terms within `room` positions; the positions it took."""
    pieces = scanned.pieces[:room]
    for term, piece in pieces:
        if term is not None:
            terms.add(term)
            folded.add(piece)
    if scanned.joined is not None:
        terms.add(scanned.joined)
    return len(pieces)


class _Sample(NamedTuple):
    """The first tokens of a text, in order: runs of plain ASCII chunks (one token each, to
    fold by lower()) and lists of folded tokens; and their counts."""

    pieces: list[tuple[list[bytes], list[str]]]
    plain: list[Counter[bytes]]  # per part
    plain_words: int
    folded: Counter[str]

    def tokens(self) -> list[str]:
        found: list[str] = []
        for plain, folded in self.pieces:
            found += b" ".join(plain).decode("ascii").lower().split() if plain else folded
        return found


def _sample(parts: Sequence[TextTerms], careful: bool = False) -> _Sample | None:
    """The first DETECT_WORDS tokens of the parts' head texts joined by newlines, reading only
    the chunks needed; None when the cap or the cut of a giant word may fall among them.

    A plain ASCII chunk is one token, unless it is too long to index: those are rare, and
    looked for (`careful`) only once one turns up among the distinct chunks. Each part keeps
    the distinct chunks read (TextTerms._read), which its term set reuses.
    """
    pieces: list[tuple[list[bytes], list[str]]] = []
    counts: list[Counter[bytes]] = []
    folded: Counter[str] = Counter()
    found = positions = longest = plain_words = 0
    needed = _detect_words()
    for part in parts:
        chunks = part._head
        start = 0
        plain: list[bytes] = []
        special: list[bytes] = []
        while found < needed and start < len(chunks):
            batch = chunks[start : start + _DETECT_BATCH]
            joined = b" ".join(batch)
            if (
                joined.isascii()
                and b"'" not in joined
                and (not careful or max(map(len, batch)) <= MAX_TOKEN_LENGTH)
            ):
                batch = batch[: needed - found]
                start += len(batch)
                positions += len(batch)
                found += len(batch)
                pieces.append((batch, []))
                plain += batch
                continue
            start += len(batch)
            infos = _chunks(batch)
            positions += sum(map(_POSITIONS, infos))
            longest = max(longest, *map(_LONGEST, infos))
            words = list(chain.from_iterable(map(_FOLDED, infos)))[: needed - found]
            found += len(words)
            pieces.append(([], words))
            special += batch
            folded.update(words)
        counted = Counter(plain)
        if not careful and counted and max(map(len, counted)) > MAX_TOKEN_LENGTH:
            return _sample(parts, careful=True)
        counts.append(counted)
        plain_words += len(plain)
        part._read = (start, counted.keys() | special)
    if positions >= _max_tokens() or longest > _budget(positions):
        return None
    return _Sample(pieces, counts, plain_words, folded)


def detection_tokens(parts: Sequence[TextTerms]) -> list[str]:
    """The folded forms of the first DETECT_WORDS tokens of the parts' head texts joined by
    newlines: `[t.folded for t in tokenize(sample)][:DETECT_WORDS]`."""
    sample = _sample(parts)
    if sample is None:
        # The cap or the cut of a giant word may fall in the sample: scan it as search_text does.
        text = "\n".join(part.head_text for part in parts)
        return [token.folded for token in tokenize(text)[: _detect_words()]]
    return sample.tokens()


def detect_sample_language(parts: Sequence[TextTerms]) -> str | None:
    """`detect_language(detection_tokens(parts))`, from word counts: the plain ASCII words of
    the sample are counted as chunks, and folded once per distinct chunk."""
    sample = _sample(parts)
    if sample is None:
        return detect_language(detection_tokens(parts))
    return language_of_counts(sample.folded, sample.tokens, sample.plain, sample.plain_words)


def term_set(text: str, language: str | None = None) -> frozenset[str]:
    """The distinct index terms of a text: `frozenset(document_terms(text, language).positions)`.

    `language` is a code of search_language.SNOWBALL_NAMES; None detects it from the text.
    """
    split = TextTerms(text)
    if language is None:
        language = detect_sample_language((split,))
    return split.terms(language)
