from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_twisted
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin

from stalwart_tx.auth import htpasswd as htpasswd_module
from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.errors import PasswordFileError
from stalwart_tx.auth.htpasswd import HtpasswdFileChecker, parse_password_file
from stalwart_tx.auth.passwords import hash_password


def write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    path.write_text(text)
    if mtime_ns is not None:
        # Set mtime explicitly: two writes within one clock tick must still look different.
        os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    write(
        path,
        "# users allowed in\n\n"
        f"Alice:{hash_password('alice-pw')}\n"
        f"  bob:{hash_password('bob-pw')}  \n",
        mtime_ns=1_000_000_000,
    )
    return path


@pytest_twisted.ensureDeferred
async def test_checks_passwords_and_returns_login_names(password_file: Path) -> None:
    checker = HtpasswdFileChecker(password_file)
    name = await checker.requestAvatarId(UsernamePassword(b"alice", b"alice-pw"))
    assert name == "alice" and isinstance(name, LoginName)
    assert await checker.requestAvatarId(UsernamePassword(b"BOB", b"bob-pw")) == "bob"
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"alice", b"bob-pw"))


@pytest_twisted.ensureDeferred
async def test_unknown_user_spends_a_verification(
    password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = htpasswd_module.spend_verify_time

    async def spy(password: bytes, **kwargs: object) -> bool:
        calls.append(password)
        return await real(password, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(htpasswd_module, "spend_verify_time", spy)
    checker = HtpasswdFileChecker(password_file)
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"carol", b"pw"))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice:hunter2\n", "not an argon2id hash"),
        ("alice:{crypt}abc\n", "not an argon2id hash"),
        ("alice:$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA\n", "not an argon2id hash"),
        ("alice:$argon2id$broken\n", "malformed"),
        ("just-a-name\n", "expected 'name:hash'"),
        (":$argon2id$x\n", "expected 'name:hash'"),
    ],
)
def test_rejects_bad_lines_naming_file_and_line(text: str, message: str) -> None:
    with pytest.raises(PasswordFileError) as raised:
        parse_password_file("# comment\n" + text, "/etc/stx/users")
    assert message in str(raised.value)
    assert "/etc/stx/users, line 2" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_rejects_duplicates() -> None:
    h = hash_password("x")
    with pytest.raises(PasswordFileError, match="more than once"):
        parse_password_file(f"alice:{h}\nALICE:{h}\n", "f")


def test_clear_text_file_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "users"
    write(path, "alice:secret\n")
    with pytest.raises(PasswordFileError, match="clear-text"):
        HtpasswdFileChecker(path)
    assert issubclass(PasswordFileError, ValueError)


def test_missing_file_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(PasswordFileError, match="cannot read"):
        HtpasswdFileChecker(tmp_path / "absent")


@pytest_twisted.ensureDeferred
async def test_reloads_when_the_file_changes(password_file: Path) -> None:
    checker = HtpasswdFileChecker(password_file)
    write(password_file, f"carol:{hash_password('carol-pw')}\n", mtime_ns=2_000_000_000)
    assert await checker.requestAvatarId(UsernamePassword(b"carol", b"carol-pw")) == "carol"
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"alice", b"alice-pw"))


@pytest_twisted.ensureDeferred
async def test_broken_or_vanished_file_keeps_last_good_users(password_file: Path) -> None:
    checker = HtpasswdFileChecker(password_file)
    write(password_file, "alice:clear-text\n", mtime_ns=3_000_000_000)
    assert await checker.requestAvatarId(UsernamePassword(b"alice", b"alice-pw")) == "alice"

    password_file.unlink()
    assert await checker.requestAvatarId(UsernamePassword(b"bob", b"bob-pw")) == "bob"

    write(password_file, f"dave:{hash_password('dave-pw')}\n", mtime_ns=4_000_000_000)
    assert await checker.requestAvatarId(UsernamePassword(b"dave", b"dave-pw")) == "dave"
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"bob", b"bob-pw"))
