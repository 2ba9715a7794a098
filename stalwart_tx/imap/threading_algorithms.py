"""RFC 5256's orderings and threadings, over plain values: no store, no protocol.

* ``sent_date`` (§2.2): the Date header's instant in UTC, or the arrival when there is none;
* ``ascii_casemap``: the i;ascii-casemap collation (RFC 4790 §9.2) as a sort key, the one SORT
  and THREAD compare strings with when no COMPARATOR was chosen (RFC 5255 §4.1);
* ``thread_references`` (§3, REFERENCES) and ``thread_ordered_subject`` (§3, ORDEREDSUBJECT):
  the threads of a set of messages as a forest of ``ThreadNode``;
* ``thread_text``: the forest as the THREAD response writes it (§4).

The base subject of §2.1 is ``stalwart_tx.mail.subject.base_subject``, which follows the RFC's
steps exactly; what it leaves out is only the case mapping, which is the collation's.

Every ordering breaks ties by the message's ``number``: the caller numbers messages in mailbox
order (sequence numbers or UIDs, which ascend together), so that is the RFC's tie-breaker.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stalwart_tx.mail.subject import base_subject, is_reply_or_forward

__all__ = [
    "ThreadMessage",
    "ThreadNode",
    "ascii_casemap",
    "parse_instant",
    "sent_date",
    "subject_collation_key",
    "thread_ordered_subject",
    "thread_references",
    "thread_text",
]

_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def ascii_casemap(text: str) -> str:
    """The i;ascii-casemap key: ASCII letters upper-cased, everything else as it is.

    The collation compares octets after mapping a-z to A-Z, so "_" sorts after "Z"; Python
    compares strings by code point, which orders exactly as their UTF-8 octets do.
    """
    return text.translate(_UPPER)


def subject_collation_key(subject: str | None) -> str:
    """What SORT (SUBJECT) compares and threads group by: the base subject, case-mapped."""
    return ascii_casemap(base_subject(subject or ""))


def parse_instant(value: str | None) -> datetime.datetime | None:
    """An RFC 3339 date-time (``Z`` or an offset) as an aware UTC instant, or None."""
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # A date without a zone is read as UTC: RFC 5322 calls "-0000" UTC of unknown origin.
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def sent_date(sent_at: str | None, received_at: str | None) -> datetime.datetime:
    """§2.2: the Date header in UTC; where it is missing or unparsable, the internal date."""
    return parse_instant(sent_at) or parse_instant(received_at) or _EPOCH


@dataclass(frozen=True)
class ThreadMessage:
    """One message as threading sees it; ids are msg-ids without their angle brackets."""

    number: int  # what the response names it by; ascending in mailbox order
    sent: datetime.datetime
    subject: str = ""  # decoded (RFC 2047 words already turned into text)
    message_id: str | None = None
    references: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()


@dataclass(eq=False)
class ThreadNode:
    """A thread member; ``message`` None is a dummy standing for its children."""

    message: ThreadMessage | None
    children: list[ThreadNode] = field(default_factory=list)
    parent: ThreadNode | None = field(default=None, repr=False)

    @property
    def number(self) -> int | None:
        return None if self.message is None else self.message.number

    def first_message(self) -> ThreadMessage | None:
        """The message a dummy is dated and named by: its first child's (§3 steps 4-6)."""
        node: ThreadNode | None = self
        while node is not None and node.message is None:
            node = node.children[0] if node.children else None
        return None if node is None else node.message


def _bottom_up(roots: Iterable[ThreadNode]) -> list[ThreadNode]:
    """Every node of the trees, each after all of its descendants.

    Walked with a stack of our own: a mailbox may hold reply chains deeper than Python's
    recursion limit, and a client must not be able to turn that into a failed command.
    """
    order: list[ThreadNode] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    order.reverse()
    return order


def _date_key(node: ThreadNode) -> tuple[datetime.datetime, int]:
    message = node.first_message()
    if message is None:
        return _EPOCH, 0
    return message.sent, message.number


def _sort_siblings(roots: list[ThreadNode]) -> None:
    """§3 step 6: every set of siblings by sent date, the deepest sets first, so a dummy's
    children are in order before the dummy is placed by its first child."""
    for node in _bottom_up(roots):
        node.children.sort(key=_date_key)
    roots.sort(key=_date_key)


# -- REFERENCES ---------------------------------------------------------------------------


def _is_ancestor(candidate: ThreadNode, node: ThreadNode) -> bool:
    """Whether ``candidate`` is ``node`` or one of its ancestors."""
    walker: ThreadNode | None = node
    while walker is not None:
        if walker is candidate:
            return True
        walker = walker.parent
    return False


def _unlink(node: ThreadNode) -> None:
    if node.parent is not None:
        node.parent.children.remove(node)
        node.parent = None


def _link(parent: ThreadNode, child: ThreadNode) -> None:
    """Make ``child`` a child of ``parent`` unless that would close a loop (step 1.A)."""
    if _is_ancestor(child, parent):
        return
    child.parent = parent
    parent.children.append(child)


def _pruned(nodes: Iterable[ThreadNode], at_root: bool) -> list[ThreadNode]:
    """One set of siblings after §3 step 3, their own children pruned already: childless
    dummies dropped, the other dummies replaced by their children, except at the root level
    where a dummy holding more than one child stays."""
    kept: list[ThreadNode] = []
    for node in nodes:
        if node.message is not None:
            kept.append(node)
        elif not node.children:
            continue
        elif at_root and len(node.children) > 1:
            kept.append(node)
        else:
            kept.extend(node.children)
    return kept


def _prune(roots: list[ThreadNode]) -> list[ThreadNode]:
    for node in _bottom_up(roots):
        node.children = _pruned(node.children, at_root=False)
        for child in node.children:
            child.parent = node
    kept = _pruned(roots, at_root=True)
    for node in kept:
        node.parent = None
    return kept


def _thread_subject(node: ThreadNode) -> str:
    message = node.first_message()
    return "" if message is None else subject_collation_key(message.subject)


def _replying(node: ThreadNode) -> bool:
    return node.message is not None and is_reply_or_forward(node.message.subject)


def _merge_by_subject(roots: list[ThreadNode]) -> list[ThreadNode]:
    """§3 step 5: gather the threads under the root that share a base subject."""
    table: dict[str, ThreadNode] = {}
    for node in roots:  # 5.B
        subject = _thread_subject(node)
        if not subject:
            continue
        held = table.get(subject)
        if held is None:
            table[subject] = node
        elif held.message is not None and (
            node.message is None or (_replying(held) and not _replying(node))
        ):
            table[subject] = node
    # 5.C; a node merged away (or wrapped in a new dummy) is no longer at the root
    slots: list[ThreadNode | None] = list(roots)
    slot_of = {node: index for index, node in enumerate(roots)}
    for node in roots:
        if node not in slot_of:
            continue
        subject = _thread_subject(node)
        if not subject:
            continue
        held = table[subject]
        if held is node:
            continue
        slots[slot_of.pop(node)] = None
        if held.message is None and node.message is None:
            held.children.extend(node.children)
        elif held.message is None or (_replying(node) and not _replying(held)):
            held.children.append(node)
        else:
            dummy = ThreadNode(None, [held, node])
            slot = slot_of.pop(held)
            slots[slot] = dummy
            slot_of[dummy] = slot
            table[subject] = dummy
    return [node for node in slots if node is not None]


def thread_references(messages: Sequence[ThreadMessage]) -> list[ThreadNode]:
    """THREAD=REFERENCES (RFC 5256 §3): the top-level threads, each fully sorted.

    ``messages`` in mailbox order; message-ids compare case-sensitively, as the RFC says.
    """
    by_id: dict[str, ThreadNode] = {}
    nodes: list[ThreadNode] = []
    for message in messages:
        node = ThreadNode(message)
        nodes.append(node)
        # A missing id, or one an earlier message already has, gets a unique id of its own:
        # that is, it is not entered in the table at all.
        if message.message_id and message.message_id not in by_id:
            by_id[message.message_id] = node

    def container(message_id: str) -> ThreadNode:
        found = by_id.get(message_id)
        if found is None:
            found = by_id[message_id] = ThreadNode(None)
        return found

    for message, node in zip(messages, nodes, strict=True):  # step 1
        references = list(message.references) or list(message.in_reply_to[:1])
        chain = [container(reference) for reference in references]
        for parent, child in itertools.pairwise(chain):  # 1.A
            if child.parent is None and parent is not child:
                _link(parent, child)
        # 1.B: the last reference is the parent, whatever earlier messages' chains said (a
        # truncated References header is the usual reason they disagree).
        _unlink(node)
        if chain:
            _link(chain[-1], node)

    everything = list(dict.fromkeys([*nodes, *by_id.values()]))
    roots = [node for node in everything if node.parent is None]  # step 2
    roots = _prune(roots)  # step 3
    for node in roots:  # step 4, which needs each dummy's children in order
        if node.message is None:
            node.children.sort(key=_date_key)
    roots.sort(key=_date_key)
    roots = _merge_by_subject(roots)  # step 5
    _sort_siblings(roots)  # step 6
    for node in roots:
        node.parent = None
    return roots


# -- ORDEREDSUBJECT -----------------------------------------------------------------------


def thread_ordered_subject(messages: Sequence[ThreadMessage]) -> list[ThreadNode]:
    """THREAD=ORDEREDSUBJECT (RFC 5256 §3): one thread per base subject, the earliest
    message at its top and the others, by sent date, as its children."""
    ordered = sorted(messages, key=lambda m: (subject_collation_key(m.subject), m.sent, m.number))
    threads: list[ThreadNode] = []
    current: str | None = None
    for message in ordered:
        subject = subject_collation_key(message.subject)
        if threads and subject == current:
            threads[-1].children.append(ThreadNode(message, parent=threads[-1]))
        else:
            threads.append(ThreadNode(message))
            current = subject
    threads.sort(key=_date_key)
    return threads


# -- the response --------------------------------------------------------------------------


def _nested(children: list[ThreadNode]) -> list[str | ThreadNode]:
    """thread-nested: each child's thread in parentheses."""
    work: list[str | ThreadNode] = []
    for child in children:
        work += ["(", child, ")"]
    return work


def thread_text(threads: Iterable[ThreadNode]) -> str:
    """The THREAD response's data: ``(2)(3 6 (4 23)(44 7 96))``; empty for no threads.

    A chain of only children is written flat (``3 6``); where a message has several, each
    child's thread is parenthesised after it; a dummy is only its children in parentheses
    (RFC 5256 §5: thread-members, thread-nested).
    """
    out: list[str] = []
    # a stack of what is left to write, the next item last; a node stands for its members
    work: list[str | ThreadNode] = list(reversed(_nested(list(threads))))
    while work:
        item = work.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        following: list[str | ThreadNode]
        if item.message is None:
            if len(item.children) == 1:
                following = [item.children[0]]
            else:
                following = _nested(item.children)
        else:
            out.append(str(item.message.number))
            if len(item.children) == 1:
                following = [" ", item.children[0]]
            elif item.children:
                following = [" ", *_nested(item.children)]
            else:
                following = []
        work.extend(reversed(following))
    return "".join(out)
