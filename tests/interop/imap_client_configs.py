"""Configuration files and Maildir helpers for the synchronisers the IMAP interoperability
tests run as processes: mbsync (isync) and offlineimap (offlineimap3)."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from pathlib import Path

_counter = itertools.count()


def mbsyncrc(port: int, user: str, password: str, maildir: Path) -> str:
    """Every server folder synced both ways with ``maildir``: new messages, flags, deletions
    (expunged on both sides), folders created on both sides, sync state kept in each folder."""
    return f"""\
IMAPAccount server
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN
Timeout 10

IMAPStore server
Account server

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel both
Far :server:
Near :local:
Patterns *
Sync All
Create Both
Expunge Both
SyncState *
"""


def offlineimaprc(port: int, user: str, password: str, maildir: Path, metadata: Path) -> str:
    """Every server folder synced both ways with ``maildir``, one connection, over plain TCP."""
    return f"""\
[general]
accounts = test
metadata = {metadata}
maxsyncaccounts = 1
ui = basic

[Account test]
localrepository = local
remoterepository = server

[Repository local]
type = Maildir
localfolders = {maildir}
sep = /

[Repository server]
type = IMAP
remotehost = 127.0.0.1
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = no
starttls = no
auth_mechanisms = PLAIN, LOGIN
maxconnections = 1
holdconnectionopen = no
timeout = 10
"""


def maildir_files(folder: Path) -> list[Path]:
    """Every message file of one Maildir folder (``cur`` and ``new``), by name."""
    return sorted(p for sub in ("cur", "new") if (folder / sub).is_dir()
                  for p in (folder / sub).iterdir() if p.is_file())


def maildir_flags(path: Path) -> str:
    """The flag letters of a Maildir file name (after ``:2,``), sorted."""
    _, _, info = path.name.partition(":2,")
    return "".join(sorted(info))


def maildir_subjects(folder: Path) -> dict[str, Path]:
    """Subject of each message file in ``folder`` → its path."""
    found = {}
    for path in maildir_files(folder):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        found[str(parsed["Subject"])] = path
    return found


def deliver(folder: Path, raw: bytes) -> Path:
    """Write a message into ``folder/new`` as a mail delivery agent does (tmp, then rename)."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    name = f"{int(time.time())}.M{next(_counter)}P0.test"
    (folder / "tmp" / name).write_bytes(raw)
    (folder / "tmp" / name).rename(folder / "new" / name)
    return folder / "new" / name


def set_maildir_flags(path: Path, letters: str) -> Path:
    """Move a message file to ``cur`` with exactly these flag letters, as a mail reader does."""
    base = path.name.partition(":2,")[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(letters))}"
    path.rename(target)
    return target
