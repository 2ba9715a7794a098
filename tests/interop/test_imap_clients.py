"""Real IMAP clients written elsewhere drive the server unmodified: imapclient (a Python library)
over a socket, and two Maildir synchronisers, mbsync and offlineimap, run as processes.

The server is the in-process listener of ``tests/imap/conftest.py`` over a real Redis store.
Blocking client calls run in threads of their own and the programs run as child processes, so
the reactor serving them never blocks; every program is killed if it outlives its timeout.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_twisted
from imapclient import IMAPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from tests.imap import conftest as imap_fixtures
from tests.imap.conftest import PASSWORD, ImapServer
from tests.interop.imap_client_configs import (
    deliver,
    maildir_files,
    maildir_flags,
    maildir_subjects,
    mbsyncrc,
    offlineimaprc,
    set_maildir_flags,
)

# The IMAP tests' listener over a real store, and their cheap password hashes.
cheap_hashes = imap_fixtures.cheap_hashes
start_imap = imap_fixtures.start_imap
imap_server = imap_fixtures.imap_server

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
LOG = logging.getLogger(__name__)


def flags(values: tuple[bytes, ...] | list[bytes]) -> set[bytes]:
    """Flags as a set, \\Recent left out (which session holds it is not the point here) and
    keywords lowercased (IMAP keywords are case-insensitive; the store keeps them lowercase,
    as JMAP keywords are)."""
    return {f if f.startswith(b"\\") else f.lower() for f in values} - {b"\\Recent"}


def message(subject: str, body: str = "body\r\n", sender: str = "bob@example.com") -> bytes:
    return (
        f"From: Bob <{sender}>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" + body
    ).encode()


# imapclient ------------------------------------------------------------------------------------

class Threaded:
    """An IMAPClient of alice whose blocking calls each run in a thread of its own."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.imap: IMAPClient = None  # type: ignore[assignment]

    async def call(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        future = self.pool.submit(call, *args, **kwargs)
        done: Deferred[T] = Deferred()

        def finished(_: Any) -> None:
            error = future.exception()
            if error is not None:
                reactor.callFromThread(done.errback, Failure(error))
            else:
                reactor.callFromThread(done.callback, future.result())

        future.add_done_callback(finished)
        return await done

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.call(getattr(self.imap, name), *args, **kwargs)

    async def open(self) -> Threaded:
        def connect() -> None:
            self.imap = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
            self.imap.login("alice", PASSWORD)
        await self.call(connect)
        return self

    async def close(self) -> None:
        def shut() -> None:
            try:
                if self.imap._idle_tag is not None:
                    self.imap.idle_done()
                self.imap.logout()
            except Exception:
                self.imap.shutdown()
        if self.imap is not None:
            await self.call(shut)
        self.pool.shutdown(wait=False)


async def imapclient(server: ImapServer, opened: list[Threaded]) -> Threaded:
    client = await Threaded(server.port).open()
    opened.append(client)
    return client


@pytest_twisted.async_yield_fixture
async def clients() -> AsyncIterator[list[Threaded]]:
    """Every imapclient a test opens, logged out after it."""
    opened: list[Threaded] = []
    yield opened
    for client in opened:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_imapclient_folders(imap_server: ImapServer, clients: list[Threaded]) -> None:
    c = await imapclient(imap_server, clients)
    names = {name for _, _, name in await c("list_folders")}
    assert "INBOX" in names
    await c("create_folder", "Projects")
    await c("create_folder", "Projects/Old")
    folders = {name: (flags, delimiter) for flags, delimiter, name in await c("list_folders")}
    assert folders["Projects/Old"][1] == b"/"
    assert b"\\HasChildren" in folders["Projects"][0]
    assert await c("folder_exists", "Projects/Old")
    await c("rename_folder", "Projects", "Attic")
    names = {name for _, _, name in await c("list_folders")}
    assert {"Attic", "Attic/Old"} <= names and "Projects" not in names
    await c("append", "Attic/Old", message("one"), flags=[b"\\Seen"])
    await c("append", "Attic/Old", message("two"))
    status = await c("folder_status", "Attic/Old",
                     [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"])
    assert status[b"MESSAGES"] == 2 and status[b"UNSEEN"] == 1 and status[b"UIDNEXT"] == 3
    assert status[b"UIDVALIDITY"] > 0
    await c("delete_folder", "Attic/Old")
    await c("delete_folder", "Attic")
    names = {name for _, _, name in await c("list_folders")}
    assert not names & {"Attic", "Attic/Old"}
    assert not await c("folder_exists", "Attic")


@pytest_twisted.ensureDeferred
async def test_imapclient_append_search_fetch(
    imap_server: ImapServer, clients: list[Threaded],
) -> None:
    c = await imapclient(imap_server, clients)
    when = datetime(2026, 3, 2, 10, 0, 0).astimezone()
    appended = await c("append", "INBOX", message("hello world", "first body\r\n"),
                       flags=[b"\\Flagged"], msg_time=when)
    assert b"[APPENDUID " in appended
    await c("append", "INBOX", message("second", "other text\r\n", "carol@example.org"))
    selected = await c("select_folder", "INBOX")
    assert selected[b"EXISTS"] == 2
    assert b"\\Flagged" in selected[b"FLAGS"]
    uids = await c("search")
    assert uids == [1, 2]
    assert await c("search", ["FROM", "carol@example.org"]) == [2]
    assert await c("search", ["SUBJECT", "hello"]) == [1]
    assert await c("search", "FLAGGED") == [1]
    assert await c("search", "UNFLAGGED") == [2]
    assert await c("search", ["TEXT", "other"]) == [2]
    assert await c("search", ["NOT", "FLAGGED", "SINCE", datetime(2020, 1, 1).date()]) == [2]
    assert await c("search", "OR SUBJECT second FLAGGED") == [1, 2]
    fetched = await c("fetch", [1, 2], ["FLAGS", "ENVELOPE", "BODY.PEEK[]", "BODYSTRUCTURE",
                                         "INTERNALDATE", "RFC822.SIZE"])
    first = fetched[1]
    assert flags(first[b"FLAGS"]) == {b"\\Flagged"}
    envelope = first[b"ENVELOPE"]
    assert envelope.subject == b"hello world"
    assert envelope.from_[0].mailbox == b"bob" and envelope.from_[0].host == b"example.com"
    assert envelope.from_[0].name == b"Bob"
    assert envelope.to[0].mailbox == b"alice"
    assert envelope.message_id == b"<hello.world@example.com>"
    assert envelope.date == datetime(2026, 3, 2, 10, 0, 0, tzinfo=envelope.date.tzinfo)
    assert first[b"BODY[]"] == message("hello world", "first body\r\n")
    assert first[b"RFC822.SIZE"] == len(message("hello world", "first body\r\n"))
    structure = first[b"BODYSTRUCTURE"]
    assert structure[0].lower() == b"text" and structure[1].lower() == b"plain"
    assert first[b"INTERNALDATE"].replace(tzinfo=None) == when.replace(tzinfo=None)
    assert fetched[2][b"ENVELOPE"].from_[0].host == b"example.org"
    # BODY[] without PEEK sets \Seen, as RFC 3501 6.4.5 says
    await c("fetch", [2], ["BODY[]"])
    assert flags((await c("get_flags", [2]))[2]) == {b"\\Seen"}


@pytest_twisted.ensureDeferred
async def test_imapclient_flags_copy_move_expunge(
    imap_server: ImapServer, clients: list[Threaded],
) -> None:
    c = await imapclient(imap_server, clients)
    for subject in ("a", "b", "c", "d"):
        await c("append", "INBOX", message(subject))
    await c("select_folder", "INBOX")
    added = await c("add_flags", [1, 2], [b"\\Seen", b"$Label1"])
    assert flags(added[1]) == {b"\\Seen", b"$label1"}
    removed = await c("remove_flags", [2], [b"$Label1"])
    assert flags(removed[2]) == {b"\\Seen"}
    replaced = await c("set_flags", [3], [b"\\Answered", b"\\Flagged"])
    assert flags(replaced[3]) == {b"\\Answered", b"\\Flagged"}
    assert await c("search", "SEEN") == [1, 2]
    assert await c("search", ["KEYWORD", "$Label1"]) == [1]
    await c("create_folder", "Kept")
    await c("copy", [1, 3], "Kept")
    await c("move", [4], "Kept")
    assert await c("search") == [1, 2, 3]
    await c("delete_messages", [2])
    assert b"\\Deleted" in (await c("get_flags", [2]))[2]
    await c("expunge")
    assert await c("search") == [1, 3]
    kept = await c("select_folder", "Kept")
    assert kept[b"EXISTS"] == 3
    got = await c("get_flags", await c("search"))
    assert sorted(sorted(flags(f)) for f in got.values()) == sorted([
        [b"$label1", b"\\Seen"], [b"\\Answered", b"\\Flagged"], [],
    ])
    subjects = await c("fetch", await c("search"), ["ENVELOPE"])
    assert sorted(v[b"ENVELOPE"].subject for v in subjects.values()) == [b"a", b"c", b"d"]
    # a copy is the same email in one more mailbox, as JMAP sees it
    emails = (await imap_server.jmap("Email/get", properties=["subject", "mailboxIds"]))["list"]
    assert sorted((e["subject"], len(e["mailboxIds"])) for e in emails) == [
        ("a", 2), ("c", 2), ("d", 1)]


@pytest_twisted.ensureDeferred
async def test_imapclient_extensions(imap_server: ImapServer, clients: list[Threaded]) -> None:
    c = await imapclient(imap_server, clients)
    assert await c("namespace") == ((("", "/"),), None, None)
    assert dict(await c("id_", {"name": "imapclient"}))[b"name"] == b"stalwart-tx"
    assert await c("find_special_folder", b"\\Sent") == "Sent"
    assert await c("find_special_folder", b"\\Trash") == "Trash"
    # a non-ASCII name goes out in modified UTF-7 and comes back the same
    await c("create_folder", "Café/Ünïcode")
    assert "Café/Ünïcode" in {name for _, _, name in await c("list_folders")}
    await c("multiappend", "Café/Ünïcode", [
        message("one"), {"msg": message("two"), "flags": [b"\\Seen"],
                         "date": datetime(2025, 1, 1, 12, 0, 0).astimezone()}])
    status = await c("folder_status", "Café/Ünïcode", [b"MESSAGES", b"UNSEEN", b"HIGHESTMODSEQ"])
    assert status[b"MESSAGES"] == 2 and status[b"UNSEEN"] == 1
    await c("append", "INBOX", "Subject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nAus Köln\r\n".encode())
    await c("append", "INBOX", message("apple"))
    await c("append", "INBOX", message("Re: apple"))
    selected = await c("select_folder", "INBOX")
    modseq = selected[b"HIGHESTMODSEQ"]
    assert await c("search", ["SUBJECT", "Grüße"], charset="UTF-8") == [1]
    assert await c("search", ["BODY", "Köln"], charset="UTF-8") == [1]
    assert await c("sort", ["SUBJECT"]) == [2, 3, 1]
    assert await c("sort", ["REVERSE", "SUBJECT"]) == [1, 2, 3]
    # threads go by the date of their first message: 1 has no Date, so its arrival, today
    assert await c("thread", "ORDEREDSUBJECT") == ((2, 3), (1,))
    # CONDSTORE: a JMAP change raises the message's MODSEQ past what SELECT reported
    [apple] = [e["id"] for e in (await imap_server.jmap(
        "Email/get", properties=["subject"]))["list"] if e["subject"] == "apple"]
    await imap_server.jmap("Email/set", update={apple: {"keywords/$flagged": True}})
    changed = await c("fetch", [1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}"])
    assert list(changed) == [2] and b"\\Flagged" in changed[2][b"FLAGS"]
    assert changed[2][b"MODSEQ"][0] > modseq
    await c("add_flags", [1, 3], [b"\\Deleted"])
    await c("uid_expunge", [3])
    assert await c("search") == [1, 2]
    assert await c("search", "DELETED") == [1]
    await c("close_folder")
    assert (await c("folder_status", "INBOX", [b"MESSAGES"]))[b"MESSAGES"] == 1
    await c("delete_folder", "Café/Ünïcode")
    assert "Café/Ünïcode" not in {name for _, _, name in await c("list_folders")}


def fetched_items(items: tuple[Any, ...]) -> dict[bytes, Any]:
    """The data items of a FETCH response as imapclient's idle_check gives them."""
    return dict(zip(items[::2], items[1::2], strict=True))


async def idle_until(idler: Threaded, wanted: Callable[[list[Any]], bool]) -> list[Any]:
    """idle_check until the responses gathered satisfy ``wanted``; at most one second."""
    seen: list[Any] = []
    deadline = time.monotonic() + 1.0
    while not wanted(seen):
        left = deadline - time.monotonic()
        assert left > 0, seen
        seen += await idler("idle_check", timeout=left)
    return seen


@pytest_twisted.ensureDeferred
async def test_imapclient_idle_sees_appends_flags_and_expunges(
    imap_server: ImapServer, clients: list[Threaded],
) -> None:
    idler = await imapclient(imap_server, clients)
    writer = await imapclient(imap_server, clients)
    await writer("append", "INBOX", message("before"))
    await idler("select_folder", "INBOX")
    await idler("idle")

    # another IMAP session appends
    await writer("append", "INBOX", message("while idling"))
    await idle_until(idler, lambda got: (2, b"EXISTS") in got)

    # a JMAP client flags, then destroys, the first message
    emails = (await imap_server.jmap("Email/get", properties=["subject"]))["list"]
    [before] = [e["id"] for e in emails if e["subject"] == "before"]
    await imap_server.jmap("Email/set", update={before: {"keywords/$flagged": True}})
    await idle_until(idler, lambda got: any(
        r[:2] == (1, b"FETCH") and b"\\Flagged" in fetched_items(r[2])[b"FLAGS"] for r in got))
    await imap_server.jmap("Email/set", destroy=[before])
    await idle_until(idler, lambda got: (1, b"EXPUNGE") in got)

    # a message arrives by JMAP import, as a delivery does
    blob = await imap_server.store.blobs.put(imap_server.account, message("imported"))
    inbox = await role_mailbox(imap_server, "inbox")
    imported = await imap_server.jmap("Email/import", emails={"i": {
        "blobId": blob.blob_id, "mailboxIds": {inbox: True}}})
    assert "i" in imported["created"], imported
    await idle_until(idler, lambda got: (2, b"EXISTS") in got)

    # another IMAP session expunges
    await writer("select_folder", "INBOX")
    [first] = await writer("search", ["SUBJECT", "while idling"])
    await writer("delete_messages", [first])
    await writer("expunge")
    await idle_until(idler, lambda got: (1, b"EXPUNGE") in got)

    text, _ = await idler("idle_done")
    assert text.endswith(b"IDLE terminated"), text
    [uid] = await idler("search")
    envelope = (await idler("fetch", [uid], ["ENVELOPE"]))[uid][b"ENVELOPE"]
    assert envelope.subject == b"imported"


# programs --------------------------------------------------------------------------------------

class Ran:
    """What a finished program printed and its exit code (None when killed)."""

    def __init__(self, argv: list[str], code: int | None, out: bytes, err: bytes) -> None:
        self.argv, self.code, self.out, self.err = argv, code, out, err

    def __repr__(self) -> str:
        return (f"{' '.join(self.argv)} exited {self.code}\n--- stdout\n"
                f"{self.out.decode(errors='replace')}\n--- stderr\n"
                f"{self.err.decode(errors='replace')}")


class _Collect(ProcessProtocol):
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.ended: Deferred[int | None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(0 if reason.check(ProcessDone) else reason.value.exitCode)


async def run_program(argv: list[str], home: Path, timeout: float = 20.0) -> Ran:
    """Run a program as a child process of the reactor (which keeps serving it meanwhile),
    with ``home`` as its HOME so no configuration of the machine's user is read; killed
    after ``timeout`` seconds."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    collect = _Collect()
    process = reactor.spawnProcess(collect, argv[0], argv, env=env, path=str(home))
    killer = reactor.callLater(timeout, process.signalProcess, "KILL")
    code = await collect.ended
    if killer.active():
        killer.cancel()
    ran = Ran(argv, code, b"".join(collect.out), b"".join(collect.err))
    LOG.debug("%r", ran)
    return ran


async def role_mailbox(server: ImapServer, role: str) -> str:
    """The id of alice's mailbox with this role."""
    mailboxes = (await server.jmap("Mailbox/get"))["list"]
    [found] = [m["id"] for m in mailboxes if m["role"] == role]
    return found  # type: ignore[no-any-return]


async def inbox_emails(server: ImapServer) -> dict[str, dict[str, Any]]:
    """Subject → Email (id, keywords, mailboxIds) of every email in alice's Inbox, by JMAP."""
    inbox = await role_mailbox(server, "inbox")
    ids = (await server.jmap("Email/query", filter={"inMailbox": inbox}))["ids"]
    emails = (await server.jmap("Email/get", ids=ids,
                                properties=["subject", "keywords", "mailboxIds"]))["list"]
    return {e["subject"]: e for e in emails}


async def append_over_imap(server: ImapServer, *subjects: str, folder: str = "INBOX") -> None:
    client = await Threaded(server.port).open()
    try:
        for subject in subjects:
            await client("append", folder, message(subject, f"text of {subject}\r\n"))
    finally:
        await client.close()


def in_folder(name: str) -> str:
    """The subject of the message put in folder ``name``: ASCII, as a raw header must be."""
    return "in " + name.encode("ascii", "xmlcharrefreplace").decode()


async def folders_over_imap(server: ImapServer, names: tuple[str, ...]) -> None:
    """Create each folder over IMAP with one message in it, subject ``in_folder(name)``."""
    client = await Threaded(server.port).open()
    try:
        for name in names:
            await client("create_folder", name)
            await client("append", name, message(in_folder(name)))
    finally:
        await client.close()


async def mailbox_contents(server: ImapServer) -> dict[str, set[str]]:
    """Each of alice's mailboxes by its path of names ("Parent/Child") → subjects in it."""
    mailboxes = {m["id"]: m for m in (await server.jmap("Mailbox/get"))["list"]}

    def path(mailbox_id: str) -> str:
        mailbox = mailboxes[mailbox_id]
        parent = mailbox["parentId"]
        return mailbox["name"] if parent is None else f"{path(parent)}/{mailbox['name']}"

    contents: dict[str, set[str]] = {path(i): set() for i in mailboxes}
    emails = (await server.jmap("Email/get", properties=["subject", "mailboxIds"]))["list"]
    for email in emails:
        for mailbox_id in email["mailboxIds"]:
            contents[path(mailbox_id)].add(email["subject"])
    return contents


def big_message(subject: str) -> bytes:
    """About 1.4 MB in 20,000 lines: more than any one read or write of either side."""
    return message(subject, "".join(f"line {i:06d} {'y' * 60}\r\n" for i in range(20000)))


async def server_lines(server: ImapServer, subject: str, tool_header: bytes) -> list[bytes]:
    """The lines of the Inbox message with this subject as IMAP serves it, without the
    synchroniser's own header."""
    client = await Threaded(server.port).open()
    try:
        await client("select_folder", "INBOX", readonly=True)
        [uid] = await client("search", ["SUBJECT", subject])
        raw = (await client("fetch", [uid], ["BODY.PEEK[]"]))[uid][b"BODY[]"]
    finally:
        await client.close()
    return [line for line in raw.split(b"\r\n") if not line.startswith(tool_header)]


def stored_lines(path: Path, tool_header: bytes) -> list[bytes]:
    """A Maildir file's lines (LF or CRLF endings) without the synchroniser's own header."""
    return [line.removesuffix(b"\r") for line in path.read_bytes().split(b"\n")
            if not line.startswith(tool_header)]


# mbsync ----------------------------------------------------------------------------------------

def runs(program: str, package: str) -> Callable[[F], F]:
    """Mark a test that runs ``program`` several times: slow, and skipped where it is missing."""
    def mark(test: F) -> F:
        missing = shutil.which(program) is None
        test = pytest.mark.skipif(
            missing, reason=f"{program} (Debian package {package}) is not installed")(test)
        return pytest.mark.slow(test)  # type: ignore[no-any-return]
    return mark


needs_mbsync = runs("mbsync", "isync")


class Mbsync:
    def __init__(self, server: ImapServer, home: Path) -> None:
        self.home = home
        self.maildir = home / "Mail"
        self.maildir.mkdir()
        self.rc = home / "mbsyncrc"
        self.rc.write_text(mbsyncrc(server.port, "alice", PASSWORD, self.maildir))

    async def sync(self) -> Ran:
        ran = await run_program(["mbsync", "-c", str(self.rc), "-a"], self.home)
        assert ran.code == 0, ran
        return ran

    @property
    def inbox(self) -> Path:
        return self.maildir / "INBOX"


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_pulls_then_pushes_new_messages(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    mbsync = Mbsync(imap_server, tmp_path)
    await append_over_imap(imap_server, "first", "second")
    client = await Threaded(imap_server.port).open()
    await client("append", "INBOX", big_message("big"))
    await client.close()
    await mbsync.sync()
    local = maildir_subjects(mbsync.inbox)
    assert set(local) == {"first", "second", "big"}
    # mbsync stores lines ending in LF and adds its own X-TUID header for its bookkeeping
    assert stored_lines(local["first"], b"X-TUID: ") == message(
        "first", "text of first\r\n").split(b"\r\n")
    assert stored_lines(local["big"], b"X-TUID: ") == big_message("big").split(b"\r\n")
    deliver(mbsync.inbox, message("written locally", "from the maildir\r\n"))
    deliver(mbsync.inbox, big_message("big from the maildir"))
    await mbsync.sync()
    remote = await inbox_emails(imap_server)
    assert set(remote) == {"first", "second", "big", "written locally", "big from the maildir"}
    assert set(maildir_subjects(mbsync.inbox)) == set(remote)
    assert await server_lines(imap_server, "big from the maildir", b"X-TUID: ") == big_message(
        "big from the maildir").split(b"\r\n")
    # a third run finds nothing left to do: no duplicates either way
    await mbsync.sync()
    assert len(maildir_files(mbsync.inbox)) == 5
    assert len(await inbox_emails(imap_server)) == 5


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_flags_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    mbsync = Mbsync(imap_server, tmp_path)
    await append_over_imap(imap_server, "read on the server", "read locally")
    await mbsync.sync()
    remote = await inbox_emails(imap_server)
    await imap_server.jmap("Email/set", update={remote["read on the server"]["id"]: {
        "keywords/$seen": True, "keywords/$flagged": True}})
    await mbsync.sync()
    local = maildir_subjects(mbsync.inbox)
    assert maildir_flags(local["read on the server"]) == "FS"
    assert maildir_flags(local["read locally"]) == ""
    set_maildir_flags(local["read locally"], "S")
    await mbsync.sync()
    remote = await inbox_emails(imap_server)
    assert remote["read locally"]["keywords"] == {"$seen": True}
    assert remote["read on the server"]["keywords"] == {"$seen": True, "$flagged": True}


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_deletions_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    mbsync = Mbsync(imap_server, tmp_path)
    await append_over_imap(imap_server, "gone on the server", "gone locally", "kept")
    await mbsync.sync()
    remote = await inbox_emails(imap_server)
    await imap_server.jmap("Email/set", destroy=[remote["gone on the server"]["id"]])
    await mbsync.sync()
    assert set(maildir_subjects(mbsync.inbox)) == {"gone locally", "kept"}
    maildir_subjects(mbsync.inbox)["gone locally"].unlink()
    await mbsync.sync()
    assert set(await inbox_emails(imap_server)) == {"kept"}
    assert set(maildir_subjects(mbsync.inbox)) == {"kept"}



@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_message_moved_away_and_back(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    """A message JMAP moves out of the Inbox and back gets a new UID there (RFC 3501 2.3.1.1:
    UIDs only ascend), so the synchroniser fetches it again instead of taking it for gone."""
    mbsync = Mbsync(imap_server, tmp_path)
    await append_over_imap(imap_server, "roundtrip", "stays")
    await mbsync.sync()
    email_id = (await inbox_emails(imap_server))["roundtrip"]["id"]
    archive, inbox = [await role_mailbox(imap_server, r) for r in ("archive", "inbox")]
    await imap_server.jmap("Email/set", update={email_id: {"mailboxIds": {archive: True}}})
    await mbsync.sync()
    assert set(maildir_subjects(mbsync.inbox)) == {"stays"}
    assert set(maildir_subjects(mbsync.maildir / "Archive")) == {"roundtrip"}
    await imap_server.jmap("Email/set", update={email_id: {"mailboxIds": {inbox: True}}})
    await mbsync.sync()
    local = maildir_subjects(mbsync.inbox)
    assert set(local) == {"stays", "roundtrip"}
    assert local["roundtrip"].name.split(",U=")[1].startswith("3:")
    assert maildir_subjects(mbsync.maildir / "Archive") == {}


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_arrival_dates_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    """With CopyArrivalDate, INTERNALDATE becomes the file's time and the file's time the
    APPEND date."""
    mbsync = Mbsync(imap_server, tmp_path)
    mbsync.rc.write_text(mbsync.rc.read_text() + "CopyArrivalDate yes\n")
    arrived = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    client = await Threaded(imap_server.port).open()
    await client("append", "INBOX", message("old"), msg_time=arrived)
    await client.close()
    await mbsync.sync()
    pulled = maildir_subjects(mbsync.inbox)["old"]
    assert pulled.stat().st_mtime == arrived.timestamp()
    pushed = deliver(mbsync.inbox, message("older"))
    os.utime(pushed, (1600000000, 1600000000))
    await mbsync.sync()
    client = await Threaded(imap_server.port).open()
    try:
        await client("select_folder", "INBOX", readonly=True)
        [uid] = await client("search", ["SUBJECT", "older"])
        fetched = await client("fetch", [uid], ["INTERNALDATE"])
    finally:
        await client.close()
    assert fetched[uid][b"INTERNALDATE"].astimezone(UTC) == datetime.fromtimestamp(
        1600000000, UTC)


async def recreate_box(server: ImapServer, sync: Callable[[], Any]) -> None:
    """Folder Box with message "in Box", synced; then deleted and created again with "new"."""
    await folders_over_imap(server, ("Box",))
    await sync()
    client = await Threaded(server.port).open()
    try:
        await client("delete_folder", "Box")
        await client("create_folder", "Box")
        await client("append", "Box", message("new"))
    finally:
        await client.close()


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_sees_a_recreated_folder_by_its_uidvalidity(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    """A folder deleted and created again starts its UIDs over under a new UIDVALIDITY, so
    the synchroniser refuses to pair the new UID 1 with the old one."""
    mbsync = Mbsync(imap_server, tmp_path)
    await recreate_box(imap_server, mbsync.sync)
    ran = await run_program(["mbsync", "-c", str(mbsync.rc), "-a"], tmp_path)
    assert ran.code == 1 and b"UIDVALIDITY genuinely changed" in ran.err, ran
    assert set(maildir_subjects(mbsync.maildir / "Box")) == {in_folder("Box")}

# Folder names with a space, non-ASCII (modified UTF-7 on the wire), "&" (its escape), quoted
# specials, and a hierarchy. mbsync 1.4 names Maildir folders by the IMAP names as sent.
MBSYNC_FOLDERS = {"My Folder": "My Folder", "Café": "Caf&AOk-", "A&B": "A&-B",
                  'Say "hi"': 'Say "hi"', "back\\slash": "back\\slash",
                  "Projects/Old": "Projects/Old"}


@needs_mbsync
@pytest_twisted.ensureDeferred
async def test_mbsync_folders_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    mbsync = Mbsync(imap_server, tmp_path)
    await folders_over_imap(imap_server, tuple(MBSYNC_FOLDERS))
    await mbsync.sync()
    for name, local in MBSYNC_FOLDERS.items():
        assert set(maildir_subjects(mbsync.maildir / local)) == {in_folder(name)}, name
    deliver(mbsync.maildir / "Local", message("in Local"))
    deliver(mbsync.maildir / "Local" / "Sub", message("in Local/Sub"))
    await mbsync.sync()
    contents = await mailbox_contents(imap_server)
    assert contents["Local"] == {"in Local"}
    assert contents["Local/Sub"] == {"in Local/Sub"}
    for name in MBSYNC_FOLDERS:
        assert contents[name] == {in_folder(name)}, name


# offlineimap -----------------------------------------------------------------------------------

needs_offlineimap = runs("offlineimap", "offlineimap3")


class Offlineimap:
    def __init__(self, server: ImapServer, home: Path) -> None:
        self.home = home
        self.maildir = home / "Mail"
        self.maildir.mkdir()
        self.rc = home / "offlineimaprc"
        self.rc.write_text(offlineimaprc(server.port, "alice", PASSWORD, self.maildir,
                                         home / "offlineimap-state"))

    async def sync(self) -> Ran:
        ran = await run_program(["offlineimap", "-c", str(self.rc), "-o", "-u", "basic"],
                                self.home)
        assert ran.code == 0 and b"ERROR" not in ran.out + ran.err, ran
        return ran

    @property
    def inbox(self) -> Path:
        return self.maildir / "INBOX"


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_pulls_then_pushes_new_messages(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await append_over_imap(imap_server, "first", "second")
    client = await Threaded(imap_server.port).open()
    await client("append", "INBOX", big_message("big"))
    await client.close()
    await offlineimap.sync()
    local = maildir_subjects(offlineimap.inbox)
    assert set(local) == {"first", "second", "big"}
    assert stored_lines(local["first"], b"X-OfflineIMAP: ") == message(
        "first", "text of first\r\n").split(b"\r\n")
    assert stored_lines(local["big"], b"X-OfflineIMAP: ") == big_message("big").split(b"\r\n")
    deliver(offlineimap.inbox, message("written locally", "from the maildir\r\n"))
    deliver(offlineimap.inbox, big_message("big from the maildir"))
    await offlineimap.sync()
    remote = await inbox_emails(imap_server)
    assert set(remote) == {"first", "second", "big", "written locally", "big from the maildir"}
    assert set(maildir_subjects(offlineimap.inbox)) == set(remote)
    assert await server_lines(imap_server, "big from the maildir", b"X-OfflineIMAP: ") == (
        big_message("big from the maildir").split(b"\r\n"))
    await offlineimap.sync()
    assert len(maildir_files(offlineimap.inbox)) == 5
    assert len(await inbox_emails(imap_server)) == 5


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_flags_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await append_over_imap(imap_server, "read on the server", "read locally")
    await offlineimap.sync()
    remote = await inbox_emails(imap_server)
    await imap_server.jmap("Email/set", update={remote["read on the server"]["id"]: {
        "keywords/$seen": True, "keywords/$flagged": True}})
    await offlineimap.sync()
    local = maildir_subjects(offlineimap.inbox)
    assert maildir_flags(local["read on the server"]) == "FS"
    assert maildir_flags(local["read locally"]) == ""
    set_maildir_flags(local["read locally"], "S")
    await offlineimap.sync()
    remote = await inbox_emails(imap_server)
    assert remote["read locally"]["keywords"] == {"$seen": True}
    assert remote["read on the server"]["keywords"] == {"$seen": True, "$flagged": True}


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_deletions_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await append_over_imap(imap_server, "gone on the server", "gone locally", "kept")
    await offlineimap.sync()
    remote = await inbox_emails(imap_server)
    await imap_server.jmap("Email/set", destroy=[remote["gone on the server"]["id"]])
    await offlineimap.sync()
    assert set(maildir_subjects(offlineimap.inbox)) == {"gone locally", "kept"}
    maildir_subjects(offlineimap.inbox)["gone locally"].unlink()
    await offlineimap.sync()
    assert set(await inbox_emails(imap_server)) == {"kept"}
    assert set(maildir_subjects(offlineimap.inbox)) == {"kept"}


# offlineimap 8.0 sends a mailbox name with '"' or '\\' unescaped (SELECT "Say "hi""), which the
# server rightly refuses as BAD: those names are left out here.
OFFLINEIMAP_FOLDERS = {"My Folder": "My Folder", "Café": "Caf&AOk-", "A&B": "A&-B",
                       "Projects/Old": "Projects/Old"}


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_folders_both_ways(imap_server: ImapServer, tmp_path: Path) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await folders_over_imap(imap_server, tuple(OFFLINEIMAP_FOLDERS))
    await offlineimap.sync()
    for name, local in OFFLINEIMAP_FOLDERS.items():
        assert set(maildir_subjects(offlineimap.maildir / local)) == {in_folder(name)}, name
    deliver(offlineimap.maildir / "Local", message("in Local"))
    deliver(offlineimap.maildir / "Local" / "Sub", message("in Local/Sub"))
    await offlineimap.sync()
    contents = await mailbox_contents(imap_server)
    assert contents["Local"] == {"in Local"}
    assert contents["Local/Sub"] == {"in Local/Sub"}
    for name in OFFLINEIMAP_FOLDERS:
        assert contents[name] == {in_folder(name)}, name


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_message_moved_away_and_back(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await append_over_imap(imap_server, "roundtrip", "stays")
    await offlineimap.sync()
    email_id = (await inbox_emails(imap_server))["roundtrip"]["id"]
    archive, inbox = [await role_mailbox(imap_server, r) for r in ("archive", "inbox")]
    await imap_server.jmap("Email/set", update={email_id: {"mailboxIds": {archive: True}}})
    await offlineimap.sync()
    assert set(maildir_subjects(offlineimap.inbox)) == {"stays"}
    assert set(maildir_subjects(offlineimap.maildir / "Archive")) == {"roundtrip"}
    await imap_server.jmap("Email/set", update={email_id: {"mailboxIds": {inbox: True}}})
    await offlineimap.sync()
    local = maildir_subjects(offlineimap.inbox)
    assert set(local) == {"stays", "roundtrip"}
    assert ",U=3," in local["roundtrip"].name
    assert maildir_subjects(offlineimap.maildir / "Archive") == {}


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_sees_a_recreated_folder_by_its_uidvalidity(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    offlineimap = Offlineimap(imap_server, tmp_path)
    await recreate_box(imap_server, offlineimap.sync)
    ran = await run_program(["offlineimap", "-c", str(offlineimap.rc), "-o", "-u", "basic"],
                            tmp_path)
    assert ran.code != 0 and b"UID validity problem for folder Box" in ran.out, ran
    assert set(maildir_subjects(offlineimap.maildir / "Box")) == {in_folder("Box")}


@needs_offlineimap
@pytest_twisted.ensureDeferred
async def test_offlineimap_maxage_and_maxsize_select_by_search(
    imap_server: ImapServer, tmp_path: Path,
) -> None:
    """maxage and maxsize make offlineimap pick messages by a SEARCH (SINCE, SMALLER): only
    the recent small message comes down."""
    offlineimap = Offlineimap(imap_server, tmp_path)
    offlineimap.rc.write_text(offlineimap.rc.read_text().replace(
        "[Account test]\n", "[Account test]\nmaxage = 30\nmaxsize = 100000\n"))
    client = await Threaded(imap_server.port).open()
    try:
        await client("append", "INBOX", message("ancient"),
                     msg_time=datetime(2020, 1, 1, tzinfo=UTC))
        await client("append", "INBOX", message("recent"))
        await client("append", "INBOX", big_message("big"))
    finally:
        await client.close()
    await offlineimap.sync()
    assert set(maildir_subjects(offlineimap.inbox)) == {"recent"}
