"""Mailbox commands: LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB, STATUS,
CREATE (with CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 §6.3)."""

from __future__ import annotations

from typing import Any

from stalwart_tx.imap import syntax
from stalwart_tx.imap.mail_client import MailClient
from stalwart_tx.imap.mailbox_trees import beside_shape, kept_mailbox, mailbox_tree
from stalwart_tx.imap.names import (
    INBOX,
    ROLE_OF_SPECIAL_USE,
    SEPARATOR,
    ImapMailbox,
    MailboxTree,
    canonical,
    denormalized,
    matches,
)
from stalwart_tx.imap.session import CommandFailed, ImapSession, State


async def find_mailbox(client: MailClient, name: str) -> ImapMailbox:
    found = (await mailbox_tree(client)).find(name)
    if found is None:
        raise CommandFailed.no(f"no mailbox named {name!r}", "NONEXISTENT")
    return found


def attributes(mailbox: ImapMailbox, *, subscribed: bool = False) -> str:
    names = ["\\HasChildren" if mailbox.has_children else "\\HasNoChildren"]
    if mailbox.special_use:
        names.append(mailbox.special_use)
    if subscribed and mailbox.subscribed:
        names.append("\\Subscribed")
    return "(" + " ".join(names) + ")"


def oldname(session: ImapSession, supplied: str) -> bytes:
    """The LIST extended data naming the spelling the client used, when the store keeps the
    name in another normalization form (RFC 9051 §5.1), else nothing."""
    if not denormalized(supplied):
        return b""
    return b' ("OLDNAME" (' + session.mailbox_name(supplied) + b"))"


def _announce_stored_name(session: ImapSession, supplied: str) -> None:
    extra = oldname(session, supplied)
    if extra:
        session.untagged(b'LIST () "/" ' + session.mailbox_name(canonical(supplied)) + extra)


async def list_(session: ImapSession, command: syntax.List) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    if command.patterns == ("",) and not command.extended:
        session.untagged(b'LIST (\\Noselect) "/" ""')
        return "LIST completed"
    tree = await mailbox_tree(client)
    reference = canonical(command.reference)
    patterns = [_joined(reference, p) for p in command.patterns]
    only_subscribed = "SUBSCRIBED" in command.selection
    only_special = "SPECIAL-USE" in command.selection
    show_subscribed = only_subscribed or "SUBSCRIBED" in command.returns
    criteria = [f'"{c}"' for c in sorted(command.selection - {"RECURSIVEMATCH", "REMOTE"})]
    recursive = "RECURSIVEMATCH" in command.selection

    def chosen(mailbox: ImapMailbox) -> bool:
        return ((not only_subscribed or mailbox.subscribed)
                and (not only_special or mailbox.special_use is not None))

    for mailbox in tree.sorted():
        if not any(matches(p, mailbox.name) for p in patterns):
            continue
        # RFC 5258 §3.5: RECURSIVEMATCH reports, as CHILDINFO, descendants that meet the
        # selection, and lists a parent for them even when it does not meet it itself
        childinfo = recursive and any(chosen(d) for d in _descendants(tree, mailbox))
        if not chosen(mailbox) and not childinfo:
            continue
        line = (f"LIST {attributes(mailbox, subscribed=show_subscribed)} \"/\" ".encode()
                + session.mailbox_name(mailbox.name))
        if childinfo:
            line += b' ("CHILDINFO" (' + " ".join(criteria).encode() + b"))"
        session.untagged(line)
        if command.status_items:
            await _status_line(session, client, mailbox, command.status_items)
    return "LIST completed"


async def lsub(session: ImapSession, command: syntax.Lsub) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    tree = await mailbox_tree(session.mail())
    pattern = _joined(canonical(command.reference), command.pattern)
    for mailbox in tree.sorted():
        if not matches(pattern, mailbox.name):
            continue
        if mailbox.subscribed:
            shown = attributes(mailbox)
        elif any(not matches(pattern, d.name) for d in _descendants(tree, mailbox)
                 if d.subscribed):
            # RFC 3501 §6.3.9: "%" stopped above a subscribed name: its parent stands in for
            # it, flagged \Noselect
            shown = "(\\Noselect)"
        else:
            continue
        session.untagged(f"LSUB {shown} \"/\" ".encode() + session.mailbox_name(mailbox.name))
    return "LSUB completed"


def _descendants(tree: MailboxTree, mailbox: ImapMailbox) -> list[ImapMailbox]:
    prefix = mailbox.name + SEPARATOR
    return [m for m in tree.by_id.values() if m.name.startswith(prefix)]


def _joined(reference: str, pattern: str) -> str:
    if not reference or pattern.startswith(SEPARATOR):
        return pattern
    if reference.endswith(SEPARATOR):
        return reference + pattern
    return reference + SEPARATOR + pattern


async def status(session: ImapSession, command: syntax.Status) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    kept = kept_mailbox(client, command.mailbox)
    if kept is not None:
        shape, known = kept
        # the values are the named mailbox's if the tree still holds
        values, held = await beside_shape(
            client, shape, _values_or_none(session, client, known, command.items)
        )
        if held and values is not None:
            _send_status(session, known, values)
            return "STATUS completed"
    mailbox = await find_mailbox(client, command.mailbox)
    await _status_line(session, client, mailbox, command.items)
    return "STATUS completed"


async def _values_or_none(
    session: ImapSession, client: MailClient, mailbox: ImapMailbox, items: tuple[str, ...]
) -> list[tuple[str, int | str]] | None:
    """STATUS's values of a mailbox a kept tree names, None when it is gone: the tree is then
    read again."""
    try:
        return await status_values(client, mailbox, items, session.server.append_limit)
    except CommandFailed:
        return None


async def status_values(
    client: MailClient, mailbox: ImapMailbox, items: tuple[str, ...], append_limit: int
) -> list[tuple[str, int | str]]:
    wanted = set(items)
    # what the items need, asked in one request
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    if wanted & {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "RECENT", "HIGHESTMODSEQ", "SIZE",
                 "UNSEEN"}:
        view_arguments: dict[str, Any] = {
            "ids": [mailbox.id], "uids": "SIZE" in wanted,
            # counted in the same read of the mailbox's UIDs (drafts count: IMAP's UNSEEN)
            "unseenCount": "UNSEEN" in wanted,
        }
        if "RECENT" in wanted:
            # the UIDs above the \Recent mark, counted in the same read (nothing taken)
            view_arguments["recent"] = "read"
        calls["view"] = ("ImapMailbox/get", view_arguments)
    for item, condition in (("DELETED", {"hasKeyword": "$deleted"}),):
        if item in wanted:
            calls[item] = ("Email/query", {
                "filter": {"inMailbox": mailbox.id, **condition}, "calculateTotal": True,
                "limit": 1,
            })
    answers = dict(zip(calls, [a for _, a in await client.request(*calls.values())],
                       strict=True)) if calls else {}
    view: dict[str, Any] = {}
    state = ""
    if "view" in answers:
        if not answers["view"]["list"]:
            raise CommandFailed.no("the mailbox is gone", "NONEXISTENT")
        view, state = answers["view"]["list"][0], answers["view"]["state"]
    values: list[tuple[str, int | str]] = []
    for item in items:
        if item == "MESSAGES":
            values.append((item, int(view["totalEmails"])))
        elif item == "UIDNEXT":
            values.append((item, view["uidNext"]))
        elif item == "UIDVALIDITY":
            values.append((item, view["uidValidity"]))
        elif item == "UNSEEN":
            values.append((item, int(view["unseenCount"])))
        elif item == "DELETED":
            values.append((item, int(answers[item]["total"])))
        elif item == "RECENT":
            values.append((item, int(view["recentCount"])))
        elif item == "HIGHESTMODSEQ":
            values.append((item, int(state.partition(":")[0])))
        elif item == "SIZE":
            ids = [email_id for _, email_id in view["uids"]]
            total = 0
            if ids:
                found = await client.call("Email/get", ids=ids, properties=["size"])
                total = sum(int(e["size"]) for e in found["list"])
            values.append((item, total))
        elif item == "APPENDLIMIT":
            values.append((item, append_limit))
        elif item == "MAILBOXID":
            values.append((item, f"({mailbox.id})"))
    return values


async def _status_line(
    session: ImapSession, client: MailClient, mailbox: ImapMailbox, items: tuple[str, ...]
) -> None:
    values = await status_values(client, mailbox, items, session.server.append_limit)
    _send_status(session, mailbox, values)


def _send_status(
    session: ImapSession, mailbox: ImapMailbox, values: list[tuple[str, int | str]]
) -> None:
    text = " ".join(f"{name} {value}" for name, value in values)
    session.untagged(b"STATUS " + session.mailbox_name(mailbox.name) + f" ({text})".encode())


async def create(session: ImapSession, command: syntax.Create) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    name = command.mailbox.rstrip(SEPARATOR)
    if not name or any(not part for part in name.split(SEPARATOR)):
        raise CommandFailed.no("invalid mailbox name", "CANNOT")
    tree = await mailbox_tree(client)
    if tree.find(name) is not None:
        raise CommandFailed.no("the mailbox exists already", "ALREADYEXISTS")
    roles = [ROLE_OF_SPECIAL_USE[use.lower()] for use in command.special_use]
    if len(roles) > 1:
        raise CommandFailed.no("one special use per mailbox", "USEATTR")
    parent, missing = tree.parent_and_leaf(name)
    creates, _ = _chain(parent, missing)
    if roles:
        creates[f"m{len(missing) - 1}"]["role"] = roles[0]
    answer = await client.call("Mailbox/set", create=creates)
    problems = answer.get("notCreated") or {}
    if problems:
        problem = next(iter(problems.values()))
        code = "USEATTR" if "role" in (problem.get("properties") or []) else "CANNOT"
        raise CommandFailed.no(problem.get("description") or "cannot create it", code)
    _announce_stored_name(session, name)
    created = (answer.get("created") or {}).get(f"m{len(missing) - 1}") or {}
    if "id" in created:
        return f"[MAILBOXID ({created['id']})] CREATE completed"
    return "CREATE completed"


def _chain(parent: ImapMailbox | None, names: list[str]) -> tuple[dict[str, Any], str | None]:
    """Mailbox/set creates of nested mailboxes under ``parent`` (``m0`` the outermost), and
    the reference of the innermost (``parent``'s id when there are none)."""
    creates: dict[str, Any] = {}
    parent_ref = parent.id if parent else None
    for n, part in enumerate(names):
        creates[f"m{n}"] = {"name": part, "parentId": parent_ref}
        parent_ref = f"#m{n}"
    return creates, parent_ref


async def delete(session: ImapSession, command: syntax.Delete) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    if canonical(command.mailbox) == INBOX:
        raise CommandFailed.no("the INBOX cannot be deleted", "CANNOT")
    mailbox = await find_mailbox(client, command.mailbox)
    if mailbox.has_children:
        raise CommandFailed.no("the mailbox has children: delete them first", "HASCHILDREN")
    answer = await client.call("Mailbox/set", destroy=[mailbox.id], onDestroyRemoveEmails=True)
    if mailbox.id not in (answer.get("destroyed") or []):
        problem = (answer.get("notDestroyed") or {}).get(mailbox.id) or {}
        raise CommandFailed.no(problem.get("description") or "cannot delete it", "CANNOT")
    return "DELETE completed"


async def rename(session: ImapSession, command: syntax.Rename) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    tree = await mailbox_tree(client)
    source = tree.find(command.mailbox)
    if source is None:
        raise CommandFailed.no(f"no mailbox named {command.mailbox!r}", "NONEXISTENT")
    target_name = command.new_name.rstrip(SEPARATOR)
    if not target_name or any(not part for part in target_name.split(SEPARATOR)):
        raise CommandFailed.no("invalid mailbox name", "CANNOT")
    if tree.find(target_name) is not None:
        raise CommandFailed.no("the new name exists already", "ALREADYEXISTS")
    if canonical(target_name).startswith(source.name + SEPARATOR):
        raise CommandFailed.no("a mailbox cannot move under itself", "CANNOT")
    if source.name == INBOX:
        return await _rename_inbox(session, client, tree, source, target_name)
    parent, missing = tree.parent_and_leaf(target_name)
    creates, parent_ref = _chain(parent, missing[:-1])
    arguments: dict[str, Any] = {
        "update": {source.id: {"name": missing[-1], "parentId": parent_ref}}
    }
    if creates:
        arguments["create"] = creates
    answer = await client.call("Mailbox/set", **arguments)
    problems = answer.get("notUpdated") or answer.get("notCreated") or {}
    if problems:
        problem = next(iter(problems.values()))
        raise CommandFailed.no(problem.get("description") or "cannot rename it", "CANNOT")
    _announce_stored_name(session, target_name)
    return "RENAME completed"


async def _rename_inbox(
    session: ImapSession, client: MailClient, tree: MailboxTree, inbox: ImapMailbox, name: str
) -> str:
    """RFC 3501 §6.3.5: renaming INBOX moves its messages to a new mailbox of that name, made
    with the superior names it needs, and leaves INBOX empty."""
    parent, missing = tree.parent_and_leaf(name)
    creates, _ = _chain(parent, missing)
    created = await client.call("Mailbox/set", create=creates)
    last = f"m{len(missing) - 1}"
    if last not in (created.get("created") or {}):
        raise CommandFailed.no("cannot create the new mailbox", "CANNOT")
    target = created["created"][last]["id"]
    while True:
        found = await client.call("Email/query", filter={"inMailbox": inbox.id}, limit=500)
        if not found["ids"]:
            break
        patch = {f"mailboxIds/{inbox.id}": None, f"mailboxIds/{target}": True}
        await client.call("Email/set", update={i: patch for i in found["ids"]})
    return "RENAME completed"


async def subscribe(session: ImapSession, command: syntax.Subscribe | syntax.Unsubscribe) -> str:
    session.require(State.AUTHENTICATED, State.SELECTED)
    client = session.mail()
    mailbox = await find_mailbox(client, command.mailbox)
    wanted = isinstance(command, syntax.Subscribe)
    await client.call("Mailbox/set", update={mailbox.id: {"isSubscribed": wanted}})
    return f"{'SUBSCRIBE' if wanted else 'UNSUBSCRIBE'} completed"
