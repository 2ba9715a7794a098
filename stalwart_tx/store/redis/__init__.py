"""The Redis store backend (txredisapi); the only package that may import txredisapi.

txredisapi installs the global reactor when it is imported, so this package imports it only when
one of the names below is first used (``from stalwart_tx.store.redis import RedisConnection``);
``stalwart_tx.store.redis.url`` parses URLs without importing it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stalwart_tx.store.redis.account_store import RedisAccountStore
    from stalwart_tx.store.redis.blobs import RedisBlobStore, RedisBlobUpload
    from stalwart_tx.store.redis.claims import RedisClaims
    from stalwart_tx.store.redis.connection import (
        Availability,
        RedisConnection,
        translate_error,
    )
    from stalwart_tx.store.redis.directory import RedisDirectory
    from stalwart_tx.store.redis.due import RedisDueAccounts
    from stalwart_tx.store.redis.notifier import RedisNotifier
    from stalwart_tx.store.redis.url import RedisURL, parse_redis_url

_WHERE = {
    "Availability": "connection",
    "RedisAccountStore": "account_store",
    "RedisBlobStore": "blobs",
    "RedisBlobUpload": "blobs",
    "RedisClaims": "claims",
    "RedisConnection": "connection",
    "RedisDirectory": "directory",
    "RedisDueAccounts": "due",
    "RedisNotifier": "notifier",
    "RedisURL": "url",
    "parse_redis_url": "url",
    "translate_error": "connection",
}

__all__ = [
    "Availability",
    "RedisAccountStore",
    "RedisBlobStore",
    "RedisBlobUpload",
    "RedisClaims",
    "RedisConnection",
    "RedisDirectory",
    "RedisDueAccounts",
    "RedisNotifier",
    "RedisURL",
    "parse_redis_url",
    "translate_error",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
