"""The limits at send count each account apart: what left the Working account (paybill, till, top-up) does not
use up the B2C (Utility) daily limit, nor the other way round, and each waits on its own account's float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import Payout, PayoutStatus
from tests.factories import make_approver, make_float_reading, make_requester
from tests.fake_daraja import B2C
from tests.payments.payouts.test_rail_sends import B2B, answer, api, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rails_settings")]


@pytest.fixture
def rails_settings(fake_daraja_settings, monkeypatch):
    from tests.payments.payouts import test_rail_sends

    # The same settings as the rail sends' tests (their fixture is autouse there, not here).
    fake_daraja_settings.MPESA_B2B_SHORTCODE = test_rail_sends.B2B_SHORTCODE
    fake_daraja_settings.MPESA_TOPUP_FROM_SHORTCODE = test_rail_sends.TOPUP_FROM
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *a, **k: None)
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda *a, **k: None)
    return fake_daraja_settings


@pytest.fixture
def people():
    return make_requester("req"), make_approver("appr")


def requested_and_approved(people, rail: str, amount: str, **payee) -> Payout:
    requester, approver = people
    created = api(requester).post(
        "/api/payouts/", {"amount": amount, "remarks": "Supplier invoice", "rail": rail, **payee}, format="json"
    )
    assert created.status_code == 201, created.content
    approved = api(approver).post(f"/api/payouts/{created.json()['id']}/approve/")
    assert approved.json()["status"] == "approved", approved.content
    return Payout.objects.get(pk=created.json()["id"])


def _held(payout: Payout) -> str:
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED
    return payout.hold_reason


def test_a_paybill_paid_today_does_not_use_up_the_b2c_daily_limit(daraja, rails_settings, people):
    rails_settings.PAYOUT_DAILY_LIMIT = Decimal("6000")
    rails_settings.B2B_DAILY_LIMIT = Decimal("100000")
    paybill = requested_and_approved(people, "paybill", amount="5000", party_b="888880", account_reference="INV-1")
    daraja.post(B2B, json=answer())
    assert send(paybill) == "submitted"

    mobile = requested_and_approved(people, "mobile", amount="5000", phone="0712345678")
    daraja.post(B2C, json={"ConversationID": "AG_1", "OriginatorConversationID": mobile.originator_conversation_id,
                      "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."})
    assert send(mobile) == "submitted"


def test_the_working_account_has_its_own_daily_limit(daraja, rails_settings, people):
    first = requested_and_approved(people, "till", amount="5000", party_b="5432109")
    second = requested_and_approved(people, "till", amount="2000", party_b="5432110")
    # The limit is lowered after both were approved: the check at send holds what the check at request let by.
    rails_settings.B2B_DAILY_LIMIT = Decimal("6000")
    daraja.post(B2B, json=answer())
    assert send(first) == "submitted"
    assert send(second) == "held"
    assert "Working account's daily limit" in _held(second)
    assert len([c for c in daraja.calls if c.request.url == B2B]) == 1


def test_a_b2b_payout_waits_on_the_working_account_not_the_b2c_float(daraja, rails_settings, people):
    make_float_reading(utility_available=Decimal("100.00"), working_available=Decimal("1000.00"))
    payout = requested_and_approved(people, "paybill", amount="2500", party_b="888880", account_reference="INV-1")
    assert send(payout) == "held"
    assert "Working account (KES 1,000.00) is below this payout" in _held(payout)
    assert [c.request.url for c in daraja.calls] == []

    make_float_reading(utility_available=Decimal("100.00"), working_available=Decimal("90000.00"))
    daraja.post(B2B, json=answer())
    assert send(payout) == "submitted"
