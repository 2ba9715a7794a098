"""QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA over the account's JMAP Quota objects.

Every mailbox has the one quota root ``""``, the account; its resources are STORAGE (in KiB, as
the RFC counts it) and MESSAGE, each listed only while the administrator has set a limit.
"""

from __future__ import annotations

from stalwart_tx.imap import syntax
from stalwart_tx.imap.commands_mailboxes import find_mailbox
from stalwart_tx.imap.session import CommandFailed, ImapSession, State
from stalwart_tx.jmap.mail.quota_usage import UNLIMITED

ROOT = ""


async def _resources(session: ImapSession) -> list[str]:
    answer = await session.mail().call("Quota/get")
    found = []
    for quota in answer["list"]:
        limit = int(quota["hardLimit"])
        if limit >= UNLIMITED:
            continue
        used = int(quota["used"])
        if quota["resourceType"] == "octets":
            found.append(f"STORAGE {(used + 1023) // 1024} {limit // 1024}")
        elif quota["resourceType"] == "count":
            found.append(f"MESSAGE {used} {limit}")
    return sorted(found, key=lambda item: not item.startswith("STORAGE"))


async def getquotaroot(session: ImapSession, command: syntax.GetQuotaRoot) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    mailbox = await find_mailbox(session.mail(), command.mailbox)
    session.untagged(b"QUOTAROOT " + session.mailbox_name(mailbox.name) + b' ""')
    session.untagged(f'QUOTA "" ({" ".join(await _resources(session))})')
    return "GETQUOTAROOT completed"


async def getquota(session: ImapSession, command: syntax.GetQuota) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    if command.root != ROOT:
        raise CommandFailed.no("no such quota root", "NONEXISTENT")
    session.untagged(f'QUOTA "" ({" ".join(await _resources(session))})')
    return "GETQUOTA completed"
