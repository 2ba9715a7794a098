"""Which accounts an LMTP recipient address delivers to.

An address is looked up as the directory has it: first as some principal's own address, then
as an alias (one address for several accounts). With neither, a plus-address
(``user+tag@domain``) is looked up again without its tag, and last the domain's catch-all (the
alias ``@domain``) takes what is left. Mail for a domain the directory does
not list is refused whatever its local part: the server is no open relay for names it does
not serve.
"""

from __future__ import annotations

from stalwart_tx.store.addresses import address_key
from stalwart_tx.store.interfaces import IDirectory


class UnknownDomain(Exception):
    """The address's domain is not one the directory serves."""


class BadAddress(Exception):
    """The text is no mailbox address (local@domain)."""


async def resolve(directory: IDirectory, address: str) -> list[str]:
    """The principal ids mail to ``address`` goes to, in the directory's order, each once;
    empty when it names nobody. Raises UnknownDomain or BadAddress."""
    try:
        key = address_key(address)
    except ValueError:
        raise BadAddress(address) from None
    local, _, domain = key.rpartition("@")
    if not local or not domain:
        raise BadAddress(address)
    if domain not in await directory.list_domains():
        raise UnknownDomain(domain)
    found = await _lookup(directory, key)
    if not found and "+" in local:
        found = await _lookup(directory, f"{local.partition('+')[0]}@{domain}")
    if not found:
        found = list(dict.fromkeys(await directory.resolve_alias(f"@{domain}")))
    return found


async def _lookup(directory: IDirectory, key: str) -> list[str]:
    owner = await directory.principal_for_address(key)
    if owner is not None:
        return [owner]
    return list(dict.fromkeys(await directory.resolve_alias(key)))
