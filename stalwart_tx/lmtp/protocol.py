"""LMTP (RFC 2033) on twisted.mail's ESMTP machinery.

Twisted's ESMTP parses MAIL and RCPT and dispatches commands; LMTP differs where it answers:
LHLO replaces HELO and EHLO, and after the data's final dot there is one reply per accepted
recipient, each given only once that recipient's copy is stored. The data is therefore
collected here once for all recipients (not once per recipient as Twisted's IMessage does),
and each account the recipients resolve to gets the message once.

Twisted's server runs each line as it comes, though a recipient's check or a delivery answers
later; with PIPELINING (RFC 2920) a client sends the next commands without waiting. So the
input is read here, line by line or (BDAT, RFC 3030 CHUNKING) as a counted chunk, and while an
answer is outstanding nothing more of it is read; it is taken up in order once the answer is
given.

Every reply carries an RFC 3463 enhanced status code (ENHANCEDSTATUSCODES, RFC 2034).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.mail.smtp import (
    COMMAND,
    DATA,
    ESMTP,
    SMTPServerError,
)
from twisted.python.failure import Failure

from stalwart_tx.gathering import gather
from stalwart_tx.lmtp.delivery import (
    DELIVERED,
    UNAVAILABLE,
    Delivery,
    Outcome,
    delivery_mark,
    message_id_of,
)
from stalwart_tx.lmtp.recipients import BadAddress, UnknownDomain, resolve
from stalwart_tx.lmtp.vacation import Vacation
from stalwart_tx.store.addresses import normalise_address
from stalwart_tx.store.errors import StoreError
from stalwart_tx.store.interfaces import IDirectory

log = Logger()

DEFAULT_SIZE_LIMIT = 50 * 1024 * 1024
# recipients of one transaction at most (RFC 5321 §4.5.3.1.8 asks servers to take 100)
MAX_RECIPIENTS = 1000
# bytes a client may send ahead while an answer is outstanding, before it is cut off
MAX_AHEAD = 4 * 1024 * 1024
BDAT_ARGUMENTS = re.compile(rb"^(\d{1,12})(?:\s+(LAST))?\s*$", re.I)
ENHANCED = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}(?:\s|$)")
# the enhanced code a reply of each basic code gets when it names none itself
DEFAULT_ENHANCED = {
    221: b"2.0.0", 250: b"2.0.0", 421: b"4.3.0", 451: b"4.3.0", 452: b"4.5.3",
    454: b"4.7.0", 500: b"5.5.2", 501: b"5.5.4", 502: b"5.5.1", 503: b"5.5.1",
    504: b"5.5.4", 550: b"5.1.1", 552: b"5.3.4", 553: b"5.1.3", 554: b"5.6.0",
}


# RFC 5321 §4.1.2: a path in angle brackets (a source route before the mailbox is dropped),
# then parameters; with SMTPUTF8 (RFC 6531) the mailbox may be UTF-8
MAIL_PATH = re.compile(rb"^FROM:[ ]?<(?:@[^<>:]*:)?([^<>]*)>((?:[ ]+[^ ]+)*)[ ]*$", re.I)
RCPT_PATH = re.compile(rb"^TO:[ ]?<(?:@[^<>:]*:)?([^<>]*)>((?:[ ]+[^ ]+)*)[ ]*$", re.I)


def _path(
    pattern: re.Pattern[bytes], rest: bytes
) -> tuple[str, list[tuple[str, str | None]]] | None:
    """The address of a MAIL or RCPT path and its parameters (name uppercased, value or None);
    None when it does not parse or is not UTF-8."""
    found = pattern.match(rest.strip())
    if found is None:
        return None
    try:
        address = found.group(1).decode("utf-8").strip()
        words = found.group(2).decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    parameters: list[tuple[str, str | None]] = []
    for word in words:
        name, equals, value = word.partition("=")
        parameters.append((name.upper(), value if equals else None))
    return address, parameters


def _mailbox(address: str) -> bool:
    """Whether the text is a mailbox address (local@domain, nothing that could break a header)."""
    try:
        normalise_address(address)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Recipient:
    """A recipient as Twisted's RCPT callbacks carry it (``dest``: the address as sent)."""

    dest: str

    def __str__(self) -> str:
        return self.dest


@dataclass
class LmtpContext:
    """What every LMTP connection of a listener shares."""

    directory: Callable[[], IDirectory]
    delivery: Delivery
    hostname: str = "localhost"
    size_limit: int = DEFAULT_SIZE_LIMIT
    vacation: Vacation | None = None


class LmtpServer(ESMTP):
    MAX_LENGTH = 1_000_000  # a longer line ends the connection (the rest would be lost)
    noisy = False

    def __init__(self, context: LmtpContext) -> None:
        super().__init__()
        self.context = context
        self.host = context.hostname.encode()
        # the transaction the data is for: each RCPT's address with the accounts it names
        self._recipients: list[tuple[bytes, list[str]]] = []
        self._sender = b""
        self._parts: list[bytes] = []  # the data so far: lines (DATA) or chunks (BDAT)
        self._size = 0
        self._too_big = False
        # input not read yet; an answer still to come (a recipient's check, a delivery), before
        # which nothing more is read
        self._inbox = bytearray()
        self._pending: Deferred[Any] | None = None
        self._utf8 = False  # the transaction's MAIL said SMTPUTF8
        # a BDAT chunk being read: the bytes still to come, whether it is the last, whether the
        # chunks of this transaction are kept (None: no transaction, read and dropped)
        self._chunk_left = 0
        self._chunk_last = False
        self._chunking: bool | None = None

    # -- replies ----------------------------------------------------------------------------

    def greeting(self) -> bytes:
        return bytes(self.host) + b" LMTP stalwart-tx ready"

    def sendCode(self, code: int, message: bytes = b"") -> None:
        enhanced = DEFAULT_ENHANCED.get(code)
        if enhanced is not None and not ENHANCED.match(message):
            message = enhanced + b" " + message
        super().sendCode(code, message)

    def _reply(self, outcome: Outcome, address: bytes) -> None:
        text = f"{outcome.status} <{address.decode(errors='replace')}> {outcome.text}"
        super().sendCode(outcome.code, text.encode())

    # -- commands ---------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()  # a long chunk is activity too, not only each line
        self._inbox += data
        if self._pending is not None and len(self._inbox) > MAX_AHEAD:
            self.sendCode(421, b"4.5.0 too much sent ahead of the answers, closing")
            self._connection().loseConnection()
            return
        self._consume()

    def _consume(self) -> None:
        """Read what came, line by line or as the chunk in progress, until an answer is
        outstanding."""
        inbox = self._inbox
        while inbox and self._pending is None and not self._connection().disconnecting:
            if self._chunk_left:
                piece = bytes(inbox[:self._chunk_left])
                del inbox[:len(piece)]
                self._chunk_left -= len(piece)
                self._take_chunk(piece)
                if not self._chunk_left:
                    self._chunk_ended()
                continue
            end = inbox.find(b"\r\n")
            if end < 0:
                if len(inbox) > self.MAX_LENGTH:
                    self.lineLengthExceeded(bytes(inbox))
                return
            line = bytes(inbox[:end])
            del inbox[:end + 2]
            if len(line) > self.MAX_LENGTH:
                self.lineLengthExceeded(line)
                return
            try:
                self.lineReceived(line)
            except Exception:
                # a fault of ours: the client hears of it in the protocol, and reconnects
                log.failure("LMTP command failed")
                self.sendCode(421, b"4.3.0 internal error, closing; try again later")
                self._connection().loseConnection()
                return

    def lineLengthExceeded(self, line: bytes) -> None:
        # the rest of what was read with it is dropped: no reply could follow in order
        self.sendCode(421, b"4.5.0 line too long, closing")
        self._connection().loseConnection()

    def do_HELO(self, rest: bytes) -> None:
        self.sendCode(500, b"5.5.1 this is LMTP: say LHLO")

    do_EHLO = do_HELO

    def do_LHLO(self, rest: bytes) -> None:
        name = rest.strip()
        if not name:
            self.sendCode(501, b"5.5.4 LHLO needs the client's name")
            return
        self._helo = (name, b"localhost")
        self._from = None
        self._to = []
        extensions = [b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME", b"CHUNKING",
                      b"SMTPUTF8", b"SIZE %d" % self.context.size_limit]
        super().sendCode(250, b"\n".join([self.host, *extensions]))

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        return {}  # no AUTH, no STARTTLS: LMTP is for a local MTA

    def do_MAIL(self, rest: bytes) -> None:
        if self._chunking is not None:
            self.sendCode(503, b"5.5.1 the message's chunks are not all sent (BDAT ... LAST)")
            return
        if self._helo is None or self._helo[0] is None:
            self.sendCode(503, b"5.5.1 LHLO first")
            return
        if self._from is not None:
            self.sendCode(503, b"5.5.1 one sender per message: RSET first")
            return
        parsed = _path(MAIL_PATH, rest)
        if parsed is None:
            self.sendCode(501, b"5.5.4 MAIL FROM:<address> expected")
            return
        sender, parameters = parsed
        utf8 = False
        for name, value in parameters:
            if name == "SIZE" and value is not None and value.isdigit():
                if int(value) > self.context.size_limit:
                    self.sendCode(552, b"5.3.4 the message is bigger than this server takes")
                    return
            elif name == "BODY" and value is not None and value.upper() in ("7BIT", "8BITMIME"):
                pass
            elif name == "SMTPUTF8" and value is None:
                utf8 = True
            else:
                self.sendCode(555, b"5.5.4 MAIL parameter not recognised: " + name.encode())
                return
        if sender and not _mailbox(sender):
            self.sendCode(553, b"5.1.7 the sender's address is malformed")
            return
        if not sender.isascii() and not utf8:
            self.sendCode(553, b"5.6.7 an address that is not ASCII needs SMTPUTF8")
            return
        self._from = sender
        self._utf8 = utf8
        self._to = []
        self.sendCode(250, b"2.1.0 sender ok")

    def do_RCPT(self, rest: bytes) -> None:
        if self._from is None:
            self.sendCode(503, b"5.5.1 MAIL FROM first")
            return
        if len(self._to) >= MAX_RECIPIENTS:
            self.sendCode(452, b"4.5.3 too many recipients")
            return
        parsed = _path(RCPT_PATH, rest)
        if parsed is None or not parsed[0]:
            self.sendCode(501, b"5.5.4 RCPT TO:<address> expected")
            return
        address, parameters = parsed
        if parameters:
            self.sendCode(555, b"5.5.4 RCPT parameter not recognised: " + parameters[0][0].encode())
            return
        if not address.isascii() and not self._utf8:
            self.sendCode(553, b"5.6.7 an address that is not ASCII needs SMTPUTF8")
            return
        recipient = _Recipient(address)
        checked = Deferred.fromCoroutine(self._accounts_of(recipient))
        checked.addCallbacks(self._cbToValidate, self._ebToValidate, callbackArgs=(recipient,))
        self._hold_until(checked)

    async def _accounts_of(self, user: Any) -> list[str]:
        address = str(user.dest)
        try:
            accounts = await resolve(self.context.directory(), address)
        except UnknownDomain:
            raise SMTPServerError(550, "5.1.2 this server takes no mail for that domain") from None
        except BadAddress:
            raise SMTPServerError(501, "5.1.3 not a mailbox address") from None
        except StoreError:
            raise SMTPServerError(
                451, "4.3.0 the directory is unavailable, try again later"
            ) from None
        if not accounts:
            raise SMTPServerError(550, "5.1.1 no such recipient here")
        return accounts

    def _cbToValidate(self, to: Any, user: Any = None, code: int = 250,
                      msg: bytes = b"") -> None:
        super()._cbToValidate(to, user, code, b"2.1.5 recipient ok")

    def do_RSET(self, rest: bytes) -> None:
        self._from = None
        self._to = []
        self._chunking = None
        self._parts = []
        self.sendCode(250, b"2.0.0 reset")

    def do_NOOP(self, rest: bytes) -> None:
        self.sendCode(250, b"2.0.0 ok")

    def do_QUIT(self, rest: bytes) -> None:
        self.sendCode(221, b"2.0.0 bye")
        self._connection().loseConnection()

    def do_VRFY(self, rest: bytes) -> None:
        self.sendCode(252, b"2.5.0 not verified here; send the message and see")

    # -- the data ---------------------------------------------------------------------------

    def _begin(self) -> bool:
        """Start the data of the transaction; False (and 503 sent) without one."""
        if self._from is None or not self._to:
            self.sendCode(503, b"5.5.1 MAIL FROM and an accepted RCPT TO first")
            return False
        self._recipients = [(str(user.dest).encode(), accounts) for user, accounts in self._to]
        self._sender = str(self._from).encode()  # UTF-8 with SMTPUTF8
        self._from = None
        self._to = []
        self._parts = []
        self._size = 0
        self._too_big = False
        return True

    def _keep(self, data: bytes, counted: int) -> None:
        if self._too_big:
            return  # read to its end, kept nowhere
        self._size += counted
        if self._size > self.context.size_limit:
            self._too_big = True
            self._parts = []
            return
        self._parts.append(data)

    def do_DATA(self, rest: bytes) -> None:
        if self._chunking is not None:
            self.sendCode(503, b"5.5.1 DATA after BDAT: send the rest as BDAT")
            return
        if not self._begin():
            return
        self.mode = DATA
        self.sendCode(354, b"start the message; end it with a line holding only a dot")

    def state_DATA(self, line: bytes) -> None:
        if line == b".":
            self.mode = COMMAND
            parts, self._parts = self._parts, []
            self._finish(b"".join(part + b"\r\n" for part in parts), parts)
            return
        if line[:1] == b".":
            line = line[1:]
        self._keep(line, len(line) + 2)

    def do_BDAT(self, rest: bytes) -> None:
        found = BDAT_ARGUMENTS.match(rest.strip())
        if found is None:
            # where its chunk ends cannot be known: nothing after it can be read as commands
            self.sendCode(501, b"5.5.4 BDAT size [LAST] expected; closing")
            self._connection().loseConnection()
            return
        if self._chunking is None:
            # the first chunk of a message; without a transaction its chunk is read and dropped
            self._chunking = self._begin() if self._from is not None and self._to else False
        self._chunk_left = int(found.group(1))
        self._chunk_last = found.group(2) is not None
        if not self._chunk_left:
            self._chunk_ended()

    def _take_chunk(self, piece: bytes) -> None:
        if self._chunking:
            self._keep(piece, len(piece))

    def _chunk_ended(self) -> None:
        kept, last = self._chunking, self._chunk_last
        if not kept:
            self._chunking = None if last else False
            self.sendCode(503, b"5.5.1 MAIL FROM and an accepted RCPT TO first")
            return
        if not last:
            if self._too_big:
                self.sendCode(552, b"5.3.4 the message is bigger than this server takes")
            else:
                self.sendCode(250, b"2.0.0 %d octets received" % self._size)
            return
        self._chunking = None
        parts, self._parts = self._parts, []
        data = b"".join(parts)
        self._finish(data, data[:65536].split(b"\r\n"))

    def _finish(self, data: bytes, head: list[bytes]) -> None:
        """The message is all here: store it for each recipient's account, and answer each
        recipient (``head``: its first lines, where the Message-ID is found)."""
        recipients, self._recipients = self._recipients, []
        if self._too_big:
            big = Outcome(552, "5.3.4", "the message is bigger than this server takes")
            for address, _ in recipients:
                self._reply(big, address)
            return
        message = self._headers() + data
        mark = delivery_mark(message_id_of(head), self._sender.decode("utf-8", "replace"))
        delivering = Deferred.fromCoroutine(self._deliver(message, recipients, mark))
        delivering.addErrback(self._failed, recipients)
        self._hold_until(delivering)

    def _headers(self) -> bytes:
        """Return-Path (RFC 5321 §4.4: the final delivery adds it) and a Received line."""
        helo = bytes(self._helo[0] if self._helo and self._helo[0] else b"unknown")
        stamp = email.utils.formatdate(time.time(), localtime=False)
        return (b"Return-Path: <" + self._sender + b">\r\n"
                + b"Received: from " + helo + b" by " + bytes(self.host) + b" with LMTP; "
                + stamp.encode() + b"\r\n")

    async def _deliver(
        self, message: bytes, recipients: list[tuple[bytes, list[str]]], mark: str | None
    ) -> None:
        # each account once, however many recipients name it
        accounts = list(dict.fromkeys(a for _, named in recipients for a in named))
        outcomes = dict(zip(accounts, await gather(
            *(self.context.delivery.deliver(account, message, mark) for account in accounts)
        ), strict=True))
        for address, named in recipients:
            # an alias answers for all it names: stored for each, or the first refusal
            refused = [outcomes[a] for a in named if not outcomes[a].delivered]
            self._reply(refused[0] if refused else outcomes[named[0]], address)
        vacation = self.context.vacation
        if vacation is not None:
            sender = self._sender.decode("utf-8", "replace")
            for account, outcome in outcomes.items():
                if outcome is DELIVERED:  # stored now (not a retry's), answered already
                    addresses = [a.decode("utf-8", "replace") for a, named in recipients
                                 if account in named]
                    Deferred.fromCoroutine(vacation.answer(account, message, sender, addresses))

    def _failed(self, failure: Any, recipients: list[tuple[bytes, list[str]]]) -> None:
        log.failure("LMTP delivery failed", failure)
        for address, _ in recipients:
            self._reply(UNAVAILABLE, address)

    def _hold_until(self, answered: Deferred[Any]) -> None:
        """Read no more input until ``answered`` has fired (its reply sent); then go on with
        what came meanwhile, in order."""
        if answered.called:
            return
        self._pending = answered
        self._connection().pauseProducing()
        answered.addBoth(self._answered)

    def _answered(self, result: object) -> None:
        self._pending = None
        connection = self._connection()
        if connection.disconnecting:
            return
        connection.resumeProducing()
        self._consume()

    def _connection(self) -> Any:
        """The transport as the TCP or Unix connection it is (producer, disconnecting)."""
        return self.transport

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._inbox = bytearray()
        self.mode = COMMAND  # Twisted's own DATA state holds nothing here
        super().connectionLost(reason)


class LmtpFactory(ServerFactory):
    def __init__(self, context: LmtpContext) -> None:
        self.context = context

    def buildProtocol(self, addr: Any) -> LmtpServer:
        protocol = LmtpServer(self.context)
        protocol.factory = self
        return protocol
