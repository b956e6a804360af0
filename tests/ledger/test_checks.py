"""The ledger checked against M-Pesa: each float reading against mpesa_utility (drift alert and discrepancy),
and payouts whose money stays in flight longer than PAYOUT_IN_FLIGHT_ALERT_HOURS."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ledger import accounts
from ledger.models import FloatCheck
from ledger.services.posting import move, transaction_post
from ledger.tasks import check_in_flight
from notifications.models import Notification
from payments.callbacks.tokens import static_token
from payments.models import PayoutStatus
from tests.factories import advance, make_approver, make_payout, sample
from tests.ledger.conftest import post_callback
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]
    settings.FLOAT_DRIFT_ALERT_KES = Decimal("100")
    settings.LOW_BALANCE_THRESHOLD = Decimal("0")


def opening_balance(amount: str) -> None:
    transaction_post(source="test", source_id="opening", kind="funding",
                     lines=move(amount=Decimal(amount), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING))


def balance_result(client) -> None:  # M-Pesa reports Utility Account KES 228,037.00
    body = sample("account_balance_result")
    assert post_callback(client, "balance-result", static_token("balance"), body).status_code == 200


def discrepancies(kind: str) -> list[dict]:
    response = api(make_approver()).get("/api/reconciliation/discrepancies/", {"kind": kind})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_reading_that_agrees_with_the_ledger_raises_nothing(client):
    opening_balance("228000.00")  # KES 37 apart: within FLOAT_DRIFT_ALERT_KES
    balance_result(client)
    check = FloatCheck.objects.get()
    assert (check.ledger_balance, check.drift, check.flagged) == (Decimal("228000.00"), Decimal("37.00"), False)
    assert not Notification.objects.filter(alert="float_drift").exists()
    assert discrepancies("float_drift") == []


def test_a_reading_within_what_is_in_flight_agrees(client):
    opening_balance("228537.00")
    payout = make_payout(status=PayoutStatus.APPROVED, amount=Decimal("500.00"))
    advance(payout.pk, "sending")
    balance_result(client)  # the ledger says 228,037 + 500 in flight that M-Pesa may not have taken yet
    assert FloatCheck.objects.get().flagged is False


def test_a_drift_is_a_discrepancy_and_an_alert_naming_the_likely_cause(client):
    opening_balance("200000.00")  # M-Pesa holds 28,037 more: an unrecorded top-up, most likely
    balance_result(client)
    check = FloatCheck.objects.get()
    assert (check.drift, check.flagged) == (Decimal("28037.00"), True)
    alert = Notification.objects.get(alert="float_drift")
    assert "KES 28,037.00" in alert.body and "top-up" in alert.body
    [item] = discrepancies("float_drift")
    assert item["object_type"] == "float_check"
    assert "drift of KES 28,037.00" in item["message"] and "top-up" in item["message"]


def test_less_in_mpesa_than_in_the_ledger_points_at_charges_or_an_unknown_payout(client):
    opening_balance("230000.00")
    balance_result(client)
    check = FloatCheck.objects.get()
    assert check.drift == Decimal("-1963.00")
    assert "charges" in check.likely_cause and "does not know" in check.likely_cause


def test_money_in_flight_too_long_is_listed_and_alerted_once(settings):
    settings.PAYOUT_IN_FLIGHT_ALERT_HOURS = 24
    first, second = make_payout(status=PayoutStatus.APPROVED), make_payout(status=PayoutStatus.APPROVED)
    for payout in (first, second):
        advance(payout.pk, "sending")
    assert discrepancies("payout_in_flight_long") == []  # sent just now
    later = timezone.now() + timedelta(hours=25)
    listed = discrepancies_at(later)
    assert [i["object"]["payout"]["id"] for i in listed] == [first.pk, second.pk]
    assert "over PAYOUT_IN_FLIGHT_ALERT_HOURS (24 h)" in listed[0]["message"]
    assert check_in_flight_at(later) == 2
    assert check_in_flight_at(later) == 0  # once per sending
    assert Notification.objects.filter(alert="payout_in_flight_long").count() == 2
    # Settled: its money left payouts_in_flight, so it is no longer listed.
    advance(first.pk, "failed")
    assert [i["object"]["payout"]["id"] for i in discrepancies_at(later)] == [second.pk]


def discrepancies_at(moment):
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=moment):
        return discrepancies("payout_in_flight_long")


def check_in_flight_at(moment) -> int:
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=moment):
        return check_in_flight()


def test_a_drift_alerts_once_until_a_reading_agrees_again(client):
    opening_balance("200000.00")
    balance_result(client)
    balance_result(client)  # still drifting: listed, not alerted again
    assert FloatCheck.objects.filter(flagged=True).count() == 2
    assert Notification.objects.filter(alert="float_drift").count() == 1
    assert len(discrepancies("float_drift")) == 1  # the latest reading
    top_up = move(amount=Decimal("28037.00"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING)
    transaction_post(source="test", source_id="topup", kind="funding", lines=top_up)
    balance_result(client)  # agrees now: resolved
    assert discrepancies("float_drift") == []
    assert Notification.objects.filter(alert="float_drift").count() == 1


def test_before_any_opening_balance_a_drift_is_listed_not_alerted(client):
    balance_result(client)
    [item] = discrepancies("float_drift")
    assert "opening balance" in item["message"]
    assert not Notification.objects.filter(alert="float_drift").exists()
