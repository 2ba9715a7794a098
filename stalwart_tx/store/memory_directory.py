"""In-memory IDirectory: real code, kept honest by the same conformance tests as the Redis one."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

from zope.interface import implementer

from stalwart_tx.store.addresses import address_key, normalise_address
from stalwart_tx.store.errors import PrincipalExists, PrincipalNotFound, TokenNotFound
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.records import Principal, TokenRecord


def new_principal_id() -> str:
    """A short random id, safe in URLs, Redis keys and IMAP atoms; never derived from the name."""
    return "a" + secrets.token_hex(8)


def normalise_name(name: str) -> str:
    return name.strip().lower()


@implementer(IDirectory)
class MemoryDirectory:
    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self._by_name: dict[str, str] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._domains: set[str] = set()
        self._aliases: dict[str, list[str]] = {}
        self._addresses: dict[str, tuple[str, str]] = {}  # key → (principal id, address)

    async def create_principal(
        self, name: str, password_hash: str | None, kind: str = "individual"
    ) -> Principal:
        key = normalise_name(name)
        if not key:
            raise ValueError("a principal needs a non-empty name")
        if key in self._by_name:
            raise PrincipalExists(key)
        principal = Principal(
            id=new_principal_id(), name=key, kind=kind, password_hash=password_hash,
            created_at=time.time(),
        )
        self._principals[principal.id] = principal
        self._by_name[key] = principal.id
        return principal

    async def get_principal(self, principal_id: str) -> Principal:
        try:
            return self._principals[principal_id]
        except KeyError:
            raise PrincipalNotFound(principal_id) from None

    async def find_principal(self, name: str) -> Principal:
        principal_id = self._by_name.get(normalise_name(name))
        if principal_id is None:
            raise PrincipalNotFound(name)
        return self._principals[principal_id]

    async def list_principals(self) -> list[Principal]:
        return sorted(self._principals.values(), key=lambda p: p.name)

    async def set_password_hash(self, principal_id: str, password_hash: str | None) -> None:
        if principal_id not in self._principals:
            raise PrincipalNotFound(principal_id)
        self._principals[principal_id] = replace(
            self._principals[principal_id], password_hash=password_hash
        )
        return None

    async def delete_principal(self, principal_id: str) -> None:
        principal = self._principals.pop(principal_id, None)
        if principal is None:
            raise PrincipalNotFound(principal_id)
        del self._by_name[principal.name]
        for token in [t for t in self._tokens.values() if t.principal_id == principal_id]:
            del self._tokens[token.token_id]
        for key, (owner, _address) in list(self._addresses.items()):
            if owner == principal_id:
                del self._addresses[key]
        for address, targets in list(self._aliases.items()):
            if principal_id not in targets:
                continue  # an alias that never pointed at it stays as it is
            remaining = [t for t in targets if t != principal_id]
            if remaining:
                self._aliases[address] = remaining
            else:
                del self._aliases[address]
        return None

    async def add_token(self, record: TokenRecord) -> None:
        if record.principal_id not in self._principals:
            raise PrincipalNotFound(record.principal_id)
        self._tokens[record.token_id] = record
        return None

    async def get_token(self, token_id: str) -> TokenRecord:
        try:
            return self._tokens[token_id]
        except KeyError:
            raise TokenNotFound(token_id) from None

    async def list_tokens(self, principal_id: str) -> list[TokenRecord]:
        mine = [t for t in self._tokens.values() if t.principal_id == principal_id]
        return sorted(mine, key=lambda t: (t.created_at, t.token_id))

    async def revoke_token(self, token_id: str) -> None:
        if self._tokens.pop(token_id, None) is None:
            raise TokenNotFound(token_id)
        return None

    async def add_domain(self, domain: str) -> None:
        key = normalise_name(domain)
        if key in self._domains:
            raise PrincipalExists(key)
        self._domains.add(key)
        return None

    async def remove_domain(self, domain: str) -> None:
        key = normalise_name(domain)
        if key not in self._domains:
            raise PrincipalNotFound(key)
        self._domains.discard(key)
        return None

    async def list_domains(self) -> list[str]:
        return sorted(self._domains)

    async def set_alias(self, address: str, principal_ids: list[str]) -> None:
        for principal_id in principal_ids:
            if principal_id not in self._principals:
                raise PrincipalNotFound(principal_id)
        self._aliases[normalise_name(address)] = list(dict.fromkeys(principal_ids))
        return None

    async def remove_alias(self, address: str) -> None:
        if self._aliases.pop(normalise_name(address), None) is None:
            raise PrincipalNotFound(address)
        return None

    async def resolve_alias(self, address: str) -> list[str]:
        return list(self._aliases.get(normalise_name(address), []))

    async def list_aliases(self) -> list[tuple[str, list[str]]]:
        return [(address, list(targets)) for address, targets in sorted(self._aliases.items())]

    async def add_address(self, principal_id: str, address: str) -> None:
        stored, key = normalise_address(address), address_key(address)
        if principal_id not in self._principals:
            raise PrincipalNotFound(principal_id)
        if key in self._addresses:
            raise PrincipalExists(stored)
        self._addresses[key] = (principal_id, stored)
        return None

    async def remove_address(self, principal_id: str, address: str) -> None:
        key = address_key(address)
        owner = self._addresses.get(key)
        if owner is None or owner[0] != principal_id:
            raise PrincipalNotFound(address)
        del self._addresses[key]
        return None

    async def addresses_of(self, principal_id: str) -> list[str]:
        found = {key: stored for key, (owner, stored) in self._addresses.items()
                 if owner == principal_id}
        for alias, targets in self._aliases.items():
            if principal_id in targets:
                found.setdefault(alias.lower(), alias)
        return sorted(found.values())

    async def principal_for_address(self, address: str) -> str | None:
        try:
            key = address_key(address)
        except ValueError:
            return None  # what is no address belongs to nobody
        owner = self._addresses.get(key)
        return owner[0] if owner is not None else None
