from __future__ import annotations

import os
from pathlib import Path

import pytest
from twisted.python import usage

from stalwart_tx.config import (
    ConfigError,
    build_config,
    default_analysis_workers,
    default_public_url,
)
from stalwart_tx.tap import Options


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = build_config({})
    assert config.data == Path("./stalwart-data")
    assert config.redis is None
    assert config.jmap == "tcp:8080:interface=127.0.0.1"
    assert config.imap == "tcp:1143:interface=127.0.0.1"
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.redis_fsync == "always"


def test_file_sets_every_option_and_command_line_wins(tmp_path: Path) -> None:
    config_file = write(tmp_path / "stalwart.toml", """
data = "/var/lib/stalwart"
redis = "redis://127.0.0.1:6379/2"
jmap = "tcp:9000:interface=127.0.0.1"
imap = "none"
public-url = "https://mail.example.org/"
auth = ["memory:alice:secret"]
redis-fsync = "everysec"
redis-timeout = 2.5
auto-provision = false
shutdown-grace = 3
""")
    config = build_config({"jmap": "tcp:9001:interface=127.0.0.1"}, config_file)
    assert config.data == Path("/var/lib/stalwart")
    assert config.redis == "redis://127.0.0.1:6379/2"
    assert config.jmap == "tcp:9001:interface=127.0.0.1"
    assert config.imap is None
    assert config.public_url == "https://mail.example.org"
    assert config.auth == ["memory:alice:secret"]
    assert config.redis_fsync == "everysec"
    assert config.redis_timeout == 2.5
    assert config.auto_provision is False
    assert config.shutdown_grace == 3.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('jmpa = "tcp:80"\n', "'jmpa'"),
        ('jmap = "bogus:80"\n', "jmap"),
        ('jmap = "tcp:notaport"\n', "jmap"),
        ('imap = 5\n', "imap"),
        ('public-url = "ftp://x"\n', "public-url"),
        ('public-url = "http://x/?a=b"\n', "public-url"),
        ('redis-fsync = "never"\n', "redis-fsync"),
        ('redis-timeout = "soon"\n', "redis-timeout"),
        ('redis-timeout = -1\n', "redis-timeout"),
        ('redis = "http://localhost"\n', "redis"),
        ('auto-provision = "maybe"\n', "auto-provision"),
        ('[jmap]\nport = 1\n', "jmap"),
        ('jmap = \n', "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, named: str) -> None:
    config_file = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError, match=named):
        build_config({}, config_file)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        build_config({}, tmp_path / "absent.toml")


def test_options_parse_into_config(tmp_path: Path) -> None:
    options = Options()
    options.parseOptions([
        "--data", str(tmp_path), "--jmap", "tcp:0:interface=127.0.0.1",
        "--auth", "memory:a:b", "--auth", "memory:c:d", "--redis", "redis://localhost/1",
    ])
    config = options.service_config
    assert config is not None
    assert config.data == tmp_path
    assert config.auth == ["memory:a:b", "memory:c:d"]
    assert config.redis == "redis://localhost/1"


def test_options_report_errors_as_usage_errors(tmp_path: Path) -> None:
    config_file = write(tmp_path / "bad.toml", 'colour = "blue"\n')
    with pytest.raises(usage.UsageError, match="unknown key 'colour'"):
        Options().parseOptions(["--config", str(config_file)])
    with pytest.raises(usage.UsageError, match="auth"):
        Options().parseOptions(["--redis", "redis://localhost/0", "--auth", "nonsense:x"])


def test_missing_redis_binary_is_explained(tmp_path: Path) -> None:
    with pytest.raises(usage.UsageError, match="redis-server"):
        Options().parseOptions(["--redis-server", str(tmp_path / "no-such-binary")])


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("tcp:8080:interface=127.0.0.1", "http://127.0.0.1:8080"),
        ("tcp:80", "http://localhost"),
        ("tcp:8080:interface=0.0.0.0", "http://localhost:8080"),
        ("tcp6:8080:interface=\\:\\:1", "http://[::1]:8080"),
        ("ssl:443:privateKey=k.pem", "https://localhost"),
        ("ssl:8443:interface=mail.example.org:privateKey=k.pem", "https://mail.example.org:8443"),
    ],
)
def test_public_url_derived_from_endpoint(endpoint: str, url: str) -> None:
    assert default_public_url(endpoint) == url


def test_public_url_required_for_unix_listener() -> None:
    with pytest.raises(ConfigError, match="public-url"):
        build_config({"jmap": "unix:/tmp/jmap.sock"})
    config = build_config({"jmap": "unix:/tmp/jmap.sock", "public-url": "https://mail.example.org"})
    assert config.public_url == "https://mail.example.org"


def test_websocket_origins_from_file_and_command_line(tmp_path: Path) -> None:
    config_file = write(tmp_path / "o.toml", 'websocket-origin = ["https://webmail.example.org"]\n')
    assert build_config({}, config_file).websocket_origins == ["https://webmail.example.org"]
    options = Options()
    options.parseOptions([
        "--redis", "redis://localhost/0",
        "--websocket-origin", "https://a.example", "--websocket-origin", "http://b.example:8080",
    ])
    assert options.service_config is not None
    assert options.service_config.websocket_origins == [
        "https://a.example", "http://b.example:8080"
    ]
    with pytest.raises(ConfigError, match="websocket-origin"):
        build_config({"websocket-origin": ["https://a.example/path"]})
    with pytest.raises(usage.UsageError, match="websocket-origin"):
        Options().parseOptions(["--redis", "redis://localhost/0", "--websocket-origin", "nope"])


def test_smtp_relay_absent_by_default() -> None:
    from stalwart_tx.mail.smtp_relay import relay_config

    config = build_config({})
    assert config.smtp_relay is None
    assert relay_config(config) is None


def test_smtp_relay_settings(tmp_path: Path) -> None:
    from stalwart_tx.mail.smtp_relay import RelayConfig, relay_config
    from tests.certificates import make_certificates

    ca = make_certificates(tmp_path / "certs")["ca"]
    password = write(tmp_path / "relay-password", "pass word\n")
    config_file = write(tmp_path / "stalwart.toml", f"""
public-url = "https://mail.example.org"
smtp-relay = "tcp:host=smtp.example.net:port=587"
smtp-relay-user = "submitter"
smtp-relay-password-file = "{password}"
smtp-relay-ca = "{ca}"
smtp-relay-timeout = 20
""")
    config = build_config({}, config_file)
    relay = relay_config(config)
    assert relay == RelayConfig(
        endpoint="tcp:host=smtp.example.net:port=587", starttls="required",
        username="submitter", password="pass word", helo="mail.example.org", timeout=20.0,
        trust_roots=ca,
    )
    assert "pass word" not in repr(config) and "pass word" not in repr(relay)
    options = Options()
    options.parseOptions([
        "--config", str(config_file), "--smtp-relay-starttls", "opportunistic",
        "--smtp-relay-helo", "relay-client.example.org",
    ])
    assert options.service_config is not None
    relay = relay_config(options.service_config)
    assert relay is not None
    assert relay.starttls == "opportunistic"
    assert relay.helo == "relay-client.example.org"


def test_smtp_relay_tls_endpoint_needs_no_starttls() -> None:
    config = build_config({"smtp-relay": "tls:host=smtp.example.net:port=465"})
    assert config.smtp_relay_starttls == "off"
    assert config.smtp_relay_helo == "[127.0.0.1]"  # from the default public URL
    assert build_config({"smtp-relay": "none"}).smtp_relay is None


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"smtp-relay": "smtp.example.net:25"}, "smtp-relay"),
        ({"smtp-relay": "unix:/run/smtp.sock"}, "smtp-relay"),
        ({"smtp-relay": "tcp:host=smtp.example.net"}, "smtp-relay"),
        ({"smtp-relay": "tcp:host=smtp.example.net:port=99999"}, "smtp-relay"),
        ({"smtp-relay": "tls:host=h:port=465:trustRoots=/etc/ssl"}, "smtp-relay"),
        ({"smtp-relay": "tcp:h:25", "smtp-relay-starttls": "maybe"}, "smtp-relay-starttls"),
        ({"smtp-relay": "tcp:h:25", "smtp-relay-user": "u"}, "smtp-relay-password-file"),
        ({"smtp-relay-user": "u"}, "smtp-relay-user: set, but smtp-relay"),
        ({"smtp-relay": "tcp:h:25", "smtp-relay-timeout": "0"}, "smtp-relay-timeout"),
        ({"smtp-relay": "tcp:h:25", "smtp-relay-helo": "bad name"}, "smtp-relay-helo"),
        ({"smtp-relay": "tcp:h:25", "smtp-relay-ca": "/no/such/ca.pem"}, "smtp-relay-ca"),
    ],
)
def test_bad_smtp_relay_settings_name_the_key(settings: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        build_config(settings)


def test_smtp_relay_password_file_problems(tmp_path: Path) -> None:
    base = {"smtp-relay": "tcp:host=smtp.example.net:port=587", "smtp-relay-user": "u"}
    for name, text in (("empty", ""), ("two-lines", "a\nb\n")):
        path = write(tmp_path / name, text)
        with pytest.raises(ConfigError, match="smtp-relay-password-file"):
            build_config({**base, "smtp-relay-password-file": str(path)})
    with pytest.raises(ConfigError, match="smtp-relay-password-file: cannot read"):
        build_config({**base, "smtp-relay-password-file": str(tmp_path / "absent")})
    not_pem = write(tmp_path / "ca.pem", "not a certificate")
    with pytest.raises(ConfigError, match="smtp-relay-ca"):
        build_config({"smtp-relay": "tcp:h:25", "smtp-relay-ca": str(not_pem)})
    with pytest.raises(usage.UsageError, match="smtp-relay-password-file"):
        Options().parseOptions([
            "--smtp-relay", "tcp:h:25", "--smtp-relay-user", "u",
            "--smtp-relay-password-file", str(tmp_path / "absent"),
        ])


def test_auth_cache_ttl(tmp_path: Path) -> None:
    assert build_config({}).auth_cache_ttl == 300.0
    assert build_config({"auth-cache-ttl": "0"}).auth_cache_ttl == 0.0
    config_file = write(tmp_path / "cache.toml", "auth-cache-ttl = 60\n")
    assert build_config({}, config_file).auth_cache_ttl == 60.0
    assert build_config({"auth-cache-ttl": "30.5"}, config_file).auth_cache_ttl == 30.5
    options = Options()
    options.parseOptions(["--redis", "redis://localhost/0", "--auth-cache-ttl", "0"])
    assert options.service_config is not None
    assert options.service_config.auth_cache_ttl == 0.0


@pytest.mark.parametrize("value", ["-1", -0.5, "soon", True, "nan", "inf", ""])
def test_bad_auth_cache_ttl_names_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match="auth-cache-ttl"):
        build_config({"auth-cache-ttl": value})
    with pytest.raises(usage.UsageError, match="auth-cache-ttl"):
        Options().parseOptions(["--redis", "redis://localhost/0", "--auth-cache-ttl", str(value)])


def test_max_concurrent_requests_setting(tmp_path: Path) -> None:
    assert build_config({}, None).max_concurrent_requests == 16
    assert build_config({"max-concurrent-requests": 40}, None).max_concurrent_requests == 40
    config_file = tmp_path / "c.toml"
    config_file.write_text("max-concurrent-requests = 0\n")
    with pytest.raises(ConfigError, match="max-concurrent-requests"):
        build_config({}, config_file)


def test_analysis_workers_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # default: one per core, at least one, at most eight
    for cores, expected in ((None, 1), (1, 1), (2, 2), (6, 6), (64, 8)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert default_analysis_workers() == expected
    monkeypatch.undo()
    assert build_config({}, None).analysis_workers == default_analysis_workers()
    assert build_config({"analysis-workers": 3}, None).analysis_workers == 3
    assert build_config({"analysis-workers": "0"}, None).analysis_workers == 0
    config_file = tmp_path / "c.toml"
    config_file.write_text("analysis-workers = 5\n")
    assert build_config({}, config_file).analysis_workers == 5
    assert build_config({"analysis-workers": "2"}, config_file).analysis_workers == 2
    options = Options()
    options.parseOptions(["--redis", "redis://localhost/0", "--analysis-workers", "0"])
    assert options.service_config is not None
    assert options.service_config.analysis_workers == 0
    config_file.write_text("analysis-workers = -1\n")
    with pytest.raises(ConfigError, match="analysis-workers"):
        build_config({}, config_file)


@pytest.mark.parametrize("value", ["-1", -2, "two", True, 1.5, ""])
def test_bad_analysis_workers_names_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match="analysis-workers"):
        build_config({"analysis-workers": value})


def test_imap_tls_settings(tmp_path: Path) -> None:
    from tests.certificates import make_certificates

    files = make_certificates(tmp_path / "certs")
    config = build_config({
        "imaps": "tcp:993:interface=127.0.0.1", "tls-certificate": files["server"],
        "tls-key": files["server_key"],
    })
    assert config.imaps == "tcp:993:interface=127.0.0.1"
    assert config.tls_certificate == Path(files["server"])
    assert build_config({}).imaps is None
    with pytest.raises(ConfigError, match="imaps"):
        build_config({"imaps": "tcp:993"})
    with pytest.raises(ConfigError, match="tls-key"):
        build_config({"tls-key": files["server_key"]})
    with pytest.raises(ConfigError, match="tls-certificate"):
        build_config({"tls-certificate": files["server"]})  # no key anywhere
    not_pem = tmp_path / "plain.txt"
    not_pem.write_text("hello")
    with pytest.raises(ConfigError, match="tls-certificate"):
        build_config({"tls-certificate": str(not_pem)})
