from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.cred.credentials import Anonymous, IUsernamePassword, UsernamePassword
from twisted.internet.task import Clock

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.checkers import (
    DirectoryPasswordChecker,
    FirstSuccessChecker,
    TokenChecker,
    parse_auth_option,
)
from stalwart_tx.auth.credentials import BearerToken, IBearerToken
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.passwords import hash_password
from stalwart_tx.auth.portal import authenticate, build_portal
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.auth.tokens import new_token
from stalwart_tx.store.errors import StoreUnavailable
from tests.auth.helpers import FlakyDirectory

ADDRESS = "192.0.2.1"


@pytest.fixture
def directory() -> FlakyDirectory:
    return FlakyDirectory()


@pytest.fixture
def limiter() -> LoginRateLimiter:
    return LoginRateLimiter(Clock(), max_failures=3, max_address_failures=100, lockout=30)


def login(name: bytes, password: bytes) -> UsernamePassword:
    return UsernamePassword(name, password)


def test_portal_registers_one_checker_per_interface(directory: FlakyDirectory) -> None:
    portal = build_portal(directory)
    assert set(portal.listCredentialsInterfaces()) == {IUsernamePassword, IBearerToken}
    assert isinstance(portal.checkers[IUsernamePassword], DirectoryPasswordChecker)
    assert isinstance(portal.checkers[IBearerToken], TokenChecker)

    combined = build_portal(directory, [parse_auth_option("memory:a:b")])
    checker = combined.checkers[IUsernamePassword]
    assert isinstance(checker, FirstSuccessChecker)
    assert isinstance(checker.checkers[0], DirectoryPasswordChecker)


@pytest_twisted.ensureDeferred
async def test_password_and_token_logins(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    alice = await directory.create_principal("alice", hash_password("pw"))
    token, record = new_token(alice.id, "", 0.0)
    await directory.add_token(record)
    portal = build_portal(directory)

    user = await authenticate(portal, login(b"alice", b"pw"), limiter, "alice", ADDRESS)
    assert IMailUser.providedBy(user)
    assert (user.principal_id, user.name, user.account_id) == (alice.id, "alice", alice.id)

    by_token = await authenticate(
        portal, BearerToken(token), limiter, f"token:{record.token_id}", ADDRESS
    )
    assert by_token.principal_id == alice.id


@pytest_twisted.ensureDeferred
async def test_wrong_user_and_wrong_password_are_indistinguishable(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    await directory.create_principal("alice", hash_password("pw"))
    portal = build_portal(directory)
    errors = []
    for credentials, name in (
        (login(b"alice", b"wrong"), "alice"),
        (login(b"nobody", b"pw"), "nobody"),
        (BearerToken("stx_garbage"), "token:malformed"),
        (Anonymous(), None),  # no checker for it at all
    ):
        with pytest.raises(AuthenticationFailed) as raised:
            await authenticate(portal, credentials, limiter, name, ADDRESS)
        errors.append(raised.value)
    assert len({(type(e), str(e), e.args) for e in errors}) == 1
    assert all(e.__cause__ is None and e.__suppress_context__ for e in errors)


@pytest_twisted.ensureDeferred
async def test_rate_limited_after_failures_even_with_the_right_password(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    await directory.create_principal("alice", hash_password("pw"))
    portal = build_portal(directory)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await authenticate(portal, login(b"alice", b"wrong"), limiter, "alice", ADDRESS)
    with pytest.raises(RateLimited) as raised:
        await authenticate(portal, login(b"alice", b"pw"), limiter, "alice", ADDRESS)
    assert raised.value.retry_after == 30.0
    assert raised.value.retry_after_seconds == 30
    # Other accounts are unaffected.
    await directory.create_principal("bob", hash_password("pw"))
    assert (await authenticate(portal, login(b"bob", b"pw"), limiter, "bob", ADDRESS)).name == "bob"


@pytest_twisted.ensureDeferred
async def test_success_resets_the_account_count(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    await directory.create_principal("alice", hash_password("pw"))
    portal = build_portal(directory)
    for _ in range(5):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                await authenticate(portal, login(b"alice", b"x"), limiter, "alice", ADDRESS)
        await authenticate(portal, login(b"alice", b"pw"), limiter, "alice", ADDRESS)


@pytest_twisted.ensureDeferred
async def test_store_unavailable_propagates_and_is_not_a_failure(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    alice = await directory.create_principal("alice", hash_password("pw"))
    token, record = new_token(alice.id, "", 0.0)
    await directory.add_token(record)
    portal = build_portal(directory, [parse_auth_option("memory:bob:pw")])
    directory.down = True
    for _ in range(5):
        for credentials in (login(b"alice", b"pw"), login(b"bob", b"pw"), BearerToken(token)):
            with pytest.raises(StoreUnavailable):
                await authenticate(portal, credentials, limiter, "alice", ADDRESS)
    assert limiter.check("alice", ADDRESS) is None


@pytest_twisted.ensureDeferred
async def test_external_checkers_with_and_without_auto_provision(
    directory: FlakyDirectory, limiter: LoginRateLimiter, tmp_path: Path
) -> None:
    password_file = tmp_path / "users"
    password_file.write_text(f"carol:{hash_password('file-pw')}\n")
    extra = [parse_auth_option(f"file:{password_file}"), parse_auth_option("memory:dave:mem-pw")]

    strict = build_portal(directory, extra, auto_provision=False)
    with pytest.raises(AuthenticationFailed):
        await authenticate(strict, login(b"carol", b"file-pw"), limiter, "carol", ADDRESS)

    provisioning = build_portal(directory, extra, auto_provision=True)
    carol = await authenticate(
        provisioning, login(b"carol", b"file-pw"), limiter, "carol", ADDRESS
    )
    dave = await authenticate(provisioning, login(b"dave", b"mem-pw"), limiter, "dave", ADDRESS)
    assert (await directory.find_principal("carol")).id == carol.principal_id
    assert (await directory.find_principal("dave")).id == dave.principal_id
    # Provisioned principals have no password, so the directory checker never admits them alone.
    assert (await directory.find_principal("carol")).password_hash is None
    # Now known to the directory, the strict portal maps them too.
    again = await authenticate(strict, login(b"carol", b"file-pw"), limiter, "carol", ADDRESS)
    assert again.principal_id == carol.principal_id


@pytest_twisted.ensureDeferred
async def test_directory_password_wins_before_extra_checkers(
    directory: FlakyDirectory, limiter: LoginRateLimiter
) -> None:
    alice = await directory.create_principal("alice", hash_password("dir-pw"))
    portal = build_portal(directory, [parse_auth_option("memory:alice:mem-pw")])
    for password in (b"dir-pw", b"mem-pw"):
        user = await authenticate(portal, login(b"alice", password), limiter, "alice", ADDRESS)
        assert user.principal_id == alice.id
