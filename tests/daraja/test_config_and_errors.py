from __future__ import annotations

import pytest

from daraja.config import DarajaCredentials
from daraja.errors import (
    DarajaAuthError,
    DarajaDuplicate,
    DarajaNotSent,
    DarajaOutcomeUnknown,
    DarajaRateLimited,
    DarajaValidationError,
    error_for_code,
)
from tests.daraja.helpers import B2C_SECRET, SECURITY_CREDENTIAL, STK_PASSKEY, STK_SECRET, make_config


def test_repr_of_config_hides_every_secret():
    text = repr(make_config()) + str(make_config()) + repr(DarajaCredentials("key", "very-secret"))
    for secret in (B2C_SECRET, STK_SECRET, SECURITY_CREDENTIAL, STK_PASSKEY, "very-secret"):
        assert secret not in text
    assert "b2c-key" in text  # the consumer key identifies the app and is fine to show


def test_config_stays_immutable():
    config = make_config()
    with pytest.raises(AttributeError):
        config.base_url = "https://elsewhere"  # type: ignore[misc]
    assert config.timeout == (3.0, 20.0)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("404.001.03", 404, DarajaAuthError),
        ("404.001.04", 404, DarajaAuthError),
        ("400.002.02", 400, DarajaValidationError),
        ("500.003.02", 500, DarajaRateLimited),
        ("500.003.03", 500, DarajaRateLimited),
        ("500.002.1001", 500, DarajaDuplicate),
        ("500.003.1001", 500, DarajaOutcomeUnknown),
        ("500.009.9999", 200, DarajaOutcomeUnknown),  # an unknown 500.* code is never "not sent"
        ("400.009.9999", 500, DarajaValidationError),
    ],
)
def test_codes_map_to_the_not_sent_or_unknown_side(code, status, expected):
    error = error_for_code(code, "message", http_status=status)
    assert type(error) is expected
    assert isinstance(error, DarajaNotSent) != isinstance(error, DarajaOutcomeUnknown)


def test_error_messages_are_one_bounded_line():
    error = error_for_code("400.002.02", "line one\nline two " + "x" * 1000)
    assert "\n" not in error.message
    assert len(error.message) <= 300
