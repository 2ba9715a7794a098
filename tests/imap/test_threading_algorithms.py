"""RFC 5256's base subject, sent date, REFERENCES and ORDEREDSUBJECT, judged without a server."""

from __future__ import annotations

import datetime

import pytest

from stalwart_tx.imap.threading_algorithms import (
    ThreadMessage,
    ThreadNode,
    ascii_casemap,
    sent_date,
    subject_collation_key,
    thread_ordered_subject,
    thread_references,
    thread_text,
)
from stalwart_tx.mail.subject import base_subject, is_reply_or_forward

START = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def at(hours: float) -> datetime.datetime:
    return START + datetime.timedelta(hours=hours)


def message(
    number: int,
    subject: str = "",
    message_id: str | None = None,
    references: tuple[str, ...] = (),
    in_reply_to: tuple[str, ...] = (),
    hours: float | None = None,
) -> ThreadMessage:
    return ThreadMessage(number, at(number if hours is None else hours), subject, message_id,
                         references, in_reply_to)


def text_of(messages: list[ThreadMessage]) -> str:
    return thread_text(thread_references(messages))


# -- base subject (§2.1) -------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "base"), [
    ("Hello", "Hello"),
    ("Re: Hello", "Hello"),
    ("RE: re: Fwd: FW: hello", "hello"),
    ("Re[2]: hello", "hello"),
    ("Re [list]: hello", "hello"),
    ("re :hello", "hello"),
    ("[list] Re: hello", "hello"),
    ("[list] [other] hello", "hello"),
    ("Re: [list] Re: hello", "hello"),
    ("hello (fwd)", "hello"),
    ("hello (FWD) (fwd)  ", "hello"),
    ("[fwd: hello]", "hello"),
    ("[Fwd: Re: hello (fwd)]", "hello"),
    ("[fwd: [fwd: hello] ]", "hello"),
    ("Fwd: [fwd: Re: hello]", "hello"),
    ("[only a blob]", "[only a blob]"),
    ("[a] [b]", "[b]"),
    ("Re:\thello \t  world", "hello world"),
    ("Ref: hello", "Ref: hello"),
    ("Réf: hello", "Réf: hello"),
    ("Re: Grüße aus Köln", "Grüße aus Köln"),  # encoded words already decoded
    ("AW: hello", "AW: hello"),  # localized leaders are not the RFC's
    ("Re:", ""),
    ("   ", ""),
])
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


@pytest.mark.parametrize(("subject", "replying"), [
    ("hello", False),
    ("Re: hello", True),
    ("hello (fwd)", True),
    ("[fwd: hello]", True),
    ("[list] hello", False),
    ("  hello  ", False),
])
def test_reply_or_forward(subject: str, replying: bool) -> None:
    assert is_reply_or_forward(subject) is replying


def test_subject_key_maps_only_ascii_case() -> None:
    assert subject_collation_key("Re: hello") == subject_collation_key("HELLO") == "HELLO"
    assert subject_collation_key("Re: éclair") == "éCLAIR"
    assert subject_collation_key(None) == ""


def test_ascii_casemap_orders_as_upper_case_octets() -> None:
    # i;ascii-casemap maps to upper case: "_" (0x5F) comes after every letter
    words = ["b_", "ba", "B", "a", "é", "Z"]
    assert sorted(words, key=ascii_casemap) == ["a", "B", "ba", "b_", "Z", "é"]


# -- sent date (§2.2) ----------------------------------------------------------------------


def test_sent_date_is_utc_and_falls_back_to_arrival() -> None:
    assert sent_date("2020-01-01T12:00:00+02:00", "2021-01-01T00:00:00Z") == at(10)
    assert sent_date("2020-01-01T10:00:00Z", None) == at(10)
    assert sent_date(None, "2020-01-01T03:00:00Z") == at(3)
    assert sent_date("not a date", "2020-01-01T03:00:00Z") == at(3)
    assert sent_date(None, None).year == 1970


# -- the response's shape (§4) -------------------------------------------------------------


def node(number: int, *children: ThreadNode) -> ThreadNode:
    return ThreadNode(message(number), list(children))


def test_thread_text_of_the_rfc_example() -> None:
    threads = [node(2), node(3, node(6, node(4, node(23)), node(44, node(7, node(96)))))]
    assert thread_text(threads) == "(2)(3 6 (4 23)(44 7 96))"
    dummy = ThreadNode(None, [node(170), node(179)])
    assert thread_text([dummy, node(171)]) == "((170)(179))(171)"
    assert thread_text([]) == ""


# -- REFERENCES (§3) -----------------------------------------------------------------------


def test_references_build_the_tree() -> None:
    messages = [
        message(1, "A", "a"),
        message(2, "Re: A", "b", ("a",)),
        message(3, "Re: A", "c", ("a", "b")),
        message(4, "Re: A", "d", ("a",)),
        message(5, "B", "e"),
    ]
    assert text_of(messages) == "(1 (2 3)(4))(5)"


def test_in_reply_to_only_when_there_are_no_references() -> None:
    messages = [
        message(1, "A", "a"),
        message(2, "B", "b"),
        message(3, "C", "c", in_reply_to=("b", "a")),
        message(4, "D", "d", references=("a",), in_reply_to=("b",)),
    ]
    assert text_of(messages) == "(1 4)(2 3)"


def test_missing_parents_become_dummies_then_are_pruned() -> None:
    messages = [
        message(1, "one", "m1", ("gone",)),
        message(2, "two", "m2", ("gone",)),
        message(3, "three", "m3", ("lost",)),
        message(4, "four", "m4", ("lost2", "m3")),
    ]
    # "gone" holds two children: kept at the root; "lost" holds one: promoted
    assert text_of(messages) == "((1)(2))(3 4)"


def test_dummy_below_the_root_is_spliced() -> None:
    messages = [
        message(1, "top", "t"),
        message(2, "x", "m2", ("t", "missing")),
        message(3, "y", "m3", ("t", "missing")),
    ]
    assert text_of(messages) == "(1 (2)(3))"


def test_dummy_sorts_by_its_first_child() -> None:
    messages = [
        message(1, "one", "m1", hours=5),
        message(2, "two", "m2", ("gone",), hours=9),
        message(3, "three", "m3", ("gone",), hours=1),
    ]
    assert text_of(messages) == "((3)(2))(1)"


def test_siblings_sort_by_sent_date_then_mailbox_order() -> None:
    messages = [
        message(1, "p", "p", hours=0),
        message(2, "c", "c2", ("p",), hours=7),
        message(3, "c", "c3", ("p",), hours=3),
        message(4, "c", "c4", ("p",), hours=3),
    ]
    assert text_of(messages) == "(1 (3)(4)(2))"


def test_the_last_reference_wins_over_a_truncated_chain() -> None:
    messages = [
        # claims x -> b -> a; then b's own References put it under c
        message(1, "one", "a", ("x", "b")),
        message(2, "two", "b", ("c",)),
        message(3, "three", "c"),
    ]
    assert text_of(messages) == "(3 2 1)"


def test_loops_are_not_linked() -> None:
    messages = [
        message(1, "one", "a", ("b",)),
        message(2, "two", "b", ("a",)),
        message(3, "three", "c", ("c",)),
        message(4, "four", "d", ("d", "e", "d")),
    ]
    assert text_of(messages) == "(2 1)(3)(4)"


def test_duplicate_message_ids_belong_to_the_first() -> None:
    messages = [
        message(1, "one", "same"),
        message(2, "two", "same"),
        message(3, "three", "r", ("same",)),
    ]
    assert text_of(messages) == "(1 3)(2)"


def test_message_ids_compare_case_sensitively() -> None:
    messages = [message(1, "one", "ID@x"), message(2, "two", "r", ("id@x",))]
    assert text_of(messages) == "(1)(2)"


def test_subjects_gather_replies_under_the_original() -> None:
    messages = [
        message(1, "Lunch", "a"),
        message(2, "Re: lunch", "b"),
        message(3, "Other", "c"),
    ]
    assert text_of(messages) == "(1 2)(3)"


def test_reply_first_still_goes_under_the_original() -> None:
    messages = [message(1, "Re: Lunch", "b"), message(2, "Lunch", "a")]
    assert text_of(messages) == "(2 1)"


def test_two_originals_with_one_subject_share_a_dummy() -> None:
    messages = [message(1, "Lunch", "a"), message(2, "lunch", "b"), message(3, "Re: LUNCH", "c")]
    assert text_of(messages) == "((1)(2)(3))"


def test_subject_dummy_takes_threads_of_a_reference_dummy() -> None:
    messages = [
        message(1, "Plan", "a", ("gone",)),
        message(2, "Re: Plan", "b", ("gone",)),
        message(3, "Re: Plan", "c"),
        message(4, "[fwd: Plan]", "d", ("lost",)),
    ]
    assert text_of(messages) == "((1)(2)(3)(4))"


def test_empty_subjects_are_not_gathered() -> None:
    messages = [message(1, "", "a"), message(2, "Re:", "b"), message(3, "", "c")]
    assert text_of(messages) == "(1)(2)(3)"


def test_no_messages_no_threads() -> None:
    assert thread_references([]) == []
    assert thread_ordered_subject([]) == []


def test_a_long_chain_and_many_messages_stay_quick() -> None:
    chain = [message(1, "deep", "m1")]
    for n in range(2, 2001):
        chain.append(message(n, "Re: deep", f"m{n}", tuple(f"m{k}" for k in range(1, n))[-50:]))
    [top] = thread_references(chain)
    depth = 0
    walker: ThreadNode | None = top
    while walker is not None:
        depth += 1
        walker = walker.children[0] if walker.children else None
    assert depth == 2000
    assert thread_text([top]) == "(" + " ".join(str(n) for n in range(1, 2001)) + ")"
    flat = [message(n, f"s{n % 300}", f"f{n}") for n in range(1, 5001)]
    assert len(thread_references(flat)) == 300


# -- ORDEREDSUBJECT (§3) -------------------------------------------------------------------


def test_ordered_subject_groups_by_base_subject() -> None:
    messages = [
        message(1, "Beta", hours=4),
        message(2, "alpha", hours=6),
        message(3, "Re: ALPHA", hours=2),
        message(4, "re: beta", hours=5),
        message(5, "Fwd: alpha", hours=3),
        message(6, "gamma", hours=1),
    ]
    threads = thread_ordered_subject(messages)
    # alpha's earliest is 3 (hour 2), then 5, then 2; the threads by their first date
    assert thread_text(threads) == "(6)(3 (5)(2))(1 4)"
    assert all(not child.children for t in threads for child in t.children)


def test_ordered_subject_ties_break_by_mailbox_order() -> None:
    messages = [message(2, "x", hours=1), message(1, "x", hours=1), message(3, "y", hours=1)]
    assert thread_text(thread_ordered_subject(messages)) == "(1 2)(3)"
