"""stalwart-admin: manage users, tokens, domains and aliases, whether or not the service runs.

With ``--redis URL`` it talks to that Redis. Otherwise it uses the data directory's embedded Redis:
the running service's if there is one, else a temporary one started (and stopped) under the same
lock the service takes, so the two never run a server on one directory at once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from stalwart_tx.admin import addresses, aliases, domains, quota
from stalwart_tx.admin.exitcodes import (
    EXISTS,
    FAILURE,
    NOT_FOUND,
    OK,
    UNAVAILABLE,
    USAGE,
)
from stalwart_tx.admin.output import emitter
from stalwart_tx.auth.passwords import hash_password
from stalwart_tx.auth.tokens import new_token, parse_token
from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.store.backend import StoreBundle, open_redis_store
from stalwart_tx.store.errors import (
    PrincipalExists,
    PrincipalNotFound,
    StoreUnavailable,
    TokenNotFound,
)
from stalwart_tx.store.records import Principal


class AdminError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stalwart-admin",
        description="Manage stalwart-tx users, API tokens, mail domains and aliases.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", help="data directory of the embedded store [./stalwart-data]")
    where.add_argument("--redis", help="Redis URL of the store")
    parser.add_argument("--config", help="read data/redis/redis-server from this service config")
    parser.add_argument("--redis-server", help="redis-server binary for the embedded store")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for Redis")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    commands = parser.add_subparsers(dest="area", required=True)
    parser.set_defaults(action=None)

    user = commands.add_parser("user", help="user accounts").add_subparsers(
        dest="action", required=True
    )
    for action, text in (("add", "create a user"), ("passwd", "set a user's password")):
        sub = user.add_parser(action, help=text)
        sub.add_argument("name")
        secret = sub.add_mutually_exclusive_group()
        secret.add_argument("--password", help="the password (visible to other local users)")
        secret.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of standard input")
    user.add_parser("list", help="list users")
    delete = user.add_parser("delete", help="delete a user, their tokens and all their data")
    delete.add_argument("name")
    addresses.add_parser(user)

    token = commands.add_parser("token", help="API tokens for Bearer auth").add_subparsers(
        dest="action", required=True
    )
    create = token.add_parser("create", help="issue a token; it is printed once")
    create.add_argument("name")
    create.add_argument("--label", default="", help="a note to recognise the token by")
    listing = token.add_parser("list", help="list a user's tokens")
    listing.add_argument("name")
    revoke = token.add_parser("revoke", help="revoke a token by id (or the token itself)")
    revoke.add_argument("token")
    quota.add_parser(commands)
    domains.add_parser(commands)
    aliases.add_parser(commands)

    hasher = commands.add_parser(
        "hash-password", help="print an argon2id hash for an --auth file: password file"
    )
    secret = hasher.add_mutually_exclusive_group()
    secret.add_argument("--password", help="the password (visible to other local users)")
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    return parser


def read_password(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.password is not None:
        password: str = args.password
    elif args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AdminError("the passwords differ", USAGE)
    else:
        raise AdminError("give --password, --password-stdin, or run on a terminal", USAGE)
    if not password:
        raise AdminError("the password is empty", USAGE)
    return password


async def find_user(store: StoreBundle, name: str) -> Principal:
    try:
        principal: Principal = await store.directory.find_principal(name)
    except PrincipalNotFound:
        raise AdminError(f"no user named {name!r}", NOT_FOUND) from None
    return principal


async def run_command(
    store: StoreBundle, args: argparse.Namespace, out: TextIO, stdin: TextIO
) -> None:
    emit = emitter(out, bool(args.json))

    area, action = args.area, args.action
    if area == "user" and action == "add":
        password_hash = hash_password(read_password(args, stdin))
        try:
            principal = await store.directory.create_principal(args.name, password_hash)
        except PrincipalExists:
            raise AdminError(f"a user named {args.name!r} already exists", EXISTS) from None
        emit(f"created user {principal.name} (account {principal.id})",
             {"name": principal.name, "accountId": principal.id})
    elif area == "user" and action == "passwd":
        principal = await find_user(store, args.name)
        await store.directory.set_password_hash(
            principal.id, hash_password(read_password(args, stdin))
        )
        emit(f"password of {principal.name} changed", {"name": principal.name})
    elif area == "user" and action == "list":
        principals = await store.directory.list_principals()
        rows = [{"name": p.name, "accountId": p.id, "kind": p.kind} for p in principals]
        if args.json:
            emit("", rows)
        else:
            for row in rows:
                out.write(f"{row['name']}\t{row['accountId']}\t{row['kind']}\n")
    elif area == "user" and action == "delete":
        principal = await find_user(store, args.name)
        await store.directory.delete_principal(principal.id)
        await store.accounts.destroy_account(principal.id)
        emit(f"deleted user {principal.name}", {"name": principal.name})
    elif area == "token" and action == "create":
        principal = await find_user(store, args.name)
        token, record = new_token(principal.id, args.label, time.time())
        await store.directory.add_token(record)
        emit(token, {"token": token, "tokenId": record.token_id, "name": principal.name})
    elif area == "token" and action == "list":
        principal = await find_user(store, args.name)
        tokens = await store.directory.list_tokens(principal.id)
        if args.json:
            emit("", [{"tokenId": t.token_id, "label": t.label, "createdAt": t.created_at}
                      for t in tokens])
        else:
            for t in tokens:
                created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t.created_at))
                out.write(f"{t.token_id}\t{created}\t{t.label}\n")
    elif area == "token" and action == "revoke":
        parsed = parse_token(args.token)
        token_id = parsed[0] if parsed else args.token
        try:
            await store.directory.revoke_token(token_id)
        except TokenNotFound:
            raise AdminError(f"no live token {token_id!r}", NOT_FOUND) from None
        emit(f"revoked token {token_id}", {"tokenId": token_id})
    elif area == "user" and action == "address":
        try:
            await addresses.run(store, await find_user(store, args.name), args, out)
        except addresses.AddressError as error:
            raise AdminError(str(error), error.code) from None
    elif area == "quota":
        try:
            await quota.run(store, await find_user(store, args.name), args, out)
        except ValueError as error:
            raise AdminError(str(error), USAGE) from None
    elif area == "domain":
        try:
            await domains.run(store, args, out)
        except domains.DomainError as error:
            raise AdminError(str(error), error.code) from None
    elif area == "alias":
        try:
            await aliases.run(store, args, out)
        except aliases.AliasError as error:
            raise AdminError(str(error), error.code) from None
    else:  # argparse makes this unreachable; keep the failure explicit all the same
        raise AdminError(f"unknown command {area} {action}", USAGE)


def store_location(args: argparse.Namespace) -> tuple[str | None, Path, str | None]:
    """(redis URL or None for embedded, data dir, redis-server path) from flags and --config."""
    given: dict[str, object] = {}
    if args.data:
        given["data"] = args.data
    if args.redis:
        given["redis"] = args.redis
    if args.redis_server:
        given["redis-server"] = args.redis_server
    try:
        config = build_config(given, Path(args.config) if args.config else None)
    except ConfigError as error:
        raise AdminError(str(error), USAGE) from None
    return config.redis, config.data, config.redis_server


async def run(reactor: Any, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from stalwart_tx.store.embedded import open_embedded_redis
    from stalwart_tx.store.redis_binary import RedisServerNotFound

    redis_url, data_dir, redis_server = store_location(args)
    lease = None
    try:
        if redis_url is None:
            try:
                lease = await open_embedded_redis(data_dir, reactor, redis_server)
            except RedisServerNotFound as error:
                raise AdminError(str(error), FAILURE) from None
            redis_url = lease.url
        store = await open_redis_store(redis_url, reactor, timeout=args.timeout)
        try:
            await run_command(store, args, out, stdin)
        except StoreUnavailable as error:
            raise AdminError(f"the store is unreachable: {error}", UNAVAILABLE) from None
        finally:
            await store.close()
    finally:
        if lease is not None:
            await lease.release()


def hash_only(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """``hash-password`` needs no store: answer without starting one."""
    try:
        out.write(hash_password(read_password(args, stdin)) + "\n")
    except AdminError as error:
        sys.stderr.write(f"stalwart-admin: {error}\n")
        return error.code
    return OK


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    if args.area == "hash-password":
        sys.exit(hash_only(args, sys.stdout, sys.stdin))
    outcome = {"code": OK}

    def start(reactor: Any) -> Deferred[None]:
        async def guarded() -> None:
            try:
                await run(reactor, args, sys.stdout, sys.stdin)
            except AdminError as error:
                sys.stderr.write(f"stalwart-admin: {error}\n")
                outcome["code"] = error.code
            except Exception as error:  # the admin must print a reason, never a traceback
                sys.stderr.write(f"stalwart-admin: failed: {error}\n")
                outcome["code"] = FAILURE

        return Deferred.fromCoroutine(guarded())

    try:
        react(start)
    except SystemExit:
        pass
    sys.exit(outcome["code"])
