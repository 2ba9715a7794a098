"""The SetErrors of RFC 8620 §5.3 and §5.4, by name, for the methods and the types' hooks."""

from __future__ import annotations

from stalwart_tx.jmap.errors import SetError


def forbidden(description: str | None = None) -> SetError:
    """The action would violate an ACL or other permissions policy."""
    return SetError("forbidden", description)


def over_quota(description: str | None = None) -> SetError:
    """The create would exceed a server-defined limit on the number or size of objects."""
    return SetError("overQuota", description)


def too_large(description: str | None = None) -> SetError:
    """The create/update would result in an object exceeding a server-defined size limit."""
    return SetError("tooLarge", description)


def rate_limit(description: str | None = None) -> SetError:
    """Too many objects of this type created recently."""
    return SetError("rateLimit", description)


def not_found(description: str | None = None) -> SetError:
    """The id given to update/destroy (or to copy) cannot be found."""
    return SetError("notFound", description)


def invalid_patch(description: str | None = None) -> SetError:
    """The PatchObject given to update the record was not a valid patch."""
    return SetError("invalidPatch", description)


def will_destroy(description: str | None = None) -> SetError:
    """The client asked to update and destroy one object; the update is ignored."""
    return SetError("willDestroy", description)


def invalid_properties(properties: list[str], description: str | None = None) -> SetError:
    """The record given is invalid; ``properties`` lists the properties at fault."""
    return SetError("invalidProperties", description, properties=properties)


def singleton(description: str | None = None) -> SetError:
    """A singleton type: another one cannot be created, the existing one not destroyed."""
    return SetError("singleton", description)


def already_exists(existing_id: str, description: str | None = None) -> SetError:
    """The server forbids duplicates and the record exists (``existingId`` names it)."""
    return SetError("alreadyExists", description, extra={"existingId": existing_id})
