"""Which handler answers which command: the one table the session dispatches through."""

from __future__ import annotations

from typing import Any

from stalwart_tx.imap import commands_any as any_state
from stalwart_tx.imap import (
    commands_fetch,
    commands_mailboxes,
    commands_quota,
    commands_search,
    commands_select,
    commands_sort,
    commands_write,
    syntax,
)
from stalwart_tx.imap.session import Handler

HANDLERS: dict[type[Any], Handler] = {
    syntax.Capability: any_state.capability,
    syntax.Noop: any_state.noop,
    syntax.Check: any_state.noop,
    syntax.Logout: any_state.logout,
    syntax.Id: any_state.id_,
    syntax.Enable: any_state.enable,
    syntax.Namespace: any_state.namespace,
    syntax.StartTLS: any_state.starttls,
    syntax.Login: any_state.login,
    syntax.Authenticate: any_state.authenticate_command,
    syntax.Idle: any_state.idle,
    syntax.List: commands_mailboxes.list_,
    syntax.Lsub: commands_mailboxes.lsub,
    syntax.Status: commands_mailboxes.status,
    syntax.Create: commands_mailboxes.create,
    syntax.Delete: commands_mailboxes.delete,
    syntax.Rename: commands_mailboxes.rename,
    syntax.Subscribe: commands_mailboxes.subscribe,
    syntax.Unsubscribe: commands_mailboxes.subscribe,
    syntax.Select: commands_select.select,
    syntax.Close: commands_select.close,
    syntax.Unselect: commands_select.close,
    syntax.Fetch: commands_fetch.fetch,
    syntax.Store: commands_write.store,
    syntax.Copy: commands_write.copy,
    syntax.Move: commands_write.copy,
    syntax.Expunge: commands_write.expunge,
    syntax.Append: commands_write.append,
    syntax.Search: commands_search.search,
    syntax.GetQuota: commands_quota.getquota,
    syntax.GetQuotaRoot: commands_quota.getquotaroot,
    syntax.Compress: any_state.compress,
    syntax.Sort: commands_sort.sort,
    syntax.Thread: commands_sort.thread,
}
