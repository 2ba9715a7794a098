"""The view's catch-up against scripted store answers: the races a load test finds rarely,
made to happen every time."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from stalwart_tx.imap.selected import SelectedMailbox, refresh


class Scripted:
    """A MailClient answering each request from a list, recording what was asked."""

    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.asked: list[tuple[tuple[str, dict[str, Any]], ...]] = []

    async def request(self, *calls: tuple[str, dict[str, Any]]) -> list[tuple[str, Any]]:
        self.asked.append(calls)
        found = self.answers.pop(0)
        return [(name, answer) for (name, _), answer in zip(calls, found, strict=True)]

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        return (await self.request((name, arguments)))[0][1]


def changes(new: str, created: list[str] = [], updated: list[str] = [],  # noqa: B006
            destroyed: list[str] = []) -> dict[str, Any]:  # noqa: B006
    return {"newState": new, "created": created, "updated": updated, "destroyed": destroyed,
            "hasMoreChanges": False}


def caught_up(changed: dict[str, Any], after: str, listed: list[list[Any]],
              found: list[dict[str, Any]] = [],  # noqa: B006
              missing: list[str] = []) -> dict[str, Any]:  # noqa: B006
    """ImapMailbox/get's answer with the Email changes: the store reads at ``after``, the
    changes answered up to their newState (behind it only when paged, or in these scripts)."""
    return {"state": after, "stateAfter": after, "list": [{"id": "M", "uids": listed}],
            "emailChanges": changed, "emails": found, "emailsNotFound": missing}


@pytest_twisted.ensureDeferred
async def test_an_email_seen_ahead_of_the_state_and_destroyed_later_is_expunged() -> None:
    view = SelectedMailbox(mailbox_id="M", name="INBOX", uid_validity=1, readonly=False,
                           state="4")
    client = Scripted([
        # E is created after the changes were read (state 5) but before the UIDs (6)
        [caught_up(changes("5"), "6", [[10, "E"]])],
        # E is destroyed at 7: from state 5 the change log mentions it nowhere
        [caught_up(changes("7"), "7", [], missing=["E"])],
    ])
    first = await refresh(client, view)  # type: ignore[arg-type]
    assert first.added == [(10, "E")]
    view.append(10, "E")
    assert view.ahead == {"E": 6}
    second = await refresh(client, view)  # type: ignore[arg-type]
    # checked by id, though the log is silent
    assert client.asked[1][0][1]["alsoIds"] == ["E"]
    assert second.expunged == [10]
    assert view.ahead == {}


@pytest_twisted.ensureDeferred
async def test_an_email_seen_ahead_stops_being_checked_once_the_state_passes_it() -> None:
    view = SelectedMailbox(mailbox_id="M", name="INBOX", uid_validity=1, readonly=False,
                           state="4")
    client = Scripted([
        [caught_up(changes("5"), "6", [[10, "E"]])],
        [caught_up(changes("8"), "8", [], [{"id": "E", "uid": 10, "modseq": 6}])],
    ])
    await refresh(client, view)  # type: ignore[arg-type]
    view.append(10, "E")
    delta = await refresh(client, view)  # type: ignore[arg-type]
    assert delta.expunged == []
    assert view.ahead == {} and view.state == "8"


def test_messages_names_each_message_once_in_order() -> None:
    """A sequence set's messages, for sets overlapping, reversed, past the end and with *:
    each message once, ascending, exactly the numbers (or UIDs) the set covers."""
    import random

    from stalwart_tx.imap.parse_values import STAR, SequenceSet

    rng = random.Random(3501)
    for _ in range(300):
        uids = sorted(rng.sample(range(1, 60), rng.randint(0, 25)))
        view = SelectedMailbox("M", "INBOX", 1, False, "1", list(uids), [f"e{u}" for u in uids])
        spans: list[tuple[Any, Any]] = []
        for _ in range(rng.randint(1, 4)):
            a, b = rng.randint(1, 70), rng.randint(1, 70)
            spans.append((STAR if rng.random() < 0.15 else a, b))
        sequence_set = SequenceSet(tuple(spans))
        for by_uid in (False, True):
            largest = (uids[-1] if uids else 0) if by_uid else len(uids)
            wanted = [
                (n + 1, u, f"e{u}") for n, u in enumerate(uids)
                if sequence_set.contains(u if by_uid else n + 1, largest)
            ]
            assert view.messages(sequence_set, by_uid) == wanted, (uids, spans, by_uid)
