"""Every @implementer in stalwart_tx.auth really provides its interface."""

from __future__ import annotations

from pathlib import Path

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.portal import IRealm
from zope.interface.verify import verifyObject

from stalwart_tx.auth.avatar import IMailUser, MailUser
from stalwart_tx.auth.checkers import (
    DirectoryPasswordChecker,
    ExternalChecker,
    FirstSuccessChecker,
    TokenChecker,
    parse_auth_option,
)
from stalwart_tx.auth.credentials import BearerToken, IBearerToken
from stalwart_tx.auth.htpasswd import HtpasswdFileChecker
from stalwart_tx.auth.passwords import hash_password
from stalwart_tx.auth.realm import MailRealm
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.memory_directory import MemoryDirectory
from tests.auth.helpers import FlakyDirectory


def test_avatar_and_credentials() -> None:
    assert verifyObject(IMailUser, MailUser(principal_id="a1", name="alice"))
    assert verifyObject(IBearerToken, BearerToken("stx_x_y"))


def test_checkers(tmp_path: Path) -> None:
    directory = MemoryDirectory()
    password_file = tmp_path / "users"
    password_file.write_text(f"alice:{hash_password('pw')}\n")
    directory_checker = DirectoryPasswordChecker(directory)
    checkers = [
        directory_checker,
        TokenChecker(directory),
        HtpasswdFileChecker(password_file),
        ExternalChecker(directory_checker),
        FirstSuccessChecker(IUsernamePassword, [directory_checker]),
        parse_auth_option("memory:bob:pw"),
    ]
    for checker in checkers:
        assert verifyObject(ICredentialsChecker, checker)


def test_realm_and_test_directory() -> None:
    assert verifyObject(IRealm, MailRealm(MemoryDirectory(), auto_provision=False))
    assert verifyObject(IDirectory, FlakyDirectory())
