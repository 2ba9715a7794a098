"""Every Redis key name, in one place (docs/redis-schema.md describes what each holds).

All keys of an account share the hash tag ``{a:<account id>}`` so the account lives on one shard
and one Lua script may touch all of it; directory keys share ``{dir}``. Everything starts with a
configurable prefix, so several stores can share one Redis.
"""

from __future__ import annotations

from functools import lru_cache


def check_prefix(prefix: str) -> str:
    # a brace in the prefix would become the hash tag instead of ours
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"a key prefix must not contain braces: {prefix!r}")
    return prefix


def changes_channel(prefix: str) -> str:
    """The pub/sub channel of StateChange messages."""
    return f"{prefix}changes"


def blob_sweep_index(prefix: str) -> str:
    """Sorted set of accounts that may hold unreferenced blobs, scored by the earliest stamp.

    The one key outside every account: it lists accounts, so it cannot live under one account's
    tag; its own tag keeps it on one shard.
    """
    return f"{check_prefix(prefix)}{{blobsweep}}:accounts"


def due_index(prefix: str, name: str) -> str:
    """Sorted set of accounts with work of ``name`` due, scored by the earliest (IDueAccounts).

    Outside every account like ``blob_sweep_index``, with a tag of its own.
    """
    return f"{check_prefix(prefix)}{{due:{name}}}:accounts"


class AccountKeys:
    """Key names of one account."""

    def __init__(self, prefix: str, account_id: str) -> None:
        if not account_id or "{" in account_id or "}" in account_id:
            raise ValueError(f"invalid account id {account_id!r}")
        self.account_id = account_id
        self.base = f"{check_prefix(prefix)}{{a:{account_id}}}:"
        self.modseq = self.base + "modseq"
        self.states = self.base + "states"
        self.floors = self.base + "floors"
        self.types = self.base + "types"
        self.blobs = self.base + "blobs"
        self.uploads = self.base + "uploads"
        self.unreferenced = self.base + "unreferenced"
        # the set of every index and map key of the account that exists (destroy_account)
        self.derived = self.base + "derived"

    def fixed(self) -> list[str]:
        """The keys that exist once per account, whatever it holds."""
        return [
            self.modseq, self.states, self.floors, self.types, self.blobs, self.uploads,
            self.unreferenced, self.derived,
        ]

    def objects(self, type_name: str) -> str:
        return f"{self.base}obj:{type_name}"

    def log(self, type_name: str) -> str:
        return f"{self.base}log:{type_name}"

    def born(self, type_name: str) -> str:
        return f"{self.base}born:{type_name}"

    def dead(self, type_name: str) -> str:
        return f"{self.base}dead:{type_name}"

    def tombs(self, type_name: str) -> str:
        """The tombstones again, as a sorted set scored by the modseq that destroyed each.

        It orders them, so the write script drops the oldest at O(log n) each.
        """
        return f"{self.base}tomb:{type_name}"

    def of_type(self, type_name: str) -> list[str]:
        """The five keys of a type, in the order the Lua scripts expect them."""
        return [
            self.objects(type_name), self.log(type_name), self.born(type_name),
            self.dead(type_name), self.tombs(type_name),
        ]

    def blob(self, blob_id: str) -> str:
        return f"{self.base}blob:{blob_id}"

    def blob_refs(self, blob_id: str) -> str:
        """The set of objects ("Type/id") that claim the blob; absent when none does."""
        return f"{self.base}blobrefs:{blob_id}"

    def upload(self, token: str) -> str:
        return f"{self.base}upload:{token}"

    def claim(self, name: str) -> str:
        return f"{self.base}claim:{name}"

    def index(self, name: str) -> str:
        """A sorted index (IIndexStore): a sorted set, member -> score."""
        return f"{self.base}ix:{name}"

    def map(self, name: str) -> str:
        """A string map (IIndexStore): a hash, field -> value."""
        return f"{self.base}map:{name}"

    def temporary(self, token: str) -> str:
        """A scratch sorted set of one index query, deleted before its script returns."""
        return f"{self.base}tmp:{token}"


class DirectoryKeys:
    """Key names of the directory (principals, tokens, domains, aliases, addresses)."""

    def __init__(self, prefix: str) -> None:
        self.base = f"{check_prefix(prefix)}{{dir}}:"
        self.principals = self.base + "principals"
        self.names = self.base + "names"
        self.passwords = self.base + "passwords"
        self.tokens = self.base + "tokens"
        self.domains = self.base + "domains"
        self.aliases = self.base + "aliases"
        self.addresses = self.base + "addresses"

    def principal_tokens(self, principal_id: str) -> str:
        return f"{self.base}principal_tokens:{principal_id}"

    def principal_aliases(self, principal_id: str) -> str:
        return f"{self.base}principal_aliases:{principal_id}"

    def principal_addresses(self, principal_id: str) -> str:
        return f"{self.base}principal_addresses:{principal_id}"


@lru_cache(maxsize=4096)
def account_keys(prefix: str, account_id: str) -> AccountKeys:
    """The AccountKeys of an account, made once (every store call of an account needs them)."""
    return AccountKeys(prefix, account_id)
