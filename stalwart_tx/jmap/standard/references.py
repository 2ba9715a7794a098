"""``#creationId`` references to objects created earlier in the request (RFC 8620 §5.3).

The one place the standard methods turn a reference into an id, so it can follow the API
layer's resolver once there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.standard.values import UnresolvedReference


def resolve_id(
    ctx: RequestContext, id_or_reference: str, local: Mapping[str, str] | None = None
) -> str | None:
    """The id ``id_or_reference`` stands for: itself, or for ``#cid`` the id created for ``cid``.

    ``local`` holds the creations of the running call, which take precedence. None when the
    reference names nothing created so far.
    """
    if not id_or_reference.startswith("#"):
        return id_or_reference
    creation_id = id_or_reference[1:]
    if local is not None and creation_id in local:
        return local[creation_id]
    return ctx.created_ids.get(creation_id)


def resolver(ctx: RequestContext, local: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """A Resolver for Kind.resolve: raises UnresolvedReference for an unknown creation id."""

    def resolve(reference: str) -> str:
        resolved = resolve_id(ctx, reference, local)
        if resolved is None:
            raise UnresolvedReference(reference)
        return resolved

    return resolve
