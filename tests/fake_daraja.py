"""Daraja at a fake address, answered by `responses`: the settings a B2C, status or STK call needs, and a mock
that already hands out OAuth tokens. Tests add the answers they are about."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import responses

BASE = "https://daraja.test"
B2C = f"{BASE}/mpesa/b2c/v3/paymentrequest"
STATUS = f"{BASE}/mpesa/transactionstatus/v1/query"
STK = f"{BASE}/mpesa/stkpush/v1/processrequest"


def configure(settings) -> None:
    settings.MPESA_BASE_URL = BASE
    settings.MPESA_B2C_CONSUMER_KEY = "b2c-key"
    settings.MPESA_B2C_CONSUMER_SECRET = "b2c-secret"
    settings.MPESA_CONSUMER_KEY = "stk-key"
    settings.MPESA_CONSUMER_SECRET = "stk-secret"
    settings.MPESA_B2C_SHORTCODE = "600992"
    settings.MPESA_INITIATOR_NAME = "testapi"
    settings.MPESA_SECURITY_CREDENTIAL = "ZW5jcnlwdGVk"
    settings.MPESA_SHORTCODE = "174379"
    settings.MPESA_PASSKEY = "passkey"
    settings.PAYOUTS_PAUSED = False


@contextmanager
def answering() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BASE}/oauth/v1/generate", json={"access_token": "tok", "expires_in": "3599"})
        yield mock
