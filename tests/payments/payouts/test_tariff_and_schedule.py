"""Charges known before sending (the tariff's expected charge, counted in the float check, compared with what
M-Pesa reported) and `send_after` (an approved payout waits for its time, the sweep sends it then, and an
unapproved one expires counting from it), through the API, the worker's task and the sweep."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from payments.models import Payout, PayoutStatus
from payments.tasks import sweep_payouts
from tests.clock import travel_to
from tests.factories import make_float_reading
from tests.payments.payouts.test_rail_limits_at_send import _held, people, rails_settings, requested_and_approved
from tests.payments.payouts.test_rail_sends import B2B, answer, api, b2b_result, post_result, send, wire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rails_settings")]
__all__ = ["people", "rails_settings"]  # fixtures, used by name

MOBILE = {"rail": "mobile", "phone": "0712345678"}
PAYBILL = {"rail": "paybill", "party_b": "888880", "account_reference": "INV-1"}


def request(people, amount: str, payee: dict, **extra) -> dict:
    response = api(people[0]).post("/api/payouts/", {"amount": amount, "remarks": "Supplier invoice", **payee,
                                                     **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    ("payee", "amount", "charge"),
    [
        (MOBILE, "100", "0.00"), (MOBILE, "101", "5.00"), (MOBILE, "1500", "5.00"), (MOBILE, "1501", "9.00"),
        (MOBILE, "5000", "9.00"), (MOBILE, "5001", "11.00"), (MOBILE, "250000", "11.00"),
        (PAYBILL, "100", "0.00"), (PAYBILL, "101", "5.00"), (PAYBILL, "500", "5.00"), (PAYBILL, "501", "10.00"),
        (PAYBILL, "45000", "103.00"), (PAYBILL, "45001", "108.00"), (PAYBILL, "1000000", "108.00"),
    ],
)
def test_the_expected_charge_at_each_band_edge_is_shown_when_requested(people, payee, amount, charge):
    created = request(people, amount, payee)
    assert created["expected_charge"] == charge
    assert api(people[1]).get(f"/api/payouts/{created['id']}/").json()["expected_charge"] == charge


def test_a_changed_tariff_band_prices_new_requests_and_leaves_earlier_ones(people):
    from payments.models import TariffBand

    earlier = request(people, "1000", MOBILE)
    TariffBand.objects.filter(group="b2c", min_amount=Decimal("101")).update(charge=Decimal("7"))
    assert request(people, "1000", MOBILE)["expected_charge"] == "7.00"
    assert Payout.objects.get(pk=earlier["id"]).expected_charge == Decimal("5.00")


def test_a_top_up_has_no_expected_charge(people):
    assert request(people, "5000", {"rail": "float_topup"})["expected_charge"] is None


def test_the_float_must_cover_the_amount_and_its_charge(daraja, people):
    # KES 2,500 to a paybill is expected to cost KES 20: a Working account of 2,510 covers the amount, not both.
    make_float_reading(utility_available=Decimal("100000.00"), working_available=Decimal("2510.00"))
    payout = requested_and_approved(people, "paybill", amount="2500", party_b="888880", account_reference="INV-1")
    assert send(payout) == "held"
    assert "below this payout and its charge (KES 2,520.00)" in _held(payout)
    assert wire(daraja, B2B) == []

    make_float_reading(utility_available=Decimal("100000.00"), working_available=Decimal("2520.00"))
    daraja.post(B2B, json=answer())
    assert send(payout) == "submitted"


def test_a_b2c_payout_is_held_when_the_float_covers_only_its_amount(people):
    make_float_reading(utility_available=Decimal("1000.00"), working_available=Decimal("0.00"))
    payout = requested_and_approved(people, "mobile", amount="1000", phone="0712345678")
    assert send(payout) == "held"
    assert "B2C float (KES 1,000.00) is below this payout and its charge (KES 1,005.00)" in _held(payout)


def test_a_charge_that_differs_from_the_tariff_is_a_discrepancy(client, daraja, people):
    payout = requested_and_approved(people, "paybill", amount="2500", party_b="888880", account_reference="INV-1")
    daraja.post(B2B, json=answer())
    assert send(payout) == "submitted"
    # The documented result reports DebitPartyCharges of KES 23; the tariff expected KES 20.
    assert post_result(client, payout, b2b_result(payout)).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.charge, payout.expected_charge) == ("completed", Decimal("23.00"), Decimal("20.00"))

    listed = api(people[1]).get("/api/reconciliation/discrepancies/", {"kind": "charge_differs"})
    assert listed.status_code == 200
    [line] = listed.json()["results"]
    assert line["object_id"] == payout.pk
    assert "charged KES 23.00 by M-Pesa; the tariff expected KES 20.00" in line["message"]


def test_a_payout_with_send_after_waits_approved_and_the_sweep_sends_it_at_its_time(people, monkeypatch):
    queued: list[list[int]] = []
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda ids: queued.append(list(ids)))
    with travel_to("2026-12-07T08:30:00+03:00") as clock:
        created = request(people, "1000", MOBILE, send_after="2026-12-07T14:00:00+03:00")
        assert created["send_after"] == "2026-12-07T14:00:00+03:00"
        payout = Payout.objects.get(pk=created["id"])
        assert api(people[1]).post(f"/api/payouts/{payout.pk}/approve/").json()["status"] == "approved"
        assert send(payout) == "held"
        assert _held(payout) == "Scheduled for 2026-12-07 14:00 Nairobi time."
        clock.shift(timedelta(hours=2))
        sweep_payouts()
        assert queued == []  # not yet its time
        clock.shift(timedelta(hours=3, minutes=31))
        sweep_payouts()
        assert queued == [[payout.pk]]


def test_send_after_in_the_past_or_unreadable_is_refused_and_nothing_is_created(people):
    for value in ("2020-01-01T09:00:00+03:00", "tomorrow"):
        response = api(people[0]).post("/api/payouts/", {"amount": "500", "remarks": "Fee", **MOBILE,
                                                         "send_after": value}, format="json")
        assert response.status_code == 400
        assert "send_after" in response.json()["errors"] if "errors" in response.json() else response.json()
    assert not Payout.objects.exists()


def test_an_unapproved_scheduled_payout_expires_counting_from_its_send_after(people, settings):
    settings.PAYOUT_APPROVAL_EXPIRY_MINUTES = 60
    with travel_to("2026-12-09T12:00:00+03:00") as clock:
        created = request(people, "500", MOBILE, send_after="2026-12-10T09:00:00+03:00")
        clock.shift(timedelta(hours=21, minutes=59))  # 09:59 next day: an hour after creation long gone
        assert sweep_payouts()["expired"] == 0
        clock.shift(timedelta(minutes=2))
        assert sweep_payouts()["expired"] == 1
    assert Payout.objects.get(pk=created["id"]).status == PayoutStatus.REJECTED


def test_the_console_shows_the_expected_charge(people):
    created = request(people, "2500", PAYBILL)
    console = Client()
    console.force_login(people[1])
    page = console.get(f"/admin/payments/payout/{created['id']}/change/").content.decode()
    assert "expected KES 20.00" in page
