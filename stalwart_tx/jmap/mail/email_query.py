"""Email/query and Email/queryChanges (RFC 8621 §4.4, §4.5) answered from the indexes.

A filter becomes a plan over the account's sorted indexes (``email_model``), all scored by
receivedAt, so the matches come out in date order; conditions an index cannot decide exactly
(phrases, thread keywords, header values) make the plan a superset, and those candidates are
then checked one by one (``residual``). A sort on receivedAt alone is the index order; any
other sort loads the stored values of the matches and sorts them here.

With ``collapseThreads`` the first email of each thread in that order stands for its thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stalwart_tx.gathering import gather
from stalwart_tx.jmap.errors import MethodError
from stalwart_tx.jmap.mail.email_model import (
    ALL_INDEX,
    ATTACHMENT_INDEX,
    EMAIL,
    LANGUAGES_MAP,
    SIZE_INDEX,
    THREAD,
    THREAD_MAP,
    date_seconds,
    header_index,
    keyword_index,
    mailbox_index,
)
from stalwart_tx.jmap.mail.email_write import index_pending_postings
from stalwart_tx.jmap.mail.threads import email_ids
from stalwart_tx.jmap.standard.calls import QueryCall
from stalwart_tx.jmap.standard.filters import FilterCondition, FilterNode, FilterOperator
from stalwart_tx.jmap.standard.sorting import Comparator, sort_ids
from stalwart_tx.store.records import (
    MAX_PLAN_LEAVES,
    Difference,
    Index,
    IndexRequest,
    Intersection,
    JSONObject,
    Plan,
    ScoreRange,
    Union,
    check_plan,
)

ALL: Plan = Index(ALL_INDEX)
TEXT_FIELDS = ("text", "from", "to", "cc", "bcc", "subject", "body")
# the conditions answered from postings (email_write writes them after the email)
POSTED_FIELDS = (*TEXT_FIELDS, "header")
THREAD_KEYWORD_FILTERS = (
    "allInThreadHaveKeyword", "someInThreadHaveKeyword", "noneInThreadHaveKeyword",
)
# Reading matches in chunks (collapseThreads, residual checks): big enough for one round trip
# to cover a page of results in the usual case.
CHUNK = 500


@dataclass(frozen=True)
class Candidates:
    """A plan selecting the matches, or a superset of them when ``exact`` is false."""

    plan: Plan
    exact: bool


def _intersect(parts: Sequence[Candidates]) -> Candidates:
    if not parts:
        return Candidates(ALL, True)
    if len(parts) == 1:
        return parts[0]
    return Candidates(Intersection(tuple(p.plan for p in parts)), all(p.exact for p in parts))


class Planner:
    """Plans for one query; knows the account's mailboxes (for inMailboxOtherThan)."""

    def __init__(
        self, mailbox_ids: Sequence[str], languages: Sequence[str] | None = None
    ) -> None:
        self.mailbox_ids = list(mailbox_ids)
        # languages whose stems a text condition looks up (None: every language)
        self.languages = None if languages is None else tuple(languages)

    def node(self, node: FilterNode) -> Candidates:
        if isinstance(node, FilterOperator):
            parts = [self.node(child) for child in node.conditions]
            if node.operator == "AND":
                return _intersect(parts)
            union = Candidates(Union(tuple(p.plan for p in parts)), all(p.exact for p in parts))
            if node.operator == "OR":
                return union
            if union.exact:  # NOT: none of them
                return Candidates(Difference(ALL, union.plan), True)
            return Candidates(ALL, False)
        return self.condition(node)

    def condition(self, condition: FilterCondition) -> Candidates:
        values = condition.values
        parts: list[Candidates] = []
        sized: list[Plan] = []
        for name, value in values.items():
            if name == "inMailbox":
                parts.append(Candidates(Index(mailbox_index(value)), True))
            elif name == "inMailboxOtherThan":
                others = [m for m in self.mailbox_ids if m not in set(value)]
                union = Union(tuple(Index(mailbox_index(m)) for m in others))
                parts.append(Candidates(union, True))
            elif name == "before":
                parts.append(Candidates(ScoreRange(ALL_INDEX, below=date_seconds(value)), True))
            elif name == "after":
                parts.append(Candidates(ScoreRange(ALL_INDEX, at_least=date_seconds(value)), True))
            elif name == "minSize":
                sized.append(ScoreRange(SIZE_INDEX, at_least=float(value)))
            elif name == "maxSize":
                sized.append(ScoreRange(SIZE_INDEX, below=float(value)))
            elif name == "hasKeyword":
                parts.append(Candidates(Index(keyword_index(value)), True))
            elif name == "notKeyword":
                parts.append(Candidates(Difference(ALL, Index(keyword_index(value))), True))
            elif name == "hasAttachment":
                with_attachment = Index(ATTACHMENT_INDEX)
                plan = with_attachment if value else Difference(ALL, with_attachment)
                parts.append(Candidates(plan, True))
            elif name in TEXT_FIELDS:
                # first: the store can walk a text condition's postings and test the other
                # conditions member by member (IIndexStore.index_query without count); every
                # index here but the size one is scored by receivedAt, so which part comes
                # first changes no score
                parts.insert(0, _text_candidates(name, value, self.languages))
            elif name == "header":
                parts.append(Candidates(Index(header_index(value[0])), len(value) == 1))
            elif name in THREAD_KEYWORD_FILTERS:
                parts.append(Candidates(ALL, False))
            else:  # parse_filter admits only declared properties
                raise MethodError("unsupportedFilter", f"cannot filter on {name}")
        if sized:
            # the score of an Intersection is its first part's: keep a receivedAt one first
            first = parts[0].plan if parts else ALL
            rest = [p.plan for p in parts[1:]]
            exact = all(p.exact for p in parts)
            return Candidates(Intersection((first, *rest, *sized)), exact)
        return _intersect(parts)


def _text_candidates(field: str, text: str, languages: Sequence[str] | None) -> Candidates:
    from stalwart_tx.jmap.mail.email_search import text_filter
    from stalwart_tx.mail.search_language import SNOWBALL_NAMES

    try:
        # one leaf left for ALL below
        found = text_filter(field, text, tuple(SNOWBALL_NAMES) if languages is None else languages,
                            MAX_PLAN_LEAVES - 1)
    except ValueError as too_big:
        raise MethodError("unsupportedFilter", str(too_big)) from None
    # postings may still name destroyed emails (email_write.SWEEP_AT): every text condition,
    # however combined, keeps to the emails that exist; its postings first, so they are walked
    # and ALL is only looked up, and the scores are theirs (receivedAt, as ALL's)
    if found.plan is None:
        # nothing required (only exclusions, or an empty query): the exclusions from everything
        found = found.within(ALL)
        return Candidates(ALL if found.plan is None else found.plan, found.exact)
    return Candidates(Intersection((found.plan, ALL)), found.exact)


# -- evaluation ---------------------------------------------------------------------------


def _uses(node: FilterNode | None, name: str) -> bool:
    if node is None:
        return False
    if isinstance(node, FilterOperator):
        return any(_uses(child, name) for child in node.conditions)
    return name in node.values


def _uses_any(node: FilterNode | None, names: Sequence[str]) -> bool:
    return any(_uses(node, name) for name in names)


async def _indexed_languages(call: QueryCall) -> list[str]:
    """The languages whose stems the account's postings hold: a word's stems in any other
    language match nothing, so the plan leaves them out (6 leaves per language saved)."""
    from stalwart_tx.mail.search_language import SNOWBALL_NAMES

    found = await call.ctx.store.indexes.map_get(
        call.account_id, LANGUAGES_MAP, sorted(SNOWBALL_NAMES)
    )
    return sorted(found)


async def plan_of(call: QueryCall) -> Candidates:
    """The candidates of the call's filter; unsupportedFilter when the plan is too big for the
    store (a filter of many long text conditions)."""
    # the account's mailboxes are read only for the one condition that needs them
    mailbox_ids = (
        await call.ctx.store.accounts.list_ids(call.account_id, "Mailbox")
        if _uses(call.filter, "inMailboxOtherThan") else []
    )
    languages = None
    if _uses_any(call.filter, POSTED_FIELDS):
        # the postings of new emails (their terms and header names) are written later, many
        # at once: all that wait first
        indexing = index_pending_postings(call.ctx, call.account_id)
        if _uses_any(call.filter, TEXT_FIELDS):
            languages, _ = await gather(_indexed_languages(call), indexing)
        else:
            await indexing
    planner = Planner(mailbox_ids, languages)
    candidates = planner.node(call.filter) if call.filter is not None else Candidates(ALL, True)
    try:
        check_plan(candidates.plan)
    except ValueError as too_big:
        raise MethodError(
            "unsupportedFilter", f"the filter is too complex to search: {too_big}"
        ) from None
    return candidates


async def matching_ids(call: QueryCall, descending: bool) -> list[str]:
    """Every id the filter selects, in receivedAt order (newest first when ``descending``)."""
    candidates = await plan_of(call)
    page = await call.ctx.store.indexes.index_query(
        call.account_id, candidates.plan, descending=descending
    )
    ids = page.ids
    if not candidates.exact and call.filter is not None:
        from stalwart_tx.jmap.mail.email_residual import Residual

        residual = Residual(call)
        kept: list[str] = []
        for start in range(0, len(ids), CHUNK):
            kept.extend(await residual.matching(ids[start:start + CHUNK], call.filter))
        ids = kept
    return ids


def sorts_by_index(sort: Sequence[Comparator]) -> bool | None:
    """The index order answers this sort: descending (True) or not (False); None if it can't."""
    if not sort:
        return True  # no sort asked: newest first, what a mail client shows
    if len(sort) == 1 and sort[0].property == "receivedAt":
        return not sort[0].is_ascending
    return None


async def email_query_engine(call: QueryCall) -> list[str]:
    """Every matching id in the order of the call's sort, threads collapsed if asked."""
    descending = sorts_by_index(call.sort)
    ids = await matching_ids(call, bool(descending))
    if descending is None:
        ids = await _sorted_in_python(call, ids)
    if call.extras.get("collapseThreads"):
        ids = await collapse_threads(call, ids)
    return ids


async def email_query_window(
    call: QueryCall, position: int, limit: int | None, calculate_total: bool
) -> tuple[list[str], int | None, str] | None:
    """The window straight from the indexes, when the index order is the sort and the plan is
    exact: a page costs O(log n + page), whatever the mailbox size; with the Email state read
    in the same read (before the pages when threads collapse). None otherwise."""
    descending = sorts_by_index(call.sort)
    if descending is None:
        return None
    candidates = await plan_of(call)
    if not candidates.exact:
        return None
    indexes = call.ctx.store.indexes
    if not call.extras.get("collapseThreads"):
        taken = await indexes.snapshot(call.account_id, call.data_type.name, [IndexRequest(
            candidates.plan, descending=descending, offset=position, limit=limit,
            count=calculate_total,
        )])
        return taken.pages[0].ids, taken.pages[0].total, taken.state
    if calculate_total:
        return None  # counting threads needs every match: the full path does it
    state = await call.ctx.store.changes.current_state(call.account_id, call.data_type.name)
    wanted = None if limit is None else position + limit
    seen: set[str] = set()
    kept: list[str] = []
    offset = 0
    # threads average a few emails: three per wanted result usually fills a mailbox's page at
    # once; a filtered result (a text search) rarely holds several emails of one thread, and
    # its window is walked member by member, so it starts with two. Each further round
    # doubles, so a page of long threads costs O(log) round trips.
    per_result = 3 if isinstance(candidates.plan, Index) else 2
    chunk = CHUNK if wanted is None else max(64, per_result * wanted)
    while wanted is None or len(kept) < wanted:
        page = await indexes.index_query(
            call.account_id, candidates.plan, descending=descending, offset=offset, limit=chunk,
            count=False,
        )
        ids = page.ids
        threads = await call.ctx.store.indexes.map_get(call.account_id, THREAD_MAP, ids)
        for email_id in ids:
            thread_id = threads.get(email_id, email_id)
            if thread_id not in seen:
                seen.add(thread_id)
                kept.append(email_id)
        offset += len(ids)
        if len(ids) < chunk:
            break
        chunk = min(2 * chunk, 8 * CHUNK)
    return kept[position:wanted], None, state


def _depends_on_thread(call: QueryCall) -> bool:
    """Whether an email's place in the results depends on the other emails of its thread:
    collapseThreads (which email stands for the thread), a thread keyword filter or sort (the
    keywords of the whole thread decide whether, and where, each of its emails is)."""
    return (
        bool(call.extras.get("collapseThreads"))
        or _uses_any(call.filter, THREAD_KEYWORD_FILTERS)
        or any(c.property in THREAD_KEYWORD_FILTERS for c in call.sort)
    )


async def moved_with_thread(call: QueryCall, updated: Sequence[str]) -> set[str]:
    """Email/queryChanges for a query that depends on whole threads (``_depends_on_thread``):
    that can change for every email of a thread when any email of it changes, arrives or goes,
    though those others did not change, so every email of such a thread is re-placed: the
    threads of the updated emails, and every thread written since the old query state (new
    emails, destroyed ones and merges all write their Thread)."""
    if not _depends_on_thread(call):
        return set()
    from stalwart_tx.store.errors import CannotCalculateChanges

    account = call.account_id
    thread_ids = set((await thread_of(call, list(updated))).values())
    try:
        changed = await call.ctx.store.changes.changes_since(
            account, THREAD, str(call.arguments.get("sinceQueryState")), None
        )
    except CannotCalculateChanges as error:
        raise MethodError("cannotCalculateChanges", str(error)) from None
    thread_ids.update(changed.created, changed.updated)
    moved: set[str] = set()
    ordered = sorted(thread_ids)
    for start in range(0, len(ordered), CHUNK):
        threads = await call.ctx.store.accounts.get(account, THREAD, ordered[start:start + CHUNK])
        for thread in threads.values():
            moved.update(email_ids(thread))
    return moved


async def thread_of(call: QueryCall, ids: list[str]) -> dict[str, str]:
    threads: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        threads.update(await call.ctx.store.indexes.map_get(
            call.account_id, THREAD_MAP, ids[start:start + CHUNK]
        ))
    return threads


async def collapse_threads(call: QueryCall, ids: list[str]) -> list[str]:
    threads = await thread_of(call, ids)
    seen: set[str] = set()
    kept = []
    for email_id in ids:
        thread_id = threads.get(email_id, email_id)
        if thread_id not in seen:
            seen.add(thread_id)
            kept.append(email_id)
    return kept


# -- sorting in Python --------------------------------------------------------------------


def _first_address(email: Mapping[str, Any], name: str) -> str:
    found = email.get(name) or []
    if not found:
        return ""
    first = found[0]
    return str(first.get("name") or first.get("email") or "")


async def _sorted_in_python(call: QueryCall, ids: list[str]) -> list[str]:
    stored: dict[str, JSONObject] = {}
    for start in range(0, len(ids), CHUNK):
        stored.update(await call.ctx.store.accounts.get(
            call.account_id, EMAIL, ids[start:start + CHUNK]
        ))
    thread_keywords: dict[str, tuple[set[str], set[str]]] = {}
    if any(c.property in ("allInThreadHaveKeyword", "someInThreadHaveKeyword") for c in call.sort):
        thread_keywords = await keywords_by_thread(call, stored.values())
    views = {}
    for email_id, email in stored.items():
        view = {"id": email_id, **email}
        all_in, some_in = thread_keywords.get(str(email.get("threadId")), (set(), set()))
        view["_all"], view["_some"] = all_in, some_in
        views[email_id] = view
    return sort_ids(views, call.sort)


async def keywords_by_thread(
    call: QueryCall, emails: Any
) -> dict[str, tuple[set[str], set[str]]]:
    """Per thread: the keywords all its emails have, and those some of them have."""
    thread_ids = sorted({str(e.get("threadId")) for e in emails})
    result: dict[str, tuple[set[str], set[str]]] = {}
    accounts = call.ctx.store.accounts
    for start in range(0, len(thread_ids), CHUNK):
        threads = await accounts.get(call.account_id, THREAD, thread_ids[start:start + CHUNK])
        members = {t: email_ids(v) for t, v in threads.items()}
        wanted = sorted({i for ids in members.values() for i in ids})
        found = await accounts.get(call.account_id, EMAIL, wanted) if wanted else {}
        for thread_id, ids in members.items():
            sets = [set(found[i].get("keywords") or {}) for i in ids if i in found]
            all_in = set.intersection(*sets) if sets else set()
            some_in = set.union(*sets) if sets else set()
            result[thread_id] = (all_in, some_in)
    return result


def keyword_sort_key(field: str) -> Callable[[Mapping[str, Any]], Callable[[JSONObject], Any]]:
    def key(arguments: Mapping[str, Any]) -> Callable[[JSONObject], Any]:
        keyword = str(arguments.get("keyword", "")).lower()
        if field == "hasKeyword":
            return lambda email: keyword in (email.get("keywords") or {})
        return lambda email: keyword in email.get(field, set())

    return key


def address_sort_key(name: str) -> Callable[[Mapping[str, Any]], Callable[[JSONObject], Any]]:
    return lambda _arguments: lambda email: _first_address(email, name)
