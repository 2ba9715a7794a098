"""``--auth file:PATH``: an htpasswd-style file of ``name:argon2id-hash`` lines.

Clear-text passwords are refused when the file is loaded, not silently accepted. The file is
re-read when its stat signature (mtime, size, inode) changes, checked on each login; a stat of a
small local file is cheap enough to do on the reactor. A file that fails to load after an edit
leaves the last good table in force (and is logged), as a broken config reload does elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.cache import NEEDS_VERIFICATION, NO_PASSWORD, Probe, VerifiedCredentialsCache
from stalwart_tx.auth.credentials import username_text
from stalwart_tx.auth.errors import PasswordFileError
from stalwart_tx.auth.passwords import (
    ARGON2ID_PREFIX,
    is_argon2id_hash,
    spend_verify_time,
    verify_password,
)

log = Logger()

_Signature = tuple[int, int, int]


def normalise_login_name(name: str) -> str:
    # Same rule as the directory, so file users map onto directory principals by name.
    return name.strip().lower()


def parse_password_file(text: str, source: str) -> dict[str, str]:
    """Login name → argon2id hash; raises PasswordFileError naming the file and line."""
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, stored = line.partition(":")
        name = normalise_login_name(name)
        where = f"{source}, line {number}"
        if not colon or not name:
            raise PasswordFileError(f"{where}: expected 'name:hash'")
        if not stored.startswith(ARGON2ID_PREFIX):
            raise PasswordFileError(
                f"{where}: the password of {name!r} is not an argon2id hash; clear-text and other"
                " hash kinds are refused (make one with stalwart_tx.auth.passwords.hash_password)"
            )
        if not is_argon2id_hash(stored):
            raise PasswordFileError(f"{where}: the argon2id hash of {name!r} is malformed")
        if name in users:
            raise PasswordFileError(f"{where}: {name!r} appears more than once")
        users[name] = stored
    return users


def _signature(path: Path) -> _Signature:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@implementer(ICredentialsChecker)
class HtpasswdFileChecker:
    """IUsernamePassword against the file; the avatar id is the LoginName of the user."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(
        self,
        path: str | Path,
        *,
        reactor: IReactorThreads | None = None,
        threadpool: ThreadPool | None = None,
        cache: VerifiedCredentialsCache | None = None,
    ) -> None:
        self.path = Path(path)
        self._reactor = reactor
        self._threadpool = threadpool
        # Successful verifications, keyed on the user's current hash line (see auth.cache).
        self.cache = cache
        self._cache_name = f"file:{os.path.abspath(self.path)}"
        self._signature: _Signature | None
        try:
            self._signature = _signature(self.path)
            self._users = self._load()
        except (OSError, UnicodeDecodeError) as e:
            raise PasswordFileError(f"cannot read password file {self.path}: {e}") from e

    def _load(self) -> dict[str, str]:
        return parse_password_file(self.path.read_text(encoding="utf-8"), str(self.path))

    def _reload_if_changed(self) -> None:
        try:
            signature = _signature(self.path)
        except OSError as e:
            if self._signature is not None:
                log.error("password file {path} vanished ({error}); keeping the users loaded",
                          path=str(self.path), error=str(e))
                self._signature = None
            return
        if signature == self._signature:
            return
        # Remember the signature even if loading fails, so a broken file is reported once.
        self._signature = signature
        try:
            users = self._load()
        except (OSError, UnicodeDecodeError, PasswordFileError) as e:
            log.error("password file not reloaded, keeping the users loaded before: {error}",
                      error=str(e))
            return
        self._users = users
        log.info("password file {path} reloaded: {count} users",
                 path=str(self.path), count=len(users))

    def requestAvatarId(self, credentials: IUsernamePassword) -> Deferred[LoginName]:  # type: ignore[override]
        return Deferred.fromCoroutine(self._check(credentials))

    async def probe(self, credentials: IUsernamePassword) -> Probe:
        """The answer without verifying: a cache hit, no such user, or neither."""
        name, stored, key = self._prepare(credentials)
        if stored is None:
            return NO_PASSWORD
        if self.cache is not None and self.cache.hit(key):
            return Probe(hit=True, avatar_id=LoginName(name))
        return NEEDS_VERIFICATION

    def _prepare(self, credentials: IUsernamePassword) -> tuple[str, str | None, bytes | None]:
        self._reload_if_changed()
        raw_name = username_text(credentials.username)
        name = normalise_login_name(raw_name) if raw_name is not None else ""
        stored = self._users.get(name)
        if stored is None or self.cache is None:
            return name, stored, None
        return name, stored, self.cache.key(self._cache_name, name, credentials.password, stored)

    async def _check(self, credentials: IUsernamePassword) -> LoginName:
        name, stored, key = self._prepare(credentials)
        if stored is None:
            await spend_verify_time(
                credentials.password, reactor=self._reactor, threadpool=self._threadpool
            )
            raise UnauthorizedLogin()
        if self.cache is not None and self.cache.hit(key):
            return LoginName(name)
        ok = await verify_password(
            stored, credentials.password, reactor=self._reactor, threadpool=self._threadpool
        )
        if not ok:
            raise UnauthorizedLogin()
        if self.cache is not None:
            self.cache.remember(key)
        return LoginName(name)

