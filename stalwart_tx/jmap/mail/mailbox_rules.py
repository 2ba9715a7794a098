"""What makes a Mailbox valid in its account (RFC 8621 §2): name, place in the tree, role.

Every check sees the account's mailboxes as the /set working set has them (earlier operations
of the same call included), so a call that keeps the rules step by step keeps them in the store.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final

from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.capability import MAX_MAILBOX_DEPTH, MAX_SIZE_MAILBOX_NAME
from stalwart_tx.jmap.standard import set_errors
from stalwart_tx.store.records import JSONObject

# The IANA "IMAP Mailbox Name Attributes" registry entries usable as JMAP roles (§2, §10.5).
ROLES: Final = (
    "all", "archive", "drafts", "flagged", "important", "inbox", "junk", "sent", "subscribed",
    "trash",
)


def normalized_name(name: str) -> str:
    """Net-Unicode (RFC 5198) wants NFC: store names normalized, so sibling names compare."""
    return unicodedata.normalize("NFC", name)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Mailbox name (emptiness is the property kind's check)."""
    if len(name.encode("utf-8")) > MAX_SIZE_MAILBOX_NAME:
        return f"name is longer than {MAX_SIZE_MAILBOX_NAME} octets of UTF-8"
    # Net-Unicode forbids control characters, and line/paragraph separators
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in name):
        return "name has control characters"
    return None


def ancestors(mailboxes: Mapping[str, JSONObject], parent_id: str | None) -> list[str] | None:
    """``parent_id`` and its ancestors, nearest first; None if the chain loops."""
    chain: list[str] = []
    current = parent_id
    while current is not None:
        if current in chain:
            return None
        chain.append(current)
        parent = mailboxes.get(current)
        current = None if parent is None else parent["parentId"]
    return chain


def subtree_height(mailboxes: Mapping[str, JSONObject], mailbox_id: str) -> int:
    """Levels from ``mailbox_id`` down to its deepest descendant (1 for a leaf)."""
    children: dict[str, list[str]] = {}
    for other_id, other in mailboxes.items():
        if other["parentId"] is not None:
            children.setdefault(other["parentId"], []).append(other_id)
    height, level, seen = 0, [mailbox_id], {mailbox_id}
    while level:
        height += 1
        level = [c for m in level for c in children.get(m, ()) if c not in seen]
        seen.update(level)
    return height


def check_mailbox(
    mailboxes: Mapping[str, JSONObject], mailbox_id: str, value: JSONObject, *, creating: bool
) -> SetError | None:
    """The first rule ``value`` (the mailbox ``mailbox_id`` as it is to be) breaks, if any.

    ``mailboxes`` are the account's others, and possibly this one as it was before.
    """
    problem = name_problem(value["name"])
    if problem is not None:
        return set_errors.invalid_properties(["name"], problem)
    others = {i: m for i, m in mailboxes.items() if i != mailbox_id}

    parent_id = value["parentId"]
    if parent_id is not None:
        if parent_id not in others:
            if parent_id == mailbox_id:
                return set_errors.invalid_properties(
                    ["parentId"], "a mailbox is not its own parent"
                )
            return set_errors.invalid_properties(["parentId"], f"no Mailbox {parent_id!r}")
        chain = ancestors(others, parent_id)
        if chain is None or mailbox_id in chain:
            return set_errors.invalid_properties(
                ["parentId"], "the mailbox would be its own ancestor"
            )
        height = 1 if creating else subtree_height({**others, mailbox_id: value}, mailbox_id)
        if len(chain) + height > MAX_MAILBOX_DEPTH:
            return set_errors.invalid_properties(
                ["parentId"], f"the mailbox tree would be deeper than {MAX_MAILBOX_DEPTH}"
            )

    # §2: "There MUST NOT be two sibling Mailboxes with both the same parent and the same
    # name" — the same name, so names differing in case are different (IMAP agrees)
    for other_id, other in others.items():
        if other["parentId"] == parent_id and other["name"] == value["name"]:
            description = f"the sibling mailbox {other_id} has that name"
            if creating:
                return set_errors.already_exists(other_id, description)
            return set_errors.invalid_properties(["name"], description)

    role = value["role"]
    if role is not None:
        for other_id, other in others.items():
            if other["role"] == role:
                return set_errors.invalid_properties(
                    ["role"], f"the mailbox {other_id} already has the role {role!r}"
                )
    return None
