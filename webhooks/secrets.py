"""Signing secrets: generated here, stored Fernet-encrypted, shown in plain text once (when made or rotated).

The keys are those of payments/field_encryption.py (FIELD_ENCRYPTION_KEY, newest first); where none is set, a key
derived from SECRET_KEY, so a fresh install can still register endpoints. Values are encrypted with the first
key and decrypted with any, so FIELD_ENCRYPTION_KEY can be added later without losing stored secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def new_secret() -> str:
    return f"whsec_{_random.token_urlsafe(32)}"


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"webhooks.signing-secret:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _fernet() -> MultiFernet:
    keys = [k.strip().encode() for k in settings.FIELD_ENCRYPTION_KEY if k.strip()]
    return MultiFernet([Fernet(k) for k in [*keys, _derived_key()]])


def encrypt_secret(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _with_keys("decrypt", token)


def rotate_secret(token: str) -> str:
    """The same secret, encrypted again with the first key (`manage.py rotate_credential_key`)."""
    return _with_keys("rotate", token) if token else ""


def _with_keys(operation: str, token: str) -> str:
    """MultiFernet's `decrypt` or `rotate`."""
    try:
        return getattr(_fernet(), operation)(token.encode()).decode()
    except InvalidToken:
        # Never the token or the secret in the message.
        raise ValueError("A webhook signing secret cannot be decrypted with the configured keys.") from None


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of "<timestamp>.<body>"."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one v1 per live secret, the newest first."""
    parts = [f"t={timestamp}"] + [f"v1={sign(secret=s, timestamp=timestamp, body=body)}" for s in secrets]
    return ",".join(parts)
