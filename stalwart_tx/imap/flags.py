"""IMAP flags as JMAP keywords (RFC 8621 §4.1.1) and back.

The four system flags JMAP names have their ``$`` keywords; ``\\Deleted`` is kept as the
keyword ``$deleted``, so an IMAP client's pending deletion survives until it expunges and a JMAP
client can see it. Other keywords are the same word; JMAP keeps them lower-cased, so IMAP shows
the usual capitalisation of the well-known ones and the lower-case form of the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

SYSTEM_TO_KEYWORD: Final = {
    "\\Seen": "$seen",
    "\\Answered": "$answered",
    "\\Flagged": "$flagged",
    "\\Draft": "$draft",
    "\\Deleted": "$deleted",
}
KEYWORD_TO_SYSTEM: Final = {keyword: flag for flag, keyword in SYSTEM_TO_KEYWORD.items()}
SEEN: Final = "$seen"
DELETED: Final = "$deleted"

WELL_KNOWN: Final = {
    name.lower(): name
    for name in (
        "$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "$Phishing", "$Important",
        "$SubmitPending", "$Submitted", "Junk", "NonJunk",
    )
}

# The flags SELECT announces; PERMANENTFLAGS adds \* (any keyword may be created).
MAILBOX_FLAGS: Final = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def keyword_of(flag: str) -> str:
    """The JMAP keyword of an IMAP flag (system flags arrive canonically capitalised)."""
    return SYSTEM_TO_KEYWORD.get(flag, flag.lower())


def flag_of(keyword: str) -> str:
    system = KEYWORD_TO_SYSTEM.get(keyword)
    if system is not None:
        return system
    return WELL_KNOWN.get(keyword, keyword)


# keyword sets seen -> their flags: a FETCH of a folder's flags meets the same few sets
# hundreds of times over
_FLAGS_OF: dict[frozenset[str], tuple[str, ...]] = {}
_FLAGS_OF_SIZE: Final = 4096


def flags_of(keywords: Mapping[str, Any] | None) -> list[str]:
    """The IMAP flags of an Email's keywords, system flags first, each once."""
    key = frozenset(keywords) if keywords else frozenset()
    flags = _FLAGS_OF.get(key)
    if flags is None:
        found = [flag_of(k) for k in sorted(key)]
        system = [f for f in MAILBOX_FLAGS if f in found]
        flags = (*system, *(f for f in found if not f.startswith("\\")))
        if len(_FLAGS_OF) >= _FLAGS_OF_SIZE:
            _FLAGS_OF.clear()
        _FLAGS_OF[key] = flags
    return list(flags)


_FLAG_LISTS: dict[tuple[frozenset[str], bool], bytes] = {}


def flag_list(keywords: Mapping[str, Any] | None, recent: bool = False) -> bytes:
    """The FETCH FLAGS list of an Email's keywords, ``\\Recent`` first when ``recent``."""
    key = (frozenset(keywords) if keywords else frozenset(), recent)
    text = _FLAG_LISTS.get(key)
    if text is None:
        flags = flags_of(keywords)
        text = b"(" + " ".join(["\\Recent", *flags] if recent else flags).encode() + b")"
        if len(_FLAG_LISTS) >= _FLAGS_OF_SIZE:
            _FLAG_LISTS.clear()
        _FLAG_LISTS[key] = text
    return text


def keywords_of(flags: Iterable[str]) -> dict[str, bool]:
    return {keyword_of(flag): True for flag in flags}
