"""The benchmark corpus generator: deterministic, every message well-formed, threads linked."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from benchmarks.corpus import BENCHMARK_TERM, MAILBOXES, SEARCH_TERMS, generate

COUNT = 400


def _defects(message: EmailMessage) -> list[object]:
    found: list[object] = []
    for part in message.walk():
        found += part.defects
        for name, value in part.items():
            found += [(name, d) for d in getattr(value, "defects", ())]
    return found


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = [g.data for g in generate(50, seed=7)]
    assert first == [g.data for g in generate(50, seed=7)]
    assert first != [g.data for g in generate(50, seed=8)]
    # A longer corpus starts with the shorter one.
    assert [g.data for g in generate(60, seed=7)][:50] == first


def test_messages_parse_without_defects_and_threads_link() -> None:
    seen_ids: set[str] = set()
    replies = multipart_with_attachment = non_ascii_names = 0
    mailboxes = set()
    for g in generate(COUNT):
        message = email.message_from_bytes(g.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert _defects(message) == [], g.index
        assert message["Message-ID"] == f"<{g.message_id}>"
        assert g.message_id not in seen_ids
        if g.in_reply_to is not None:
            replies += 1
            assert g.in_reply_to in seen_ids  # points at an earlier message
            assert message["In-Reply-To"] == f"<{g.in_reply_to}>"
            assert f"<{g.in_reply_to}>" in str(message["References"]).split()
            assert str(message["Subject"]).startswith("Re: ")
        else:
            assert message["In-Reply-To"] is None
        seen_ids.add(g.message_id)
        assert message.get_body(("plain",)) is not None
        assert message.get_body(("html",)) is not None
        attachments = list(message.iter_attachments())
        if attachments and message.get_content_type() == "multipart/mixed":
            multipart_with_attachment += 1
        if any(not a.display_name.isascii() for a in message["From"].addresses):
            non_ascii_names += 1
        text = message.get_body(("plain",)).get_content()
        for term in g.terms:
            assert term in text
        mailboxes.add(g.mailbox)
        assert 1000 <= len(g.data) <= 2_000_000
    assert replies > COUNT // 3
    assert multipart_with_attachment > 0
    assert non_ascii_names > 0
    assert mailboxes == {key for key, _ in MAILBOXES}
    assert BENCHMARK_TERM in {word for word, _ in SEARCH_TERMS}
