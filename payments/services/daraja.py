"""The Daraja client as configured for this deployment: environment settings, overridden by credentials
kept (encrypted) in the admin when an operator has saved some."""

from __future__ import annotations

import threading
from functools import lru_cache

import requests
from django.conf import settings
from django.core.cache import cache

from payments.daraja.client import DarajaClient
from payments.daraja.config import DarajaConfig, DarajaCredentials
from payments.daraja.security import encrypt_initiator_password, load_certificate


@lru_cache(maxsize=4)
def _encrypted_credential(password: str, certificate_path: str) -> str:
    # RSA PKCS#1 v1.5 padding is random: compute once per process, never compare credentials.
    return encrypt_initiator_password(password, load_certificate(certificate_path))


def security_credential(*, password: str = "", certificate_path: str = "", given: str = "") -> str:
    if given:
        return given
    if password and certificate_path:
        return _encrypted_credential(password, certificate_path)
    return ""


def daraja_config() -> DarajaConfig:
    stored = _stored_overrides()
    b2c_key = stored.get("b2c_consumer_key") or settings.MPESA_B2C_CONSUMER_KEY
    b2c_secret = stored.get("b2c_consumer_secret") or settings.MPESA_B2C_CONSUMER_SECRET
    return DarajaConfig(
        base_url=settings.MPESA_BASE_URL,
        b2c_credentials=DarajaCredentials(consumer_key=b2c_key, consumer_secret=b2c_secret),
        stk_credentials=DarajaCredentials(
            consumer_key=settings.MPESA_CONSUMER_KEY, consumer_secret=settings.MPESA_CONSUMER_SECRET
        ),
        b2c_shortcode=stored.get("b2c_shortcode") or settings.MPESA_B2C_SHORTCODE,
        initiator_name=stored.get("initiator_name") or settings.MPESA_INITIATOR_NAME,
        security_credential=security_credential(
            password=stored.get("initiator_password") or settings.MPESA_INITIATOR_PASSWORD,
            certificate_path=settings.MPESA_CERTIFICATE_PATH,
            given=stored.get("security_credential") or settings.MPESA_SECURITY_CREDENTIAL,
        ),
        stk_shortcode=settings.MPESA_SHORTCODE,
        stk_passkey=settings.MPESA_PASSKEY,
        connect_timeout=settings.MPESA_CONNECT_TIMEOUT,
        read_timeout=settings.MPESA_READ_TIMEOUT,
    )


def _stored_overrides() -> dict[str, str]:
    """Credentials saved in the admin (decrypted), or {} when none are active."""
    from payments.credentials import active_credential_values

    return active_credential_values()


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread: a worker sending thousands of payouts reuses its TLS connection
    instead of opening one per request."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def daraja_client() -> DarajaClient:
    return DarajaClient(daraja_config(), cache, session=_session())
