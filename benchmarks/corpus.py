"""Deterministic generator of realistic RFC 5322 messages for the JMAP Mail benchmarks.

The same ``seed`` and ``count`` always give the same bytes, on any machine, so two servers loaded
from it hold the same mail. Nothing is written to disk unless asked (``--write``): ``generate()``
yields :class:`Generated` items whose ``data`` is the message.

What a corpus looks like:

- threads of 1 to 20 messages (most short); each reply has ``In-Reply-To`` the Message-ID of an
  earlier message of its thread, ``References`` the chain, a ``Re:`` subject and quoted text;
- about 120 people, some with non-ASCII display names (RFC 2047 encoded), 1 to 4 To, sometimes Cc;
- multipart/alternative text + HTML, about 8% of messages with attachments inside multipart/mixed;
- sizes from 1 KB to 50 KB (log-uniform), about 1% of messages 100 KB to 1.5 MB (an attachment);
- dates over two years (2024-01-01 to 2025-12-31), replies hours to days after their parent;
- body words from a Zipf-weighted vocabulary of common words, plus planted search terms of known
  frequency (see ``SEARCH_TERMS``): the benchmark's text filter uses ``marmalade``, found in about
  4% of messages (``python benchmarks/corpus.py --stats`` counts it exactly);
- each message is assigned one of five mailboxes (``MAILBOXES``) with fixed weights, and keywords.

Command line: ``python benchmarks/corpus.py --count 1000 --stats`` prints the term frequencies and
sizes; ``--write DIR`` writes ``DIR/000001.eml``...
"""

from __future__ import annotations

import argparse
import base64
import quopri
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from pathlib import Path

DEFAULT_SEED = 8621
DEFAULT_COUNT = 100_000

# Mailbox keys (the loader maps them to real mailboxes; "inbox" is the Inbox role) and the share of
# messages each gets. Different sizes let the query benchmark see how cost grows with mailbox size.
MAILBOXES: tuple[tuple[str, float], ...] = (
    ("inbox", 0.50),
    ("archive", 0.25),
    ("lists", 0.13),
    ("projects", 0.08),
    ("receipts", 0.04),
)

# Planted words: (word, probability that a message contains it). They are not in VOCABULARY, so
# these are their exact frequencies up to sampling noise. The benchmark's text filter uses the
# mid-frequency one.
SEARCH_TERMS: tuple[tuple[str, float], ...] = (
    ("kumquat", 0.001),
    ("zeppelin", 0.01),
    ("marmalade", 0.04),
    ("quarterly", 0.15),
)
BENCHMARK_TERM = "marmalade"

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 24 * 3600

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yusuf",
    "José", "Zoë", "Jürgen", "Søren", "Amélie", "Ольга", "Łukasz", "Ngọc", "陈", "Åsa",
)
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright",
    "Álvarez", "Müller", "Ångström", "Petrova", "Nowak", "Nguyễn", "伟", "Dubois", "O'Brien", "Kim",
)
DOMAINS = ("example.org", "example.com", "example.net", "mail.example.edu", "lists.example.org")

VOCABULARY = """
the of and to in a is that for it as was with be by on not he this are or his from at which but
have an they you were her she there been one all we their has would when if so no will more out
up into do any your what some can only other new time could about than like may these then them
two first should now such after also made over did most where between just many those under same
meeting report project budget review team schedule update deadline proposal client server release
feature issue ticket customer invoice payment contract draft version document attached please
thanks regards question answer week month tomorrow today yesterday morning afternoon office call
agenda notes summary plan design test build deploy change request approval policy account access
password security network database backup storage migration upgrade support training holiday
travel flight hotel conference presentation slides figures numbers sales revenue cost estimate
""".split()

# Zipf weights over the vocabulary, as cumulative sums for bisect.
_CUMULATIVE: list[float] = []
_total = 0.0
for _rank in range(len(VOCABULARY)):
    _total += 1.0 / (_rank + 1) ** 1.07
    _CUMULATIVE.append(_total)

SUBJECT_TOPICS = (
    "budget review", "release plan", "server migration", "annual figures", "team offsite",
    "contract draft", "design review", "holiday schedule", "security update", "client meeting",
    "invoice question", "conference travel", "database backup", "training session", "new feature",
    "support ticket", "deadline change", "project status", "office move", "access request",
)

ATTACHMENT_TYPES = (
    ("application/pdf", "pdf"),
    ("image/png", "png"),
    ("text/csv", "csv"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
)


@dataclass(frozen=True)
class Person:
    name: str
    address: str

    def header(self) -> str:
        return formataddr((self.name, self.address), charset="utf-8")


@dataclass
class Generated:
    index: int  # 0-based position in the corpus
    message_id: str  # without angle brackets
    in_reply_to: str | None
    thread_index: int
    received_at: datetime
    mailbox: str  # a key of MAILBOXES
    keywords: dict[str, bool]
    terms: frozenset[str]  # which SEARCH_TERMS the message contains
    data: bytes = field(repr=False)

    @property
    def received_at_utc(self) -> str:
        return self.received_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _people(rng: random.Random) -> list[Person]:
    people = []
    for i in range(120):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        local = f"user{i:03d}"
        people.append(Person(f"{first} {last}", f"{local}@{rng.choice(DOMAINS)}"))
    return people


def _paragraph(rng: random.Random) -> list[str]:
    n = rng.randint(20, 90)
    words = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=n)
    i = 0
    while i < n:
        words[i] = words[i].capitalize()
        i += rng.randint(5, 18)
        words[min(i, n) - 1] += rng.choice(".....?!")
    return _fill(words)


def _paragraphs(rng: random.Random, pool: list[tuple[list[str], int]], target_chars: int,
                planted: list[str]) -> list[list[str]]:
    """About target_chars of text as paragraphs, each a list of lines of at most ~72 characters.

    Paragraphs are drawn from a pool made once per corpus (making every word of 100,000 messages
    one by one would make the generator slower than the servers it feeds); the planted terms are
    then inserted into the message's own copy, so their frequencies stay exact.
    """
    paragraphs: list[list[str]] = []
    size = 0
    while size < target_chars:
        lines, chars = rng.choice(pool)
        paragraphs.append(lines)
        size += chars
    for word in planted:
        k = rng.randrange(len(paragraphs))
        lines = paragraphs[k] = list(paragraphs[k])
        j = rng.randrange(len(lines))
        cut = lines[j].rfind(" ")
        if cut > 0:
            lines[j] = lines[j][:cut] + " " + word + lines[j][cut:]
        else:
            lines[j] = word + " " + lines[j]
    return paragraphs


def _fill(words: list[str], width: int = 72) -> list[str]:
    lines = []
    start = 0
    length = -1
    for i, word in enumerate(words):
        if length + 1 + len(word) > width and i > start:
            lines.append(" ".join(words[start:i]))
            start = i
            length = -1
        length += 1 + len(word)
    lines.append(" ".join(words[start:]))
    return lines


def _wrap(paragraphs: list[list[str]]) -> str:
    return "\n\n".join("\n".join(lines) for lines in paragraphs)


def _qp(text: str) -> bytes:
    return quopri.encodestring(text.encode()).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def _html(paragraphs: list[list[str]], quoted: str | None) -> str:
    body = "\n".join("<p>" + "\n".join(lines) + "</p>" for lines in paragraphs)
    if quoted:
        escaped = quoted.replace("&", "&amp;").replace("<", "&lt;")
        body += "\n<blockquote>\n" + escaped + "\n</blockquote>"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body>\n"
            f"{body}\n</body></html>\n")


def _size_target(rng: random.Random) -> tuple[int, int]:
    """(text characters, attachment bytes)."""
    roll = rng.random()
    if roll < 0.01:  # a few large messages: an attachment of 100 KB to 1.5 MB
        return rng.randint(400, 3000), int(100_000 * 15 ** rng.random())
    total = int(1000 * 50 ** rng.random())  # 1 KB .. 50 KB, log-uniform
    if roll < 0.09:
        attachment = total * rng.randint(3, 7) // 10
        return max(300, (total - attachment) // 2), attachment
    # text and HTML parts each carry the text once, plus headers: about half the size each.
    return max(200, (total - 900) // 2), 0


class _Thread:
    def __init__(self, index: int, subject: str, participants: list[Person], start: datetime,
                 length: int, mailbox: str) -> None:
        self.index = index
        self.subject = subject
        self.participants = participants
        self.time = start
        self.remaining = length
        self.mailbox = mailbox
        self.message_ids: list[str] = []
        self.last_text: str | None = None


def _mailbox(rng: random.Random) -> str:
    roll = rng.random()
    for key, share in MAILBOXES:
        roll -= share
        if roll < 0:
            return key
    return MAILBOXES[0][0]


def generate(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> Iterator[Generated]:
    """Yield ``count`` messages; replies always come after the message they answer."""
    rng = random.Random(seed)
    people = _people(rng)
    pool = []
    for _ in range(4096):
        lines = _paragraph(rng)
        pool.append((lines, sum(map(len, lines)) + len(lines) + 1))
    active: list[_Thread] = []
    threads = 0
    for index in range(count):
        # Keep a few threads open at once so threads interleave, like a real mailbox.
        if not active or (len(active) < 8 and rng.random() < 0.35):
            length = min(20, max(1, int(rng.paretovariate(1.2))))
            start = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            participants = rng.sample(people, rng.randint(2, 6))
            topic = rng.choice(SUBJECT_TOPICS)
            suffix = rng.choice(("Q1", "Q2", "Q3", "Q4", "for next week", "follow-up", "v2",
                                 "#" + str(rng.randint(100, 999))))
            subject = f"{topic.capitalize()} {suffix}"
            if rng.random() < 0.1:
                subject += " \u2013 résumé"
            active.append(_Thread(threads, subject, participants, start, length, _mailbox(rng)))
            threads += 1
        thread = rng.choice(active)
        yield _message(rng, pool, index, thread)
        thread.remaining -= 1
        thread.time += timedelta(seconds=rng.randint(600, 3 * 24 * 3600))
        if thread.remaining <= 0:
            active.remove(thread)


def _message(rng: random.Random, pool: list[tuple[list[str], int]], index: int,
             thread: _Thread) -> Generated:
    sender = rng.choice(thread.participants)
    others = [p for p in thread.participants if p is not sender]
    to = others[:rng.randint(1, min(4, len(others)))]
    cc = [p for p in others if p not in to][:rng.randint(0, 2)]
    message_id = f"{index:06d}.{rng.getrandbits(48):012x}@{sender.address.split('@')[1]}"
    reply = bool(thread.message_ids)
    in_reply_to = thread.message_ids[-1] if reply else None
    subject = ("Re: " + thread.subject) if reply else thread.subject
    date = thread.time
    received = date + timedelta(seconds=rng.randint(1, 90))

    planted = [word for word, p in SEARCH_TERMS if rng.random() < p]
    if planted and rng.random() < 0.2:
        subject = f"{subject} ({planted[0]})"
    text_chars, attachment_size = _size_target(rng)
    paragraphs = _paragraphs(rng, pool, text_chars, planted)
    signature = f"\n\n-- \n{sender.name}\n{rng.choice(SUBJECT_TOPICS).title()} team"
    plain = _wrap(paragraphs)
    text = plain + signature
    quoted = None
    if reply and thread.last_text:
        quoted_lines = thread.last_text.split("\n")[:12]
        quoted = "\n".join("> " + line if line else ">" for line in quoted_lines)
        text = text + f"\n\nOn {format_datetime(date)}, someone wrote:\n" + quoted
    thread.last_text = plain
    thread.message_ids.append(message_id)
    html = _html(paragraphs, quoted)

    headers = [
        f"From: {sender.header()}",
        "To: " + ",\r\n ".join(p.header() for p in to),
    ]
    if cc:
        headers.append("Cc: " + ",\r\n ".join(p.header() for p in cc))
    headers += [
        f"Subject: {_encode_subject(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}>",
    ]
    if reply:
        refs = thread.message_ids[-11:-1]  # the chain up to the parent, capped like real clients
        headers.append(f"In-Reply-To: <{in_reply_to}>")
        headers.append("References: " + "\r\n ".join(f"<{r}>" for r in refs))
    headers.append("MIME-Version: 1.0")

    boundary = f"=_alt_{index:06d}_{rng.getrandbits(32):08x}"
    alternative = b"".join((
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode(),
        _qp(text), b"\r\n",
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode(),
        _qp(html), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ))
    alt_type = f'Content-Type: multipart/alternative; boundary="{boundary}"'
    if attachment_size:
        mixed = f"=_mix_{index:06d}_{rng.getrandbits(32):08x}"
        mime, ext = rng.choice(ATTACHMENT_TYPES)
        payload = rng.randbytes(attachment_size * 3 // 4)
        filename = f"{rng.choice(('report', 'scan', 'figures', 'notes', 'photo'))}-{index}.{ext}"
        headers.append(f'Content-Type: multipart/mixed; boundary="{mixed}"')
        body = b"".join((
            b"This is a multi-part message in MIME format.\r\n",
            f"--{mixed}\r\n{alt_type}\r\n\r\n".encode(), alternative,
            f"--{mixed}\r\nContent-Type: {mime}; name=\"{filename}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n".encode(),
            _b64(payload), b"\r\n",
            f"--{mixed}--\r\n".encode(),
        ))
    else:
        headers.append(alt_type)
        body = alternative
    data = "\r\n".join(headers).encode() + b"\r\n\r\n" + body

    keywords = {}
    if rng.random() < 0.7:
        keywords["$seen"] = True
    if rng.random() < 0.03:
        keywords["$flagged"] = True
    if reply and rng.random() < 0.2:
        keywords["$answered"] = True
    return Generated(index, message_id, in_reply_to, thread.index, received, thread.mailbox,
                     keywords, frozenset(planted), data)


def _encode_subject(subject: str) -> str:
    if subject.isascii():
        return subject
    from email.header import Header
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def stats(count: int, seed: int) -> dict[str, object]:
    sizes = []
    terms = dict.fromkeys((w for w, _ in SEARCH_TERMS), 0)
    term_in = {w: dict.fromkeys((m for m, _ in MAILBOXES), 0) for w, _ in SEARCH_TERMS}
    mailboxes = dict.fromkeys((m for m, _ in MAILBOXES), 0)
    threads = set()
    for g in generate(count, seed):
        sizes.append(len(g.data))
        mailboxes[g.mailbox] += 1
        threads.add(g.thread_index)
        for t in g.terms:
            terms[t] += 1
            term_in[t][g.mailbox] += 1
    sizes.sort()
    return {
        "count": count, "seed": seed, "threads": len(threads),
        "bytes": sum(sizes), "size_p50": sizes[len(sizes) // 2], "size_max": sizes[-1],
        "size_min": sizes[0], "mailboxes": mailboxes,
        "terms": {t: f"{n} ({100 * n / count:.2f}%), inbox {term_in[t]['inbox']}"
                  for t, n in terms.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--stats", action="store_true", help="print sizes and term frequencies")
    parser.add_argument("--write", type=Path, help="write one .eml file per message into DIR")
    args = parser.parse_args(argv)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for g in generate(args.count, args.seed):
            (args.write / f"{g.index + 1:06d}.eml").write_bytes(g.data)
    if args.stats or not args.write:
        for key, value in stats(args.count, args.seed).items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
