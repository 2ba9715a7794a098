"""RFC 8291 message encryption with the subscription's keys, read back with http_ece."""

from __future__ import annotations

import json

import pytest

from stalwart_tx.push.encryption import MAX_PLAINTEXT, PushKeys
from tests.jmap.push_subscription.fake_push_service import UserAgentKeys


def test_round_trip() -> None:
    agent = UserAgentKeys()
    keys = PushKeys.parse(agent.to_json())
    plaintext = json.dumps({"@type": "StateChange", "changed": {"a": {"Email": "9"}}}).encode()
    body = keys.encrypt(plaintext)
    assert agent.decrypt(body) == plaintext
    # RFC 8188 header: salt(16) rs(4) idlen(1)=65 keyid = uncompressed sender key
    assert int.from_bytes(body[16:20], "big") == 4096
    assert body[20] == 65 and body[21] == 4
    assert len(body) == 86 + len(plaintext) + 1 + 16  # one record: delimiter and tag


def test_largest_message_is_one_record_of_4096_octets() -> None:
    agent = UserAgentKeys()
    keys = PushKeys.parse(agent.to_json())
    body = keys.encrypt(b"x" * MAX_PLAINTEXT)
    assert len(body) == 4096
    assert agent.decrypt(body) == b"x" * MAX_PLAINTEXT
    with pytest.raises(ValueError):
        keys.encrypt(b"x" * (MAX_PLAINTEXT + 1))
