"""What the main process tells an extra IMAP process: the settings it needs and which inherited
file descriptors are the listening sockets. Sent as one JSON line on the child's stdin (not on
its command line, where a Redis URL's password would show in ``ps``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stalwart_tx.config import ServiceConfig, build_config

# the child's file descriptors of the inherited listening sockets
PLAIN_FD: Final = 3
IMPLICIT_FD: Final = 4
# the child's file descriptor of the SessionBoard's memory
BOARD_FD: Final = 5

# settings an IMAP process uses, as the main process resolved them (by setting name)
IMAP_SETTINGS: Final = (
    "redis-timeout", "auth", "auto-provision", "auth-cache-ttl", "public-url",
    "max-concurrent-requests", "changelog-max-tombstones", "tls-certificate", "tls-key",
    "shutdown-grace",
)
RELAY_SETTINGS: Final = (
    "smtp-relay", "smtp-relay-starttls", "smtp-relay-user", "smtp-relay-password-file",
    "smtp-relay-ca", "smtp-relay-timeout", "smtp-relay-helo",
)


@dataclass(frozen=True)
class InheritedSocket:
    fd: int
    family: int


@dataclass(frozen=True)
class BoardPlace:
    """The SessionBoard the child maps (inherited as ``fd``) and its slot there."""

    fd: int
    slots: int
    slot: int


@dataclass(frozen=True)
class WorkerSpec:
    # setting name -> value, read again with build_config by the child
    settings: dict[str, Any]
    plain: InheritedSocket | None
    implicit: InheritedSocket | None
    board: BoardPlace | None = None

    def to_line(self) -> bytes:
        board = self.board
        return json.dumps({
            "settings": self.settings,
            "plain": _socket_json(self.plain),
            "implicit": _socket_json(self.implicit),
            "board": None if board is None else
            {"fd": board.fd, "slots": board.slots, "slot": board.slot},
        }).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> WorkerSpec:
        data = json.loads(line)
        board = data.get("board")
        return cls(
            data["settings"], _socket(data["plain"]), _socket(data["implicit"]),
            None if board is None else
            BoardPlace(int(board["fd"]), int(board["slots"]), int(board["slot"])),
        )

    def config(self) -> ServiceConfig:
        """The child's ServiceConfig; the listeners are the inherited sockets, not settings."""
        return build_config({**self.settings, "imap": "none", "imaps": None,
                             "analysis-workers": 0})


def worker_settings(config: ServiceConfig, redis_url: str) -> dict[str, Any]:
    """The settings a child needs; ``redis_url`` is the Redis the main process uses (the
    embedded one's socket when ``config.redis`` is unset)."""
    names = IMAP_SETTINGS + (RELAY_SETTINGS if config.smtp_relay is not None else ())
    settings: dict[str, Any] = {"redis": redis_url}
    for name in names:
        value = getattr(config, name.replace("-", "_"))
        if value is None:
            continue
        settings[name] = str(value) if isinstance(value, Path) else value
    return settings


def _socket_json(inherited: InheritedSocket | None) -> dict[str, int] | None:
    return None if inherited is None else {"fd": inherited.fd, "family": inherited.family}


def _socket(data: dict[str, int] | None) -> InheritedSocket | None:
    return None if data is None else InheritedSocket(int(data["fd"]), int(data["family"]))
