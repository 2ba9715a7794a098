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
from collections.abc import Coroutine
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

from stalwart_tx.gathering import gather
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.names import ImapMailbox, MailboxTree

T = TypeVar("T")

TREE_PROPERTIES = ["id", "name", "parentId", "role", "isSubscribed"]
# accounts whose tree a process keeps at most (the least recently used go first)
MAX_TREES = 1024

# per method layer (one per service; tests run several), account -> (shape state, tree)
_trees: WeakKeyDictionary[Any, OrderedDict[str, tuple[str, MailboxTree]]] = WeakKeyDictionary()


def kept_mailbox(client: MailClient, name: str) -> tuple[str, ImapMailbox] | None:
    """The mailbox the tree this process keeps for the account names so, and the shape state
    the tree was read under, without asking whether it still holds (``beside_shape`` does, in
    the same round trip as the command's own read); None when no kept tree names it."""
    held = _trees.setdefault(client.api, OrderedDict()).get(client.account_id)
    found = held[1].find(name) if held is not None else None
    return None if held is None or found is None else (held[0], found)


async def beside_shape(
    client: MailClient, shape: str, read: Coroutine[Any, Any, T]
) -> tuple[T, bool]:
    """What ``read`` gives, read with the shape state in one round trip (the shape state's read
    is sent first), and whether the shape state is still ``shape``: the kept tree's names were
    then right for the read."""
    current, result = await gather(shape_state(client), read)
    return cast(T, result), current == shape


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
