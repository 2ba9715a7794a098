"""QUOTA (RFC 9208) over the account's JMAP quotas, and COMPRESS=DEFLATE (RFC 4978)."""

from __future__ import annotations

import zlib

import pytest_twisted

from stalwart_tx.admin.quota import set_limits
from tests.imap.conftest import ImapServer, RawConnection, logged_in

MESSAGE = b"From: a@example.com\r\nSubject: s\r\n\r\n" + b"x" * 3000 + b"\r\n"


async def connect(server: ImapServer) -> RawConnection:
    connection = RawConnection(server)
    await connection.line()
    return await logged_in(connection)


@pytest_twisted.ensureDeferred
async def test_quota_follows_limits_and_usage(imap_server: ImapServer) -> None:
    c = await connect(imap_server)
    unlimited = await c.command(b"GETQUOTAROOT INBOX")
    assert unlimited[:2] == [b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" ()']
    await set_limits(imap_server.store, imap_server.account, {"storage": 10_240, "messages": 2})
    await c.send(b"ap APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
    assert (await c.until(b"ap"))[-1].startswith(b"ap OK")
    quota = await c.command(b'GETQUOTA ""')
    assert quota[0] == b'* QUOTA "" (STORAGE 3 10 MESSAGE 1 2)'
    for _ in range(2):
        await c.send(b"ap APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        last = (await c.until(b"ap"))[-1]
    assert last.startswith(b"ap NO [OVERQUOTA]")
    assert (await c.command(b'GETQUOTA "other"'))[-1].startswith(b"t NO")
    c.close()


@pytest_twisted.ensureDeferred
async def test_compress_deflate(imap_server: ImapServer) -> None:
    c = await connect(imap_server)
    assert (await c.command(b"COMPRESS DEFLATE"))[-1] == b"t OK DEFLATE active"
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    inflate = zlib.decompressobj(-15)

    def exchange(line: bytes, tag: bytes) -> list[bytes]:
        c.sock.sendall(deflate.compress(line + b"\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
        text = b""
        while not any(row.startswith(tag + b" ") for row in text.split(b"\r\n")):
            text += inflate.decompress(c.sock.recv(65536))
        return text.rstrip(b"\r\n").split(b"\r\n")

    lines = await c.run(exchange, b"a SELECT INBOX", b"a")
    assert lines[-1].startswith(b"a OK [READ-WRITE]")
    lines = await c.run(exchange, b'b LIST "" "*"', b"b")
    assert any(b"INBOX" in row for row in lines)
    again = await c.run(exchange, b"c COMPRESS DEFLATE", b"c")
    assert again[-1].startswith(b"c NO [COMPRESSIONACTIVE]")
    c.close()
