"""The Daraja client as configured for this deployment: environment settings, overridden by credentials
kept (encrypted) in the admin when an operator has saved some."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import requests
from django.conf import settings
from django.core.cache import cache

from daraja.client import DarajaClient
from daraja.config import DarajaConfig, DarajaCredentials
from daraja.security import encrypt_initiator_password, load_certificate


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
    """The configuration as of now (settings, and the active credential set read and decrypted afresh)."""
    return _build_config(_stored_overrides())


def _build_config(stored: dict[str, str]) -> DarajaConfig:
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
        b2b_shortcode=settings.MPESA_B2B_SHORTCODE,
        topup_from_shortcode=settings.MPESA_TOPUP_FROM_SHORTCODE,
    )


def _stored_overrides() -> dict[str, str]:
    """Credentials saved in the admin (decrypted), or {} when none are active."""
    from payments.field_encryption import active_credential_values

    return active_credential_values()


# Every setting the configuration is built from: part of the key the built client is kept under.
_SETTING_NAMES = (
    "MPESA_BASE_URL",
    "MPESA_B2C_CONSUMER_KEY",
    "MPESA_B2C_CONSUMER_SECRET",
    "MPESA_CONSUMER_KEY",
    "MPESA_CONSUMER_SECRET",
    "MPESA_B2C_SHORTCODE",
    "MPESA_INITIATOR_NAME",
    "MPESA_INITIATOR_PASSWORD",
    "MPESA_CERTIFICATE_PATH",
    "MPESA_SECURITY_CREDENTIAL",
    "MPESA_SHORTCODE",
    "MPESA_PASSKEY",
    "MPESA_CONNECT_TIMEOUT",
    "MPESA_READ_TIMEOUT",
    "MPESA_B2B_SHORTCODE",
    "MPESA_TOPUP_FROM_SHORTCODE",
)

_local = threading.local()
_UNREAD = object()


def _settings_key() -> tuple:
    return (
        tuple(getattr(settings, name) for name in _SETTING_NAMES),
        tuple(settings.FIELD_ENCRYPTION_KEY),
    )


def _session() -> requests.Session:
    """One keep-alive session per thread: a worker sending thousands of payouts reuses its TLS connection
    instead of opening one per request."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        # requests would otherwise read the proxy, CA bundle and netrc environment on every request (a scan of
        # os.environ each time); the environment is read once instead, in _environment_for().
        session.trust_env = False
    return session


def _environment_for(session: requests.Session, base_url: str) -> None:
    """What requests takes from the environment when trust_env is on, read once per configuration: the
    proxies for Daraja's host (HTTPS_PROXY, NO_PROXY, ...) and a CA bundle (REQUESTS_CA_BUNDLE)."""
    session.proxies = requests.utils.get_environ_proxies(base_url) if base_url else {}
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def daraja_client(*, stored_credentials=_UNREAD) -> DarajaClient:
    """The client for the current configuration, built once per configuration per thread.

    The configuration is rebuilt (and stored credentials decrypted) only when something it is built from has
    changed: a setting, or the active credential set's stored values. Those are read on every call, so a
    credential set saved (or switched, or deleted) in the admin is used by the very next request, in every
    process. `stored_credentials`: the active set's STORED_COLUMNS row (or None) when the caller has already
    read it in another statement (the send does, with its limit checks); read here otherwise.

    The client is kept with its OAuth tokens (held in memory until they are due for refresh, and in the
    shared cache for the other processes)."""
    if stored_credentials is _UNREAD:
        from payments.field_encryption import active_credential_row

        stored_credentials = active_credential_row()
    key = (_settings_key(), stored_credentials)
    held = getattr(_local, "client", None)
    if held is not None and held[0] == key:
        return held[1]
    from payments.field_encryption import credential_values

    config = _build_config(credential_values(stored_credentials))
    session = _session()
    _environment_for(session, config.base_url)
    client = DarajaClient(config, cache, session=session)
    _local.client = (key, client)
    return client


def forget_clients() -> None:
    """Drop this thread's client and the tokens it holds (tests: between cases)."""
    _local.__dict__.pop("client", None)
