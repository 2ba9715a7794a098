"""``stalwart-admin quota set|show``: an account's limits (JMAP Quotas, RFC 9425) and usage.

Limits are written exactly as a JMAP /set writes: staged in a WorkingSet and applied as one
atomic store write conditional on the Quota state, retried if a mail write got in between, so
clients see the change in Quota/changes and by push, and usage counted meanwhile is never lost.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from stalwart_tx.jmap.mail.quota_usage import (
    MESSAGES,
    STORAGE,
    UNLIMITED,
    stage_limits,
    usage_and_limits,
)
from stalwart_tx.jmap.standard.working_set import WorkingSet
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import ObjectExists, ObjectNotFound, StateMismatch
from stalwart_tx.store.records import Principal

NO_LIMIT = "none"
# a mail write racing the admin makes it compute again; this many conflicts in a row is a failure
ATTEMPTS = 12


def limit_value(text: str) -> int | None:
    """An argparse type: a whole number below 2^53-1, or "none" for no limit."""
    if text.strip().lower() == NO_LIMIT:
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'none'") from None
    if not 0 <= value < UNLIMITED:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0 to {UNLIMITED - 1})")
    return value


def add_parser(commands: Any) -> None:
    """The ``quota`` command group, added to stalwart-admin's subparsers."""
    quota = commands.add_parser("quota", help="per-account limits and usage").add_subparsers(
        dest="action", required=True
    )
    limits = quota.add_parser("set", help="set a user's limits; the others are kept")
    limits.add_argument("name")
    limits.add_argument("--storage", type=limit_value, default=argparse.SUPPRESS,
                        metavar="BYTES|none", help="octets of mail the account may hold")
    limits.add_argument("--messages", type=limit_value, default=argparse.SUPPRESS,
                        metavar="N|none", help="number of messages the account may hold")
    show = quota.add_parser("show", help="a user's usage and limits")
    show.add_argument("name")
    # also accepted after the command; its own dest, since a subparser's default would
    # otherwise overwrite a global --json given before the command
    show.add_argument("--json", dest="show_json", action="store_true",
                      help="print the result as JSON")


async def set_limits(store: StoreBundle, account_id: str, limits: dict[str, int | None]) -> None:
    for _attempt in range(ATTEMPTS):
        objects = WorkingSet(store, account_id)
        await stage_limits(objects, limits)
        try:
            await store.accounts.write(account_id, objects.batch())
            return
        except (StateMismatch, ObjectExists, ObjectNotFound):
            continue
    raise RuntimeError("the quota kept changing concurrently; try again")


def _describe(limit: int | None) -> str:
    return NO_LIMIT if limit is None else str(limit)


async def run(store: StoreBundle, principal: Principal, args: argparse.Namespace,
              out: TextIO) -> None:
    """Run ``quota set`` or ``quota show``; ValueError for a usage mistake."""
    if args.action == "set":
        given = vars(args)
        limits: dict[str, int | None] = {r: given[r] for r in (STORAGE, MESSAGES) if r in given}
        if not limits:
            raise ValueError("give --storage, --messages or both")
        await set_limits(store, principal.id, limits)
    found = await usage_and_limits(WorkingSet(store, principal.id))
    if args.json or getattr(args, "show_json", False):
        out.write(json.dumps({
            "name": principal.name,
            "accountId": principal.id,
            **{r: {"used": used, "limit": limit} for r, (used, limit) in found.items()},
        }) + "\n")
    elif args.action == "set":
        out.write(f"limits of {principal.name}: " + ", ".join(
            f"{r} {_describe(limit)}" for r, (_used, limit) in found.items()
        ) + "\n")
    else:
        for resource, (used, limit) in found.items():
            out.write(f"{resource}\t{used}\t{_describe(limit)}\n")
