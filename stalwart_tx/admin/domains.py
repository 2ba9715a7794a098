"""``stalwart-admin domain add|remove|list``: the mail domains this server accepts mail for.

Delivery refuses every recipient in a domain not listed here, and aliases may only be set in
listed domains. Removing a domain leaves its addresses and aliases in place, unreachable by
mail until the domain is added again.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, TextIO

from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND
from stalwart_tx.admin.output import emitter
from stalwart_tx.store.backend import StoreBundle
from stalwart_tx.store.errors import PrincipalExists, PrincipalNotFound

MAX_DOMAIN_LENGTH = 253  # RFC 1035 §2.3.4: 255 octets on the wire, less the length and root bytes
# RFC 1123 §2.1 host name labels; ASCII only, so an IDN goes in its xn-- form
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class DomainError(Exception):
    """A refusal to report with its stalwart-admin exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def domain_name(text: str) -> str:
    """An argparse type: a plausible DNS name, lowercased."""
    name = text.strip()
    # checked before lowercasing: str.lower maps some non-ASCII letters (the Kelvin sign) to ASCII
    plausible = 0 < len(name) <= MAX_DOMAIN_LENGTH and all(
        _LABEL.fullmatch(label) for label in name.split(".")
    )
    if not plausible:
        raise argparse.ArgumentTypeError(f"{text!r} is not a domain name")
    return name.lower()


def add_parser(commands: Any) -> None:
    """The ``domain`` command group, added to stalwart-admin's subparsers."""
    domain = commands.add_parser("domain", help="mail domains").add_subparsers(
        dest="action", required=True
    )
    domain.add_parser("add", help="accept mail for a domain").add_argument(
        "domain", type=domain_name
    )
    # anything listed can be removed, so no syntax check stands in the way of a clean-up
    domain.add_parser("remove", help="stop accepting mail for a domain").add_argument("domain")
    listing = domain.add_parser("list", help="list the domains")
    # its own dest: a subparser's default would overwrite a global --json given before "domain"
    listing.add_argument("--json", dest="domain_json", action="store_true",
                         help="print the result as JSON")


async def run(store: StoreBundle, args: argparse.Namespace, out: TextIO) -> None:
    as_json = bool(args.json or getattr(args, "domain_json", False))

    emit = emitter(out, bool(as_json))

    directory = store.directory
    if args.action == "add":
        try:
            await directory.add_domain(args.domain)
        except PrincipalExists:
            raise DomainError(f"the domain {args.domain!r} is already there", EXISTS) from None
        emit(f"added domain {args.domain}", {"domain": args.domain})
    elif args.action == "remove":
        stored = args.domain.strip().lower()
        try:
            await directory.remove_domain(stored)
        except PrincipalNotFound:
            raise DomainError(f"no domain {args.domain!r}", NOT_FOUND) from None
        emit(f"removed domain {stored}", {"domain": stored})
    else:
        domains = await directory.list_domains()
        if as_json:
            emit("", domains)
        else:
            for name in domains:
                out.write(f"{name}\n")
