"""The twistd entry point: ``twistd -n stalwart [options]``."""

from __future__ import annotations

from collections.abc import Callable
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
        for setting in SETTINGS:
            if setting.repeatable:
                self[setting.name] = []
        self.service_config: ServiceConfig | None = None

    def postOptions(self) -> None:
        given: dict[str, object] = {
            s.name: self[s.name] for s in SETTINGS
            if (self[s.name] if s.repeatable else self[s.name] is not None)
        }
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


def _appender(name: str, help_text: str) -> Callable[[Options, str], None]:
    def append(self: Options, value: str) -> None:
        self[name].append(value)

    append.__doc__ = help_text
    return append


# A repeatable setting is an opt_ method (usage.Options finds them on the class), one per value.
for _setting in SETTINGS:
    if _setting.repeatable:
        setattr(Options, "opt_" + _setting.name.replace("-", "_"),
                _appender(_setting.name, _setting.help))


def makeService(options: Options) -> MultiService:
    from stalwart_tx.service import makeService as build

    assert options.service_config is not None
    return build(options.service_config)


