"""Encryption at rest for credentials kept in the admin (Fernet, keys from FIELD_ENCRYPTION_KEY).

FIELD_ENCRYPTION_KEY holds one or more keys, newest first: values are encrypted with the first and
decrypted with any, so a key is rotated by putting the new one first and running
`python manage.py rotate_credential_key`.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_FIELDS = {
    "b2c_consumer_key": "b2c_consumer_key_encrypted",
    "b2c_consumer_secret": "b2c_consumer_secret_encrypted",
    "initiator_password": "initiator_password_encrypted",
    "security_credential": "security_credential_encrypted",
}


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY if k.strip()]
    if not keys:
        raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEY to keep credentials in the admin.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must hold Fernet keys (Fernet.generate_key()).") from None


def encryption_configured() -> bool:
    return any(k.strip() for k in settings.FIELD_ENCRYPTION_KEY)


def encrypt_value(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt_value(token: str) -> str:
    return _with_keys("decrypt", token)


def rotate_value(token: str) -> str:
    """The same value, encrypted again with the first key (`manage.py rotate_credential_key`)."""
    return _with_keys("rotate", token)


def _with_keys(operation: str, token: str) -> str:
    """MultiFernet's `decrypt` or `rotate` on a stored value ("" stays "", and needs no key)."""
    if not token:
        return ""
    try:
        return getattr(_fernet(), operation)(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured("A stored credential cannot be decrypted with FIELD_ENCRYPTION_KEY.") from None


# The active set as stored (encrypted), in this order. The values themselves, not updated_at, tell a process
# whether what it decrypted earlier is still current: any change made in the admin (or by any other writer)
# changes at least one of them, and comparing a few short strings costs nothing next to decrypting them.
STORED_COLUMNS = ("id", "b2c_shortcode", "initiator_name", *SECRET_FIELDS.values())


def active_set_sql(alias: str = "credentials") -> tuple[str, list[str]]:
    """A LEFT JOIN on the active set (at most one: a partial unique index) and its STORED_COLUMNS, for a
    statement selecting from a one-row source; the columns are all NULL when no set is active."""
    from django.db import connection

    from payments.models import DarajaCredentialSet

    table = connection.ops.quote_name(DarajaCredentialSet._meta.db_table)
    return f" LEFT JOIN {table} {alias} ON {alias}.active", [f"{alias}.{c}" for c in STORED_COLUMNS]


def stored_row(values) -> tuple | None:
    """The STORED_COLUMNS values read by a statement using active_set_sql: None when no set is active."""
    values = tuple(values)
    return None if values[0] is None else values


def active_credential_row() -> tuple | None:
    """The active set's STORED_COLUMNS (still encrypted), or None: one small query."""
    from payments.models import DarajaCredentialSet

    return DarajaCredentialSet.objects.filter(active=True).order_by("pk").values_list(*STORED_COLUMNS).first()


def credential_row(set_id: int | None) -> tuple | None:
    """The STORED_COLUMNS of the set `set_id` (active or not), or None: no set (the environment's credentials),
    or a set since deleted. What a payout was sent with (`Payout.sent_with`), for the requests that follow it."""
    if set_id is None:
        return None
    from payments.models import DarajaCredentialSet

    return DarajaCredentialSet.objects.filter(pk=set_id).values_list(*STORED_COLUMNS).first()


def credential_values(row: tuple | None) -> dict[str, str]:
    """A stored row's values, decrypted, blank ones left out (the environment fills them)."""
    if row is None:
        return {}
    stored = dict(zip(STORED_COLUMNS, row, strict=True))
    values = {"b2c_shortcode": stored["b2c_shortcode"], "initiator_name": stored["initiator_name"]}
    for name, column in SECRET_FIELDS.items():
        values[name] = decrypt_value(stored[column] or "")
    return {k: v for k, v in values.items() if v}


def active_credential_values() -> dict[str, str]:
    """The active set's values, decrypted, blank ones left out (the environment fills them)."""
    return credential_values(active_credential_row())


def masked_hint(token: str) -> str:
    """What the admin shows of a stored secret: only that it is set and its last two characters."""
    if not token:
        return "not set (environment is used)"
    try:
        plain = decrypt_value(token)
    except ImproperlyConfigured:
        return "set (cannot be decrypted with the current key)"
    return f"set (…{plain[-2:]})" if len(plain) > 6 else "set"
