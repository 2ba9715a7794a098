"""``#creationId`` references to objects created earlier in the request (RFC 8620 §5.3).

The API layer's ``resolve_id`` knows the creations of earlier calls; a /set also resolves
against its own creations so far (``local``), which take precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stalwart_tx.jmap import references
from stalwart_tx.jmap.context import RequestContext
from stalwart_tx.jmap.standard.values import UnresolvedReference


def resolve_id(
    ctx: RequestContext, id_or_reference: str, local: Mapping[str, str] | None = None
) -> str | None:
    """The id ``id_or_reference`` stands for: itself, or for ``#cid`` the id created for ``cid``;
    None when the reference names nothing created so far."""
    if local is not None and id_or_reference.startswith("#") and id_or_reference[1:] in local:
        return local[id_or_reference[1:]]
    try:
        return references.resolve_id(ctx, id_or_reference)
    except references.UnknownCreationId:
        return None


def resolver(ctx: RequestContext, local: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """A Resolver for Kind.resolve: raises UnresolvedReference for an unknown creation id."""

    def resolve(reference: str) -> str:
        resolved = resolve_id(ctx, reference, local)
        if resolved is None:
            raise UnresolvedReference(reference)
        return resolved

    return resolve
