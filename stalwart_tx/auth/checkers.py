"""The ICredentialsChecker implementations, and ``--auth`` option parsing.

Avatar ids (see ``stalwart_tx.auth.avatar``): the directory and token checkers return the principal
id as a plain ``str``; the password-file checker and strcred plugins return a ``LoginName`` that
the realm resolves by name. StoreUnavailable from the directory is never turned into
UnauthorizedLogin: an outage must read as "try later" (503), not as "wrong password".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.cred import strcred
from twisted.cred.checkers import ICredentialsChecker, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import ICredentials, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorThreads
from twisted.python.threadpool import ThreadPool
from zope.interface import Interface, implementer

from stalwart_tx.auth.avatar import LoginName
from stalwart_tx.auth.cache import NEEDS_VERIFICATION, NO_PASSWORD, Probe, VerifiedCredentialsCache
from stalwart_tx.auth.credentials import IBearerToken, username_text
from stalwart_tx.auth.htpasswd import HtpasswdFileChecker
from stalwart_tx.auth.passwords import spend_verify_time, verify_password
from stalwart_tx.auth.tokens import parse_token, secret_matches
from stalwart_tx.store.errors import PrincipalNotFound, TokenNotFound
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.records import Principal, TokenRecord

__all__ = [
    "DirectoryPasswordChecker",
    "ExternalChecker",
    "FirstSuccessChecker",
    "HtpasswdFileChecker",
    "TokenChecker",
    "parse_auth_option",
]


@implementer(ICredentialsChecker)
class DirectoryPasswordChecker:
    """IUsernamePassword against the argon2id hashes of directory principals → principal id."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(
        self,
        directory: IDirectory,
        *,
        reactor: IReactorThreads | None = None,
        threadpool: ThreadPool | None = None,
        cache: VerifiedCredentialsCache | None = None,
    ) -> None:
        self._directory = directory
        self._reactor = reactor
        self._threadpool = threadpool
        # Successful verifications, keyed on the principal's stored hash (see auth.cache).
        self.cache = cache

    def requestAvatarId(self, credentials: IUsernamePassword) -> Deferred[str]:  # type: ignore[override]
        return Deferred.fromCoroutine(self._check(credentials))

    async def probe(self, credentials: IUsernamePassword) -> Probe:
        """The answer without verifying: a cache hit, no password to check, or neither."""
        principal, key = await self._prepare(credentials)
        if principal is None or principal.password_hash is None:
            return NO_PASSWORD
        if self.cache is not None and self.cache.hit(key):
            return Probe(hit=True, avatar_id=principal.id)
        return NEEDS_VERIFICATION

    async def _prepare(
        self, credentials: IUsernamePassword
    ) -> tuple[Principal | None, bytes | None]:
        principal = await self._find(username_text(credentials.username))
        if principal is None or principal.password_hash is None or self.cache is None:
            return principal, None
        key = self.cache.key(
            "directory", principal.id, credentials.password, principal.password_hash
        )
        return principal, key

    async def _check(self, credentials: IUsernamePassword) -> str:
        principal, key = await self._prepare(credentials)
        if principal is None or principal.password_hash is None:
            # No hash to check, but spend the time of one: an unknown user, a user whose password
            # lives elsewhere and a wrong password must be indistinguishable, in timing too.
            await spend_verify_time(
                credentials.password, reactor=self._reactor, threadpool=self._threadpool
            )
            raise UnauthorizedLogin()
        if self.cache is not None and self.cache.hit(key):
            return principal.id
        ok = await verify_password(
            principal.password_hash,
            credentials.password,
            reactor=self._reactor,
            threadpool=self._threadpool,
        )
        if not ok:
            raise UnauthorizedLogin()
        if self.cache is not None:
            self.cache.remember(key)
        return principal.id

    async def _find(self, name: str | None) -> Principal | None:
        if not name or not name.strip():
            return None
        try:
            principal: Principal = await self._directory.find_principal(name)
        except PrincipalNotFound:
            return None
        return principal


@implementer(ICredentialsChecker)
class TokenChecker:
    """IBearerToken → the principal id of the token's owner."""

    credentialInterfaces = (IBearerToken,)

    def __init__(self, directory: IDirectory) -> None:
        self._directory = directory

    def requestAvatarId(self, credentials: IBearerToken) -> Deferred[str]:  # type: ignore[override]
        return Deferred.fromCoroutine(self._check(credentials))

    async def _check(self, credentials: IBearerToken) -> str:
        parsed = parse_token(credentials.token)
        if parsed is None:
            raise UnauthorizedLogin()
        token_id, secret = parsed
        try:
            record: TokenRecord = await self._directory.get_token(token_id)
        except TokenNotFound:
            raise UnauthorizedLogin() from None
        if not secret_matches(record, secret):
            raise UnauthorizedLogin()
        return record.principal_id


def is_caching(checker: object) -> bool:
    """Whether ``checker`` remembers successful verifications (in an enabled cache)."""
    cache = getattr(checker, "cache", None)
    return isinstance(cache, VerifiedCredentialsCache) and cache.enabled


@implementer(ICredentialsChecker)
class FirstSuccessChecker:
    """Several checkers for one credentials interface, tried in order; the first success wins.

    Portal keeps one checker per interface, so the directory and ``--auth`` checkers that all
    take IUsernamePassword are combined here. Only UnauthorizedLogin moves on to the next checker;
    anything else (StoreUnavailable above all) ends the attempt at once.
    """

    def __init__(self, interface: type[Interface], checkers: Iterable[ICredentialsChecker]) -> None:
        self.credentialInterfaces = (interface,)
        self.checkers = tuple(checkers)
        if not self.checkers:
            raise ValueError("FirstSuccessChecker needs at least one checker")

    def requestAvatarId(self, credentials: ICredentials) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._check(credentials))

    async def _check(self, credentials: ICredentials) -> Any:
        if any(is_caching(checker) for checker in self.checkers):
            cached = await self._cached(credentials)
            if cached.hit:
                return cached.avatar_id
        for checker in self.checkers:
            try:
                return await maybeDeferred(checker.requestAvatarId, credentials)
            except UnauthorizedLogin:
                continue
        raise UnauthorizedLogin()

    async def _cached(self, credentials: ICredentials) -> Probe:
        """A cache hit of the checker that would answer first, without verifying anything.

        Checkers are probed in order. One with no password for the name would refuse, so the
        next is probed; one that can only answer by verifying (or cannot be probed) ends the
        search, since its answer would come first. Without this, a user of a password file
        whose directory principal has no password would spend a dummy verification in the
        directory checker on every login, cache or not.
        """
        for checker in self.checkers:
            probe = getattr(checker, "probe", None)
            if probe is None:
                break
            answer: Probe = await probe(credentials)
            if answer.hit or not answer.refused:
                return answer
        return NEEDS_VERIFICATION


@implementer(ICredentialsChecker)
class ExternalChecker:
    """A checker from outside the directory (a strcred plugin); its avatar ids become LoginNames.

    strcred checkers answer with bytes or str user names; the realm needs to know these are names
    to look up, not principal ids, hence the LoginName wrapping. Anything that is not a name (the
    anonymous checker's empty tuple) cannot map to a mailbox and is refused.
    """

    def __init__(self, checker: ICredentialsChecker) -> None:
        self.checker = checker
        self.credentialInterfaces = tuple(checker.credentialInterfaces)

    def requestAvatarId(self, credentials: ICredentials) -> Deferred[LoginName]:  # type: ignore[override]
        return Deferred.fromCoroutine(self._check(credentials))

    async def _check(self, credentials: ICredentials) -> LoginName:
        avatar_id = await maybeDeferred(self.checker.requestAvatarId, credentials)
        name = username_text(avatar_id) if isinstance(avatar_id, bytes | str) else None
        if not name or not name.strip():
            raise UnauthorizedLogin()
        return LoginName(name.strip().lower())


def as_login_name_checker(checker: ICredentialsChecker) -> ICredentialsChecker:
    """``checker`` made to yield LoginNames, unless it already does."""
    if isinstance(checker, ExternalChecker | HtpasswdFileChecker):
        return checker
    return ExternalChecker(checker)


def _bytes_keyed(checker: InMemoryUsernamePasswordDatabaseDontUse) -> None:
    # strcred's memory plugin stores the str pieces of its argument, while IUsernamePassword
    # carries bytes; without this no login could ever match.
    checker.users = {
        (k.encode("utf-8") if isinstance(k, str) else k): (
            v.encode("utf-8") if isinstance(v, str) else v
        )
        for k, v in checker.users.items()
    }


def parse_auth_option(
    spec: str,
    *,
    reactor: IReactorThreads | None = None,
    threadpool: ThreadPool | None = None,
    cache: VerifiedCredentialsCache | None = None,
) -> ICredentialsChecker:
    """The checker for one ``--auth`` value.

    ``file:PATH`` is our argon2id password file (it replaces strcred's clear-text ``file``
    plugin; its successful logins go to ``cache``); anything else goes to
    ``twisted.cred.strcred.makeChecker`` (``memory:u:p``, ``unix``, ...), never cached. Raises
    ValueError naming the spec for unknown kinds or bad arguments; PasswordFileError (a
    ValueError) for a bad password file.
    """
    kind, _, argument = spec.partition(":")
    if kind == "file":
        if not argument.strip():
            raise ValueError(f"--auth {spec!r}: file: needs a path")
        return HtpasswdFileChecker(argument, reactor=reactor, threadpool=threadpool, cache=cache)
    try:
        checker = strcred.makeChecker(spec)  # type: ignore[no-untyped-call]
    except strcred.InvalidAuthType:
        raise ValueError(f"--auth {spec!r}: unknown authentication kind {kind!r}") from None
    except (strcred.StrcredException, ValueError) as e:
        # Only the kind: the arguments may hold passwords (memory:user:password).
        raise ValueError(f"--auth {kind}:...: bad arguments for {kind!r}: {e}") from None
    if isinstance(checker, InMemoryUsernamePasswordDatabaseDontUse):
        _bytes_keyed(checker)
    return ExternalChecker(checker)
