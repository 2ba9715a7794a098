"""Small real objects shared by the auth tests."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from zope.interface import implementer

from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.memory_directory import MemoryDirectory


@implementer(IDirectory)
class FlakyDirectory:
    """A MemoryDirectory that can be taken down; then every call raises StoreUnavailable."""

    def __init__(self, inner: MemoryDirectory | None = None) -> None:
        self.inner = inner or MemoryDirectory()
        self.down = False

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("directory backend is down")
            return await method(*args, **kwargs)

        return call
