from __future__ import annotations

import pytest
import pytest_twisted
from twisted.cred.error import UnauthorizedLogin
from zope.interface import Interface

from stalwart_tx.auth.avatar import IMailUser, LoginName, MailUser
from stalwart_tx.auth.realm import MailRealm
from stalwart_tx.store.errors import StoreUnavailable
from stalwart_tx.store.memory_directory import MemoryDirectory
from tests.auth.helpers import FlakyDirectory


@pytest_twisted.ensureDeferred
async def test_principal_id_resolves_directly() -> None:
    directory = MemoryDirectory()
    alice = await directory.create_principal("alice", None)
    interface, avatar, logout = await MailRealm(directory).requestAvatar(alice.id, None, IMailUser)
    assert interface is IMailUser
    assert avatar == MailUser(principal_id=alice.id, name="alice")
    assert avatar.account_id == alice.id
    assert logout() is None


@pytest_twisted.ensureDeferred
async def test_principal_id_is_never_taken_for_a_name() -> None:
    directory = MemoryDirectory()
    alice = await directory.create_principal("alice", None)
    realm = MailRealm(directory, auto_provision=False)
    with pytest.raises(UnauthorizedLogin):
        await realm.requestAvatar("alice", None, IMailUser)  # a name posing as an id
    with pytest.raises(UnauthorizedLogin):
        await realm.requestAvatar(LoginName(alice.id), None, IMailUser)  # an id posing as a name


@pytest_twisted.ensureDeferred
async def test_login_name_resolves_by_name() -> None:
    directory = MemoryDirectory()
    alice = await directory.create_principal("alice", None)
    realm = MailRealm(directory, auto_provision=False)
    _, avatar, _ = await realm.requestAvatar(LoginName("alice"), None, IMailUser)
    assert avatar.principal_id == alice.id
    _, avatar, _ = await realm.requestAvatar(b"Alice", None, IMailUser)  # unwrapped checker
    assert avatar.principal_id == alice.id


@pytest_twisted.ensureDeferred
async def test_unknown_login_name_without_auto_provision_fails() -> None:
    directory = MemoryDirectory()
    with pytest.raises(UnauthorizedLogin):
        await MailRealm(directory, auto_provision=False).requestAvatar(
            LoginName("carol"), None, IMailUser
        )
    assert await directory.list_principals() == []


@pytest_twisted.ensureDeferred
async def test_unknown_login_name_with_auto_provision_creates_passwordless_principal() -> None:
    directory = MemoryDirectory()
    realm = MailRealm(directory, auto_provision=True)
    _, avatar, _ = await realm.requestAvatar(LoginName("carol"), None, IMailUser)
    carol = await directory.find_principal("carol")
    assert avatar.principal_id == carol.id and avatar.name == "carol"
    assert carol.password_hash is None
    _, again, _ = await realm.requestAvatar(LoginName("carol"), None, IMailUser)
    assert again.principal_id == carol.id
    assert len(await directory.list_principals()) == 1


@pytest_twisted.ensureDeferred
async def test_rejects_other_ids_and_interfaces() -> None:
    realm = MailRealm(MemoryDirectory(), auto_provision=True)
    for avatar_id in ((), None, b"\xff"):
        with pytest.raises(UnauthorizedLogin):
            await realm.requestAvatar(avatar_id, None, IMailUser)

    class IOther(Interface):
        pass

    with pytest.raises(NotImplementedError):
        await realm.requestAvatar("a1", None, IOther)


@pytest_twisted.ensureDeferred
async def test_store_unavailable_propagates() -> None:
    directory = FlakyDirectory()
    alice = await directory.create_principal("alice", None)
    directory.down = True
    realm = MailRealm(directory, auto_provision=True)
    for avatar_id in (alice.id, LoginName("alice"), LoginName("new")):
        with pytest.raises(StoreUnavailable):
            await realm.requestAvatar(avatar_id, None, IMailUser)
