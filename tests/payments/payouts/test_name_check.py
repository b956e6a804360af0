"""The name check and the first-time payee flag through the API: a payout requested by `POST /api/payouts/`
queues one lookup after commit, a worker asks Daraja (here a fake answering as the documented samples do), and
the detail shows the answer; an approval of a mismatched name needs `name_confirmed`, and never calls Daraja."""

from __future__ import annotations

import pytest
import requests
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import AuditEvent, PayoutStatus
from payments.payouts import name_check
from payments.tasks import check_payout_name
from tests import fake_daraja
from tests.factories import make_approver, make_payout, make_requester

pytestmark = pytest.mark.django_db

HAKIKISHA = f"{fake_daraja.BASE}/mpesa/b2c/hakikisha/v1/hakikisha"
ORG_INFO = f"{fake_daraja.BASE}/sfcverify/v1/query/info"
CUSTOMER_UNKNOWN = {"header": {"status": "400", "message": "Error"},
                    "body": {"message": "The customer does not exist."}}
ORG_UNKNOWN = {"ResponseCode": "4001", "ResponseMessage": "Organization not found"}


def hakikisha_found(first_name: str) -> dict:
    return {"header": {"status": "200", "message": "Success"},
            "body": {"firstName": first_name, "middleName": "M******", "lastName": "K******"}}


def org_found(name: str) -> dict:
    return {"ResponseCode": "4000", "ResponseMessage": "Success", "OrganizationShortCode": "888880",
            "OrganizationName": name, "ChargeProfileID": "20013"}


@pytest.fixture(autouse=True)
def name_check_on(settings, monkeypatch):
    fake_daraja.configure(settings)
    settings.MPESA_NAME_CHECK = True
    settings.ADMIN_REQUIRE_2FA = False
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *args, **kwargs: None)


@pytest.fixture
def queued(monkeypatch):
    """The lookups queued for a worker (the broker is not running here)."""
    ids: list[int] = []
    monkeypatch.setattr("payments.payouts.name_check.queue_name_check", ids.append)
    return ids


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def requester():
    return make_requester("req")


@pytest.fixture
def approver():
    return make_approver("appr")


def request_payout(requester, capture, **fields) -> dict:
    body = {"amount": "2500", "remarks": "Supplier invoice", "recipient_name": "John Kamau", **fields}
    with capture(execute=True):
        response = api(requester).post("/api/payouts/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def run_worker(payout_id: int, *, url: str, answer=None, status: int = 200, error=None) -> None:
    """The worker's task, with Daraja answering `answer` (or raising `error`) at `url`."""
    with fake_daraja.answering() as mock:
        if error is not None:
            mock.post(url, body=error)
        else:
            mock.post(url, json=answer, status=status)
        check_payout_name.apply(args=[payout_id]).get()


def detail(user, payout_id: int) -> dict:
    return api(user).get(f"/api/payouts/{payout_id}/").json()


MOBILE_ANSWERS = [
    pytest.param(dict(answer=hakikisha_found("john")), "match", "john M****** K******", id="match"),
    pytest.param(dict(answer=hakikisha_found("Peter")), "mismatch", "Peter M****** K******", id="mismatch"),
    pytest.param(dict(answer=CUSTOMER_UNKNOWN, status=400), "not_found", "", id="unknown-number"),
    pytest.param(dict(error=requests.exceptions.ReadTimeout("slow")), "not_checked", "", id="timeout"),
    pytest.param(dict(answer={"errorMessage": "Internal error"}, status=500), "not_checked", "", id="error"),
]


@pytest.mark.parametrize(("answer", "status", "name"), MOBILE_ANSWERS)
def test_a_mobile_payouts_number_is_looked_up_with_hakikisha(
    requester, queued, django_capture_on_commit_callbacks, answer, status, name
):
    payout = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    assert (payout["name_check_status"], queued) == ("pending", [payout["id"]])

    run_worker(payout["id"], url=HAKIKISHA, **answer)

    shown = detail(requester, payout["id"])
    assert (shown["name_check_status"], shown["name_check_name"]) == (status, name)
    assert shown["recipient_name"] == "John Kamau"
    assert shown["name_checked_at"] is not None


BUSINESS_ANSWERS = [
    pytest.param(dict(answer=org_found("JOHN KAMAU HARDWARE")), "match", "JOHN KAMAU HARDWARE", id="match"),
    pytest.param(dict(answer=org_found("Acme Supplies Ltd")), "mismatch", "Acme Supplies Ltd", id="mismatch"),
    pytest.param(dict(answer=ORG_UNKNOWN, status=400), "not_found", "", id="unknown-org"),
    pytest.param(dict(error=requests.exceptions.ConnectTimeout("slow")), "not_checked", "", id="timeout"),
]


@pytest.mark.parametrize("payee", [dict(rail="paybill", party_b="888880", account_reference="INV-1"),
                                   dict(rail="till", party_b="5432109")], ids=["paybill", "till"])
@pytest.mark.parametrize(("answer", "status", "name"), BUSINESS_ANSWERS)
def test_a_business_number_is_looked_up_with_org_info(
    requester, queued, django_capture_on_commit_callbacks, payee, answer, status, name
):
    payout = request_payout(requester, django_capture_on_commit_callbacks, recipient_name="John Kamau Hardware Ltd",
                            **payee)
    run_worker(payout["id"], url=ORG_INFO, **answer)

    shown = detail(requester, payout["id"])
    assert (shown["name_check_status"], shown["name_check_name"]) == (status, name)


def test_refused_credentials_show_not_checked_and_do_not_block(requester, approver, queued,
                                                               django_capture_on_commit_callbacks):
    payout = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    with fake_daraja.answering() as mock:
        mock.replace("GET", f"{fake_daraja.BASE}/oauth/v1/generate", json={"errorMessage": "Invalid"}, status=401)
        check_payout_name.apply(args=[payout["id"]]).get()
    assert detail(requester, payout["id"])["name_check_status"] == "not_checked"

    approved = api(approver).post(f"/api/payouts/{payout['id']}/approve/", {}, format="json")
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")


def test_with_the_check_off_nothing_is_looked_up(requester, queued, settings, django_capture_on_commit_callbacks):
    settings.MPESA_NAME_CHECK = False
    payout = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    assert (payout["name_check_status"], queued) == ("not_checked", [])


def test_pochi_and_float_topups_are_not_looked_up(requester, queued, django_capture_on_commit_callbacks):
    payout = request_payout(requester, django_capture_on_commit_callbacks, rail="pochi", phone="0712345678")
    assert (payout["name_check_status"], queued) == ("not_checked", [])


def _mismatched(requester, capture) -> dict:
    payout = request_payout(requester, capture, phone="0712345678")
    run_worker(payout["id"], url=HAKIKISHA, answer=hakikisha_found("Peter"))
    return payout


def test_a_mismatched_name_is_not_approved_without_name_confirmed(requester, approver, queued,
                                                                 django_capture_on_commit_callbacks):
    payout = _mismatched(requester, django_capture_on_commit_callbacks)
    with fake_daraja.answering() as mock:
        refused = api(approver).post(f"/api/payouts/{payout['id']}/approve/", {}, format="json")
        assert len(mock.calls) == 0  # nothing is looked up inside an approval
    assert refused.status_code == 409
    assert refused.json()["code"] == "name_not_confirmed"
    assert "name_confirmed" in refused.json()["detail"] and "Peter" in refused.json()["detail"]
    shown = detail(approver, payout["id"])
    assert (shown["status"], shown["approvals"]) == ("pending_approval", [])


def test_name_confirmed_must_be_a_boolean(requester, approver, queued, django_capture_on_commit_callbacks):
    payout = _mismatched(requester, django_capture_on_commit_callbacks)
    refused = api(approver).post(f"/api/payouts/{payout['id']}/approve/", {"name_confirmed": "perhaps"},
                                 format="json")
    assert refused.status_code == 400
    assert "name_confirmed" in refused.json()
    assert detail(approver, payout["id"])["status"] == "pending_approval"


def test_a_mismatched_name_is_approved_with_name_confirmed_and_the_event_says_so(
    requester, approver, queued, django_capture_on_commit_callbacks
):
    payout = _mismatched(requester, django_capture_on_commit_callbacks)
    with fake_daraja.answering() as mock:
        approved = api(approver).post(f"/api/payouts/{payout['id']}/approve/", {"name_confirmed": True},
                                      format="json")
        assert len(mock.calls) == 0
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    event = AuditEvent.objects.get(payout_id=payout["id"], action="approved")
    assert (event.details["name_confirmed"], event.details["name_check"]) == (True, "mismatch")


def test_a_matching_name_needs_no_confirmation(requester, approver, queued, django_capture_on_commit_callbacks):
    payout = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    run_worker(payout["id"], url=HAKIKISHA, answer=hakikisha_found("JOHN"))
    approved = api(approver).post(f"/api/payouts/{payout['id']}/approve/", format="json")
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert "name_confirmed" not in AuditEvent.objects.get(payout_id=payout["id"], action="approved").details


def test_changing_the_phone_looks_the_new_number_up_and_drops_the_old_answer(
    requester, queued, django_capture_on_commit_callbacks
):
    payout = _mismatched(requester, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        edited = api(requester).patch(f"/api/payouts/{payout['id']}/", {"phone": "0722000111"}, format="json")
    assert edited.status_code == 200, edited.content
    assert (edited.json()["name_check_status"], edited.json()["name_check_name"]) == ("pending", "")
    assert queued == [payout["id"], payout["id"]]


def test_an_answer_for_a_number_since_changed_is_not_stored(requester, queued, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    payout = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    real_lookup = name_check._look_up

    def slow_lookup(looked_up):  # the phone is changed while Daraja answers about the first number
        answer = real_lookup(looked_up)
        api(requester).patch(f"/api/payouts/{looked_up.pk}/", {"phone": "0733000222"}, format="json")
        return answer

    monkeypatch.setattr(name_check, "_look_up", slow_lookup)
    run_worker(payout["id"], url=HAKIKISHA, answer=hakikisha_found("john"))
    shown = detail(requester, payout["id"])
    assert (shown["phone"], shown["name_check_status"], shown["name_check_name"]) == ("254733000222", "pending", "")


def test_a_payout_to_a_number_never_paid_is_a_first_time_payee(requester, queued, django_capture_on_commit_callbacks):
    first = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    assert first["first_time_payee"] is True
    assert detail(requester, first["id"])["first_time_payee"] is True


def test_a_number_paid_before_is_not_a_first_time_payee(requester, queued, django_capture_on_commit_callbacks):
    make_payout(phone="254712345678", status=PayoutStatus.COMPLETED, transaction_id="UAB1234567")
    make_payout(phone="254799999999", status=PayoutStatus.FAILED)  # a failed payout paid nobody
    again = request_payout(requester, django_capture_on_commit_callbacks, phone="0712345678")
    other = request_payout(requester, django_capture_on_commit_callbacks, phone="0799999999")
    assert (again["first_time_payee"], other["first_time_payee"]) == (False, True)


def test_a_paybill_is_a_first_time_payee_per_account(requester, queued, django_capture_on_commit_callbacks):
    make_payout(rail="paybill", phone="", party_b="888880", account_reference="INV-1",
                status=PayoutStatus.COMPLETED, transaction_id="UAB7654321")
    same = request_payout(requester, django_capture_on_commit_callbacks, rail="paybill", party_b="888880",
                          account_reference="INV-1")
    other_account = request_payout(requester, django_capture_on_commit_callbacks, rail="paybill", party_b="888880",
                                   account_reference="INV-2")
    assert (same["first_time_payee"], other_account["first_time_payee"]) == (False, True)
