"""Shared values and fakes for the Daraja client tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import responses

from daraja.client import DarajaClient
from daraja.config import DarajaConfig, DarajaCredentials

BASE_URL = "https://daraja.test"
OAUTH_URL = f"{BASE_URL}/oauth/v1/generate"
B2C_URL = f"{BASE_URL}/mpesa/b2c/v3/paymentrequest"
STATUS_URL = f"{BASE_URL}/mpesa/transactionstatus/v1/query"
BALANCE_URL = f"{BASE_URL}/mpesa/accountbalance/v1/query"
STK_URL = f"{BASE_URL}/mpesa/stkpush/v1/processrequest"

# Distinctive values, so a test can search logs and messages for any trace of them.
B2C_SECRET = "b2c-SECRET-5f1e2d"
STK_SECRET = "stk-SECRET-9a8b7c"
SECURITY_CREDENTIAL = "SECCRED+base64+ciphertext+Zm9vYmFy=="
STK_PASSKEY = "PASSKEY-bfb279f9aa9bdbcf"
ACCEPTED = {
    "ConversationID": "AG_20240706_20106e9209f64bebd05b",
    "OriginatorConversationID": "600997_Test_32et3241ed8yu",
    "ResponseCode": "0",
    "ResponseDescription": "Accept the service request successfully.",
}


class FakeClock:
    def __init__(self, start: float = 1_720_295_332.0) -> None:  # 2024-07-06 19:48:52 UTC
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeCache:
    """Django's cache API as the client uses it, with expiry driven by the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.data: dict[str, tuple[Any, float]] = {}

    def get(self, key: str) -> Any:
        value, expires = self.data.get(key, (None, 0.0))
        return value if expires > self.clock() else None

    def set(self, key: str, value: Any, timeout: int | None) -> None:
        self.data[key] = (value, self.clock() + (timeout or 10**9))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def make_config(**overrides: Any) -> DarajaConfig:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "b2c_credentials": DarajaCredentials("b2c-key", B2C_SECRET),
        "stk_credentials": DarajaCredentials("stk-key", STK_SECRET),
        "b2c_shortcode": "600992",
        "initiator_name": "testapi",
        "security_credential": SECURITY_CREDENTIAL,
        "stk_shortcode": "174379",
        "stk_passkey": STK_PASSKEY,
        "connect_timeout": 3.0,
        "read_timeout": 20.0,
    }
    values.update(overrides)
    return DarajaConfig(**values)


def add_token(rsps: responses.RequestsMock, token: str = "tok-1", expires_in: str | int = "3599") -> None:
    rsps.add(responses.GET, OAUTH_URL, json={"access_token": token, "expires_in": expires_in})


def pay(client: DarajaClient, **overrides: Any):
    values: dict[str, Any] = {
        "originator_conversation_id": "600997_Test_32et3241ed8yu",
        "command_id": "BusinessPayment",
        "amount": Decimal("10"),
        "phone": "254705912645",
        "remarks": "remarked",
        "occasion": "ChristmasPay",
        "result_url": "https://payouts.example.co.ke/callbacks/b2c/result/abc",
        "timeout_url": "https://payouts.example.co.ke/callbacks/b2c/timeout/abc",
    }
    values.update(overrides)
    return client.b2c_payment(**values)
