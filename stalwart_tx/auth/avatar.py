"""What a successful login yields, and the avatar ids checkers hand to the realm.

Avatar ids are ``str``. A plain ``str`` is a principal id (the directory and token checkers
return these). A ``LoginName`` is a name vouched for by an authority outside the directory
(``--auth file:``, strcred plugins); the realm looks it up by name. Keeping the two apart by type
means a login name that happens to look like a principal id can never be taken for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from zope.interface import Attribute, Interface, implementer


class LoginName(str):
    """An avatar id that names a principal by login name rather than by id."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"LoginName({str.__repr__(self)})"


class IMailUser(Interface):
    """An authenticated principal, as every protocol layer sees it."""

    principal_id = Attribute("The principal's id (str).")
    name = Attribute("The principal's login name, lowercased (str).")
    account_id = Attribute("The JMAP account id of the principal's own account; == principal_id.")


@implementer(IMailUser)
@dataclass(frozen=True)
class MailUser:
    principal_id: str
    name: str

    @property
    def account_id(self) -> str:
        return self.principal_id
