"""Signing secrets and signatures, as the Standard Webhooks specification defines them.

A secret is `whsec_` + base64 of random bytes; a delivery's `webhook-signature` is `v1,` + base64 of the
HMAC-SHA256, keyed by those bytes, of `{webhook-id}.{webhook-timestamp}.{body}`. Several signatures (one
per secret still valid, during a rotation's overlap) are separated by spaces.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets_in_use: Sequence[str], *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """A delivery's Standard Webhooks headers, signed with every secret in use (newest first)."""
    signatures = " ".join(
        signature(secret, message_id=message_id, timestamp=timestamp, body=body) for secret in secrets_in_use
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
