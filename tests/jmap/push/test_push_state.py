"""StateChange objects (RFC 8620 §7.1), pushState tokens, type filters and the per-client cursor."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.jmap.limits import CoreLimits
from stalwart_tx.jmap.methods import default_registry
from stalwart_tx.jmap.push_state import (
    PushCursor,
    PushFeed,
    TypeFilter,
    changed_since,
    decode_token,
    encode_token,
    push_data_types,
    state_change,
)
from stalwart_tx.jmap.registry import MethodRegistry, MethodSpec

names = st.text(min_size=1, max_size=12)
states = st.dictionaries(names, st.dictionaries(names, st.text(max_size=20), max_size=5),
                         max_size=3)


def test_state_change_shape() -> None:
    assert state_change({"a1": {"Email": "7"}}) == {
        "@type": "StateChange", "changed": {"a1": {"Email": "7"}},
    }


@given(states)
def test_token_round_trip(value: dict[str, dict[str, str]]) -> None:
    token = encode_token(value)
    assert token.isascii() and "=" not in token and "\n" not in token
    assert decode_token(token) == value


@pytest.mark.parametrize(
    "token",
    ["", "2abc", "1", "1!!!!", "1" + base64.urlsafe_b64encode(b"[1,2]").decode(),
     "1" + base64.urlsafe_b64encode(b'{"a": {"Email": 3}}').decode(),
     "1" + base64.urlsafe_b64encode(b'{"a": "x"}').decode(),
     "1" + base64.urlsafe_b64encode(b"\xff\xfe").decode()],
)
def test_tokens_this_server_did_not_issue_read_as_unknown(token: str) -> None:
    assert decode_token(token) is None


@given(st.text(max_size=60))
def test_decoding_never_raises(token: str) -> None:
    decode_token(token)


def test_changed_since() -> None:
    now = {"a": {"Email": "5", "Mailbox": "3", "Thread": "5"}}
    assert changed_since({"a": {"Email": "4", "Mailbox": "3"}}, now) == {
        "a": {"Email": "5", "Thread": "5"}
    }
    assert changed_since(None, now) == now
    assert changed_since({"other": {}}, now) == now
    assert changed_since(now, now) == {}


def test_type_filter_never_admits_push_subscriptions() -> None:
    every = TypeFilter(None)
    assert every.admits("Email") and not every.admits("PushSubscription")
    some = TypeFilter(["Email", "PushSubscription"])
    assert some.admits("Email") and not some.admits("Mailbox")
    assert not some.admits("PushSubscription")
    assert some.names(["Mailbox"]) == {"Email"}
    assert every.names(["Mailbox", "PushSubscription"]) == {"Mailbox"}


def test_cursor_dedupes_against_what_was_told_not_the_connect_time_read() -> None:
    cursor = PushCursor(TypeFilter(None))
    cursor.start_at({"a": {"Email": "5"}})
    # a write that landed between attach and the read is still pushed
    assert cursor.advance("a", {"Email": "5"}) == {"Email": "5"}
    assert cursor.advance("a", {"Email": "5"}) == {}, "but never twice"
    assert cursor.advance("a", {"Email": "6", "PushSubscription": "6"}) == {"Email": "6"}
    assert decode_token(cursor.token()) == {"a": {"Email": "6"}}


def test_feed_holds_changes_until_open_then_sends_one_state_change() -> None:
    sent: list[tuple[dict[str, dict[str, str]], str]] = []
    feed = PushFeed(TypeFilter(["Email", "Mailbox"]), lambda c, t: sent.append((c, t)))
    feed.receive("a", {"Email": "2"})
    feed.receive("a", {"Thread": "2"})
    assert sent == []
    feed.open({"a": {"Mailbox": "1"}})
    assert [c for c, _ in sent] == [{"a": {"Mailbox": "1", "Email": "2"}}]
    feed.open({})  # nothing new: nothing sent
    feed.receive("a", {"Email": "3"})
    assert [c for c, _ in sent][1:] == [{"a": {"Email": "3"}}]
    feed.close()
    feed.receive("a", {"Email": "4"})
    assert len(sent) == 2


def test_push_data_types_are_types_with_a_get_method() -> None:
    async def handler(ctx: object, arguments: object) -> dict[str, object]:
        return {}

    registry = MethodRegistry()
    for name in ("Email/get", "Email/set", "Mailbox/get", "Thread/changes", "Core/echo",
                 "PushSubscription/get"):
        registry.add_method(MethodSpec(name, "urn:x", handler))  # type: ignore[arg-type]
    assert push_data_types(registry) == {"Email", "Mailbox"}
    assert push_data_types(default_registry(CoreLimits())) == {
        "Mailbox", "VacationResponse", "Quota", "Identity", "Email", "Thread", "EmailSubmission"
    }
