"""Per-document language for search: a cheap stop-word detector and cached Snowball stemmers.

Detection counts how many of a text's words are common function words of each supported
language. Function words are the most frequent words of any text, so even a sentence or two
carries enough of them; no statistical model or download is needed. When the evidence is
missing or split between languages the answer is None, and the text is indexed unstemmed
(exact folded words still match): a wrong stemmer would conflate unrelated words.
"""

# Non-Latin letters and typographic quotes are this module's subject, not look-alike typos.
# ruff: noqa: RUF001

from __future__ import annotations

import heapq
import math
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import chain, islice
from operator import itemgetter

import regex  # type: ignore[import-untyped]
import snowballstemmer  # type: ignore[import-untyped]

DEFAULT_LANGUAGE = "en"
# Words looked at: function words are dense, so the start of a long text is enough.
DETECT_WORDS = 2000

# ISO 639-1 code -> Snowball algorithm. Only languages the detector can recognise are listed,
# because a stem is indexed only in the document's own detected language.
SNOWBALL_NAMES: dict[str, str] = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "ru": "russian",
    "pl": "polish",
}

# Frequent function words, and for close languages a few frequent words that tell them apart.
_STOP_WORDS: dict[str, str] = {
    "en": "the of and to in is that it for was on are with as be this have from not by but "
    "you at or his her they we an were which has been would there their what will if can "
    "all your our my me he she them its these those than then who",
    "de": "der die das und ist nicht ein eine einen dem den des mit sich auf für von zu "
    "auch es sie wir ich du er wie aber oder wenn noch nach bei aus um werden wird war "
    "hat haben sind kann dass im ihr uns mein dein mir dir mich dich euch nur schon diese "
    "dieser bitte",
    "fr": "le la les et est un une des du de dans que qui pour pas sur au aux avec ce cette "
    "il elle nous vous ils sont ont été être avoir mais ou où je tu mon ma mes leur plus "
    "par se sa son ses",
    "es": "el la los las y es un una de del que en por para con no se su sus al lo como "
    "pero más muy está están son fue ser yo tú él ella nosotros usted este esta estos hay "
    "cuando también todo todos gracias ha han puedes puede",
    "it": "il lo la gli le e è un una di del della che in per con non si su al ma come "
    "più sono questo questa anche io tu lui lei noi voi loro nel alla degli delle ho ha "
    "hanno",
    "pt": "o a os as e é um uma de do da dos das que em no na por para com não se seu sua "
    "ao mais mas como foi ser são está eu você ele ela nós eles isso este esta também",
    "nl": "de het een en is van in dat op te met voor niet zijn er aan ook als maar om "
    "dan bij nog wel ik je jij hij zij wij we uit naar dit deze die heeft hebben was",
    "sv": "och att det är en ett som på för med inte av till den har jag du han hon vi de "
    "om var men kan ska så eller från sig mig dig vara också när",
    "da": "og at det er en et som på for med ikke af til den har jeg du han hun vi de "
    "om var men kan skal så eller fra sig mig dig være også når venligst hvad nu efter "
    "nogen meget bliver blev hende jer mere sådan",
    "no": "og at det er en et som på for med ikke av til den har jeg du han hun vi de "
    "om var men kan skal så eller fra seg meg deg være også når ble vennligst hva nå etter "
    "noen mye blir henne dere mer slik",
    "fi": "ja on ei se että oli ovat kun mutta tai kuin myös niin jos hän me te he minä "
    "sinä tämä tuo nämä ne siitä sen mitä joka jotka vain olla ole",
    "ru": "и в не на что с по как это он она они мы вы я ты но из за для от же так все "
    "его её их был была было были быть к у о бы уже или то",
    "pl": "i w nie na że to jest się z do jak po o ale co tak za od dla jego jej ich był "
    "była było są być ja ty my wy on ona oni już czy tylko",
}


# Accents, and the optional vowel points of Hebrew and Arabic, are what users leave out when they
# type a search. In Indic and other scripts nonspacing marks (virama, vowel signs) are part of the
# spelling, and dropping them would merge different words, so they stay.
_FOLDED_MARKS = regex.compile(r"([\p{Latin}\p{Greek}\p{Cyrillic}\p{Hebrew}\p{Arabic}])\p{Mn}+")


def strip_marks(text: str) -> str:
    """Drop accents from a folded word, so `résumé` and `resume` are one term."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFKC", _FOLDED_MARKS.sub(r"\1", decomposed))


def _evidence() -> dict[str, tuple[tuple[str, float], ...]]:
    """Stop word -> (language, weight) pairs; a word listed by n languages weighs 1/n in each.

    Shared words (`de`, `en`, `som`...) so count little, and the words that tell close
    languages apart (Danish `af`, Norwegian `av`) decide.
    """
    languages_of: dict[str, list[str]] = {}
    for code, words in _STOP_WORDS.items():
        for word in frozenset(strip_marks(w.casefold()) for w in words.split()):
            languages_of.setdefault(word, []).append(code)
    return {
        word: tuple((code, 1 / len(codes)) for code in codes)
        for word, codes in languages_of.items()
    }


_EVIDENCE = _evidence()


# Weights in whole units: every weight 1/n (n <= the number of languages) is an exact number
# of them, so scores can be summed exactly, in any order.
_UNIT = math.lcm(*range(1, len(_STOP_WORDS) + 1))
_UNITS = {
    word: tuple((code, round(weight * _UNIT)) for code, weight in evidence)
    for word, evidence in _EVIDENCE.items()
}


@lru_cache(maxsize=1 << 16)
def _word_units(word: str) -> tuple[tuple[str, int], ...]:
    # One-letter words are list labels, initials and address pieces as often as articles.
    if len(word) < 2:
        return ()
    return _UNITS.get(strip_marks(word), ())


_FIRST = itemgetter(0)


@lru_cache(maxsize=1 << 16)
def ascii_evidence(word: bytes) -> tuple[tuple[str, int], ...]:
    """What an ASCII word of any case tells detect_language: (language, score units) pairs,
    none for most words."""
    return _word_units(word.decode("ascii").lower())


def detect_language(words: Iterable[str]) -> str | None:
    """The language code of case-folded words (accents kept or not), or None when unsure.

    Only the first DETECT_WORDS words are read. Each word listed for n languages adds 1/n to
    the score of each; the best language must lead the second by max(0.5, best / 5). A text
    with no function word at all but only ASCII letters is taken as English, the default: that
    is the usual short subject line. Anything else without clear evidence (non-Latin text, or
    two languages scoring alike) gets None, meaning "do not stem".

    The scores are counted exactly (in _UNIT parts), per distinct word. The rule was first
    written with float sums word by word; exact scores decide the same except when the lead is
    exactly at the bar, where the float sums, which are off by far less than a unit, fall on
    either side: that case is decided by the float sums, as before (_detect_in_order).
    """
    sample = list(islice(words, DETECT_WORDS))
    return language_of_counts(Counter(sample), lambda: sample)


def language_of_counts(
    counts: Mapping[str, int],
    in_order: Callable[[], list[str]],
    ascii_counts: Iterable[Mapping[bytes, int]] = (),
    ascii_words: int = 0,
) -> str | None:
    """detect_language of a sample of at most DETECT_WORDS words given as word -> count, and
    `ascii_words` more ASCII words of any case (folded by lower()), whose counts are in
    `ascii_counts` (those without evidence, see ascii_evidence, may be left out);
    `in_order()` gives the sample's words in order, folded (needed only on the bar)."""
    scores = dict.fromkeys(_STOP_WORDS, 0)
    # Only the words with evidence reach the Python loop.
    for evidence, count in chain(
        filter(_FIRST, zip(map(_word_units, counts), counts.values(), strict=True)),
        *(
            filter(_FIRST, zip(map(ascii_evidence, more), more.values(), strict=True))
            for more in ascii_counts
        ),
    ):
        for code, units in evidence:
            scores[code] += units * count
    best, second = heapq.nlargest(2, scores.values())
    if best == 0:
        found = bool(counts) or ascii_words > 0
        return DEFAULT_LANGUAGE if found and all(map(str.isascii, counts)) else None
    # Times 5: lead < max(0.5, best / 5), in whole units.
    lead, bar = 5 * (best - second), max(5 * _UNIT // 2, best)
    if lead == bar:
        return _detect_in_order(in_order())
    if lead < bar:
        return None
    return max(scores, key=scores.__getitem__)


def _detect_in_order(sample: list[str]) -> str | None:
    """detect_language's rule with float scores summed word by word, in text order."""
    scores = dict.fromkeys(_STOP_WORDS, 0.0)
    all_ascii = True
    for word in sample:
        all_ascii = all_ascii and word.isascii()
        if len(word) < 2:
            continue
        for code, weight in _EVIDENCE.get(strip_marks(word), ()):
            scores[code] += weight
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score == 0:
        return DEFAULT_LANGUAGE if sample and all_ascii else None
    if best_score - second_score < max(0.5, best_score / 5):
        return None
    return best


# A Snowball stemmer keeps the word it works on in itself: one per thread, since messages are
# analysed on a thread pool, several at once.
_STEMMERS = threading.local()


def _stemmer(code: str) -> snowballstemmer.stemmer:
    mine: dict[str, snowballstemmer.stemmer] | None = getattr(_STEMMERS, "by_code", None)
    if mine is None:
        mine = _STEMMERS.by_code = {}
    found = mine.get(code)
    if found is None:
        found = mine[code] = snowballstemmer.stemmer(SNOWBALL_NAMES[code])
    return found


@lru_cache(maxsize=200_000)
def stem(code: str, word: str) -> str:
    """The Snowball stem of a case-folded word (marks kept: the algorithms need them).

    Cached: mail vocabulary is Zipfian, so most calls are repeats and the cache makes the pure
    Python stemmer cost little.
    """
    result: str = _stemmer(code).stemWord(word)
    return result
