"""Redis connection URLs: parsing and a printable form that never shows a password.

Accepted forms::

    redis://[user[:password]@]host[:port][/db]
    rediss://[user[:password]@]host[:port][/db][?ca=PEM&cert=PEM&key=PEM&insecure=1]
    unix:///path/to.sock[?db=N&user=NAME&password=SECRET]
    redis+sentinel://[user[:password]@]host1[:port1],host2[:port2]/service_name[/db]
        [?sentinel_user=NAME&sentinel_password=SECRET]

Pure parsing: nothing here touches the network or the file system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
REDACTED = "***"

Kind = Literal["tcp", "unix", "sentinel"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class RedisURL:
    """Where a Redis server is and how to log in; ``str()`` hides every secret."""

    kind: Kind
    host: str = ""
    port: int = DEFAULT_PORT
    path: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        userinfo = ""
        if self.username is not None or self.password is not None:
            userinfo = quote(self.username or "", safe="")
            if self.password is not None:
                userinfo += ":" + REDACTED
            userinfo += "@"
        query: list[tuple[str, str]] = []
        if self.kind == "unix":
            if self.db:
                query.append(("db", str(self.db)))
            if self.username is not None:
                query.append(("user", self.username))
            if self.password is not None:
                query.append(("password", REDACTED))
            text = "unix://" + quote(self.path)
        elif self.kind == "sentinel":
            hosts = ",".join(f"{_host_text(h)}:{p}" for h, p in self.sentinels)
            text = f"redis+sentinel://{userinfo}{hosts}/{quote(self.service_name, safe='')}"
            text += f"/{self.db}" if self.db else ""
            if self.sentinel_username is not None:
                query.append(("sentinel_user", self.sentinel_username))
            if self.sentinel_password is not None:
                query.append(("sentinel_password", REDACTED))
        else:
            scheme = "rediss" if self.tls else "redis"
            text = f"{scheme}://{userinfo}{_host_text(self.host)}:{self.port}/{self.db}"
            for name, value in (("ca", self.ca_file), ("cert", self.cert_file),
                                ("key", self.key_file)):
                if value is not None:
                    query.append((name, value))
            if not self.verify:
                query.append(("insecure", "1"))
        if query:
            text += "?" + urlencode(query, safe="/*")
        return text


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_redis_url(url: str) -> RedisURL:
    """Parse a connection URL; ValueError saying what is wrong (without echoing secrets)."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            "a Redis URL looks like redis://host:port/db, rediss://..., unix:///path/to.sock "
            "or redis+sentinel://host:port/service"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise ValueError("a Redis URL has no #fragment")
    location, _, query_text = rest.partition("?")
    query = _parse_query(query_text)
    if scheme in ("redis", "rediss"):
        return _parse_tcp(scheme == "rediss", location, query)
    if scheme == "unix":
        return _parse_unix(location, query)
    if scheme == "redis+sentinel":
        return _parse_sentinel(location, query)
    raise ValueError(
        f"unknown Redis URL scheme {scheme!r}: use redis, rediss, unix or redis+sentinel"
    )


def _parse_query(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError("the query of the Redis URL is malformed") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise ValueError(f"the Redis URL gives {name!r} twice")
        query[name] = value
    return query


def _reject_unknown(query: dict[str, str], allowed: set[str], where: str) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"unknown parameter {unknown[0]!r} in a {where} URL (known: {known})")


def _split_userinfo(location: str) -> tuple[str | None, str | None, str]:
    userinfo, at, hosts = location.rpartition("@")
    if not at:
        return None, None, location
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None), hosts


def _parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"malformed IPv6 address in {text!r}")
        if after and not after.startswith(":"):
            raise ValueError(f"malformed host:port {text!r}")
        port_text = after[1:] if after else ""
    else:
        host, _, port_text = text.partition(":")
        if ":" in port_text:
            raise ValueError(f"malformed host:port {text!r} (put an IPv6 address in [brackets])")
    host = unquote(host)
    if not host:
        raise ValueError(f"no host name in {text!r}")
    if any(c in host for c in "/ @?#"):
        raise ValueError(f"malformed host name {host!r}")
    if not port_text:
        return host, default_port
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r}: a number from 1 to 65535")
    return host, int(port_text)


def _parse_db(text: str, where: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"invalid database number {text!r} in {where}: a number from 0")
    return int(text)


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "0").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}= takes 1 or 0, not {value!r}")


def _parse_tcp(tls: bool, location: str, query: dict[str, str]) -> RedisURL:
    scheme = "rediss" if tls else "redis"
    host_part, slash, path = location.partition("/")
    username, password, hostport = _split_userinfo(host_part)
    host, port = _parse_host_port(hostport, DEFAULT_PORT)
    path = path.rstrip("/") if slash else ""
    if "/" in path:
        raise ValueError(f"a {scheme} URL has at most a database number as its path")
    db = _parse_db(path, f"the {scheme} URL path") if path else 0
    if not tls:
        _reject_unknown(query, set(), "redis://")
        return RedisURL(kind="tcp", host=host, port=port, db=db, username=username,
                        password=password)
    _reject_unknown(query, {"ca", "cert", "key", "insecure"}, "rediss://")
    verify = not _flag(query, "insecure")
    for name in ("ca", "cert", "key"):
        if name in query and not query[name]:
            raise ValueError(f"{name}= needs the path of a PEM file")
    if not verify and "ca" in query:
        raise ValueError("ca= and insecure=1 contradict each other: verify against ca, or not")
    if "key" in query and "cert" not in query:
        raise ValueError("key= needs cert= (the client certificate it belongs to)")
    return RedisURL(
        kind="tcp", host=host, port=port, db=db, username=username, password=password, tls=True,
        ca_file=query.get("ca"), cert_file=query.get("cert"), key_file=query.get("key"),
        verify=verify,
    )


def _parse_unix(location: str, query: dict[str, str]) -> RedisURL:
    if not location.startswith("/"):
        raise ValueError(
            "a unix URL needs an absolute socket path, with three slashes: unix:///path/to.sock"
        )
    path = unquote(location)
    if path.endswith("/"):
        raise ValueError(f"the unix socket path {path!r} names a directory")
    _reject_unknown(query, {"db", "password", "user"}, "unix://")
    db = _parse_db(query["db"], "db=") if "db" in query else 0
    return RedisURL(
        kind="unix", path=path, db=db, username=query.get("user") or None,
        password=query.get("password"),
    )


def _parse_sentinel(location: str, query: dict[str, str]) -> RedisURL:
    hosts_part, slash, path = location.partition("/")
    username, password, hosts_text = _split_userinfo(hosts_part)
    sentinels = tuple(
        _parse_host_port(item, DEFAULT_SENTINEL_PORT) for item in hosts_text.split(",")
    )
    names = path.rstrip("/").split("/") if slash else []
    if not names or not names[0]:
        raise ValueError("a redis+sentinel URL needs the service name as its path: "
                         "redis+sentinel://host:26379/mymaster")
    if len(names) > 2:
        raise ValueError("a redis+sentinel URL path is /service_name[/db]")
    db = _parse_db(names[1], "the redis+sentinel URL path") if len(names) == 2 else 0
    _reject_unknown(query, {"sentinel_user", "sentinel_password"}, "redis+sentinel://")
    return RedisURL(
        kind="sentinel", sentinels=sentinels, service_name=unquote(names[0]), db=db,
        username=username, password=password,
        sentinel_username=query.get("sentinel_user") or None,
        sentinel_password=query.get("sentinel_password"),
    )
