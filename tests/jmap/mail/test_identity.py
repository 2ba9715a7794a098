"""Identity (RFC 8621 §6) over POST /jmap/api/ on a real Redis store, with the default registry."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults

from stalwart_tx.auth.avatar import MailUser
from stalwart_tx.jmap.capabilities import CORE, MAIL, SUBMISSION
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.mail.identity_defaults import ensure_default_identities
from stalwart_tx.store.backend import StoreBundle, open_memory_store, open_redis_store
from tests.jmap.mail.conftest import Mail

USING = [CORE, SUBMISSION]


async def invoke(mail: Mail, method: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    arguments.setdefault("accountId", mail.account)
    response = await mail.server.call([method, arguments, "c0"], using=USING)
    [[name, result, call_id]] = response["methodResponses"]
    assert call_id == "c0"
    return name, result


async def ok(mail: Mail, method: str, **arguments: Any) -> dict[str, Any]:
    name, result = await invoke(mail, method, **arguments)
    assert name == method, result
    return result


async def give_addresses(mail: Mail, *addresses: str) -> None:
    for address in addresses:
        await mail.server.store.directory.add_address(mail.account, address)


async def identities(mail: Mail) -> dict[str, dict[str, Any]]:
    """Every identity by email."""
    found = (await ok(mail, "Identity/get"))["list"]
    return {identity["email"]: identity for identity in found}


async def create(mail: Mail, **identity: Any) -> dict[str, Any]:
    result = await ok(mail, "Identity/set", create={"i": identity})
    return result


@pytest_twisted.ensureDeferred
async def test_session_advertises_submission(mail: Mail) -> None:
    session = await mail.server.session()
    assert session["capabilities"][SUBMISSION] == {}
    account = session["accounts"][mail.account]["accountCapabilities"]
    assert account[SUBMISSION] == {"maxDelayedSend": 0, "submissionExtensions": {}}
    assert session["primaryAccounts"][SUBMISSION] == mail.account


@pytest_twisted.ensureDeferred
async def test_identity_methods_need_the_submission_capability(mail: Mail) -> None:
    response = await mail.server.call(
        ["Identity/get", {"accountId": mail.account}, "0"], using=[CORE, MAIL]
    )
    assert response["methodResponses"][0][1]["type"] == "unknownMethod"


@pytest_twisted.ensureDeferred
async def test_default_identities_appear_once(mail: Mail) -> None:
    await give_addresses(mail, "Alice@Example.ORG", "a.smith@example.org")
    first = await ok(mail, "Identity/get")
    assert sorted(i["email"] for i in first["list"]) == ["Alice@example.org", "a.smith@example.org"]
    for identity in first["list"]:
        assert identity == {
            "id": identity["id"], "name": "", "email": identity["email"], "replyTo": None,
            "bcc": None, "textSignature": "", "htmlSignature": "", "mayDelete": True,
        }
    again = await ok(mail, "Identity/get")
    assert again == first  # same ids, same state: nothing was written the second time
    # a new address gets no identity by itself: the account has its defaults already
    await give_addresses(mail, "new@example.org")
    assert (await ok(mail, "Identity/get"))["state"] == first["state"]


@pytest_twisted.ensureDeferred
async def test_account_without_addresses_has_no_identity(mail: Mail) -> None:
    result = await ok(mail, "Identity/get")
    assert result["list"] == []
    # given an address later, the next call makes its identity
    await give_addresses(mail, "alice@example.org")
    assert list(await identities(mail)) == ["alice@example.org"]


@pytest_twisted.ensureDeferred
async def test_concurrent_first_requests_make_one_set(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org", "alice2@example.org")
    results = await gatherResults([ensureDeferred(ok(mail, "Identity/get")) for _ in range(8)])
    assert all(len(r["list"]) == 2 for r in results)
    assert len({frozenset(i["id"] for i in r["list"]) for r in results}) == 1
    stored = await mail.server.store.accounts.list_ids(mail.account, "Identity")
    assert len(stored) == 2


def context(store: StoreBundle, account_id: str) -> RequestContext:
    return RequestContext(
        user=MailUser(principal_id=account_id, name="fresh"), store=store, limits=CoreLimits(),
        using=frozenset(), reactor=reactor,
    )


async def race(stores: list[StoreBundle], account_id: str, rounds: int) -> None:
    await gatherResults([
        ensureDeferred(ensure_default_identities(
            context(stores[i % len(stores)], account_id), account_id
        ))
        for i in range(rounds)
    ])


@pytest_twisted.ensureDeferred
async def test_defaults_raced_across_connections_and_on_memory(redis_url: str) -> None:
    stores = [await open_redis_store(redis_url, reactor, timeout=5.0) for _ in range(3)]
    memory = await open_memory_store()
    try:
        for bundle in (stores, [memory]):
            principal = await bundle[0].directory.create_principal("fresh", None)
            await bundle[0].directory.add_address(principal.id, "fresh@example.org")
            await race(bundle, principal.id, 9)
            found = await bundle[0].accounts.get(principal.id, "Identity", None)
            assert [i["email"] for i in found.values()] == ["fresh@example.org"]
    finally:
        for store in stores:
            await store.close()


@pytest_twisted.ensureDeferred
async def test_set_get_changes(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org")
    start = await ok(mail, "Identity/get")
    [default] = start["list"]
    # an alias pointing at the principal is an address it may send as
    await mail.server.store.directory.set_alias("sales@example.org", [mail.account])
    created = await create(
        mail, name="Sales", email="SALES@example.org",
        replyTo=[{"email": "help@example.org"}], bcc=[{"name": "Archive", "email": "a@x.org"}],
        textSignature="-- \nSales", htmlSignature="<p>Sales</p>",
    )
    made = created["created"]["i"]
    # the server's part: the id, the address as the directory has it, completed addresses
    assert made == {
        "id": made["id"], "email": "sales@example.org",
        "replyTo": [{"name": None, "email": "help@example.org"}], "mayDelete": True,
    }
    assert created["oldState"] == start["state"]
    got = (await ok(mail, "Identity/get", ids=[made["id"]]))["list"]
    assert got == [{
        "id": made["id"], "name": "Sales", "email": "sales@example.org",
        "replyTo": [{"name": None, "email": "help@example.org"}],
        "bcc": [{"name": "Archive", "email": "a@x.org"}],
        "textSignature": "-- \nSales", "htmlSignature": "<p>Sales</p>", "mayDelete": True,
    }]
    updated = await ok(mail, "Identity/set", update={
        default["id"]: {"name": "Alice", "bcc": [{"email": "me@example.org"}]}
    })
    assert updated["updated"] == {
        default["id"]: {"bcc": [{"name": None, "email": "me@example.org"}]}
    }
    changes = await ok(mail, "Identity/changes", sinceState=start["state"])
    assert changes["created"] == [made["id"]]
    assert changes["updated"] == [default["id"]]
    assert changes["destroyed"] == []
    assert "updatedProperties" not in changes
    destroyed = await ok(mail, "Identity/set", destroy=[made["id"]])
    assert destroyed["destroyed"] == [made["id"]]
    changes = await ok(mail, "Identity/changes", sinceState=updated["newState"])
    assert changes["destroyed"] == [made["id"]]
    assert (await ok(mail, "Identity/get", ids=[made["id"]]))["notFound"] == [made["id"]]


@pytest_twisted.ensureDeferred
async def test_foreign_address_is_forbidden_from(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org")
    await mail.server.store.directory.add_address(mail.server.other_user_id, "bob@example.org")
    for email in ("bob@example.org", "nobody@example.org", "alice@other.example"):
        result = await create(mail, email=email)
        assert result["created"] is None
        assert result["notCreated"]["i"]["type"] == "forbiddenFrom", email
    result = await create(mail, email="not an address")
    assert result["notCreated"]["i"]["type"] == "invalidProperties"
    assert result["notCreated"]["i"]["properties"] == ["email"]
    result = await create(mail, name="no email")
    assert result["notCreated"]["i"]["properties"] == ["email"]


@pytest_twisted.ensureDeferred
async def test_email_is_immutable_and_maydelete_server_set(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org", "alias@example.org")
    found = await identities(mail)
    alice = found["alice@example.org"]
    result = await ok(mail, "Identity/set", update={alice["id"]: {"email": "alias@example.org"}})
    assert result["notUpdated"][alice["id"]]["type"] == "invalidProperties"
    assert result["notUpdated"][alice["id"]]["properties"] == ["email"]
    result = await ok(mail, "Identity/set", update={alice["id"]: {"mayDelete": False}})
    assert result["notUpdated"][alice["id"]]["properties"] == ["mayDelete"]
    # setting them to what they are is no change
    result = await ok(mail, "Identity/set", update={
        alice["id"]: {"email": "alice@example.org", "mayDelete": True}
    })
    assert result["updated"] == {alice["id"]: None}
    result = await create(mail, email="alice@example.org", mayDelete=False)
    assert result["notCreated"]["i"]["properties"] == ["mayDelete"]


@pytest_twisted.ensureDeferred
async def test_email_address_lists_are_validated(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org")
    [alice] = (await identities(mail)).values()
    bad_lists: list[Any] = [
        "help@example.org",
        {"email": "help@example.org"},
        [{"name": "No email"}],
        [{"email": "not an address"}],
        [{"email": "help@example.org", "extra": 1}],
        [{"email": "help@example.org", "name": 5}],
        [{"email": "a@example.org"}] * 101,
        [None],
    ]
    for bad in bad_lists:
        for name in ("replyTo", "bcc"):
            result = await create(mail, email="alice@example.org", **{name: bad})
            assert result["notCreated"]["i"]["type"] == "invalidProperties", bad
            assert result["notCreated"]["i"]["properties"] == [name]
            result = await ok(mail, "Identity/set", update={alice["id"]: {name: bad}})
            assert result["notUpdated"][alice["id"]]["properties"] == [name], bad
    result = await ok(mail, "Identity/set", update={alice["id"]: {"replyTo": [], "bcc": None}})
    assert result["updated"] == {alice["id"]: None}
    result = await create(mail, email="alice@example.org", name=5)
    assert result["notCreated"]["i"]["properties"] == ["name"]


@pytest_twisted.ensureDeferred
async def test_other_accounts_are_not_reachable(mail: Mail) -> None:
    name, result = await invoke(mail, "Identity/get", accountId=mail.server.other_user_id)
    assert (name, result["type"]) == ("error", "accountNotFound")


@pytest_twisted.ensureDeferred
async def test_aliases_that_are_no_address_are_left_out(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org")
    await mail.server.store.directory.set_alias("postmaster", [mail.account])
    await mail.server.store.directory.set_alias("Team@Example.org", [mail.account])
    assert sorted(await identities(mail)) == ["alice@example.org", "team@example.org"]
    result = await create(mail, email="postmaster")
    assert result["notCreated"]["i"]["properties"] == ["email"]


@pytest_twisted.ensureDeferred
async def test_at_most_max_identities(mail: Mail) -> None:
    await give_addresses(mail, "alice@example.org")
    assert len(await identities(mail)) == 1
    creates = {f"i{n}": {"email": "alice@example.org", "name": str(n)} for n in range(100)}
    result = await ok(mail, "Identity/set", create=creates)
    assert len(result["created"]) == 99
    assert [e["type"] for e in result["notCreated"].values()] == ["overQuota"]
