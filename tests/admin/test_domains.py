"""stalwart-admin domain add|remove|list against a real Redis: results and exit codes."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from stalwart_tx.admin.cli import build_parser
from stalwart_tx.admin.exitcodes import EXISTS, NOT_FOUND, OK, USAGE
from tests.admin.test_cli import (  # noqa: F401  (cheap_hashes is an autouse fixture)
    admin_run,
    cheap_hashes,
    expect_error,
)
from tests.service_process import admin


@pytest_twisted.ensureDeferred
async def test_domain_lifecycle(redis_url: str) -> None:
    assert await admin_run(redis_url, "domain", "list") == ""
    assert json.loads(await admin_run(redis_url, "domain", "list", "--json")) == []
    assert await admin_run(redis_url, "domain", "add", "Example.ORG") == (
        "added domain example.org\n"
    )
    added = json.loads(await admin_run(redis_url, "--json", "domain", "add", "mail.a-b.example"))
    assert added == {"domain": "mail.a-b.example"}
    await admin_run(redis_url, "domain", "add", "localhost")
    assert await admin_run(redis_url, "domain", "list") == (
        "example.org\nlocalhost\nmail.a-b.example\n"
    )
    # --json before the command or after it
    for argv in (("--json", "domain", "list"), ("domain", "list", "--json")):
        assert json.loads(await admin_run(redis_url, *argv)) == [
            "example.org", "localhost", "mail.a-b.example"
        ]

    assert "already there" in await expect_error(
        redis_url, EXISTS, "domain", "add", "EXAMPLE.org"
    )
    assert await admin_run(redis_url, "domain", "remove", "EXAMPLE.org") == (
        "removed domain example.org\n"
    )
    removed = json.loads(await admin_run(redis_url, "--json", "domain", "remove", "localhost"))
    assert removed == {"domain": "localhost"}
    assert "example.org" in await expect_error(
        redis_url, NOT_FOUND, "domain", "remove", "example.org"
    )
    await expect_error(redis_url, NOT_FOUND, "domain", "remove", "not a domain")
    assert await admin_run(redis_url, "domain", "list") == "mail.a-b.example\n"


@pytest.mark.parametrize("name", [
    "", ".", "example.org.", ".example.org", "a..b", "-a.org", "a-.org", "a_b.org",
    "a b.org", "exämple.org", "\u212aelvin.org", "user@example.org", "[127.0.0.1]",
    "a" * 64 + ".org", ".".join(["a" * 63] * 4),
])
def test_implausible_domains_are_usage_errors(name: str) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["domain", "add", name])
    assert exited.value.code == USAGE


def test_longest_plausible_domain() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    assert build_parser().parse_args(["domain", "add", name.upper()]).domain == name


def test_exit_codes_of_the_installed_command(redis_url: str) -> None:
    """The real entry point, in a process of its own, as scripts run it."""
    added = admin("--redis", redis_url, "domain", "add", "example.org")
    assert (added.returncode, added.stdout) == (OK, "added domain example.org\n")
    again = admin("--redis", redis_url, "domain", "add", "example.org")
    assert again.returncode == EXISTS
    assert again.stderr == "stalwart-admin: the domain 'example.org' is already there\n"
    bad = admin("--redis", redis_url, "domain", "add", "bad_name.org")
    assert bad.returncode == USAGE and "is not a domain name" in bad.stderr
    missing = admin("--redis", redis_url, "domain", "remove", "other.org")
    assert missing.returncode == NOT_FOUND
    assert missing.stderr == "stalwart-admin: no domain 'other.org'\n"
