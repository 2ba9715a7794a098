"""What a method handler gets besides its arguments: who asks, with which store and limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle


@dataclass
class RequestContext:
    """Shared by all method calls of one API request.

    ``created_ids`` maps creation ids (without ``#``) to the real ids of objects created by earlier
    calls of this request (and those the client passed in ``createdIds``); /set handlers add to it,
    and the API layer resolves ``#creationId`` references through it. ``using`` is the request's
    capability list. ``reactor`` gives handlers the clock and anything else reactor-bound.
    """

    user: IMailUser
    store: StoreBundle
    limits: CoreLimits
    using: frozenset[str]
    reactor: Any
    created_ids: dict[str, str] = field(default_factory=dict)
    # (ensure function, account) pairs already made sure of in this request (first_use)
    ensured: set[tuple[object, str]] = field(default_factory=set)
    # the account write turn the request's current computation holds (retry.optimistically)
    write_turn: Any = None

    def account_ids(self) -> list[str]:
        """Accounts this user may use; today only their own."""
        return [self.user.account_id]

    def is_read_only(self, account_id: str) -> bool:
        return False
