"""RFC 9404 §4.3 Blob/lookup, RFC 8620 §6.3 Blob/copy, and the blob capability in the session."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.blob_methods import MAX_DATA_SOURCES
from stalwart_tx.jmap.capabilities import BLOB, CORE, MAIL
from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.store.backend import StoreBundle
from tests.jmap.blobs.conftest import SHARED, Env, make_env

# -- Blob/lookup ------------------------------------------------------------------------------


async def mailbox_example(env: Env) -> tuple[str, str]:
    """RFC 9404 §4.3's example: one blob in two Emails of one Thread, in two Mailboxes."""
    blob = (await env.store.blobs.put(env.account, b"the blob")).blob_id
    other = (await env.store.blobs.put(env.account, b"another")).blob_id
    await env.write_email("E16e70a73eb4", {
        "blobId": blob, "threadId": "T1530616e", "mailboxIds": {"M54e97373": True},
    })
    await env.write_email("E84b0930cf16", {
        "blobId": other, "threadId": "T1530616e", "mailboxIds": {"Mcbe6b662": True},
        "attachments": [{"blobId": blob}],
    })
    await env.write_email("Eunrelated", {
        "blobId": other, "threadId": "Tother", "mailboxIds": {"Mother": True},
    })
    return blob, other


@pytest_twisted.ensureDeferred
async def test_lookup_example(env: Env) -> None:
    blob, _ = await mailbox_example(env)
    result = await env.call("Blob/lookup", {
        "typeNames": ["Mailbox", "Thread", "Email"], "ids": [blob, "not-a-blob"],
    })
    assert result == {
        "accountId": env.account,
        "list": [{
            "id": blob,
            "matchedIds": {
                "Mailbox": ["M54e97373", "Mcbe6b662"],
                "Thread": ["T1530616e"],
                "Email": ["E16e70a73eb4", "E84b0930cf16"],
            },
        }],
        "notFound": ["not-a-blob"],
    }


@pytest_twisted.ensureDeferred
async def test_lookup_follows_writes_that_drop_references(env: Env) -> None:
    blob, other = await mailbox_example(env)
    await env.write_email(
        "E84b0930cf16", {"blobId": other, "threadId": "T1530616e", "mailboxIds": {}},
        previous={"blobId": other, "threadId": "T1530616e", "attachments": [{"blobId": blob}],
                  "mailboxIds": {"Mcbe6b662": True}},
    )
    result = await env.call("Blob/lookup", {"typeNames": ["Email", "Mailbox"], "ids": [blob]})
    assert result["list"] == [
        {"id": blob, "matchedIds": {"Email": ["E16e70a73eb4"], "Mailbox": ["M54e97373"]}}
    ]


@pytest_twisted.ensureDeferred
async def test_lookup_of_unreferenced_and_hidden_blobs(env: Env) -> None:
    loose = (await env.store.blobs.put(env.account, b"loose")).blob_id
    elsewhere = (await env.store.blobs.put("someone", b"elsewhere")).blob_id
    responses = await env.request(
        ["Blob/upload", {"accountId": env.account,
                         "create": {"n": {"data": [{"data:asText": "new"}]}}}, "u"],
        ["Blob/lookup", {"accountId": env.account, "typeNames": ["Email", "Thread"],
                         "ids": [loose, elsewhere, "#n", "#unknown"]}, "l"],
    )
    new = responses[0][1]["created"]["n"]["id"]
    # §4.3: another account's blob is answered like an unreferenced one of this account, so
    # nothing tells whether it exists; only an unknown creation id is not found
    assert responses[1][1]["list"] == [
        {"id": loose, "matchedIds": {"Email": [], "Thread": []}},
        {"id": elsewhere, "matchedIds": {"Email": [], "Thread": []}},
        {"id": new, "matchedIds": {"Email": [], "Thread": []}},
    ]
    assert responses[1][1]["notFound"] == ["#unknown"]


@pytest.mark.parametrize(("type_names", "using"), [
    (["Email", "Calendar"], [CORE, BLOB, MAIL]),
    (["Core"], [CORE, BLOB, MAIL]),
    (["Email"], [CORE, BLOB]),
])
@pytest_twisted.ensureDeferred
async def test_lookup_of_an_unknown_type_or_one_not_used(
    env: Env, type_names: list[str], using: list[str]
) -> None:
    error = await env.error(
        "Blob/lookup", {"accountId": env.account, "typeNames": type_names, "ids": []},
        using=using,
    )
    assert error["type"] == "unknownDataType"


@pytest.mark.parametrize("arguments", [
    {"ids": []}, {"typeNames": []}, {"typeNames": "Email", "ids": []},
    {"typeNames": [], "ids": [7]},
])
@pytest_twisted.ensureDeferred
async def test_lookup_invalid_arguments(env: Env, arguments: dict[str, object]) -> None:
    error = await env.error("Blob/lookup", {"accountId": env.account, **arguments})
    assert error["type"] == "invalidArguments"


# -- Blob/copy --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_copy_between_accounts(env: Env) -> None:
    data = bytes(range(256)) * 2000  # more than one piece of the streamed copy
    source = (await env.store.blobs.put(SHARED, data)).blob_id
    mine_only = (await env.store.blobs.put(env.account, b"mine")).blob_id
    result = await env.call("Blob/copy", {
        "fromAccountId": SHARED, "blobIds": [source, "not-a-blob", mine_only, source],
    })
    assert result["fromAccountId"] == SHARED and result["accountId"] == env.account
    assert result["copied"] == {source: source}
    assert set(result["notCopied"]) == {"not-a-blob", mine_only}
    assert all(e["type"] == "notFound" for e in result["notCopied"].values())
    assert await env.store.blobs.get(env.account, source) == data
    assert await env.store.blobs.referrers(env.account, [source]) == {source: set()}


@pytest_twisted.ensureDeferred
async def test_copy_within_one_account_and_of_creations(env: Env) -> None:
    responses = await env.request(
        ["Blob/upload", {"accountId": SHARED,
                         "create": {"x": {"data": [{"data:asText": "x"}]}}}, "u"],
        ["Blob/copy", {"fromAccountId": SHARED, "accountId": env.account,
                       "blobIds": ["#x"]}, "c1"],
        ["Blob/copy", {"fromAccountId": env.account, "accountId": env.account,
                       "blobIds": ["#x"]}, "c2"],
    )
    blob = responses[0][1]["created"]["x"]["id"]
    assert responses[1][1]["copied"] == {"#x": blob}
    assert responses[2][1] == {
        "fromAccountId": env.account, "accountId": env.account, "copied": {"#x": blob},
        "notCopied": None,
    }


@pytest_twisted.ensureDeferred
async def test_copy_errors(store: StoreBundle) -> None:
    env = await make_env(store, CoreLimits(maxObjectsInSet=1))
    error = await env.error("Blob/copy", {
        "fromAccountId": "nobody", "accountId": env.account, "blobIds": [],
    })
    assert error["type"] == "fromAccountNotFound"
    error = await env.error("Blob/copy", {
        "fromAccountId": SHARED, "accountId": "nobody", "blobIds": [],
    })
    assert error["type"] == "accountNotFound"
    for arguments in ({"blobIds": []}, {"fromAccountId": SHARED, "blobIds": "B"},
                      {"fromAccountId": 5, "blobIds": []}):
        error = await env.error("Blob/copy", {"accountId": env.account, **arguments})
        assert error["type"] == "invalidArguments"
    error = await env.error("Blob/copy", {
        "fromAccountId": SHARED, "accountId": env.account, "blobIds": ["a", "b"],
    })
    assert error["type"] == "requestTooLarge"
    # Blob/copy is an RFC 8620 method: core alone is enough to call it
    [(name, _, _)] = await env.request(
        ["Blob/copy", {"fromAccountId": SHARED, "accountId": env.account, "blobIds": []}, "c"],
        using=[CORE],
    )
    assert name == "Blob/copy"


# -- capability -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_capability_in_the_session(env: Env) -> None:
    session = env.api.session(env.user)
    assert session["capabilities"][BLOB] == {}  # type: ignore[index]
    account = session["accounts"][env.account]  # type: ignore[index]
    assert account["accountCapabilities"][BLOB] == {
        "maxSizeBlobSet": CoreLimits().maxSizeUpload,
        "maxDataSources": MAX_DATA_SOURCES,
        "supportedTypeNames": ["Email", "Mailbox", "Thread"],
        "supportedDigestAlgorithms": ["sha", "sha-256"],
    }
    assert session["primaryAccounts"][BLOB] == env.account  # type: ignore[index]


def test_the_server_registry_has_the_blob_methods() -> None:
    from stalwart_tx.jmap.methods import default_registry

    registry = default_registry(CoreLimits())
    assert BLOB in registry.capabilities
    for name, capability in [("Blob/copy", CORE), ("Blob/upload", BLOB), ("Blob/get", BLOB),
                             ("Blob/lookup", BLOB)]:
        spec = registry.method(name)
        assert spec is not None and spec.capability == capability
