"""``stalwart-admin user address add|remove|list``: the email addresses a user owns.

An address belongs to one user at most; a user's Identities (JMAP) may only send as these and
as the aliases pointing at the user. Domains are not checked yet: that comes with delivery.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, USAGE
from stalwart_tx.admin.output import emitter
from stalwart_tx.store.addresses import normalise_address
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import PrincipalExists, PrincipalNotFound
from stalwart_tx.store.records import Principal


class AddressError(Exception):
    """A refusal to report with its stalwart-admin exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_parser(user_commands: Any) -> None:
    """``address`` under the ``user`` command group."""
    address = user_commands.add_parser("address", help="a user's email addresses")
    actions = address.add_subparsers(dest="address_action", required=True)
    for action, text in (("add", "give a user an address"),
                         ("remove", "take an address from a user")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name")
        sub.add_argument("address")
    listing = actions.add_parser("list", help="a user's addresses and the aliases naming them")
    listing.add_argument("name")
    # its own dest: a subparser's default would overwrite a global --json given before "user"
    listing.add_argument("--json", dest="address_json", action="store_true",
                         help="print the result as JSON")


async def run(
    store: StoreBundle, principal: Principal, args: argparse.Namespace, out: TextIO
) -> None:
    as_json = bool(args.json or getattr(args, "address_json", False))

    emit = emitter(out, bool(as_json))

    directory = store.directory
    action = args.address_action
    if action == "add":
        try:
            await directory.add_address(principal.id, args.address)
        except ValueError as error:
            raise AddressError(str(error), USAGE) from None
        except PrincipalExists:
            raise AddressError(f"the address {args.address!r} is taken", EXISTS) from None
        except PrincipalNotFound:  # deleted in between
            raise AddressError(f"no user named {principal.name!r}", NOT_FOUND) from None
        stored = normalise_address(args.address)
        emit(f"added {stored} to {principal.name}", {"name": principal.name, "address": stored})
    elif action == "remove":
        try:
            await directory.remove_address(principal.id, args.address)
        except (ValueError, PrincipalNotFound):
            raise AddressError(
                f"{principal.name} has no address {args.address!r}", NOT_FOUND
            ) from None
        emit(f"removed {args.address} from {principal.name}",
             {"name": principal.name, "address": args.address})
    else:
        rows = []
        for address in await directory.addresses_of(principal.id):
            owned = await directory.principal_for_address(address) == principal.id
            rows.append({"address": address, "alias": not owned})
        if as_json:
            emit("", rows)
        else:
            for row in rows:
                out.write(f"{row['address']}{chr(9) + 'alias' if row['alias'] else ''}\n")
