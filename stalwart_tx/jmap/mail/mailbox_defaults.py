"""The mailboxes every account starts with, made on the first use of the account by a mail method.

``ensure_default_mailboxes`` creates Inbox, Drafts, Sent, Trash, Junk and Archive (with their
roles) when the account has no Mailbox at all. The creation is one store write conditional on
the Mailbox state it read the emptiness at: of two concurrent first requests (in any processes)
one writes, the other's write is refused with nothing applied, and its retry finds the
mailboxes. An account left without any mailbox gets them back on its next mail call, so
delivery always finds an Inbox.

Every mail method goes through ``with_default_mailboxes``, which calls it before the method.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.mail.first_use import create_if_none, ensuring_first
from stalwart_tx.jmap.mail.mailbox_counts import MAILBOX
from stalwart_tx.jmap.mail.mailbox_imap import mailbox_imap_work
from stalwart_tx.jmap.registry import JSONObject, MethodSpec

# (name, role) in display order; sortOrder follows it, so every client lists them alike
DEFAULT_MAILBOXES: Final = (
    ("Inbox", "inbox"),
    ("Drafts", "drafts"),
    ("Sent", "sent"),
    ("Trash", "trash"),
    ("Junk", "junk"),
    ("Archive", "archive"),
)


def default_mailbox(name: str, role: str, position: int) -> JSONObject:
    return {
        "name": name, "parentId": None, "role": role, "sortOrder": (position + 1) * 10,
        "isSubscribed": True,
    }


async def ensure_default_mailboxes(ctx: RequestContext, account_id: str) -> None:
    """Create the default mailboxes if the account has none; safe under concurrency."""
    defaults = [
        default_mailbox(name, role, position)
        for position, (name, role) in enumerate(DEFAULT_MAILBOXES)
    ]
    await create_if_none(
        ctx, account_id, MAILBOX, defaults,
        lambda objects, mailbox_id: mailbox_imap_work(objects).mailbox_created(mailbox_id),
    )


def with_default_mailboxes(specs: Iterable[MethodSpec]) -> list[MethodSpec]:
    """The methods, each making sure of the account's default mailboxes before it runs."""
    return ensuring_first(ensure_default_mailboxes, specs)
