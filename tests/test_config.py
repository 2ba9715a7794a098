from __future__ import annotations

from pathlib import Path

import pytest
from twisted.python import usage

from stalwart_tx.config import ConfigError, build_config, default_public_url
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
