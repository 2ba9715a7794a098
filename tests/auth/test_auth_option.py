from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin

from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.checkers import ExternalChecker, parse_auth_option
from stalwart_tx.auth.errors import PasswordFileError
from stalwart_tx.auth.htpasswd import HtpasswdFileChecker
from stalwart_tx.auth.passwords import hash_password


@pytest_twisted.ensureDeferred
async def test_file_spec(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"alice:{hash_password('pw')}\n")
    checker = parse_auth_option(f"file:{path}")
    assert isinstance(checker, HtpasswdFileChecker)
    assert await checker.requestAvatarId(UsernamePassword(b"alice", b"pw")) == "alice"


def test_file_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a path"):
        parse_auth_option("file:")
    path = tmp_path / "users"
    path.write_text("alice:pw\n")
    with pytest.raises(PasswordFileError):
        parse_auth_option(f"file:{path}")


@pytest_twisted.ensureDeferred
async def test_strcred_memory_spec() -> None:
    checker = parse_auth_option("memory:alice:pw:bob:pw2")
    assert isinstance(checker, ExternalChecker)
    assert IUsernamePassword in checker.credentialInterfaces
    name = await checker.requestAvatarId(UsernamePassword(b"alice", b"pw"))
    assert name == "alice" and isinstance(name, LoginName)
    assert await checker.requestAvatarId(UsernamePassword(b"bob", b"pw2")) == "bob"
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"alice", b"pw2"))


def test_unknown_kind_names_the_spec() -> None:
    with pytest.raises(ValueError, match=r"'nosuchkind:whatever'.*unknown.*'nosuchkind'"):
        parse_auth_option("nosuchkind:whatever")


def test_bad_arguments_name_the_kind_but_not_the_password() -> None:
    with pytest.raises(ValueError, match="memory") as raised:
        parse_auth_option("memory:alice:secretpw:bob")
    assert "secretpw" not in str(raised.value)
