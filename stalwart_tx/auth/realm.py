"""The realm: from an avatar id to the IMailUser of a directory principal."""

from __future__ import annotations

from collections.abc import Callable

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import Interface, implementer

from stalwart_tx.auth.avatar import IMailUser, LoginName, MailUser
from stalwart_tx.auth.credentials import username_text
from stalwart_tx.store.errors import PrincipalExists, PrincipalNotFound
from stalwart_tx.store.interfaces import IDirectory
from stalwart_tx.store.records import Principal

log = Logger()

AvatarTuple = tuple[type[Interface], object, Callable[[], None]]


def _logout() -> None:
    # Avatars hold no per-session resources; protocol sessions clean up after themselves.
    return None


@implementer(IRealm)
class MailRealm:
    """Resolves principal ids directly and LoginNames (external authorities) by name.

    With ``auto_provision`` a LoginName unknown to the directory gets a principal with no password
    hash: the external authority owns the password, so the directory checker can never let
    anyone in as that principal by password.
    """

    def __init__(self, directory: IDirectory, auto_provision: bool = False) -> None:
        self._directory = directory
        self.auto_provision = auto_provision

    def requestAvatar(
        self, avatarId: object, mind: object, *interfaces: type[Interface]
    ) -> Deferred[AvatarTuple]:
        return Deferred.fromCoroutine(self._request(avatarId, interfaces))

    async def _request(
        self, avatar_id: object, interfaces: tuple[type[Interface], ...]
    ) -> AvatarTuple:
        if IMailUser not in interfaces:
            raise NotImplementedError("MailRealm only provides IMailUser")
        principal = await self._principal(avatar_id)
        return IMailUser, MailUser(principal_id=principal.id, name=principal.name), _logout

    async def _principal(self, avatar_id: object) -> Principal:
        if isinstance(avatar_id, LoginName):
            return await self._by_name(avatar_id)
        if isinstance(avatar_id, str):
            try:
                principal: Principal = await self._directory.get_principal(avatar_id)
            except PrincipalNotFound:
                # Deleted between the credentials check and now.
                raise UnauthorizedLogin() from None
            return principal
        if isinstance(avatar_id, bytes):
            # A checker handed in without ExternalChecker wrapping: bytes are user names there.
            name = username_text(avatar_id)
            if name:
                return await self._by_name(LoginName(name))
        raise UnauthorizedLogin()

    async def _by_name(self, name: LoginName) -> Principal:
        try:
            principal: Principal = await self._directory.find_principal(name)
            return principal
        except PrincipalNotFound:
            if not self.auto_provision:
                raise UnauthorizedLogin() from None
        try:
            principal = await self._directory.create_principal(name, None)
        except PrincipalExists:
            # Another login of the same user provisioned it first.
            try:
                principal = await self._directory.find_principal(name)
            except PrincipalNotFound:
                raise UnauthorizedLogin() from None
            return principal
        except ValueError:
            raise UnauthorizedLogin() from None
        log.info("provisioned principal {principal_id} for {name!r} on first login",
                 principal_id=principal.id, name=principal.name)
        return principal
