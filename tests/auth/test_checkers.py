from __future__ import annotations

import pytest
import pytest_twisted
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin

from stalwart_tx.auth import checkers as checkers_module
from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.checkers import (
    DirectoryPasswordChecker,
    ExternalChecker,
    FirstSuccessChecker,
    TokenChecker,
)
from stalwart_tx.auth.credentials import BearerToken
from stalwart_tx.auth.passwords import hash_password
from stalwart_tx.auth.tokens import new_token
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.memory_directory import MemoryDirectory
from tests.auth.helpers import FlakyDirectory


@pytest.fixture
def directory() -> FlakyDirectory:
    return FlakyDirectory(MemoryDirectory())


class SpyDummy:
    """Counts how often the dummy-hash path runs, while still running it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = checkers_module.spend_verify_time

        async def spy(password: str | bytes, **kwargs: object) -> bool:
            self.calls += 1
            return await real(password, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(checkers_module, "spend_verify_time", spy)


# DirectoryPasswordChecker


@pytest_twisted.ensureDeferred
async def test_directory_checker_accepts_right_password(directory: FlakyDirectory) -> None:
    alice = await directory.create_principal("Alice", hash_password("pw"))
    checker = DirectoryPasswordChecker(directory)
    avatar_id = await checker.requestAvatarId(UsernamePassword(b"alice", b"pw"))
    assert avatar_id == alice.id
    assert type(avatar_id) is str  # a principal id, not a LoginName
    # Names compare case-insensitively, as in the directory.
    assert await checker.requestAvatarId(UsernamePassword(b"ALICE", b"pw")) == alice.id


@pytest_twisted.ensureDeferred
async def test_directory_checker_wrong_password(
    directory: FlakyDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SpyDummy(monkeypatch)
    await directory.create_principal("alice", hash_password("pw"))
    with pytest.raises(UnauthorizedLogin):
        await DirectoryPasswordChecker(directory).requestAvatarId(
            UsernamePassword(b"alice", b"nope")
        )
    assert spy.calls == 0  # the real hash was checked


@pytest_twisted.ensureDeferred
async def test_directory_checker_unknown_user_spends_a_verification(
    directory: FlakyDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SpyDummy(monkeypatch)
    checker = DirectoryPasswordChecker(directory)
    for username in (b"nobody", b"", b"\xff\xfe"):
        with pytest.raises(UnauthorizedLogin):
            await checker.requestAvatarId(UsernamePassword(username, b"pw"))
    assert spy.calls == 3


@pytest_twisted.ensureDeferred
async def test_directory_checker_principal_without_password(
    directory: FlakyDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SpyDummy(monkeypatch)
    await directory.create_principal("ext", None)
    with pytest.raises(UnauthorizedLogin):
        await DirectoryPasswordChecker(directory).requestAvatarId(UsernamePassword(b"ext", b""))
    assert spy.calls == 1


@pytest_twisted.ensureDeferred
async def test_directory_checker_store_unavailable_propagates(directory: FlakyDirectory) -> None:
    await directory.create_principal("alice", hash_password("pw"))
    directory.down = True
    with pytest.raises(StoreUnavailable):
        await DirectoryPasswordChecker(directory).requestAvatarId(
            UsernamePassword(b"alice", b"pw")
        )


# TokenChecker


@pytest_twisted.ensureDeferred
async def test_token_checker_lifecycle(directory: FlakyDirectory) -> None:
    alice = await directory.create_principal("alice", None)
    token, record = new_token(alice.id, "cli", 0.0)
    await directory.add_token(record)
    checker = TokenChecker(directory)
    assert await checker.requestAvatarId(BearerToken(token)) == alice.id
    assert await checker.requestAvatarId(BearerToken(token.encode())) == alice.id

    await directory.revoke_token(record.token_id)
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(BearerToken(token))


@pytest_twisted.ensureDeferred
async def test_token_checker_rejects_wrong_secret_unknown_and_malformed(
    directory: FlakyDirectory,
) -> None:
    alice = await directory.create_principal("alice", None)
    token, record = new_token(alice.id, "", 0.0)
    await directory.add_token(record)
    unknown, _ = new_token(alice.id, "", 0.0)
    wrong_secret = token[:-1] + ("A" if token[-1] != "A" else "B")
    checker = TokenChecker(directory)
    for bad in (wrong_secret, unknown, "stx_nonsense", "", token + "x", "stx_é_é".encode()):
        with pytest.raises(UnauthorizedLogin):
            await checker.requestAvatarId(BearerToken(bad))


@pytest_twisted.ensureDeferred
async def test_token_checker_store_unavailable_propagates(directory: FlakyDirectory) -> None:
    alice = await directory.create_principal("alice", None)
    token, record = new_token(alice.id, "", 0.0)
    await directory.add_token(record)
    directory.down = True
    with pytest.raises(StoreUnavailable):
        await TokenChecker(directory).requestAvatarId(BearerToken(token))


def test_bearer_token_repr_hides_the_secret() -> None:
    assert "secret" not in repr(BearerToken("stx_id_secret"))


# FirstSuccessChecker and ExternalChecker


def memory_checker(**users: bytes) -> InMemoryUsernamePasswordDatabaseDontUse:
    return InMemoryUsernamePasswordDatabaseDontUse(**users)


@pytest_twisted.ensureDeferred
async def test_first_success_tries_in_order(directory: FlakyDirectory) -> None:
    alice = await directory.create_principal("alice", hash_password("dir-pw"))
    combined = FirstSuccessChecker(
        IUsernamePassword,
        [
            DirectoryPasswordChecker(directory),
            ExternalChecker(memory_checker(alice=b"ext-pw", bob=b"bob-pw")),
        ],
    )
    assert combined.credentialInterfaces == (IUsernamePassword,)
    assert await combined.requestAvatarId(UsernamePassword(b"alice", b"dir-pw")) == alice.id
    via_external = await combined.requestAvatarId(UsernamePassword(b"alice", b"ext-pw"))
    assert via_external == LoginName("alice") and isinstance(via_external, LoginName)
    assert await combined.requestAvatarId(UsernamePassword(b"bob", b"bob-pw")) == "bob"
    with pytest.raises(UnauthorizedLogin):
        await combined.requestAvatarId(UsernamePassword(b"bob", b"wrong"))


@pytest_twisted.ensureDeferred
async def test_first_success_stops_at_store_unavailable(directory: FlakyDirectory) -> None:
    directory.down = True
    combined = FirstSuccessChecker(
        IUsernamePassword,
        [DirectoryPasswordChecker(directory), ExternalChecker(memory_checker(bob=b"pw"))],
    )
    with pytest.raises(StoreUnavailable):
        await combined.requestAvatarId(UsernamePassword(b"bob", b"pw"))


def test_first_success_needs_checkers() -> None:
    with pytest.raises(ValueError):
        FirstSuccessChecker(IUsernamePassword, [])


@pytest_twisted.ensureDeferred
async def test_external_checker_normalises_names_and_refuses_anonymous() -> None:
    from twisted.cred.checkers import AllowAnonymousAccess
    from twisted.cred.credentials import Anonymous

    external = ExternalChecker(memory_checker(Bob=b"pw"))
    assert external.credentialInterfaces == memory_checker().credentialInterfaces
    name = await external.requestAvatarId(UsernamePassword(b"Bob", b"pw"))
    assert name == "bob" and isinstance(name, LoginName)
    with pytest.raises(UnauthorizedLogin):
        await ExternalChecker(AllowAnonymousAccess()).requestAvatarId(Anonymous())
