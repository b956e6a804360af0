"""The factories of every app, under the one name the tests used before they were split per app
(tests/payments/factories.py; the ledger's, webhooks' and notifications' tests build their rows through
their own services and conftest fixtures). New tests import from the app's module."""

from tests.payments.factories import (
    SAMPLES,
    THIRD_PARTY,
    advance,
    b2c_result,
    make_approval,
    make_approver,
    make_callback,
    make_float_reading,
    make_payment,
    make_payout,
    make_requester,
    make_user,
    sample,
    third_party,
)

__all__ = [
    "SAMPLES",
    "THIRD_PARTY",
    "advance",
    "b2c_result",
    "make_approval",
    "make_approver",
    "make_callback",
    "make_float_reading",
    "make_payment",
    "make_payout",
    "make_requester",
    "make_user",
    "sample",
    "third_party",
]
