"""Any-state and not-authenticated commands, and bad input of every kind, over a raw socket."""

from __future__ import annotations

import base64

import pytest_twisted

from tests.certificates import make_certificates
from tests.imap.conftest import PASSWORD, RawConnection, StartImap, logged_in


def plain(user: str = "alice", password: str = PASSWORD, authzid: str = "") -> bytes:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode())


@pytest_twisted.ensureDeferred
async def test_capability_before_and_after_login(raw: RawConnection) -> None:
    lines = await raw.command(b"CAPABILITY")
    assert lines[-1] == b"t OK CAPABILITY completed"
    caps = lines[0].split()
    assert caps[:2] == [b"*", b"CAPABILITY"]
    for needed in (b"IMAP4rev1", b"IMAP4rev2", b"AUTH=PLAIN", b"IDLE", b"UIDPLUS", b"MOVE",
                   b"LITERAL+", b"SASL-IR", b"ENABLE", b"CONDSTORE", b"ESEARCH"):
        assert needed in caps
    assert b"STARTTLS" not in caps  # no certificate configured
    done = await raw.command(b"LOGIN alice " + PASSWORD.encode())
    assert done[-1].startswith(b"t OK [CAPABILITY IMAP4rev1 ")


@pytest_twisted.ensureDeferred
async def test_wrong_password_and_unknown_user_are_refused_alike(raw: RawConnection) -> None:
    wrong = await raw.command(b"LOGIN alice nope")
    unknown = await raw.command(b"LOGIN mallory nope")
    assert wrong == [b"t NO [AUTHENTICATIONFAILED] invalid credentials"]
    assert unknown == wrong
    # still usable afterwards
    assert (await raw.command(b"NOOP"))[-1] == b"t OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_commands_need_login(raw: RawConnection) -> None:
    for line in (b"SELECT INBOX", b"LIST \"\" *", b"FETCH 1 FLAGS", b"ENABLE CONDSTORE"):
        answer = await raw.command(line)
        assert answer[-1].startswith(b"t BAD"), (line, answer)


@pytest_twisted.ensureDeferred
async def test_authenticate_plain_with_initial_response(raw: RawConnection) -> None:
    lines = await raw.command(b"AUTHENTICATE PLAIN " + plain())
    assert lines[-1].startswith(b"t OK [CAPABILITY")
    assert (await raw.command(b"SELECT INBOX"))[-1].startswith(b"t OK [READ-WRITE]")


@pytest_twisted.ensureDeferred
async def test_authenticate_plain_with_a_continuation(raw: RawConnection) -> None:
    await raw.send(b"a AUTHENTICATE PLAIN\r\n")
    assert (await raw.line()).startswith(b"+")
    await raw.send(plain() + b"\r\n")
    assert (await raw.until(b"a"))[-1].startswith(b"a OK")


@pytest_twisted.ensureDeferred
async def test_authenticate_cancelled_wrong_or_for_another_user(raw: RawConnection) -> None:
    await raw.send(b"a AUTHENTICATE PLAIN\r\n")
    assert (await raw.line()).startswith(b"+")
    await raw.send(b"*\r\n")
    assert (await raw.until(b"a"))[-1].startswith(b"a BAD")
    await raw.send(b"b AUTHENTICATE PLAIN\r\n")
    await raw.line()
    await raw.send(b"!!!notbase64\r\n")
    assert (await raw.until(b"b"))[-1].startswith(b"b BAD")
    assert (await raw.command(b"AUTHENTICATE PLAIN " + plain(password="x")))[-1] == \
        b"t NO [AUTHENTICATIONFAILED] invalid credentials"
    assert (await raw.command(b"AUTHENTICATE PLAIN " + plain(authzid="bob")))[-1].startswith(
        b"t NO [AUTHORIZATIONFAILED]")
    assert (await raw.command(b"AUTHENTICATE CRAM-MD5"))[-1].startswith(b"t NO")
    # none of that logged in
    assert (await raw.command(b"SELECT INBOX"))[-1].startswith(b"t BAD")


@pytest_twisted.ensureDeferred
async def test_logout_says_bye_and_closes(raw: RawConnection) -> None:
    lines = await raw.command(b"LOGOUT")
    assert lines == [b"* BYE logging out", b"t OK LOGOUT completed"]
    assert await raw.closed()


@pytest_twisted.ensureDeferred
async def test_enable_id_namespace(raw: RawConnection) -> None:
    await logged_in(raw)
    enabled = await raw.command(b"ENABLE CONDSTORE X-UNKNOWN IMAP4rev2")
    assert enabled[0] == b"* ENABLED CONDSTORE IMAP4rev2"
    again = await raw.command(b"ENABLE CONDSTORE")
    assert again[0] == b"* ENABLED"
    ident = await raw.command(b'ID ("name" "test")')
    assert ident[0].startswith(b'* ID ("name" "stalwart-tx"')
    namespace = await raw.command(b"NAMESPACE")
    assert namespace[0] == b'* NAMESPACE (("" "/")) NIL NIL'


@pytest_twisted.ensureDeferred
async def test_bad_input_gets_bad_never_a_traceback(raw: RawConnection) -> None:
    await logged_in(raw)
    cases = [
        b"t FROBNICATE",
        b"t SELECT",
        b"t FETCH x FLAGS",
        b"t FETCH 1 (FLAGS",
        b't LOGIN "unterminated',
        b"t STORE 1 +FLAGS (\\Recent)",
        b"t SEARCH FROM",
        b"t UID",
        b"t LIST \"\" \"*\" EXTRA",
    ]
    for line in cases:
        answer = await raw.command(line[2:])
        assert answer[-1].startswith(b"t BAD"), (line, answer)
    await raw.send(b"\x00\xff\xfe garbage\r\n")
    assert (await raw.line()).startswith(b"* BAD")
    await raw.send(b"(((\r\n")
    assert (await raw.line()).startswith(b"* BAD")
    assert (await raw.command(b"NOOP"))[-1] == b"t OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_huge_literals_are_refused_before_they_are_read(start_imap: StartImap) -> None:
    server = await start_imap(append_limit=1000)
    connection = RawConnection(server)
    await connection.line()
    await logged_in(connection)
    await connection.send(b"a APPEND INBOX {5000000}\r\n")
    assert await connection.line() == b"a NO [TOOBIG] literal too big"
    # a literal just within the limit is taken
    await connection.send(b"b APPEND INBOX {20}\r\n")
    assert (await connection.line()).startswith(b"+")
    await connection.send(b"Subject: x\r\n\r\nhello!\r\n")
    assert (await connection.until(b"b"))[-1].startswith(b"b OK [APPENDUID")
    # a non-synchronising one over the limit is skipped, then refused
    await connection.send(b"c APPEND INBOX {1200+}\r\n" + b"x" * 1200 + b"\r\n")
    assert await connection.line() == b"c NO [TOOBIG] literal too big"
    assert (await connection.command(b"NOOP"))[-1] == b"t OK NOOP completed"
    connection.close()


@pytest_twisted.ensureDeferred
async def test_a_line_too_long_is_refused_and_the_session_goes_on(raw: RawConnection) -> None:
    await raw.send(b"a NOOP " + b"x" * 100_000 + b"\r\n")
    assert (await raw.line()).startswith(b"a BAD [TOOBIG]")
    assert (await raw.command(b"NOOP"))[-1] == b"t OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_are_answered_in_order(raw: RawConnection) -> None:
    await logged_in(raw)
    await raw.send(b"".join(b"p%d NOOP\r\n" % n for n in range(100)))
    lines = await raw.until(b"p99")
    tagged = [line.split()[0] for line in lines if not line.startswith(b"*")]
    assert tagged == [b"p%d" % n for n in range(100)]


@pytest_twisted.ensureDeferred
async def test_starttls_then_login(start_imap: StartImap, tmp_path: object) -> None:
    import ssl
    from pathlib import Path

    files = make_certificates(Path(str(tmp_path)))
    server = await start_imap(certificate=Path(files["server"]), key=Path(files["server_key"]))
    connection = RawConnection(server)
    greeting = await connection.line()
    assert b"STARTTLS" in greeting and b"LOGINDISABLED" in greeting
    assert b"AUTH=PLAIN" not in greeting
    refused = await connection.command(b"LOGIN alice " + PASSWORD.encode())
    assert refused[-1].startswith(b"t NO [PRIVACYREQUIRED]")
    assert (await connection.command(b"STARTTLS"))[-1] == b"t OK begin TLS now"
    context = ssl.create_default_context(cafile=files["ca"])
    connection.sock = await connection.run(
        context.wrap_socket, connection.sock, False, True, True, "localhost"
    )
    caps = await connection.command(b"CAPABILITY")
    assert b"AUTH=PLAIN" in caps[0] and b"STARTTLS" not in caps[0]
    assert (await connection.command(b"LOGIN alice " + PASSWORD.encode()))[-1].startswith(b"t OK")
    assert (await connection.command(b"STARTTLS"))[-1].startswith(b"t BAD")
    connection.close()
