"""The registry data types declare their blob references with, and the claims it adds to writes."""

from __future__ import annotations

import pytest
import pytest_twisted

from stalwart_tx.jmap.blob_refs import BlobReferenceRegistry, blob_not_found
from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.store.errors import BlobNotFound
from stalwart_tx.store.records import WriteBatch
from tests.jmap.blobs.conftest import Env, mail_references


def test_claims_and_releases_of_creates_updates_and_destroys() -> None:
    references = mail_references()
    batch = (
        WriteBatch()
        .create("Email", "new", {"blobId": "B1", "attachments": [{"blobId": "B2"}, {}]})
        .update("Email", "changed", {"blobId": "B3", "attachments": [{"blobId": "B5"}]})
        .destroy("Email", "gone")
        .create("Mailbox", "m", {"name": "Inbox"})
        .destroy("Mailbox", "m2")
    )
    references.add_claims(batch, {
        ("Email", "changed"): {"blobId": "B3", "attachments": [{"blobId": "B4"}]},
        ("Email", "gone"): {"blobId": "B6", "attachments": [{"blobId": None}, {"blobId": 7}]},
    })
    assert batch.blob_claims == [
        ("B1", "Email", "new"), ("B2", "Email", "new"), ("B5", "Email", "changed"),
    ]
    assert batch.blob_releases == [("B4", "Email", "changed"), ("B6", "Email", "gone")]


def test_a_missing_previous_value_is_a_programming_error() -> None:
    references = mail_references()
    with pytest.raises(ValueError, match="before the write"):
        references.add_claims(WriteBatch().update("Email", "e", {}), {})
    with pytest.raises(ValueError, match="before the write"):
        references.add_claims(WriteBatch().destroy("Email", "e"), {})
    # types that reference no blobs (or only through others) need nothing
    references.add_claims(WriteBatch().destroy("Mailbox", "m").update("Note", "n", {}), {})


def test_registration() -> None:
    references = BlobReferenceRegistry()
    references.register("Email", MAIL, lambda email: [email.get("blobId")])
    references.register_derived("Thread", MAIL, via="Email", ids=lambda e: [e.get("threadId")])
    with pytest.raises(ValueError):
        references.register("Email", MAIL, lambda email: [])
    assert references.type_names() == ["Email", "Thread"]
    assert references.blob_ids("Email", {"blobId": "B1"}) == {"B1"}
    assert references.blob_ids("Thread", {"blobId": "B1"}) == set()
    assert references.ids_via("Thread", {"threadId": "T1"}) == {"T1"}
    assert references.get("Mailbox") is None


def test_blob_not_found_set_error() -> None:
    assert blob_not_found(BlobNotFound("Bx")).to_json() == {
        "type": "blobNotFound",
        "description": "The blob 'Bx' does not exist in this account.",
        "notFound": ["Bx"],
    }


@pytest_twisted.ensureDeferred
async def test_claims_ride_with_the_write(env: Env) -> None:
    blob = (await env.store.blobs.put(env.account, b"raw message")).blob_id
    await env.write_email("e1", {"blobId": blob})
    assert await env.store.blobs.referrers(env.account, [blob]) == {blob: {("Email", "e1")}}
    with pytest.raises(BlobNotFound):
        await env.write_email("e2", {"blobId": "B" + "0" * 64})
    assert await env.store.accounts.get(env.account, "Email", ["e2"]) == {}
    await env.write_email("e1", {"blobId": None}, previous={"blobId": blob})
    assert await env.store.blobs.referrers(env.account, [blob]) == {blob: set()}
