"""Parsing and printing Redis connection URLs (pure: no Redis, no txredisapi)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stalwart_tx.store.redis.url import parse_redis_url


def test_plain_tcp_defaults() -> None:
    url = parse_redis_url("redis://cache.example")
    assert (url.kind, url.host, url.port, url.db) == ("tcp", "cache.example", 6379, 0)
    assert not url.tls
    assert url.username is None and url.password is None
    assert str(url) == "redis://cache.example:6379/0"


def test_tcp_with_everything() -> None:
    url = parse_redis_url("redis://alice:s%40cret@10.0.0.5:7000/3")
    assert (url.host, url.port, url.db) == ("10.0.0.5", 7000, 3)
    assert (url.username, url.password) == ("alice", "s@cret")
    assert str(url) == "redis://alice:***@10.0.0.5:7000/3"


def test_password_without_user() -> None:
    url = parse_redis_url("redis://:pw@host/")
    assert (url.username, url.password, url.db) == (None, "pw", 0)
    assert str(url) == "redis://:***@host:6379/0"


def test_user_without_password() -> None:
    url = parse_redis_url("redis://bob@host")
    assert (url.username, url.password) == ("bob", None)
    assert str(url) == "redis://bob@host:6379/0"


def test_ipv6_host() -> None:
    url = parse_redis_url("redis://[::1]:6380/1")
    assert (url.host, url.port, url.db) == ("::1", 6380, 1)
    assert str(url) == "redis://[::1]:6380/1"


def test_tls() -> None:
    url = parse_redis_url("rediss://u:p@redis.example:6380/2?ca=/etc/ca.pem")
    assert (url.tls, url.verify, url.ca_file) == (True, True, "/etc/ca.pem")
    assert url.host == "redis.example"
    assert str(url) == "rediss://u:***@redis.example:6380/2?ca=/etc/ca.pem"
    insecure = parse_redis_url("rediss://redis.example?insecure=1")
    assert (insecure.tls, insecure.verify) == (True, False)
    assert str(insecure).endswith("?insecure=1")
    client = parse_redis_url("rediss://h?cert=/c.pem&key=/k.pem")
    assert (client.cert_file, client.key_file) == ("/c.pem", "/k.pem")
    assert parse_redis_url("rediss://h?insecure=0").verify


def test_unix() -> None:
    url = parse_redis_url("unix:///run/redis/redis.sock")
    assert (url.kind, url.path, url.db) == ("unix", "/run/redis/redis.sock", 0)
    assert str(url) == "unix:///run/redis/redis.sock"
    full = parse_redis_url("unix:///tmp/r.sock?db=4&password=top%26secret&user=svc")
    assert (full.db, full.password, full.username) == (4, "top&secret", "svc")
    assert str(full) == "unix:///tmp/r.sock?db=4&user=svc&password=***"


def test_sentinel() -> None:
    url = parse_redis_url("redis+sentinel://u:pw@s1:26380,s2,[::1]:5000/mymaster/2")
    assert url.kind == "sentinel"
    assert url.sentinels == (("s1", 26380), ("s2", 26379), ("::1", 5000))
    assert (url.service_name, url.db, url.username, url.password) == ("mymaster", 2, "u", "pw")
    assert str(url) == "redis+sentinel://u:***@s1:26380,s2:26379,[::1]:5000/mymaster/2"
    auth = parse_redis_url("redis+sentinel://s1/m?sentinel_password=x&sentinel_user=mon")
    assert (auth.sentinel_username, auth.sentinel_password, auth.db) == ("mon", "x", 0)
    assert "x" not in str(auth).replace("sentinel", "")
    assert str(auth) == "redis+sentinel://s1:26379/m?sentinel_user=mon&sentinel_password=***"


def test_scheme_is_case_insensitive() -> None:
    assert parse_redis_url("REDIS://h").kind == "tcp"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("", "looks like"),
        ("localhost:6379", "looks like"),
        ("http://h", "unknown Redis URL scheme"),
        ("redis://", "no host"),
        ("redis://:pw@", "no host"),
        ("redis://h:0", "invalid port"),
        ("redis://h:65536", "invalid port"),
        ("redis://h:abc", "invalid port"),
        ("redis://h:-1", "invalid port"),
        ("redis://h/x", "invalid database"),
        ("redis://h/-1", "invalid database"),
        ("redis://h/1/2", "at most a database"),
        ("redis://::1", "IPv6"),
        ("redis://[::1", "IPv6"),
        ("redis://h?ca=/x", "unknown parameter 'ca'"),
        ("redis://h#frag", "fragment"),
        ("rediss://h?ca=/x&insecure=1", "contradict"),
        ("rediss://h?insecure=maybe", "insecure"),
        ("rediss://h?key=/k", "cert="),
        ("rediss://h?ca=", "PEM"),
        ("rediss://h?verify=0", "unknown parameter 'verify'"),
        ("rediss://h?ca=/a&ca=/b", "twice"),
        ("unix://relative/path.sock", "absolute"),
        ("unix://", "absolute"),
        ("unix:///tmp/dir/", "directory"),
        ("unix:///tmp/r.sock?db=x", "invalid database"),
        ("unix:///tmp/r.sock?timeout=1", "unknown parameter 'timeout'"),
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel://s1:26379/", "service name"),
        ("redis+sentinel://s1:26379/m/1/2", "service_name[/db]"),
        ("redis+sentinel://s1:26379/m/x", "invalid database"),
        ("redis+sentinel://s1,,s2/m", "no host"),
        ("redis+sentinel://s1:99999/m", "invalid port"),
        ("redis+sentinel://s1/m?ca=/x", "unknown parameter"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_redis_url(url)
    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://alice:hunter2@h/0",
        "rediss://alice:hunter2@h:6380/1?insecure=1",
        "unix:///tmp/r.sock?password=hunter2",
        "redis+sentinel://a:hunter2@s/m?sentinel_password=hunter2",
    ],
)
def test_secrets_never_show(url: str) -> None:
    parsed = parse_redis_url(url)
    assert "hunter2" not in str(parsed)
    assert "hunter2" not in repr(parsed)
    assert "hunter2" not in f"{parsed}"


def test_errors_do_not_echo_passwords() -> None:
    with pytest.raises(ValueError) as raised:
        parse_redis_url("redis://u:hunter2@h:notaport/0")
    assert "hunter2" not in str(raised.value)


def test_printed_form_parses_back_to_the_same_place() -> None:
    for text in ["redis://h:1/2", "rediss://h:6380/0?ca=/ca.pem", "unix:///a/b.sock?db=3",
                 "redis+sentinel://s1:1,s2:2/svc/4"]:
        url = parse_redis_url(text)
        assert parse_redis_url(str(url)) == url


def test_parsing_imports_no_redis_client_and_no_reactor() -> None:
    code = (
        "import sys, stalwart_tx.store.redis.url as u; u.parse_redis_url('redis://h');"
        "assert 'txredisapi' not in sys.modules, 'txredisapi';"
        "assert 'twisted.internet.reactor' not in sys.modules, 'reactor'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
