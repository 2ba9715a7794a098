"""JMAP mailboxes as IMAP mailbox names: the hierarchy joined with ``/``, the Inbox as ``INBOX``.

A JMAP Mailbox has a name and a parent; IMAP sees the path of names from the top, separated by
``/`` (RFC 3501 §5.1.1). The mailbox with role ``inbox`` at the top is always ``INBOX``,
whatever its JMAP name, and its children are ``INBOX/<name>``. A ``/`` inside a JMAP name
cannot be a separator, so it is shown as U+2215 DIVISION SLASH and read back as ``/``. Roles
become SPECIAL-USE attributes (RFC 6154).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

SEPARATOR: Final = "/"
SLASH_IN_NAME: Final = "\u2215"
INBOX: Final = "INBOX"

SPECIAL_USE: Final = {
    "archive": "\\Archive", "drafts": "\\Drafts", "junk": "\\Junk", "sent": "\\Sent",
    "trash": "\\Trash", "all": "\\All", "flagged": "\\Flagged", "important": "\\Important",
}
ROLE_OF_SPECIAL_USE: Final = {flag.lower(): role for role, flag in SPECIAL_USE.items()}


@dataclass(frozen=True)
class ImapMailbox:
    id: str
    name: str  # the full IMAP name, ``/`` separated
    parent_id: str | None
    role: str | None
    subscribed: bool
    has_children: bool

    @property
    def special_use(self) -> str | None:
        return SPECIAL_USE.get(self.role or "")


def segment(name: str) -> str:
    return name.replace(SEPARATOR, SLASH_IN_NAME)


def jmap_name(segment_text: str) -> str:
    return segment_text.replace(SLASH_IN_NAME, SEPARATOR)


def denormalized(name: str) -> bool:
    """Whether the name is not in NFC, the form mailbox names are stored in (RFC 9051 §5.1)."""
    return not unicodedata.is_normalized("NFC", name)


def canonical(name: str) -> str:
    """The name as compared: in NFC, as the store keeps names, so a client's de-normalized
    spelling finds the same mailbox (RFC 9051 §5.1); ``INBOX`` in any case (and its children)
    is ``INBOX``."""
    name = unicodedata.normalize("NFC", name)
    head, sep, rest = name.partition(SEPARATOR)
    if head.upper() == INBOX:
        return INBOX + sep + rest
    return name


class MailboxTree:
    """The account's mailboxes by IMAP name, built from a Mailbox/get answer."""

    def __init__(self, mailboxes: Iterable[Mapping[str, Any]]) -> None:
        by_id = {str(m["id"]): m for m in mailboxes}
        parents = {str(m["parentId"]) for m in by_id.values() if m.get("parentId")}
        names: dict[str, str] = {}

        def name_of(mailbox_id: str, depth: int = 0) -> str:
            if mailbox_id in names:
                return names[mailbox_id]
            mailbox = by_id[mailbox_id]
            parent = mailbox.get("parentId")
            if parent is None or parent not in by_id or depth > 64:
                if mailbox.get("role") == "inbox":
                    full = INBOX
                else:
                    full = segment(str(mailbox["name"]))
                    if full.upper() == INBOX:  # a mailbox named like the Inbox but not it
                        full = f"{full}{SLASH_IN_NAME}"
            else:
                full = name_of(str(parent), depth + 1) + SEPARATOR + segment(str(mailbox["name"]))
            names[mailbox_id] = full
            return full

        self.by_id: dict[str, ImapMailbox] = {}
        for mailbox_id, mailbox in by_id.items():
            self.by_id[mailbox_id] = ImapMailbox(
                id=mailbox_id, name=name_of(mailbox_id), parent_id=mailbox.get("parentId"),
                role=mailbox.get("role"), subscribed=bool(mailbox.get("isSubscribed")),
                has_children=mailbox_id in parents,
            )
        self.by_name: dict[str, ImapMailbox] = {m.name: m for m in self.by_id.values()}

    def find(self, name: str) -> ImapMailbox | None:
        return self.by_name.get(canonical(name))

    def parent_and_leaf(self, name: str) -> tuple[ImapMailbox | None, list[str]]:
        """For a name to create: the deepest existing ancestor (None: the top) and the names
        of the mailboxes still to create under it, as JMAP names, in order."""
        parts = [p for p in canonical(name).split(SEPARATOR)]
        for cut in range(len(parts) - 1, 0, -1):
            ancestor = self.by_name.get(SEPARATOR.join(parts[:cut]))
            if ancestor is not None:
                return ancestor, [jmap_name(p) for p in parts[cut:]]
        return None, [jmap_name(p) for p in parts]

    def sorted(self) -> list[ImapMailbox]:
        return sorted(self.by_id.values(), key=lambda m: (m.name != INBOX, m.name))


def matches(pattern: str, name: str) -> bool:
    """LIST pattern matching (RFC 3501 §6.3.8): ``*`` matches anything, ``%`` anything but
    the separator; INBOX is matched case-insensitively. Linear in pattern times name, so a
    hostile pattern of many wildcards costs no more than any other."""
    pattern = canonical(pattern)
    # reachable[n]: the pattern so far can match name[:n]
    reachable = [True] + [False] * len(name)
    for char in pattern:
        if char == "*":
            for n in range(1, len(name) + 1):
                reachable[n] = reachable[n] or reachable[n - 1]
        elif char == "%":
            for n in range(1, len(name) + 1):
                reachable[n] = reachable[n] or (reachable[n - 1] and name[n - 1] != SEPARATOR)
        else:
            reachable = [False] + [
                reachable[n - 1] and name[n - 1] == char for n in range(1, len(name) + 1)
            ]
    return reachable[len(name)]
