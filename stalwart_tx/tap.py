"""The twistd entry point: ``twistd -n stalwart [options]``."""

from __future__ import annotations

from pathlib import Path

from twisted.application.service import MultiService
from twisted.python import usage

from stalwart_tx.config import SETTINGS, ConfigError, ServiceConfig, build_config
from stalwart_tx.store.redis_binary import RedisServerNotFound, find_redis_server


def shown_default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class Options(usage.Options):
    synopsis = "[--config FILE] [options]"
    longdesc = (
        "Runs the stalwart-tx JMAP and IMAP mail server. Every option can also be set in the TOML "
        "file given with --config, under the same name; the command line wins."
    )
    optParameters = [
        ["config", "c", None, "TOML configuration file."],
        *[[s.name, None, None, f"{s.help} [default: {shown_default(s.default)}]"]
          for s in SETTINGS if not s.repeatable],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["auth"] = []
        self.service_config: ServiceConfig | None = None

    def opt_auth(self, spec: str) -> None:
        """Extra credential checker, e.g. file:/etc/stalwart/htpasswd (repeatable)."""
        self["auth"].append(spec)

    def postOptions(self) -> None:
        given: dict[str, object] = {
            s.name: self[s.name] for s in SETTINGS if not s.repeatable and self[s.name] is not None
        }
        if self["auth"]:
            given["auth"] = list(self["auth"])
        config_file = Path(self["config"]) if self["config"] else None
        try:
            config = build_config(given, config_file)
            if config.redis is None:
                find_redis_server(config.redis_server)
            from stalwart_tx.auth.checkers import parse_auth_option

            for spec in config.auth:
                parse_auth_option(spec)
        except (ConfigError, RedisServerNotFound, ValueError) as error:
            raise usage.UsageError(str(error)) from None
        self.service_config = config


def makeService(options: Options) -> MultiService:
    from stalwart_tx.service import makeService as build

    assert options.service_config is not None
    return build(options.service_config)


