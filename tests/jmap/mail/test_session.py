"""The mail and vacationresponse capabilities in the session, read over HTTP (RFC 8621 §1.3)."""

from __future__ import annotations

import pytest_twisted

from stalwart_tx.jmap.capabilities import CORE, MAIL, VACATION_RESPONSE
from tests.jmap.mail.conftest import Mail


@pytest_twisted.ensureDeferred
async def test_session_advertises_mail_and_vacationresponse(mail: Mail) -> None:
    session = await mail.server.session()
    assert session["capabilities"][MAIL] == {}
    assert session["capabilities"][VACATION_RESPONSE] == {}
    account = session["accounts"][mail.account]["accountCapabilities"]
    assert account[MAIL] == {
        "maxMailboxesPerEmail": 256,
        "maxMailboxDepth": 10,
        "maxSizeMailboxName": 255,
        "maxSizeAttachmentsPerEmail": 50_000_000,
        "emailQuerySortOptions": [
            "receivedAt", "size", "from", "to", "subject", "sentAt",
            "hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword",
        ],
        "mayCreateTopLevelMailbox": True,
    }
    assert account[VACATION_RESPONSE] == {}
    for uri in (CORE, MAIL, VACATION_RESPONSE):
        assert session["primaryAccounts"][uri] == mail.account


@pytest_twisted.ensureDeferred
async def test_mail_methods_need_the_mail_capability_in_using(mail: Mail) -> None:
    response = await mail.server.call(
        ["Mailbox/get", {"accountId": mail.account}, "0"], using=[CORE]
    )
    assert response["methodResponses"][0][1]["type"] == "unknownMethod"
    response = await mail.server.call(
        ["VacationResponse/get", {"accountId": mail.account}, "0"], using=[CORE, MAIL]
    )
    assert response["methodResponses"][0][1]["type"] == "unknownMethod"
