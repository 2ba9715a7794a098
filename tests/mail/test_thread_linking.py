"""Thread decisions against an in-memory index; the threads never depend on arrival order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.mail.parse import parse_message
from stalwart_tx.mail.thread_linking import (
    MAX_REFERENCES,
    MessageLinks,
    ThreadDecision,
    ThreadIndexView,
    decide_thread,
    message_links,
)


class MemoryThreadIndex:
    """A ThreadIndexView over a dict of emails, applying each decision as the store would."""

    def __init__(self) -> None:
        self.links: dict[str, MessageLinks] = {}
        self.thread_of: dict[str, str] = {}
        self._next = 0

    def threads_for_message_ids(self, ids: Collection[str]) -> Mapping[str, Collection[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for email, links in self.links.items():
            for shared in links.ids & set(ids):
                found[shared].add(self.thread_of[email])
        return found

    def thread_subject_keys(self, thread_ids: Collection[str]) -> Mapping[str, str]:
        return {
            thread: self.links[email].subject_key
            for email, thread in self.thread_of.items()
            if thread in thread_ids
        }

    def insert(self, email: str, links: MessageLinks) -> ThreadDecision:
        decision = decide_thread(self, links)
        thread = decision.thread_id
        if thread is None:
            # Zero-padded counter: the smallest id is also the oldest thread.
            thread = f"T{self._next:06d}"
            self._next += 1
        for other, other_thread in self.thread_of.items():
            if other_thread in decision.merge:
                self.thread_of[other] = thread
        self.links[email] = links
        self.thread_of[email] = thread
        return decision

    def threads(self) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = defaultdict(set)
        for email, thread in self.thread_of.items():
            groups[thread].add(email)
        return {frozenset(group) for group in groups.values()}


def _check_view(view: ThreadIndexView) -> ThreadIndexView:
    return view  # mypy checks here that the test index satisfies the Protocol


def links(
    message_id: str | None,
    subject: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> MessageLinks:
    return message_links(
        None if message_id is None else [message_id],
        None if in_reply_to is None else [in_reply_to],
        references,
        subject,
    )


def test_reply_joins_its_parent() -> None:
    index = MemoryThreadIndex()
    _check_view(index)
    assert index.insert("a", links("a@x", "Lunch")) == ThreadDecision(None, frozenset())
    decision = index.insert("b", links("b@x", "Re: lunch", "a@x", ["a@x"]))
    assert decision == ThreadDecision(index.thread_of["a"], frozenset())
    # a reply to the reply, with only References, and a forward of it
    index.insert("c", links("c@x", "RE: [team] Lunch", None, ["a@x", "b@x"]))
    index.insert("d", links("d@x", "Fwd: Lunch (fwd)", "c@x"))
    assert index.threads() == {frozenset("abcd")}


def test_changed_subject_starts_a_new_thread() -> None:
    index = MemoryThreadIndex()
    index.insert("a", links("a@x", "Lunch"))
    index.insert("b", links("b@x", "Re: dinner instead?", "a@x", ["a@x"]))
    index.insert("c", links("c@x", "Re: dinner instead?", "b@x", ["a@x", "b@x"]))
    assert index.threads() == {frozenset("a"), frozenset("bc")}


def test_subject_alone_never_threads() -> None:
    index = MemoryThreadIndex()
    index.insert("a", links("a@x", "Hello"))
    index.insert("b", links("b@x", "Re: Hello"))
    assert index.threads() == {frozenset("a"), frozenset("b")}


def test_localized_leaders_are_other_subjects() -> None:
    # RFC 5256 keys: "AW: Termin" is not "Termin", so a German reply starts its own thread.
    index = MemoryThreadIndex()
    index.insert("a", links("a@x", "Termin"))
    index.insert("b", links("b@x", "AW: Termin", "a@x"))
    assert index.threads() == {frozenset("a"), frozenset("b")}


def test_siblings_of_a_missing_parent_thread_together() -> None:
    index = MemoryThreadIndex()
    index.insert("b", links("b@x", "Re: Plan", "a@x", ["a@x"]))
    index.insert("c", links("c@x", "Re: Plan", "a@x", ["a@x"]))
    assert index.threads() == {frozenset("bc")}
    index.insert("a", links("a@x", "Plan"))
    assert index.threads() == {frozenset("abc")}


def test_a_bridging_email_merges_into_the_oldest_thread() -> None:
    index = MemoryThreadIndex()
    index.insert("a", links("a@x", "Plan"))
    index.insert("c", links("c@x", "Re: Plan", "b@x", ["b@x"]))  # b not seen yet
    first, second = index.thread_of["a"], index.thread_of["c"]
    assert first < second
    decision = index.insert("b", links("b@x", "Re: Plan", "a@x", ["a@x"]))
    assert decision == ThreadDecision(first, frozenset({second}))
    assert index.threads() == {frozenset("abc")}
    assert set(index.thread_of.values()) == {first}


def test_a_bridge_merges_only_threads_of_its_subject() -> None:
    index = MemoryThreadIndex()
    index.insert("a", links("a@x", "Plan"))
    index.insert("b", links("b@x", "Other", "a@x"))
    index.insert("c", links("c@x", "Plan", "a@x"))
    assert index.threads() == {frozenset("ac"), frozenset("b")}


def test_duplicate_message_ids() -> None:
    index = MemoryThreadIndex()
    index.insert("a", links("same@x", "Report"))
    index.insert("a-again", links("same@x", "Report"))
    index.insert("a-other", links("same@x", "Something else"))
    assert index.threads() == {frozenset({"a", "a-again"}), frozenset({"a-other"})}


def test_missing_message_id() -> None:
    index = MemoryThreadIndex()
    index.insert("anonymous", links(None, "Note"))
    index.insert("other", links(None, "Note"))
    assert index.threads() == {frozenset({"anonymous"}), frozenset({"other"})}
    assert message_links(None, None, None, None) == MessageLinks(frozenset(), "")
    # without a Message-ID of its own, an email still joins what it references
    index.insert("a", links("a@x", "Note"))
    index.insert("reply", links(None, "Re: Note", "a@x"))
    assert frozenset({"a", "reply"}) in index.threads()


def test_references_are_capped_to_the_nearest_ancestors() -> None:
    references = [f"r{n}@x" for n in range(MAX_REFERENCES + 50)]
    made = message_links(["m@x"], ["p@x"], references, "s")
    assert made.ids == {"m@x", "p@x", *references[-MAX_REFERENCES:]}
    assert "r0@x" not in made.ids
    many = [f"id{n}" for n in range(1000)]
    assert len(message_links(many, many, None, "s").ids) == 10
    assert message_links(["", "a"], [""], ["", "b"], None).ids == {"a", "b"}


def test_links_from_a_parsed_message() -> None:
    raw = (
        b"Message-ID: <b@example.com>\r\n"
        b"In-Reply-To: <a@example.com>\r\n"
        b"References: <root@example.com> <a@example.com>\r\n"
        b"Subject: =?utf-8?q?Re=3A_=5Bliste=5D_Caf=C3=A9?=\r\n\r\nbody\r\n"
    )
    parsed = parse_message(raw)
    made = message_links(parsed.message_id, parsed.in_reply_to, parsed.references, parsed.subject)
    assert made == MessageLinks(
        frozenset({"b@example.com", "a@example.com", "root@example.com"}), "café"
    )
    bare = parse_message(b"\r\nno headers\r\n")
    no_links = message_links(bare.message_id, bare.in_reply_to, bare.references, bare.subject)
    assert no_links == MessageLinks(frozenset(), "")


# Few ids and subjects, so random emails link to each other often.
IDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
SUBJECTS = st.sampled_from(["Plan", "Re: plan", "Fwd: PLAN", "Other", "re: other", ""])
EMAILS = st.builds(
    message_links,
    st.none() | st.lists(IDS, min_size=1, max_size=1),
    st.none() | st.lists(IDS, max_size=2),
    st.none() | st.lists(IDS, max_size=4),
    st.none() | SUBJECTS,
)


def components(emails: list[MessageLinks]) -> set[frozenset[int]]:
    """The threads by definition: connected components of "share an id and a subject key"."""
    parent = list(range(len(emails)))

    def root(n: int) -> int:
        while parent[n] != n:
            n = parent[n]
        return n

    for i, one in enumerate(emails):
        for j, other in enumerate(emails[:i]):
            if one.ids & other.ids and one.subject_key == other.subject_key:
                parent[root(i)] = root(j)
    groups: dict[int, set[int]] = defaultdict(set)
    for n in range(len(emails)):
        groups[root(n)].add(n)
    return {frozenset(group) for group in groups.values()}


def thread_emails(emails: list[MessageLinks], order: list[int]) -> set[frozenset[int]]:
    index = MemoryThreadIndex()
    for n in order:
        index.insert(str(n), emails[n])
        # a thread never mixes subject keys
        keys: dict[str, set[str]] = defaultdict(set)
        for email, thread in index.thread_of.items():
            keys[thread].add(index.links[email].subject_key)
        assert all(len(k) == 1 for k in keys.values())
    return {frozenset(int(email) for email in group) for group in index.threads()}


@given(st.lists(EMAILS, max_size=12), st.randoms(use_true_random=False))
def test_arrival_order_never_matters(emails: list[MessageLinks], random: Random) -> None:
    order = list(range(len(emails)))
    shuffled = order[:]
    random.shuffle(shuffled)
    expected = components(emails)
    assert thread_emails(emails, order) == expected
    assert thread_emails(emails, shuffled) == expected
    assert thread_emails(emails, order[::-1]) == expected
