"""Email addresses as the directory keeps them: the domain lowercased, the local part as given.

Two addresses differing only in case are the same address for ownership (``address_key``), so no
principal can claim ``Alice@x`` while another owns ``alice@x``.
"""

from __future__ import annotations

MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3: a path of 256 octets, less the angle brackets


def normalise_address(address: str) -> str:
    """``local@domain`` with the domain lowercased; ValueError if it is not such an address."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise ValueError(f"an address has at most {MAX_ADDRESS_LENGTH} characters")
    # whitespace, controls and angle brackets would let one address pose as a header fragment
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in "<>" for c in text):
        raise ValueError(f"not an email address: {address!r}")
    return f"{local}@{domain.lower()}"


def address_key(address: str) -> str:
    """The case-insensitive identity of an address (raises ValueError like normalise_address)."""
    return normalise_address(address).lower()
