"""The one place a login happens: building the Portal, and ``authenticate`` for protocol layers."""

from __future__ import annotations

from collections.abc import Iterable

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import ICredentials
from twisted.cred.error import LoginFailed
from twisted.cred.portal import Portal
from twisted.internet.interfaces import IReactorThreads
from twisted.python.threadpool import ThreadPool
from zope.interface import Interface

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.auth.cache import VerifiedCredentialsCache
from stalwart_tx.auth.checkers import (
    DirectoryPasswordChecker,
    FirstSuccessChecker,
    TokenChecker,
    as_login_name_checker,
)
from stalwart_tx.auth.errors import AuthenticationFailed, RateLimited
from stalwart_tx.auth.ratelimit import LoginRateLimiter
from stalwart_tx.auth.realm import MailRealm
from stalwart_tx.store.interfaces import IDirectory


def build_portal(
    directory: IDirectory,
    extra_checkers: Iterable[ICredentialsChecker] = (),
    auto_provision: bool = False,
    *,
    reactor: IReactorThreads | None = None,
    threadpool: ThreadPool | None = None,
    cache: VerifiedCredentialsCache | None = None,
) -> Portal:
    """A Portal over the directory (passwords and API tokens) plus the ``--auth`` checkers.

    ``extra_checkers`` (from ``parse_auth_option``) are external authorities: whatever they return
    is taken as a login name. For each credentials interface the directory's checker is tried
    first, then the extra checkers in the given order; the first success wins. With ``cache``,
    the directory's password checker (and any password-file checker built with that cache)
    remembers successful verifications; see ``stalwart_tx.auth.cache``.
    """
    ordered: dict[type[Interface], list[ICredentialsChecker]] = {}
    own: list[ICredentialsChecker] = [
        DirectoryPasswordChecker(directory, reactor=reactor, threadpool=threadpool, cache=cache),
        TokenChecker(directory),
    ]
    for checker in [*own, *(as_login_name_checker(c) for c in extra_checkers)]:
        for interface in checker.credentialInterfaces:
            ordered.setdefault(interface, []).append(checker)
    portal = Portal(MailRealm(directory, auto_provision=auto_provision))
    for interface, checkers in ordered.items():
        combined = checkers[0] if len(checkers) == 1 else FirstSuccessChecker(interface, checkers)
        portal.registerChecker(combined, interface)
    return portal


async def authenticate(
    portal: Portal,
    credentials: ICredentials,
    limiter: LoginRateLimiter,
    name_for_limit: str | None,
    remote_address: str | None,
) -> IMailUser:
    """Log in through the portal, throttled by the limiter.

    Raises RateLimited (before checking anything) while the name or address is locked out,
    AuthenticationFailed for every kind of rejected credentials alike, and lets StoreUnavailable
    through so the caller answers "try later" rather than "wrong password".
    """
    retry_after = limiter.check(name_for_limit, remote_address)
    if retry_after is not None:
        raise RateLimited(retry_after)
    try:
        _interface, avatar, _logout = await portal.login(credentials, None, IMailUser)
    except LoginFailed:
        limiter.record_failure(name_for_limit, remote_address)
        # No cause attached: which check failed must not leak to the client.
        raise AuthenticationFailed() from None
    limiter.record_success(name_for_limit, remote_address)
    return IMailUser(avatar)
