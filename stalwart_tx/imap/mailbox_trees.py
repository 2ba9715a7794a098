"""The account's mailbox tree, kept per process while the Mailbox shape state stays.

Every IMAP command naming a mailbox (SELECT, STATUS, APPEND, LIST...) needs the tree of names.
Reading every mailbox for it each time cost more than any other read of those commands, and
the Mailbox state cannot tell when to read again: every append and expunge moves it (the
counts). The shape state (ImapMailbox/shape) moves only with a mailbox created, changed or
destroyed, so a tree built after reading it is current as long as it reads the same. The tree
holds no counts; what a command reports of those it reads with the mailbox's IMAP view.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.names import MailboxTree

TREE_PROPERTIES = ["id", "name", "parentId", "role", "isSubscribed"]
# accounts whose tree a process keeps at most (the least recently used go first)
MAX_TREES = 1024

# per method layer (one per service; tests run several), account -> (shape state, tree)
_trees: WeakKeyDictionary[Any, OrderedDict[str, tuple[str, MailboxTree]]] = WeakKeyDictionary()


def kept_tree(client: MailClient) -> tuple[str, MailboxTree] | None:
    """The tree this process keeps for the account and the shape state it was read under,
    without asking whether it still holds (``shape_state`` tells): for a command that reads the
    shape state beside what it reads of a mailbox of the tree, in one round trip."""
    held = _trees.setdefault(client.api, OrderedDict()).get(client.account_id)
    return held


async def shape_state(client: MailClient) -> str:
    return str((await client.call("ImapMailbox/shape"))["shapeState"])


async def mailbox_tree(client: MailClient) -> MailboxTree:
    kept = _trees.setdefault(client.api, OrderedDict())
    shape = await shape_state(client)
    held = kept.get(client.account_id)
    if held is not None and held[0] == shape:
        kept.move_to_end(client.account_id)
        return held[1]
    # read after the shape state: at least as new as it, so right for as long as it stays
    answer = await client.call("Mailbox/get", properties=TREE_PROPERTIES)
    tree = MailboxTree(answer["list"])
    kept[client.account_id] = (shape, tree)
    kept.move_to_end(client.account_id)
    while len(kept) > MAX_TREES:
        kept.popitem(last=False)
    return tree
