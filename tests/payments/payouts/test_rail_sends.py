"""Paying suppliers and moving the float, end to end through the real routes: `POST /api/payouts/`, approval by
another user, the real send task, the result POSTed to the payout's own callback URL (Daraja faked with
`responses`, so every request on the wire is counted)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification, NotificationRecipient
from payments.models import FloatBalance, FloatSource, Payout, PayoutStatus
from payments.tasks import query_payout_status, send_payout, sweep_payouts
from tests.clock import travel_to
from tests.factories import b2c_result, make_approver, make_float_reading, make_requester, sample
from tests.fake_daraja import BASE, STATUS
from tests.payments.admin.conftest import logged_in
from tests.payments.factories import token_client as api
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

B2B = f"{BASE}/mpesa/b2b/v1/paymentrequest"
POCHI = f"{BASE}/mpesa/b2pochi/v1/paymentrequest"
B2B_SHORTCODE, TOPUP_FROM = "600000", "600111"


@pytest.fixture(autouse=True)
def rails_settings(fake_daraja_settings, monkeypatch):
    fake_daraja_settings.MPESA_B2B_SHORTCODE = B2B_SHORTCODE
    fake_daraja_settings.MPESA_TOPUP_FROM_SHORTCODE = TOPUP_FROM
    # The approval's send is queued after commit; the test runs the real task itself, as the worker would.
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *a, **k: None)
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda *a, **k: None)
    # The sweep's status queries run in this process, as a worker would run them.
    monkeypatch.setattr("payments.tasks.query_payout_status.delay",
                        lambda payout_id: query_payout_status.apply(args=[payout_id]))




def requested_and_approved(rail: str, amount: str = "2500", **payee) -> Payout:
    created = api(make_requester("req")).post(
        "/api/payouts/", {"amount": amount, "remarks": "Supplier invoice", "rail": rail, **payee}, format="json"
    )
    assert created.status_code == 201, created.content
    approved = api(make_approver("appr")).post(f"/api/payouts/{created.json()['id']}/approve/")
    assert approved.json()["status"] == "approved", approved.content
    return Payout.objects.get(pk=created.json()["id"])


def send(payout: Payout) -> str:
    """The worker's send task, run as the worker runs it."""
    return send_payout.apply(args=[payout.pk]).get()


def answer(ocid: str = "5118-111210482-1", conversation: str = "AG_20230420_2010759fd5662ef6d054") -> dict:
    return {**sample("b2b_response_accepted"), "OriginatorConversationID": ocid, "ConversationID": conversation}


def b2b_result(payout: Payout, *, receiver: str | None = None, name: str = "b2b_result_success", **result) -> dict:
    """The documented B2B result, for this payout's amount and receiver (or `receiver`)."""
    body = sample(name)
    body["Result"].update({"OriginatorConversationID": "5118-111210482-1",
                           "ConversationID": "AG_20230420_2010759fd5662ef6d054", **result})
    params = body["Result"]["ResultParameters"]["ResultParameter"]
    if isinstance(params, list):
        values = {"Amount": str(payout.amount), "ReceiverPartyPublicName": f"{receiver or payout.party_b} - Biller",
                  "DebitPartyCharges": "Business Pay Bill Charge|KES|23.00"}
        for param in params:
            param["Value"] = values.get(param["Key"], param["Value"])
    return body


def post_result(client, payout: Payout, body: dict, name: str = "b2b-result"):
    url = reverse(f"callbacks:{name}", kwargs={"token": payout.callback_token})
    return client.post(url, data=json.dumps(body), content_type="application/json")


def wire(daraja, url: str) -> list:
    return [call for call in daraja.calls if call.request.url == url]


@pytest.mark.parametrize(
    ("rail", "payee", "command_id", "party_a", "party_b"),
    [
        ("paybill", {"party_b": "888880", "account_reference": "INV-2041"}, "BusinessPayBill", B2B_SHORTCODE, "888880"),
        ("till", {"party_b": "5432109"}, "BusinessBuyGoods", B2B_SHORTCODE, "5432109"),
        ("float_topup", {}, "BusinessPayToBulk", TOPUP_FROM, "600992"),
    ],
)
def test_a_b2b_payout_is_requested_approved_sent_once_and_completed_by_its_result(
    client, daraja, rail, payee, command_id, party_a, party_b
):
    payout = requested_and_approved(rail, **payee)
    daraja.post(B2B, json=answer())

    assert send(payout) == "submitted"
    assert send(payout) == "skipped"  # a second delivery of the task sends nothing

    [request] = wire(daraja, B2B)
    body = json.loads(request.request.body)
    assert (body["CommandID"], body["PartyA"], body["PartyB"], body["Amount"]) == (command_id, party_a, party_b, "2500")
    assert "OriginatorConversationID" not in body  # a B2B request carries no id of ours
    assert body["ResultURL"].endswith(f"/callbacks/b2b/result/{payout.callback_token}/")
    assert body["QueueTimeOutURL"].endswith(f"/callbacks/b2b/timeout/{payout.callback_token}/")
    assert body.get("AccountReference", "") == payee.get("account_reference", "")
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert (payout.answered_originator_conversation_id, payout.conversation_id) == (
        "5118-111210482-1", "AG_20230420_2010759fd5662ef6d054")

    response = post_result(client, payout, b2b_result(payout))
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.transaction_id == "QKA81LK5CY"
    assert payout.charge == Decimal("23.00")
    assert WebhookEvent.objects.filter(payout=payout, type="payout.completed").count() == 1
    # The result's balance is the paying Working account's, never a Utility reading.
    reading = FloatBalance.objects.get(source=FloatSource.B2B_RESULT)
    assert (reading.working_available, reading.utility_available) == (Decimal("6186.83"), None)
    assert not FloatBalance.objects.of_utility().exists()
    detail = api(make_approver("viewer")).get(f"/api/payouts/{payout.pk}/").json()
    assert (detail["status"], detail["transaction_id"]) == ("completed", "QKA81LK5CY")


def test_a_pochi_payout_carries_our_id_and_is_completed_by_a_b2c_result(client, daraja):
    payout = requested_and_approved("pochi", amount="10", phone="0705912645")
    daraja.post(POCHI, json=answer(ocid=payout.originator_conversation_id, conversation="AG_pochi_1"))

    assert send(payout) == "submitted"
    [request] = wire(daraja, POCHI)
    body = json.loads(request.request.body)
    assert (body["CommandID"], body["PartyA"], body["PartyB"]) == ("BusinessPayToPochi", B2B_SHORTCODE, "254705912645")
    assert body["OriginatorConversationID"] == payout.originator_conversation_id
    assert body["ResultURL"].endswith(f"/callbacks/b2c/result/{payout.callback_token}/")

    response = post_result(client, payout, b2c_result(payout), name="b2c-result")
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id) == (PayoutStatus.COMPLETED, "SG632NMUAB")
    assert WebhookEvent.objects.filter(payout=payout, type="payout.completed").exists()


def test_a_lost_answer_waits_for_the_result_which_completes_the_payout(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-1")
    daraja.post(B2B, body=requests.exceptions.ReadTimeout("read timed out"))

    assert send(payout) == "verifying"
    payout.refresh_from_db()
    assert (payout.status, payout.answered_originator_conversation_id) == (PayoutStatus.VERIFYING, "")

    sweep_payouts.apply().get()  # nothing to ask by: no Transaction Status query, and never a resend
    assert wire(daraja, STATUS) == []

    response = post_result(client, payout, b2b_result(payout))
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id) == (PayoutStatus.COMPLETED, "QKA81LK5CY")
    # The result's ids are kept: they are the only ones this payout will ever have.
    assert payout.answered_originator_conversation_id == "5118-111210482-1"
    assert len(wire(daraja, B2B)) == 1
    assert WebhookEvent.objects.filter(payout=payout, type="payout.completed").exists()


def test_a_lost_answer_with_no_result_goes_to_a_person_after_the_deadline(daraja, settings):
    settings.PAYOUT_RESULT_DEADLINE_MINUTES = 15
    start = timezone.now()
    with travel_to(start):
        payout = requested_and_approved("till", party_b="5432109")
        daraja.post(B2B, body=requests.exceptions.ConnectionError("connection reset by peer"))
        assert send(payout) == "verifying"
    with travel_to(start + timedelta(minutes=10)):
        sweep_payouts.apply().get()
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.VERIFYING
    with travel_to(start + timedelta(minutes=16)):
        sweep_payouts.apply().get()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "M-Pesa org portal" in payout.review_reason
    assert "not sent again" in payout.review_reason
    assert len(wire(daraja, B2B)) == 1
    assert wire(daraja, STATUS) == []
    assert WebhookEvent.objects.filter(payout=payout, type="payout.needs_review").exists()


def test_a_queue_timeout_after_an_answer_is_settled_by_a_status_query_naming_darajas_id(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-2")
    daraja.post(B2B, json=answer(ocid="AG-given-ocid"))
    daraja.post(STATUS, json={"ConversationID": "AG_status", "OriginatorConversationID": "x", "ResponseCode": "0",
                              "ResponseDescription": "Accept the service request successfully."})
    send(payout)
    echoed = json.loads(wire(daraja, B2B)[0].request.body)

    response = post_result(client, payout, echoed, name="b2b-timeout")
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING

    sweep_payouts.apply().get()
    [query] = wire(daraja, STATUS)
    assert json.loads(query.request.body)["OriginalConversationID"] == "AG-given-ocid"
    assert len(wire(daraja, B2B)) == 1


def test_a_till_sent_as_a_paybill_fails_and_says_to_check_paybill_against_till(client, daraja):
    NotificationRecipient.objects.create(name="Ops", phone="254722000005")
    payout = requested_and_approved("paybill", party_b="5432109", account_reference="INV-3")
    daraja.post(B2B, json=answer())
    send(payout)

    body = b2b_result(payout, name="b2b_result_failure", ResultCode="SFC_IC0003",
                      ResultDesc="The operator does not exist.")
    assert post_result(client, payout, body).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.result_code, payout.transaction_id) == (PayoutStatus.FAILED, "SFC_IC0003", None)
    alert = Notification.objects.get(alert="payout_failed")
    assert "check paybill against till" in alert.body
    assert WebhookEvent.objects.filter(payout=payout, type="payout.failed").exists()


def test_a_placeholder_transaction_id_is_never_stored_as_a_receipt(client, daraja):
    payout = requested_and_approved("till", party_b="5432109")
    daraja.post(B2B, json=answer())
    send(payout)

    # A "success" carrying only the placeholder proves no receipt: a person looks, nothing is stored.
    assert post_result(client, payout, b2b_result(payout, TransactionID="OAK0000000")).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert payout.transaction_id is None
    assert "without a receipt" in payout.review_reason
    assert not Payout.objects.filter(transaction_id="OAK0000000").exists()


def test_a_failure_with_a_placeholder_fails_the_payout_without_a_receipt(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-4")
    daraja.post(B2B, json=answer())
    send(payout)

    assert post_result(client, payout, b2b_result(payout, name="b2b_result_failure")).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.result_code, payout.transaction_id) == (PayoutStatus.FAILED, "2001", None)
    assert payout.callbacks.get().transaction_id == ""


def test_a_success_naming_another_business_number_goes_to_review(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-5")
    daraja.post(B2B, json=answer())
    send(payout)

    response = post_result(client, payout, b2b_result(payout, receiver="777777"))
    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "business number 777777" in payout.review_reason
    assert WebhookEvent.objects.filter(payout=payout, type="payout.needs_review").exists()


def test_a_success_for_another_amount_goes_to_review(client, daraja):
    payout = requested_and_approved("till", party_b="5432109")
    daraja.post(B2B, json=answer())
    send(payout)
    body = b2b_result(payout)
    for param in body["Result"]["ResultParameters"]["ResultParameter"]:
        if param["Key"] == "Amount":
            param["Value"] = "25000.00"

    assert post_result(client, payout, body).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "KES 25000.00" in payout.review_reason


def test_a_result_at_the_other_rails_url_is_refused_and_changes_nothing(client, daraja):
    paybill = requested_and_approved("paybill", party_b="888880", account_reference="INV-6")
    daraja.post(B2B, json=answer())
    send(paybill)

    response = post_result(client, paybill, b2c_result(paybill), name="b2c-result")
    assert response.status_code == 403
    paybill.refresh_from_db()
    assert paybill.status == PayoutStatus.SUBMITTED


def test_an_echoed_timeout_for_another_business_number_is_refused(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-7")
    daraja.post(B2B, json=answer())
    send(payout)
    echoed = {**json.loads(wire(daraja, B2B)[0].request.body), "PartyB": "999999"}

    assert post_result(client, payout, echoed, name="b2b-timeout").status_code == 403
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


def test_a_refused_request_fails_the_payout_without_a_resend(daraja):
    payout = requested_and_approved("till", party_b="5432109")
    daraja.post(B2B, status=400, json={"requestId": "1", "errorCode": "400.002.02",
                                       "errorMessage": "Bad Request - Invalid PartyB"})

    assert send(payout) == "failed"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert len(wire(daraja, B2B)) == 1


def test_the_console_float_panel_shows_the_working_account_a_b2b_result_read(client, daraja):
    make_float_reading(utility_available=Decimal("50000.00"))
    payout = requested_and_approved("till", party_b="5432109")
    daraja.post(B2B, json=answer())
    send(payout)
    post_result(client, payout, b2b_result(payout))

    page = logged_in(make_approver("console")).get("/admin/").content.decode()
    panel = page[page.index('id="float-title"'):page.index('id="kill-switch-state"')]
    assert "KES 50,000.00</strong> in the B2C utility account" in panel
    assert "KES 6,186.83</strong> in the Working account" in panel
    assert "B2B result (Working account)" in panel


def test_asking_for_the_status_of_a_payout_with_no_id_tells_the_person_to_use_the_portal(daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-8")
    daraja.post(B2B, body=requests.exceptions.ReadTimeout("read timed out"))
    send(payout)

    operator = logged_in(make_approver("operator"))
    response = operator.post(reverse("admin:payments_payout_query_status", args=(payout.pk,)), follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        f"Payout #{payout.pk}: Daraja's answer to its request was lost: there is no id to ask M-Pesa by. Look it "
        "up in the M-Pesa org portal."
    ]
    assert wire(daraja, STATUS) == []
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
