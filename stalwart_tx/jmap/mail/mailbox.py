"""The Mailbox data type (RFC 8621 §2): Mailbox/get, /changes, /set, /query, /queryChanges.

* The rules a mailbox keeps (name, parent, depth, sibling names, roles) are in
  ``mailbox_rules``; the hooks here apply them to creates and updates.
* Counts come from the counts seam (``mailbox_counts``). myRights are all true: the only user
  of an account is its owner, and the server protects no role (a client may delete even the
  Inbox; only an account left with no mailbox at all gets the defaults back, see
  ``mailbox_defaults``).
* Mailbox/queryChanges of a sortAsTree/filterAsTree query also re-places the descendants of
  each updated mailbox (``mailbox_tree.moved_with_ancestors``).
* Mailbox/changes always answers ``updatedProperties: null``: the change log records which
  objects changed, not which of their properties, and null is always correct (the client then
  fetches every property).
* Every method first makes sure the account has its default mailboxes.
"""

from __future__ import annotations

from collections.abc import Mapping

from stalwart_tx.jmap.capabilities import MAIL
from stalwart_tx.jmap.datatype import (
    DataType,
    FilterSpec,
    Predicate,
    Property,
    by_property,
    property_equals,
)
from stalwart_tx.jmap.errors import SetError
from stalwart_tx.jmap.mail.mailbox_counts import (
    COUNT_PROPERTIES,
    MAILBOX,
    counts_of,
    has_emails,
    keep_counts,
)
from stalwart_tx.jmap.mail.mailbox_defaults import with_default_mailboxes
from stalwart_tx.jmap.mail.mailbox_imap import keep_imap_state, mailbox_imap_work
from stalwart_tx.jmap.mail.mailbox_rules import ROLES, check_mailbox, normalized_name
from stalwart_tx.jmap.mail.mailbox_tree import moved_with_ancestors, query_mailboxes
from stalwart_tx.jmap.registry import MethodSpec
from stalwart_tx.jmap.standard import standard_methods
from stalwart_tx.jmap.standard.calls import MethodCall, SetCall
from stalwart_tx.jmap.standard.changes import updated_properties_unknown
from stalwart_tx.jmap.standard.values import (
    Boolean,
    Id,
    Nullable,
    OneOf,
    Record,
    String,
    UnsignedInt,
)
from stalwart_tx.store.records import JSONObject

RIGHTS = (
    "mayReadItems", "mayAddItems", "mayRemoveItems", "maySetSeen", "maySetKeywords",
    "mayCreateChild", "mayRename", "mayDelete", "maySubmit",
)
OWNER_RIGHTS = dict.fromkeys(RIGHTS, True)


async def mailbox_created(call: SetCall, mailbox_id: str, value: JSONObject) -> SetError | None:
    value["name"] = normalized_name(value["name"])
    mailboxes = await call.objects.get_all(MAILBOX)
    error = check_mailbox(mailboxes, mailbox_id, value, creating=True)
    if error is None:
        mailbox_imap_work(call.objects).mailbox_created(mailbox_id)
    return error


async def mailbox_updated(
    call: SetCall, mailbox_id: str, old: JSONObject, new: JSONObject
) -> SetError | None:
    new["name"] = normalized_name(new["name"])
    keep_counts(old, new)
    keep_imap_state(old, new)
    mailboxes = await call.objects.get_all(MAILBOX)
    return check_mailbox(mailboxes, mailbox_id, new, creating=False)


async def remove_emails_of_destroyed_mailbox(call: SetCall, mailbox_id: str) -> None:
    """``onDestroyRemoveEmails: true``: take the mailbox's emails out of it, destroying those
    in no other mailbox (§2.5), staged in ``call.objects``."""
    from stalwart_tx.jmap.mail.email import remove_emails_of_mailbox

    await remove_emails_of_mailbox(call, mailbox_id)


async def mailbox_destroyed(call: SetCall, mailbox_id: str, value: JSONObject) -> SetError | None:
    mailboxes = await call.objects.get_all(MAILBOX)
    children = sorted(i for i, m in mailboxes.items() if m["parentId"] == mailbox_id)
    if children:
        return SetError("mailboxHasChild", f"the mailbox has child mailboxes: {children}")
    if has_emails(value):
        if not call.extras.get("onDestroyRemoveEmails"):
            return SetError(
                "mailboxHasEmail", "the mailbox has emails (destroy with onDestroyRemoveEmails)"
            )
        await remove_emails_of_destroyed_mailbox(call, mailbox_id)
    mailbox_imap_work(call.objects).mailbox_destroyed(mailbox_id)
    return None


async def mailbox_computed(
    call: MethodCall, mailboxes: Mapping[str, JSONObject], names: frozenset[str]
) -> Mapping[str, JSONObject]:
    result: dict[str, JSONObject] = {}
    for mailbox_id, stored in mailboxes.items():
        values: JSONObject = {k: v for k, v in counts_of(stored).items() if k in names}
        if "myRights" in names:
            values["myRights"] = dict(OWNER_RIGHTS)
        result[mailbox_id] = values
    return result


def _name_contains(text: str) -> Predicate:
    folded = text.casefold()
    return lambda mailbox: folded in mailbox["name"].casefold()


def _has_any_role(wanted: bool) -> Predicate:
    return lambda mailbox: (mailbox["role"] is not None) is wanted


COUNT = Property(UnsignedInt(), server_set=True, computed=True)
# null is the default, like an absent argument (RFC 8620 §3.3)
FLAG = Nullable(Boolean())
TREE_ARGUMENTS = {"sortAsTree": FLAG, "filterAsTree": FLAG}

MAILBOX_TYPE = DataType(
    name=MAILBOX,
    capability=MAIL,
    properties={
        "name": Property(String(min_length=1), required=True),
        "parentId": Property(Nullable(Id(MAILBOX)), default=None),
        "role": Property(Nullable(OneOf(*ROLES)), default=None),
        "sortOrder": Property(UnsignedInt(maximum=2**31 - 1), default=0),
        **{name: COUNT for name in COUNT_PROPERTIES},
        "myRights": Property(
            Record({right: Boolean() for right in RIGHTS}), server_set=True, computed=True
        ),
        # §2: SHOULD default to true for mailboxes the user creates in their own account
        "isSubscribed": Property(Boolean(), default=True),
    },
    on_create=mailbox_created,
    on_update=mailbox_updated,
    on_destroy=mailbox_destroyed,
    compute=mailbox_computed,
    filters={
        "parentId": property_equals("parentId", Nullable(Id())),
        "name": FilterSpec(String(), _name_contains),
        "role": property_equals("role", Nullable(String())),
        "hasAnyRole": FilterSpec(Boolean(), _has_any_role),
        "isSubscribed": property_equals("isSubscribed", Boolean()),
    },
    sorts={"sortOrder": by_property("sortOrder"), "name": by_property("name")},
    query_engine=query_mailboxes,
    moved_along=moved_with_ancestors,
    extra_arguments={
        "set": {"onDestroyRemoveEmails": FLAG},
        "query": TREE_ARGUMENTS,
        "queryChanges": TREE_ARGUMENTS,
    },
    response_hooks={"changes": updated_properties_unknown},
)


def _mailbox_methods() -> list[MethodSpec]:
    return standard_methods(MAILBOX_TYPE)


METHODS = with_default_mailboxes(_mailbox_methods())
