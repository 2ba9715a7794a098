"""The Redis store backend (txredisapi); the only package that may import txredisapi.

Import it lazily (``stalwart_tx.store.backend.open_redis_store`` does): txredisapi installs the
global reactor when it is imported.
"""

from __future__ import annotations

from stalwart_tx.store.redis.account_store import RedisAccountStore
from stalwart_tx.store.redis.blobs import RedisBlobStore, RedisBlobUpload
from stalwart_tx.store.redis.connection import Availability, RedisConnection, translate_error
from stalwart_tx.store.redis.directory import RedisDirectory
from stalwart_tx.store.redis.notifier import RedisNotifier
from stalwart_tx.store.redis.url import RedisURL, parse_redis_url

__all__ = [
    "Availability",
    "RedisAccountStore",
    "RedisBlobStore",
    "RedisBlobUpload",
    "RedisConnection",
    "RedisDirectory",
    "RedisNotifier",
    "RedisURL",
    "parse_redis_url",
    "translate_error",
]
