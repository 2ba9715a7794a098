"""The IMAP bridge's way to the mail: JMAP requests run in process by the same JMAPApi.

Every IMAP command that reads or changes mail becomes one or a few JMAP method calls; the API
checks them, runs the handlers and answers as it would over HTTP. So the bridge holds no mail
logic: what a keyword change, an expunge or an append does is what Email/set or Email/import
does for every client.
"""

from __future__ import annotations

from typing import Any, Final

from stalwart_tx.auth.avatar import IMailUser
from stalwart_tx.jmap.api import JMAPApi
from stalwart_tx.jmap.capabilities import CORE, MAIL, QUOTA
from stalwart_tx.jmap.mail.imap_view import IMAP_VIEW

USING: Final = frozenset({CORE, MAIL, QUOTA, IMAP_VIEW})


class JmapCallError(Exception):
    """A method call answered ``error``; ``type`` is the JMAP error type."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.type = str(error.get("type", "serverFail"))
        self.description = str(error.get("description") or self.type)
        super().__init__(f"{method}: {self.type}: {self.description}")


class MailClient:
    def __init__(self, api: JMAPApi, user: IMailUser) -> None:
        self.api = api
        self.user = user
        self.account_id: str = user.account_id

    async def request(self, *calls: tuple[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """Run the calls as one Request (``#ref`` result references allowed, call ids ``c0``,
        ``c1``...); the responses in order. An ``error`` response raises JmapCallError."""
        method_calls = [
            (name, {"accountId": self.account_id, **arguments}, f"c{n}")
            for n, (name, arguments) in enumerate(calls)
        ]
        responses = await self.api.run_calls(self.user, USING, method_calls)
        answers: list[tuple[str, dict[str, Any]]] = []
        for name, arguments, call_id in responses:
            if name == "error":
                index = int(str(call_id)[1:])
                raise JmapCallError(calls[index][0], arguments)
            answers.append((name, arguments))
        return answers

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        answers = await self.request((name, arguments))
        return answers[0][1]
