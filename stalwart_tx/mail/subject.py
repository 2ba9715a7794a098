"""The base subject of RFC 5256 section 2.1, for threading and for sorting by subject.

The steps, as the RFC numbers them:

1. RFC 2047 decoding is the caller's: ``ParsedMessage.subject`` is already decoded. Tabs and
   line breaks become spaces and runs of spaces collapse to one.
2. Remove trailing ``subj-trailer``s (``(fwd)`` or whitespace) while any remain.
3. Remove leading ``subj-leader``s: ``re:``, ``fw:`` or ``fwd:`` (each optionally followed by a
   ``[blob]`` before its colon, and optionally preceded by ``[blob]``s), or whitespace.
4. Remove one leading ``[blob]`` if something is left after it.
5. Repeat 3 and 4 until neither matches.
6. If the text is wrapped as ``[fwd: ... ]``, unwrap it and go back to step 2.

All the literal strings compare ASCII case-insensitively, as ABNF strings do.

The RFC strips only ``re``, ``fw`` and ``fwd``. Localized leaders such as German ``AW:``,
Scandinavian ``SV:`` or Dutch ``Antw:`` are not stripped by default, because IMAP SORT and THREAD
must give the RFC's answer; ``localized=True`` adds them for callers that want it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["LOCALIZED_LEADERS", "base_subject", "is_reply_or_forward", "subject_key"]

# Common translations of "re"/"fwd" in mail clients (de, nl, sv/no/da, fi, it, fr, pt, pl, es).
LOCALIZED_LEADERS = ("aw", "wg", "antw", "doorst", "sv", "vs", "vl", "rif", "tr", "res",
                     "enc", "odp", "rv")  # fmt: skip

# re.ASCII keeps IGNORECASE to ASCII letters: "re" must not match, say, a Kelvin sign.
_FLAGS = re.ASCII | re.IGNORECASE
# subj-blob = "[" *BLOBCHAR "]" *WSP; BLOBCHAR is any CHAR8 but NUL, "[" and "]".
_BLOB = r"\[[^\[\]\x00]*\][ \t]*"


def _leader_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    # subj-leader = (*subj-blob subj-refwd) / WSP; step 3 removes as many as there are.
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    refwd = rf"(?:{alternatives})[ \t]*(?:{_BLOB})?:"
    return re.compile(rf"(?:(?:{_BLOB})*{refwd}|[ \t])+", _FLAGS)


_STRICT_LEADER = _leader_pattern(("re", "fwd", "fw"))
_LOCALIZED_LEADER = _leader_pattern(("re", "fwd", "fw", *LOCALIZED_LEADERS))
_LEADING_BLOB = re.compile(_BLOB, _FLAGS)
_FWD_HDR = "[fwd:"
_BREAKS = str.maketrans({"\t": " ", "\r": " ", "\n": " "})
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class _Extraction:
    base: str
    # True when a subj-refwd, a "(fwd)" trailer or a [fwd: ...] wrapper was removed.
    reply_or_forward: bool


def _extract(subject: str, localized: bool) -> _Extraction:
    leader = _LOCALIZED_LEADER if localized else _STRICT_LEADER
    text = _SPACES.sub(" ", subject.translate(_BREAKS))  # step 1
    # The text in hand is text[start:end]; moving indices instead of slicing keeps hostile
    # subjects (thousands of blobs or nested wrappers) linear.
    start, end = 0, len(text)
    marked = False
    while True:
        while end > start:  # step 2
            if text[end - 1] == " ":
                end -= 1
            elif end - start >= 5 and text[end - 5 : end].lower() == "(fwd)":
                end -= 5
                marked = True
            else:
                break
        while True:  # step 5 repeats 3 and 4
            lead = leader.match(text, start, end)  # step 3
            if lead is not None:
                marked = marked or ":" in lead.group()
                start = lead.end()
            # Step 4, once per blob of the run that starts here. Step 3 cannot match between
            # them (a blob run's leader needs its re/fw/fwd after the run's last blob), so the
            # whole run goes at once: one blob at a time would rescan the run, quadratically.
            last, run_end = start, start
            while (blob := _LEADING_BLOB.match(text, run_end, end)) is not None:
                last, run_end = run_end, blob.end()
            after_blobs = run_end if run_end < end else last
            if lead is None and after_blobs == start:
                break
            start = after_blobs
        # step 6; "[fwd:" ends in ":", so it can never overlap the closing "]"
        if (
            end - start > len(_FWD_HDR)
            and text[start : start + 5].lower() == _FWD_HDR
            and text[end - 1] == "]"
        ):
            start, end = start + 5, end - 1
            marked = True
            continue
        return _Extraction(text[start:end], marked)


def base_subject(subject: str, *, localized: bool = False) -> str:
    """The RFC 5256 base subject of an already decoded subject."""
    return _extract(subject, localized).base


def is_reply_or_forward(subject: str, *, localized: bool = False) -> bool:
    """Whether extracting the base subject removed a reply or forward marker.

    That is RFC 5256's test (used by THREAD=REFERENCES when it groups by subject): a
    ``re:``/``fw:``/``fwd:`` leader, a ``(fwd)`` trailer or a ``[fwd: ...]`` wrapper.
    """
    return _extract(subject, localized).reply_or_forward


def subject_key(subject: str, *, localized: bool = False) -> str:
    """The comparison key of a subject: its base subject, case-folded, in NFC.

    Threads group on it and sorting by subject orders by it, so "Re: HELLO" and "hello" sort
    and thread together. NFC on both sides makes composed and decomposed accents equal.
    """
    base = base_subject(unicodedata.normalize("NFC", subject), localized=localized)
    return unicodedata.normalize("NFC", base.casefold())
