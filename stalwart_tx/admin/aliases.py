"""``stalwart-admin alias set|remove|list``: addresses that deliver to one or more users.

An alias lives in a domain added with ``domain add``, since delivery refuses every other
domain, and never on an address a user owns: delivery looks the owner up first, so such an
alias would never be used. ``@domain`` is the domain's catch-all.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, USAGE
from stalwart_tx.admin.output import emitter
from stalwart_tx.store.addresses import address_key
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import PrincipalNotFound


class AliasError(Exception):
    """A refusal to report with its stalwart-admin exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_parser(commands: Any) -> None:
    """The ``alias`` command group, added to stalwart-admin's subparsers."""
    alias = commands.add_parser("alias", help="addresses delivering to users").add_subparsers(
        dest="action", required=True
    )
    setting = alias.add_parser("set", help="point an address at users, replacing its targets")
    setting.add_argument("address", help="an address, or @domain for the domain's catch-all")
    setting.add_argument("users", metavar="user", nargs="+", help="a user's login name")
    alias.add_parser("remove", help="remove an alias").add_argument("address")
    listing = alias.add_parser("list", help="every alias and the users it delivers to")
    # its own dest: a subparser's default would overwrite a global --json given before "alias"
    listing.add_argument("--json", dest="alias_json", action="store_true",
                         help="print the result as JSON")


async def _checked_address(store: StoreBundle, address: str) -> str:
    """The alias key for ``address``; AliasError unless it may become an alias. ``@domain``
    is the domain's catch-all: what no address or other alias of the domain takes."""
    text = address.strip()
    if text.startswith("@"):
        domain = text[1:].lower()
        if not domain or "@" in domain:
            raise AliasError(f"not a catch-all: {address!r} (expected @domain)", USAGE)
        if domain not in await store.directory.list_domains():
            raise AliasError(
                f"{domain} is no domain of this server (add it first: domain add {domain})",
                NOT_FOUND,
            )
        return f"@{domain}"
    try:
        key = address_key(address)
    except ValueError as error:
        raise AliasError(str(error), USAGE) from None
    domain = key.rpartition("@")[2]
    if domain not in await store.directory.list_domains():
        raise AliasError(
            f"{domain} is no domain of this server (add it first: domain add {domain})",
            NOT_FOUND,
        )
    owner = await store.directory.principal_for_address(key)
    if owner is not None:
        try:
            holder = (await store.directory.get_principal(owner)).name
        except PrincipalNotFound:  # deleted in between: the address is free by now
            return key
        raise AliasError(f"the address {key!r} belongs to the user {holder!r}", EXISTS)
    return key


async def run(store: StoreBundle, args: argparse.Namespace, out: TextIO) -> None:
    as_json = bool(args.json or getattr(args, "alias_json", False))

    emit = emitter(out, bool(as_json))

    directory = store.directory
    if args.action == "set":
        key = await _checked_address(store, args.address)
        targets = []
        for name in args.users:
            try:
                targets.append(await directory.find_principal(name))
            except PrincipalNotFound:
                raise AliasError(f"no user named {name!r}", NOT_FOUND) from None
        users = list(dict.fromkeys(p.name for p in targets))
        try:
            await directory.set_alias(key, [p.id for p in targets])
        except PrincipalNotFound:  # deleted in between
            raise AliasError("a user was deleted meanwhile; try again", NOT_FOUND) from None
        emit(f"{key} delivers to {', '.join(users)}", {"address": key, "users": users})
    elif args.action == "remove":
        try:
            await directory.remove_alias(args.address)
        except PrincipalNotFound:
            raise AliasError(f"no alias {args.address!r}", NOT_FOUND) from None
        stored = args.address.strip().lower()
        emit(f"removed alias {stored}", {"address": stored})
    else:
        name_of = {p.id: p.name for p in await directory.list_principals()}
        # an id with no principal can only be one deleted meanwhile: show it rather than hide it
        aliases = [(address, [name_of.get(t, t) for t in targets])
                   for address, targets in await directory.list_aliases()]
        if as_json:
            emit("", [{"address": address, "users": users} for address, users in aliases])
        else:
            for address, users in aliases:
                out.write("\t".join([address, *users]) + "\n")
