"""A push subscription's client keys, and RFC 8291 encryption of a message to them."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import http_ece  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec

# RFC 8291 §4: a push message is one aes128gcm record of at most 4096 octets; the header takes
# 86 (salt 16, rs 4, idlen 1, keyid 65), the tag 16 and the padding delimiter 1.
MAX_PLAINTEXT = 4096 - 86 - 16 - 1
_RECORD_SIZE = 4096
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}\Z")


class InvalidKeys(ValueError):
    """The keys object is malformed; ``property`` names the offending member for the client."""

    def __init__(self, property: str, description: str) -> None:
        super().__init__(description)
        self.property = property


def decode_base64url(text: str) -> bytes:
    """URL-safe base64 (RFC 4648 §5), padded or not; ValueError for anything else."""
    if not isinstance(text, str) or not _BASE64URL.match(text):
        raise ValueError("not URL-safe base64")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except ValueError:
        raise ValueError("not URL-safe base64") from None


@dataclass(frozen=True)
class PushKeys:
    """The user agent's P-256 public key and authentication secret, base64url as the client sent.

    ``parse`` is the only way in from client data, so a PushKeys always decodes to a point on the
    curve and a 16-octet secret.
    """

    p256dh: str
    auth: str

    @classmethod
    def parse(cls, value: object) -> PushKeys:
        if not isinstance(value, dict):
            raise InvalidKeys("keys", "keys must be null or an object with p256dh and auth")
        extra = sorted(set(value) - {"p256dh", "auth"})
        if extra:
            raise InvalidKeys(f"keys/{extra[0]}", f"keys has an unknown member {extra[0]!r}")
        p256dh, auth = value.get("p256dh"), value.get("auth")
        try:
            point = decode_base64url(p256dh)  # type: ignore[arg-type]
            # RFC 8291 §3.1: the uncompressed form; from_encoded_point also checks the curve
            if len(point) != 65 or point[0] != 4:
                raise ValueError("not an uncompressed point")
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            raise InvalidKeys(
                "keys/p256dh", "p256dh must be an uncompressed P-256 point in URL-safe base64"
            ) from None
        try:
            secret = decode_base64url(auth)  # type: ignore[arg-type]
        except ValueError:
            secret = b""
        if len(secret) != 16:
            raise InvalidKeys("keys/auth", "auth must be 16 octets in URL-safe base64")
        return cls(p256dh=str(p256dh), auth=str(auth))

    def to_json(self) -> dict[str, str]:
        return {"p256dh": self.p256dh, "auth": self.auth}

    def encrypt(self, plaintext: bytes) -> bytes:
        """The aes128gcm body of RFC 8291 §4: a fresh sender key and salt for every message."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise ValueError(f"a push message holds at most {MAX_PLAINTEXT} octets")
        sender_key = ec.generate_private_key(ec.SECP256R1())
        body: bytes = http_ece.encrypt(
            plaintext,
            private_key=sender_key,
            dh=decode_base64url(self.p256dh),
            auth_secret=decode_base64url(self.auth),
            rs=_RECORD_SIZE,
            version="aes128gcm",
        )
        return body
