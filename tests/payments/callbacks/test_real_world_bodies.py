"""Issue 15, part 4: bodies Daraja and its integrators really send, through the callback URLs, the admin and
the REST API."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.phone import InvalidPhoneNumber, normalize_msisdn
from payments.callbacks.tokens import static_token
from payments.models import CallbackOutcome, DarajaCallback, FloatBalance, Payment, Payout
from tests.factories import make_float_reading, make_requester, sample

pytestmark = pytest.mark.django_db

HASHED = hashlib.sha256(b"254708374149").hexdigest()


def post(client, name: str, token: str, body):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(reverse(f"callbacks:{name}", kwargs={"token": token}), data=raw,
                       content_type="application/json")


def hashed_confirmation(msisdn: str = HASHED) -> dict:
    body = sample("c2b_confirmation")
    body["MSISDN"] = msisdn
    return body


# --- C2B MSISDN as a SHA-256 hex ------------------------------------------------------------------------


def test_a_hashed_msisdn_is_kept_whole_and_shown_as_a_hash(client):
    assert post(client, "c2b-confirmation", static_token("c2b"), hashed_confirmation()).status_code == 200
    payment = Payment.objects.get()
    assert payment.phone == HASHED  # all 64 characters, not cut to 32

    staff = Client()
    staff.force_login(make_requester())
    listing = staff.get(reverse("admin:payments_payment_changelist"), {"q": HASHED.upper()}).content.decode()
    assert "SHA-256 hash" in listing and HASHED[:8] in listing
    assert payment.receipt in listing  # found by its hash, in either case
    page = staff.get(reverse("admin:payments_payment_change", args=(payment.pk,))).content.decode()
    assert "SHA-256 hash of the payer&#x27;s number (not a phone number)" in page
    refund = staff.post(reverse("admin:payments_payment_refund", args=(payment.pk,)),
                        {"amount": "50", "reason": "Order cancelled", "phone": ""}).content.decode()
    assert "is a SHA-256 hash, not a number" in refund
    assert not Payout.objects.exists()


def test_the_api_finds_a_payment_by_its_hashed_msisdn(client):
    post(client, "c2b-confirmation", static_token("c2b"), hashed_confirmation(HASHED.upper()))
    api = APIClient()
    user = make_requester()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = api.get("/api/payments/", {"phone": HASHED})
    assert response.status_code == 200
    assert [row["receipt"] for row in response.json()["results"]] == ["RKL51ZDR4F"]


# --- Phone numbers: ASCII digits only -------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["2547123456\uff178", "\u0660712345678", "07123456\u09e778", "2547\u00b912345678"])
def test_a_phone_with_a_non_ascii_digit_is_refused(phone):
    with pytest.raises(InvalidPhoneNumber):
        normalize_msisdn(phone)


def test_the_api_refuses_a_full_width_digit_in_a_disbursement_phone():
    api = APIClient()
    user = make_requester()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = api.post("/api/payouts/", {"phone": "2547123456\uff178", "amount": "100", "remarks": "Trainer fee",
                                          "command_id": "BusinessPayment"}, format="json")
    assert response.status_code == 400
    assert "Enter a Kenyan mobile number" in response.json()["phone"][0]  # every bad field, named
    assert not Payout.objects.exists()


# --- Account Balance ------------------------------------------------------------------------------------


def test_a_balance_result_with_a_working_account_only_records_what_it_read(client):
    # Issue 25: it used to record nothing. The Working reading is kept; the Utility float stays the last known.
    make_float_reading(utility_available=Decimal("50000.00"))
    body = sample("account_balance_result")
    for parameter in body["Result"]["ResultParameters"]["ResultParameter"]:
        if parameter["Key"] == "AccountBalance":
            parameter["Value"] = "Working Account|KES|700000.00|700000.00|0.00|0.00"
    assert post(client, "balance-result", static_token("balance"), body).status_code == 200
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.PROCESSED
    reading = FloatBalance.objects.get(callback=callback)
    assert (reading.utility_available, reading.working_available) == (None, Decimal("700000.00"))

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_requester()).key}")
    latest = api.get("/api/dashboard/").json()["float"]["latest"]
    assert Decimal(latest["utility_available"]) == Decimal("50000.00")  # not taken for an empty float


def test_an_echoed_balance_request_at_the_timeout_url_is_a_timeout_not_400(client):
    echoed = {
        "Initiator": "testapi", "SecurityCredential": "c2VjcmV0", "CommandID": "AccountBalance",
        "PartyA": "600992", "IdentifierType": "4", "Remarks": "Balance check",
        "QueueTimeOutURL": "https://example.test/callbacks/balance/timeout/x/",
        "ResultURL": "https://example.test/callbacks/balance/result/x/",
    }  # fmt: skip
    response = post(client, "balance-timeout", static_token("balance"), echoed)
    assert response.status_code == 200
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.PROCESSED
    assert "timed out" in callback.error
    assert "c2VjcmV0" not in callback.raw_body  # the echoed credential is redacted before storage


def test_junk_at_the_balance_timeout_url_is_still_invalid(client):
    assert post(client, "balance-timeout", static_token("balance"), {"hello": "world"}).status_code == 400


def test_a_balance_result_with_a_garbage_code_is_invalid(client):
    body = sample("account_balance_result")
    body["Result"]["ResultCode"] = [0]
    assert post(client, "balance-result", static_token("balance"), body).status_code == 400
    assert Decimal("0") == FloatBalance.objects.count()
