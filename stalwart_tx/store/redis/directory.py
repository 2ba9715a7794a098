"""IDirectory on Redis, behaving exactly like MemoryDirectory; every change is one atomic step."""

from __future__ import annotations

import json
import time
from typing import Any

from zope.interface import implementer

from stalwart_tx.store.addresses import address_key, normalise_address
from stalwart_tx.store.errors import PrincipalExists, PrincipalNotFound, StoreError, TokenNotFound
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.memory_directory import new_principal_id, normalise_name
from stalwart_tx.store.records import Principal, TokenRecord
from stalwart_tx.store.redis import scripts
from stalwart_tx.store.redis.connection import RedisConnection, as_text, pairs
from stalwart_tx.store.redis.keys import DirectoryKeys


def _principal(principal_id: str, data: str | bytes, password_hash: Any) -> Principal:
    fields = json.loads(as_text(data))
    return Principal(
        id=principal_id,
        name=fields["name"],
        kind=fields["kind"],
        password_hash=as_text(password_hash) if password_hash is not None else None,
        created_at=fields["created_at"],
    )


def _encode_token(record: TokenRecord) -> str:
    return json.dumps({
        "token_id": record.token_id, "principal_id": record.principal_id,
        "secret_hash": record.secret_hash, "created_at": record.created_at,
        "label": record.label,
    })


def _token(data: str | bytes) -> TokenRecord:
    fields = json.loads(as_text(data))
    return TokenRecord(
        token_id=fields["token_id"], principal_id=fields["principal_id"],
        secret_hash=fields["secret_hash"], created_at=fields["created_at"],
        label=fields["label"],
    )


def _password_args(password_hash: str | None) -> list[str]:
    return ["1", password_hash] if password_hash is not None else ["0", ""]


@implementer(IDirectory)
class RedisDirectory:
    def __init__(self, connection: RedisConnection, *, prefix: str = "stx:") -> None:
        self._redis = connection
        self._keys = DirectoryKeys(prefix)

    async def create_principal(
        self, name: str, password_hash: str | None, kind: str = "individual"
    ) -> Principal:
        key = normalise_name(name)
        if not key:
            raise ValueError("a principal needs a non-empty name")
        k = self._keys
        for _ in range(10):
            principal = Principal(
                id=new_principal_id(), name=key, kind=kind, password_hash=password_hash,
                created_at=time.time(),
            )
            data = json.dumps({"name": key, "kind": kind, "created_at": principal.created_at})
            outcome = as_text(await self._redis.run_script(
                scripts.CREATE_PRINCIPAL, [k.principals, k.names, k.passwords],
                [principal.id, key, data, *_password_args(password_hash)],
            ))
            if outcome == "ok":
                return principal
            if outcome == "exists":
                raise PrincipalExists(key)
            # "taken": a random id collided with a live one; draw again
        raise StoreError("could not draw an unused principal id")

    async def get_principal(self, principal_id: str) -> Principal:
        reply = await self._redis.run_script(
            scripts.GET_PRINCIPAL, [self._keys.principals, self._keys.passwords], [principal_id]
        )
        if reply is None:
            raise PrincipalNotFound(principal_id)
        return _principal(principal_id, reply[0], reply[1])

    async def find_principal(self, name: str) -> Principal:
        k = self._keys
        reply = await self._redis.run_script(
            scripts.FIND_PRINCIPAL, [k.names, k.principals, k.passwords], [normalise_name(name)]
        )
        if reply is None:
            raise PrincipalNotFound(name)
        return _principal(as_text(reply[0]), reply[1], reply[2])

    async def list_principals(self) -> list[Principal]:
        principals, passwords = await self._redis.run_script(
            scripts.LIST_PRINCIPALS, [self._keys.principals, self._keys.passwords]
        )
        hashes = {as_text(i): h for i, h in pairs(passwords)}
        found = [
            _principal(as_text(i), data, hashes.get(as_text(i))) for i, data in pairs(principals)
        ]
        return sorted(found, key=lambda p: p.name)

    async def set_password_hash(self, principal_id: str, password_hash: str | None) -> None:
        done = await self._redis.run_script(
            scripts.SET_PASSWORD, [self._keys.principals, self._keys.passwords],
            [principal_id, *_password_args(password_hash)],
        )
        if not done:
            raise PrincipalNotFound(principal_id)

    async def delete_principal(self, principal_id: str) -> None:
        k = self._keys
        done = await self._redis.run_script(
            scripts.DELETE_PRINCIPAL,
            [k.principals, k.names, k.passwords, k.tokens, k.principal_tokens(principal_id),
             k.aliases, k.principal_aliases(principal_id), k.addresses,
             k.principal_addresses(principal_id)],
            [principal_id],
        )
        if not done:
            raise PrincipalNotFound(principal_id)

    async def add_token(self, record: TokenRecord) -> None:
        k = self._keys
        done = await self._redis.run_script(
            scripts.ADD_TOKEN, [k.principals, k.tokens, k.principal_tokens(record.principal_id)],
            [record.principal_id, record.token_id, _encode_token(record)],
        )
        if not done:
            raise PrincipalNotFound(record.principal_id)

    async def get_token(self, token_id: str) -> TokenRecord:
        data = await self._redis.execute("HGET", self._keys.tokens, token_id)
        if data is None:
            raise TokenNotFound(token_id)
        return _token(data)

    async def list_tokens(self, principal_id: str) -> list[TokenRecord]:
        found = await self._redis.run_script(
            scripts.LIST_TOKENS, [self._keys.tokens, self._keys.principal_tokens(principal_id)]
        )
        # a token given anew to another principal stays in the old index; it is not ours
        mine = [t for t in map(_token, found) if t.principal_id == principal_id]
        return sorted(mine, key=lambda t: (t.created_at, t.token_id))

    async def revoke_token(self, token_id: str) -> None:
        if not await self._redis.execute("HDEL", self._keys.tokens, token_id):
            raise TokenNotFound(token_id)

    async def add_domain(self, domain: str) -> None:
        key = normalise_name(domain)
        if not await self._redis.execute("SADD", self._keys.domains, key):
            raise PrincipalExists(key)

    async def remove_domain(self, domain: str) -> None:
        key = normalise_name(domain)
        if not await self._redis.execute("SREM", self._keys.domains, key):
            raise PrincipalNotFound(key)

    async def list_domains(self) -> list[str]:
        return sorted(as_text(d) for d in await self._redis.execute("SMEMBERS", self._keys.domains))

    async def set_alias(self, address: str, principal_ids: list[str]) -> None:
        targets = list(dict.fromkeys(principal_ids))
        k = self._keys
        reply = await self._redis.run_script(
            scripts.SET_ALIAS,
            [k.principals, k.aliases, *(k.principal_aliases(p) for p in targets)],
            [normalise_name(address), json.dumps(targets), *targets],
        )
        if as_text(reply[0]) == "missing":
            raise PrincipalNotFound(as_text(reply[1]))

    async def remove_alias(self, address: str) -> None:
        if not await self._redis.execute("HDEL", self._keys.aliases, normalise_name(address)):
            raise PrincipalNotFound(address)

    async def resolve_alias(self, address: str) -> list[str]:
        data = await self._redis.execute("HGET", self._keys.aliases, normalise_name(address))
        if data is None:
            return []
        return [str(t) for t in json.loads(as_text(data))]

    async def list_aliases(self) -> list[tuple[str, list[str]]]:
        found = await self._redis.execute("HGETALL", self._keys.aliases)
        return sorted(
            (as_text(address), [str(t) for t in json.loads(as_text(targets))])
            for address, targets in pairs(found)
        )

    async def add_address(self, principal_id: str, address: str) -> None:
        stored, key = normalise_address(address), address_key(address)
        k = self._keys
        outcome = as_text(await self._redis.run_script(
            scripts.ADD_ADDRESS, [k.principals, k.addresses, k.principal_addresses(principal_id)],
            [principal_id, key, stored],
        ))
        if outcome == "missing":
            raise PrincipalNotFound(principal_id)
        if outcome == "exists":
            raise PrincipalExists(stored)

    async def remove_address(self, principal_id: str, address: str) -> None:
        k = self._keys
        done = await self._redis.run_script(
            scripts.REMOVE_ADDRESS, [k.addresses, k.principal_addresses(principal_id)],
            [principal_id, address_key(address)],
        )
        if not done:
            raise PrincipalNotFound(address)

    async def addresses_of(self, principal_id: str) -> list[str]:
        k = self._keys
        own, aliases = await self._redis.run_script(
            scripts.ADDRESSES_OF,
            [k.principal_addresses(principal_id), k.aliases, k.principal_aliases(principal_id)],
            [principal_id],
        )
        found = {a.lower(): a for a in map(as_text, own)}
        for alias in map(as_text, aliases):
            found.setdefault(alias.lower(), alias)
        return sorted(found.values())

    async def principal_for_address(self, address: str) -> str | None:
        try:
            key = address_key(address)
        except ValueError:
            return None  # what is no address belongs to nobody
        owner = await self._redis.execute("HGET", self._keys.addresses, key)
        return as_text(owner) if owner is not None else None
