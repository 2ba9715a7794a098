"""The service's settings: one schema for the command line and the TOML config file.

Every setting has one name, used as ``--name`` on the command line and as ``name = ...`` in the
config file. The command line wins over the file, the file over the defaults. Unknown keys and
malformed values raise ConfigError naming the key, before anything starts.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from twisted.internet.endpoints import _parse, _parseServer  # type: ignore[attr-defined]


class ConfigError(Exception):
    """A setting is unknown or malformed; the message names it."""


def _endpoint(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected an endpoint string such as 'tcp:8080'")
    try:
        # Parses the description exactly as serverFromString will, without listening.
        _parseServer(value, None)
    except Exception as error:  # strports raises several types for bad descriptions
        raise ConfigError(f"{key}: {value!r} is not a valid endpoint: {error}") from None
    return value


def _optional_endpoint(key: str, value: object) -> str | None:
    if value in (None, "", "none", "off"):
        return None
    return _endpoint(key, value)


def _lmtp_endpoint(key: str, value: object) -> str | None:
    if value == "data":
        return "data"  # the socket in the data directory, placed once that is known
    return _optional_endpoint(key, value)


def _string(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string")
    return value


def _optional_string(key: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    return _string(key, value)


def _url(key: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    text = _string(key, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: {text!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{key}: {text!r} must not have a query or fragment")
    return text.rstrip("/")


def _redis_url(key: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    text = _string(key, value)
    from stalwart_tx.store.redis.url import parse_redis_url

    try:
        parse_redis_url(text)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    return text


def _choice(*choices: str) -> Callable[[str, object], str]:
    def parse(key: str, value: object) -> str:
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    return parse


def _positive_number(key: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a number") from None
    if not number > 0:
        raise ConfigError(f"{key}: must be greater than 0")
    return number


def _positive_integer(key: str, value: object) -> int:
    number = _non_negative_integer(key, value)
    if number < 1:
        raise ConfigError(f"{key}: must be at least 1")
    return number


def _non_negative_integer(key: str, value: object) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is not an integer")
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            raise ConfigError(f"{key}: {value!r} is not an integer")
    if not isinstance(value, int | str):
        raise ConfigError(f"{key}: {value!r} is not an integer")
    number = int(value)
    if number < 0:
        raise ConfigError(f"{key}: must be at least 0")
    return number


def default_analysis_workers() -> int:
    """One analysis worker per core, at least one, at most eight."""
    return min(max(os.cpu_count() or 1, 1), 8)


def _non_negative_number(key: str, value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a number") from None
    if not 0 <= number < float("inf"):
        raise ConfigError(f"{key}: must be 0 or more")
    return number


def _blob_expiry(key: str, value: object) -> float:
    number = _positive_number(key, value)
    # RFC 8620 §6: an unreferenced upload must be kept at least an hour
    if number < 3600:
        raise ConfigError(f"{key}: must be at least 3600 (RFC 8620 keeps uploads an hour)")
    return number


def _boolean(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("no", "false", "0", "off"):
        return False
    raise ConfigError(f"{key}: {value!r} is not a boolean (yes/no)")


def _string_list(key: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: expected a list of strings")
    return list(value)


def _smtp_relay(key: str, value: object) -> str | None:
    if value in (None, "", "none", "off"):
        return None
    text = _string(key, value)
    from stalwart_tx.mail.smtp_relay import parse_relay_option

    try:
        return parse_relay_option(text).endpoint
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def _optional_choice(*choices: str) -> Callable[[str, object], str | None]:
    def parse(key: str, value: object) -> str | None:
        if value is None or value == "":
            return None
        return _choice(*choices)(key, value)

    return parse


def read_password_file(path: Path, key: str = "smtp-relay-password-file") -> str:
    """The password a file holds: its text without the final line break."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{key}: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text") from None
    password = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if not password:
        raise ConfigError(f"{key}: {path} is empty")
    if "\n" in password or "\r" in password:
        raise ConfigError(f"{key}: {path} must hold the password on one line")
    return password


def _password_file(key: str, value: object) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(_string(key, value))
    read_password_file(path, key)  # fails now, naming the key, rather than at the first send
    return path


def _pem_file(key: str, value: object) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(_string(key, value))
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{key}: cannot read {path}: {error.strerror}") from None
    if b"-----BEGIN " not in pem:
        raise ConfigError(f"{key}: {path} is not a PEM file")
    return path


def _ca_file(key: str, value: object) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(_string(key, value))
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{key}: cannot read {path}: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"{key}: {path} holds no PEM certificate")
    return path


def _helo_name(key: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    text = _string(key, value)
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]", text):
        raise ConfigError(f"{key}: {text!r} is not a host name or [address literal]")
    return text


def default_helo(public_url: str) -> str:
    """The name announced to the relay: the public URL's host, an address in brackets."""
    host = urlsplit(public_url).hostname or "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    return f"[{address}]" if address.version == 4 else f"[IPv6:{address}]"


def default_public_url(endpoint: str) -> str:
    """The base URL a local client would use to reach the JMAP listener."""
    args, kwargs = _parse(endpoint)
    kind = args[0].lower()
    if kind not in ("tcp", "tcp6", "ssl"):
        raise ConfigError(f"public-url: cannot be derived from jmap endpoint {endpoint!r}; set it")
    port = int(kwargs.get("port", args[1] if len(args) > 1 else 0))
    host = kwargs.get("interface", "") or "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.is_unspecified:
            host = "localhost"
        elif address.version == 6:
            host = f"[{host}]"
    scheme = "https" if kind == "ssl" else "http"
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + ("" if port == default_port else f":{port}")


def _origin_list(key: str, value: object) -> list[str]:
    origins = _string_list(key, value)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(f"{key}: {origin!r} is not an origin such as https://mail.example.org")
    return origins


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str, object], Any]
    default: object
    help: str
    repeatable: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("data", _string, "./stalwart-data",
            "Directory for the embedded Redis and local state."),
    Setting("redis", _redis_url, None,
            "Redis URL (redis://, rediss://, unix://, redis+sentinel://); absent: embedded."),
    Setting("redis-server", _optional_string, None,
            "Path of the redis-server binary for the embedded store."),
    Setting("redis-fsync", _choice("always", "everysec"), "always",
            "Embedded Redis AOF fsync policy."),
    Setting("redis-timeout", _positive_number, 5.0,
            "Seconds before a Redis call fails as temporarily unavailable."),
    Setting("jmap", _endpoint, "tcp:8080:interface=127.0.0.1", "JMAP HTTP listener endpoint."),
    Setting("imap", _optional_endpoint, "tcp:1143:interface=127.0.0.1",
            "IMAP listener endpoint ('none' disables it); offers STARTTLS, and refuses logins "
            "before it, when tls-certificate is set."),
    Setting("imaps", _optional_endpoint, None,
            "IMAP listener with implicit TLS, e.g. tcp:993 (uses tls-certificate) or a "
            "complete ssl: endpoint; absent: none."),
    Setting("lmtp", _lmtp_endpoint, "data",
            "LMTP listener endpoint for the MTA's deliveries: 'data' (the default) is the Unix "
            "socket lmtp.sock in the data directory; 'none' disables it; e.g. "
            "tcp:2424:interface=127.0.0.1."),
    Setting("vacation-interval", _positive_number, 604800.0,
            "Seconds within which a sender gets one vacation auto-reply per account."),
    Setting("tls-certificate", _pem_file, None,
            "PEM file of the server certificate (and chain) for STARTTLS and imaps; may also "
            "hold the key."),
    Setting("tls-key", _pem_file, None,
            "PEM file of the certificate's private key, when not in tls-certificate."),
    Setting("public-url", _url, None,
            "Absolute base URL clients use for JMAP; default derived from --jmap."),
    Setting("auth", _string_list, [],
            "Extra credential checker, e.g. file:/etc/stalwart/htpasswd (repeatable).",
            repeatable=True),
    Setting("auto-provision", _boolean, True,
            "Create an account on first login of a user known only to an --auth checker."),
    Setting("max-concurrent-requests", _positive_integer, 16,
            "JMAP API requests one user may have running at once (maxConcurrentRequests); "
            "more get HTTP 429."),
    Setting("analysis-workers", _non_negative_integer, default_analysis_workers(),
            "Processes analysing messages being stored, so imports use every core (default: "
            "one per core, at most 8); 0: analyse in the service's threads only."),
    Setting("imap-processes", _positive_integer, 1,
            "Processes serving IMAP on the same listening sockets, this one included, so IMAP "
            "uses several cores; login rate limits are per process."),
    Setting("access-log", _boolean, False,
            "Log every HTTP request (combined log format) to the service log."),
    Setting("auth-cache-ttl", _non_negative_number, 300.0,
            "Seconds a successful password verification is remembered, so a client sending "
            "Basic auth with each request is not re-verified each time (0 disables)."),
    Setting("shutdown-grace", _positive_number, 10.0,
            "Seconds in-flight requests get to finish on shutdown."),
    Setting("push-batch-window", _positive_number, 0.25,
            "Seconds of changes gathered into one Web Push message per account."),
    Setting("blob-expiry", _blob_expiry, 86400.0,
            "Seconds a blob no object references (an upload not yet used) is kept."),
    Setting("websocket-origin", _origin_list, [],
            "Origin of a web client on another site allowed to open JMAP WebSockets, e.g. "
            "https://webmail.example.org (repeatable; the public URL's origin always is).",
            repeatable=True),
    Setting("changelog-max-tombstones", _positive_integer, 10_000,
            "Destroyed objects remembered per account and type for /changes; older ones are "
            "forgotten."),
    Setting("smtp-relay", _smtp_relay, None,
            "SMTP relay for JMAP EmailSubmission, a client endpoint such as "
            "tcp:host=smtp.example.org:port=587 or tls:host=smtp.example.org:port=465; "
            "absent: no submission."),
    Setting("smtp-relay-starttls", _optional_choice("required", "opportunistic", "off"), None,
            "STARTTLS to the relay: required, opportunistic or off (default: required, off "
            "for a tls: endpoint)."),
    Setting("smtp-relay-user", _optional_string, None,
            "User name for AUTH at the relay (needs smtp-relay-password-file)."),
    Setting("smtp-relay-password-file", _password_file, None,
            "File holding the relay password on one line (never on the command line)."),
    Setting("smtp-relay-ca", _ca_file, None,
            "PEM file of the CAs the relay's certificate is verified against; default: the "
            "system's."),
    Setting("smtp-relay-timeout", _positive_number, 60.0,
            "Seconds the relay may take to connect or to answer one command."),
    Setting("smtp-relay-helo", _helo_name, None,
            "Name announced in EHLO; default: the host of public-url."),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class ServiceConfig:
    data: Path
    redis: str | None
    redis_server: str | None
    redis_fsync: str
    redis_timeout: float
    jmap: str
    imap: str | None
    public_url: str
    imaps: str | None = None
    lmtp: str | None = None
    vacation_interval: float = 604800.0
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    auth: list[str] = field(default_factory=list)
    auto_provision: bool = True
    access_log: bool = False
    max_concurrent_requests: int = 16
    analysis_workers: int = field(default_factory=default_analysis_workers)
    imap_processes: int = 1
    auth_cache_ttl: float = 300.0
    shutdown_grace: float = 10.0
    push_batch_window: float = 0.25
    blob_expiry: float = 86400.0
    changelog_max_tombstones: int = 10_000
    websocket_origins: list[str] = field(default_factory=list)
    smtp_relay: str | None = None
    smtp_relay_starttls: str = "required"
    smtp_relay_user: str | None = None
    smtp_relay_password_file: Path | None = None
    smtp_relay_ca: Path | None = None
    smtp_relay_timeout: float = 60.0
    smtp_relay_helo: str = "localhost"


def _check_tls(parsed: Mapping[str, Any]) -> None:
    certificate, key = parsed["tls-certificate"], parsed["tls-key"]
    if key is not None and certificate is None:
        raise ConfigError("tls-key: set tls-certificate too")
    if certificate is not None:
        from stalwart_tx.imap.service import tls_options

        try:
            tls_options(certificate, key)
        except Exception as error:
            raise ConfigError(
                f"tls-certificate: cannot use {certificate} (and its key): {error}"
            ) from None
    imaps = parsed["imaps"]
    if imaps is not None and not imaps.startswith("ssl:") and certificate is None:
        raise ConfigError("imaps: an endpoint other than ssl: needs tls-certificate")


def _lmtp_in(parsed: Mapping[str, Any]) -> str | None:
    if parsed["lmtp"] != "data":
        return cast(str | None, parsed["lmtp"])
    from stalwart_tx.lmtp.service import default_endpoint

    return default_endpoint(Path(parsed["data"]))


def _check_imap_processes(parsed: Mapping[str, Any]) -> None:
    if parsed["imap-processes"] == 1:
        return
    listeners = [parsed[key] for key in ("imap", "imaps") if parsed[key] is not None]
    if not listeners:
        raise ConfigError("imap-processes: more than 1, but neither imap nor imaps is set")
    # the other processes adopt the listening socket and add TLS themselves, from
    # tls-certificate; the options of an ssl: endpoint cannot be handed to them
    if any(listener.lower().startswith("ssl:") for listener in listeners):
        raise ConfigError(
            "imap-processes: more than 1 needs imap and imaps as plain endpoints (e.g. "
            "imaps = tcp:993 with tls-certificate), not ssl: endpoints"
        )


def read_config_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as stream:
            raw = tomllib.load(stream)
    except OSError as error:
        raise ConfigError(f"config: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config: {path} is not valid TOML: {error}") from None
    for key, value in raw.items():
        if key not in SETTINGS_BY_NAME or key == "config":
            known = ", ".join(sorted(SETTINGS_BY_NAME))
            raise ConfigError(f"config: unknown key {key!r} in {path} (known keys: {known})")
        if isinstance(value, dict):
            raise ConfigError(f"{key}: tables are not settings; write {key} = value")
    return raw


def build_config(
    command_line: Mapping[str, object], config_file: Path | None = None
) -> ServiceConfig:
    """Merge defaults, the config file and the command line (given only for options set there)."""
    values: dict[str, object] = {s.name: s.default for s in SETTINGS}
    if config_file is not None:
        values.update(read_config_file(config_file))
    for key, value in command_line.items():
        if key not in SETTINGS_BY_NAME:
            raise ConfigError(f"unknown option {key!r}")
        values[key] = value
    parsed = {name: SETTINGS_BY_NAME[name].parse(name, value) for name, value in values.items()}
    public_url = parsed["public-url"] or default_public_url(parsed["jmap"])
    _check_smtp_relay(parsed)
    _check_tls(parsed)
    _check_imap_processes(parsed)
    return ServiceConfig(
        data=Path(parsed["data"]),
        redis=parsed["redis"],
        redis_server=parsed["redis-server"],
        redis_fsync=parsed["redis-fsync"],
        redis_timeout=parsed["redis-timeout"],
        jmap=parsed["jmap"],
        imap=parsed["imap"],
        imaps=parsed["imaps"],
        lmtp=_lmtp_in(parsed),
        vacation_interval=parsed["vacation-interval"],
        tls_certificate=parsed["tls-certificate"],
        tls_key=parsed["tls-key"],
        public_url=public_url,
        auth=parsed["auth"],
        auto_provision=parsed["auto-provision"],
        access_log=parsed["access-log"],
        max_concurrent_requests=parsed["max-concurrent-requests"],
        analysis_workers=parsed["analysis-workers"],
        imap_processes=parsed["imap-processes"],
        auth_cache_ttl=parsed["auth-cache-ttl"],
        shutdown_grace=parsed["shutdown-grace"],
        push_batch_window=parsed["push-batch-window"],
        blob_expiry=parsed["blob-expiry"],
        changelog_max_tombstones=parsed["changelog-max-tombstones"],
        websocket_origins=parsed["websocket-origin"],
        smtp_relay=parsed["smtp-relay"],
        smtp_relay_starttls=parsed["smtp-relay-starttls"] or (
            "off" if (parsed["smtp-relay"] or "").lower().startswith("tls:") else "required"
        ),
        smtp_relay_user=parsed["smtp-relay-user"],
        smtp_relay_password_file=parsed["smtp-relay-password-file"],
        smtp_relay_ca=parsed["smtp-relay-ca"],
        smtp_relay_timeout=parsed["smtp-relay-timeout"],
        smtp_relay_helo=parsed["smtp-relay-helo"] or default_helo(public_url),
    )


def _check_smtp_relay(parsed: Mapping[str, Any]) -> None:
    if parsed["smtp-relay"] is None:
        for key in ("smtp-relay-starttls", "smtp-relay-user", "smtp-relay-password-file",
                    "smtp-relay-ca", "smtp-relay-helo"):
            if parsed[key] is not None:
                raise ConfigError(f"{key}: set, but smtp-relay (the relay itself) is not")
        return
    if parsed["smtp-relay-user"] is not None and parsed["smtp-relay-password-file"] is None:
        raise ConfigError("smtp-relay-password-file: needed with smtp-relay-user")
    if parsed["smtp-relay-password-file"] is not None and parsed["smtp-relay-user"] is None:
        raise ConfigError("smtp-relay-user: needed with smtp-relay-password-file")
