"""Issue 30, operator credential health: refusals of the API operator count against the credential set that
sent them; two in a row put it down (sends held, one alert, the overview banner, `operator` in
/api/dashboard/); a superuser reinstates it by a balance-query probe; "Request all again". Daraja is faked
with `responses`; results are posted to the real callback URLs."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from notifications.models import Notification
from payments.field_encryption import encrypt_value
from payments.models import AuditAction, AuditEvent, DarajaCredentialSet, Payout, PayoutStatus
from payments.payouts import dispatch
from payments.payouts.operator_health import OPERATOR_DOWN_HOLD
from tests.factories import b2c_result, make_approver, make_payout, make_user
from tests.fake_daraja import B2C, BASE
from tests.security.test_second_factor import code_for, enrolled

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

BALANCE = f"{BASE}/mpesa/accountbalance/v1/query"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id, **kw: None)
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda ids: None)


@pytest.fixture
def credential_set(settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]
    return DarajaCredentialSet.objects.create(
        name="main", active=True, b2c_shortcode="600992", initiator_name="apiop",
        security_credential_encrypted=encrypt_value("c2VjcmV0"),
    )


@pytest.fixture
def boss():
    return make_user("boss", is_staff=True, is_superuser=True)


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def approved_payout() -> Payout:
    payout = make_payout(status=PayoutStatus.APPROVED)
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    return payout


def accepted(payout) -> dict:
    return {"ConversationID": "AG_20240706_20106e9209f64bebd05b",
            "OriginatorConversationID": payout.originator_conversation_id, "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully."}


def sent_and_answered(daraja, client, result_code: int) -> Payout:
    """An approved payout sent (accepted) and its result posted to its callback URL with `result_code`."""
    payout = approved_payout()
    daraja.post(B2C, json=accepted(payout))
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"
    sample = "b2c_result_success" if result_code == 0 else "b2c_result_failure"
    body = b2c_result(payout, sample, ResultCode=result_code)
    if result_code == 0:
        body["Result"]["TransactionID"] = f"SG{payout.pk:08d}"
    response = client.post(reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
                           data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    payout.refresh_from_db()
    return payout


def state(credential_set) -> str:
    credential_set.refresh_from_db()
    return "down" if credential_set.operator_down_since else "up"


def put_down(daraja, client) -> list[Payout]:
    return [sent_and_answered(daraja, client, 2001) for _ in range(2)]


def test_one_refusal_does_not_put_the_set_down(daraja, client, credential_set):
    payout = sent_and_answered(daraja, client, 2001)
    assert payout.status == PayoutStatus.FAILED and payout.sent_with_id == credential_set.pk
    assert state(credential_set) == "up"


def test_two_refusals_in_a_row_put_the_set_down_and_alert_once(daraja, client, credential_set):
    put_down(daraja, client)
    assert state(credential_set) == "down"
    assert "2001" in credential_set.operator_down_reason
    assert Notification.objects.filter(alert="operator_down").count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.OPERATOR_DOWN).count() == 1


def test_a_success_between_refusals_resets_the_run(daraja, client, credential_set):
    sent_and_answered(daraja, client, 2001)
    assert sent_and_answered(daraja, client, 0).status == PayoutStatus.COMPLETED
    sent_and_answered(daraja, client, 8006)
    assert state(credential_set) == "up"


def test_a_down_set_holds_sends_without_a_request_and_a_third_refusal_alerts_no_more(daraja, client,
                                                                                      credential_set):
    put_down(daraja, client)
    # A result for a payout already in flight when the set went down: counted, no second alert.
    in_flight = approved_payout()
    Payout.objects.filter(pk=in_flight.pk).update(status=PayoutStatus.SUBMITTED, sent_with=credential_set)
    body = b2c_result(in_flight, "b2c_result_failure", ResultCode=2001)
    client.post(reverse("callbacks:b2c-result", kwargs={"token": in_flight.callback_token}),
                data=json.dumps(body), content_type="application/json")
    assert Notification.objects.filter(alert="operator_down").count() == 1

    waiting = approved_payout()
    calls_before = len([c for c in daraja.calls if c.request.url == B2C])
    assert dispatch.payout_send(payout_id=waiting.pk).outcome == "held"
    waiting.refresh_from_db()
    assert (waiting.status, waiting.hold_reason) == (PayoutStatus.APPROVED, OPERATOR_DOWN_HOLD)
    assert len([c for c in daraja.calls if c.request.url == B2C]) == calls_before


def test_the_overview_and_the_dashboard_show_the_set_down(daraja, client, credential_set, boss):
    assert api(boss).get("/api/dashboard/").json()["operator"] == {
        "state": "up", "since": None, "reason": "", "credential_set": "main"}
    put_down(daraja, client)
    operator = api(boss).get("/api/dashboard/").json()["operator"]
    assert (operator["state"], operator["credential_set"]) == ("down", "main")
    assert operator["since"] and "refused the operator" in operator["reason"]
    client.force_login(boss)
    page = client.get("/admin/").content.decode()
    assert 'id="operator-down"' in page and page.index('id="operator-down"') < page.index('id="needs-you"')


def test_a_superuser_reinstates_with_the_second_factor_when_the_probe_is_accepted(daraja, client,
                                                                                    credential_set, boss, settings):
    put_down(daraja, client)
    waiting = approved_payout()
    dispatch.payout_send(payout_id=waiting.pk)
    settings.ADMIN_REQUIRE_2FA = True
    device = enrolled(boss)
    url = f"/api/operator/{credential_set.pk}/reinstate/"
    missing = api(boss).post(url)
    assert (missing.status_code, missing.json()["code"]) == (403, "otp_required")
    assert state(credential_set) == "down"

    daraja.post(BALANCE, json={"ConversationID": "AG_1", "OriginatorConversationID": "b-1", "ResponseCode": "0",
                               "ResponseDescription": "Accept the service request successfully."})
    response = api(boss).post(url, HTTP_X_OTP=code_for(device))
    assert response.status_code == 200 and response.json()["state"] == "up"
    assert state(credential_set) == "up" and credential_set.operator_refusals == 0
    assert AuditEvent.objects.filter(action=AuditAction.OPERATOR_REINSTATED, actor=boss).exists()
    # Sends resume.
    daraja.post(B2C, json=accepted(waiting))
    assert dispatch.payout_send(payout_id=waiting.pk).outcome == "submitted"


def test_a_refused_probe_leaves_the_set_down(daraja, client, credential_set, boss):
    put_down(daraja, client)
    daraja.post(BALANCE, status=500, json={"requestId": "r", "errorCode": "500.001.1001",
                                           "errorMessage": "Initiator authentication error"})
    response = api(boss).post(f"/api/operator/{credential_set.pk}/reinstate/")
    assert response.status_code == 409 and response.json()["state"] == "down"
    assert state(credential_set) == "down"
    assert AuditEvent.objects.filter(action=AuditAction.OPERATOR_PROBE_REFUSED).exists()


def test_only_a_superuser_may_reinstate_or_request_again(daraja, client, credential_set):
    put_down(daraja, client)
    approver = make_approver()
    approver.is_staff = True
    approver.save()
    for path in ("reinstate", "request-again"):
        assert api(approver).post(f"/api/operator/{credential_set.pk}/{path}/").status_code == 403
    assert state(credential_set) == "down"
    assert not Payout.objects.filter(retry_of__isnull=False).exists()


def test_request_all_again_creates_new_pending_payouts_for_the_refused_ones(daraja, client, credential_set, boss):
    failed = put_down(daraja, client)
    listed = api(boss).get(f"/api/operator/{credential_set.pk}/failed/").json()
    assert sorted(p["id"] for p in listed) == sorted(p.pk for p in failed)
    response = api(boss).post(f"/api/operator/{credential_set.pk}/request-again/")
    assert response.status_code == 201
    again = Payout.objects.filter(pk__in=response.json()["requested"])
    assert sorted(again.values_list("retry_of_id", flat=True)) == sorted(p.pk for p in failed)
    assert set(again.values_list("status", flat=True)) == {PayoutStatus.PENDING_APPROVAL}
    assert api(boss).get(f"/api/operator/{credential_set.pk}/failed/").json() == []


def test_a_synchronous_lock_counts_too(daraja, credential_set):
    for _ in range(2):
        payout = approved_payout()
        daraja.post(B2C, status=500, json={"requestId": "r", "errorCode": "500.001.1001",
                                           "errorMessage": "Unable to lock subscriber"})
        dispatch.payout_send(payout_id=payout.pk)
    assert state(credential_set) == "down"

