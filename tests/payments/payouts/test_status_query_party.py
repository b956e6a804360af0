"""A Transaction Status query asks the shortcode the payout was sent from, with the credentials that sent it, and
its answer settles a paybill (receipt, amount, charge) or sends a reversal to a person. End to end through the
real routes: `POST /api/payouts/` (or a payment's reversal), approval by another person, the real send task, a
queue timeout at the payout's own URL, the real sweep, the answer POSTed to its status URL (Daraja faked with
`responses`, so every request on the wire is read)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
import requests
import responses
from cryptography.fernet import Fernet
from django.urls import reverse

from ledger import selectors as ledger
from payments.callbacks.tokens import static_token
from payments.field_encryption import encrypt_value
from payments.models import DarajaCredentialSet, Payment, PaymentStatus, Payout, PayoutStatus
from payments.tasks import query_payout_status, send_payout, sweep_payouts
from tests.clock import INSTANTS, travel_to
from tests.factories import make_approver, make_requester, sample, third_party
from tests.fake_daraja import B2C, BASE, STATUS
from tests.payments.factories import token_client as api
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

B2B = f"{BASE}/mpesa/b2b/v1/paymentrequest"
POCHI = f"{BASE}/mpesa/b2pochi/v1/paymentrequest"
REVERSAL = f"{BASE}/mpesa/reversal/v1/request"
OAUTH = f"{BASE}/oauth/v1/generate"
B2C_SHORTCODE, B2B_SHORTCODE, TOPUP_FROM, C2B_SHORTCODE = "600992", "600000", "600111", "174379"
DARAJA_OCID = "5118-111210482-1"  # the OriginatorConversationID Daraja's answer gives a B2B or reversal request
RECEIPT = "SKC82PACB8"  # the C2B payment a reversal gives back


@pytest.fixture(autouse=True)
def rails_and_workers(fake_daraja_settings, monkeypatch):
    fake_daraja_settings.MPESA_B2B_SHORTCODE = B2B_SHORTCODE
    fake_daraja_settings.MPESA_TOPUP_FROM_SHORTCODE = TOPUP_FROM
    # The approval's send is queued after commit; the test runs the real task itself, as the worker would.
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *a, **k: None)
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda *a, **k: None)
    # The sweep's status queries run in this process, as a worker would run them.
    monkeypatch.setattr(
        "payments.tasks.query_payout_status.delay", lambda payout_id: query_payout_status.apply(args=[payout_id])
    )
    with travel_to(INSTANTS["midweek-noon"]):
        yield


@pytest.fixture
def daraja(daraja):
    """The fake Daraja, its OAuth answering each app with its own token ("tok-<consumer key>"), and Transaction
    Status accepting every query."""
    daraja.remove(responses.GET, OAUTH)

    def token_of_app(request):
        key = base64.b64decode(request.headers["Authorization"].split()[1]).decode().split(":")[0]
        return 200, {}, json.dumps({"access_token": f"tok-{key}", "expires_in": "3599"})

    daraja.add_callback(responses.GET, OAUTH, callback=token_of_app)
    daraja.post(
        STATUS,
        json={
            "ConversationID": "AG_status",
            "OriginatorConversationID": "q",
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        },
    )
    return daraja


def requested_and_approved(rail: str, amount: str = "2500", **payee) -> Payout:
    created = api(make_requester()).post(
        "/api/payouts/", {"amount": amount, "remarks": "Supplier invoice", "rail": rail, **payee}, format="json"
    )
    assert created.status_code == 201, created.content
    approved = api(make_approver()).post(f"/api/payouts/{created.json()['id']}/approve/")
    assert approved.json()["status"] == "approved", approved.content
    return Payout.objects.get(pk=created.json()["id"])


def send(payout: Payout) -> str:
    return send_payout.apply(args=[payout.pk]).get()


def post(client, name: str, payout: Payout, body: dict):
    url = reverse(f"callbacks:{name}", kwargs={"token": payout.callback_token})
    return client.post(url, data=json.dumps(body), content_type="application/json")


def wire(daraja, url: str) -> list:
    return [call for call in daraja.calls if call.request.url == url]


def body_of(call) -> dict:
    return json.loads(call.request.body)


def daraja_answer(**ids) -> dict:
    return {
        "OriginatorConversationID": DARAJA_OCID,
        "ConversationID": "AG_20230420_2010759fd5662ef6d054",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
        **ids,
    }


def outcome_unknown(client, daraja, payout: Payout, url: str, timeout: str) -> dict:
    """Daraja takes the request, then its queue times out (our request echoed back to the payout's timeout
    URL): the payout waits in `verifying`. Returns the request as sent."""
    daraja.post(url, json=daraja_answer())
    assert send(payout) == "submitted"
    [sent] = wire(daraja, url)
    assert post(client, timeout, payout, body_of(sent)).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    return body_of(sent)


def lost_answer(daraja, payout: Payout, url: str) -> dict:
    """The request left but its answer was lost (read timeout): `verifying`, asked about by our own id."""
    daraja.post(url, body=requests.exceptions.ReadTimeout("read timed out"))
    assert send(payout) == "verifying"
    [sent] = wire(daraja, url)
    return body_of(sent)


def the_query(daraja) -> tuple[dict, str]:
    """The one status query the sweep sent: its body and the token it went with."""
    sweep_payouts.apply().get()
    [query] = wire(daraja, STATUS)
    return body_of(query), query.request.headers["Authorization"]


# --- Which shortcode a query asks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rail", "payee", "party_a"),
    [
        ("paybill", {"party_b": "888880", "account_reference": "INV-2041"}, B2B_SHORTCODE),
        ("till", {"party_b": "5432109"}, B2B_SHORTCODE),
        ("float_topup", {}, TOPUP_FROM),
    ],
)
def test_a_b2b_payout_of_unknown_outcome_is_asked_about_from_the_shortcode_it_was_sent_from(
    client, daraja, rail, payee, party_a
):
    payout = requested_and_approved(rail, **payee)
    sent = outcome_unknown(client, daraja, payout, B2B, "b2b-timeout")

    query, token = the_query(daraja)
    assert sent["PartyA"] == query["PartyA"] == party_a != B2C_SHORTCODE
    assert (query["IdentifierType"], query["OriginalConversationID"]) == ("4", DARAJA_OCID)
    assert (query["Initiator"], query["SecurityCredential"]) == (sent["Initiator"], sent["SecurityCredential"])
    assert token == "Bearer tok-b2c-key"  # the B2C app, as the send
    assert query["ResultURL"].endswith(f"/callbacks/status/result/{payout.callback_token}/")
    assert len(wire(daraja, B2B)) == 1  # asked about, never sent again


@pytest.mark.parametrize(
    ("rail", "url", "party_a"),
    [("mobile", B2C, B2C_SHORTCODE), ("pochi", POCHI, B2B_SHORTCODE)],
)
def test_a_phone_payout_of_unknown_outcome_is_asked_about_by_our_id_from_the_shortcode_it_was_sent_from(
    daraja, rail, url, party_a
):
    payout = requested_and_approved(rail, amount="100", phone="0705912645")
    sent = lost_answer(daraja, payout, url)

    query, token = the_query(daraja)
    assert sent["PartyA"] == query["PartyA"] == party_a
    assert query["OriginalConversationID"] == payout.originator_conversation_id
    assert token == "Bearer tok-b2c-key"
    assert len(wire(daraja, url)) == 1


def received_payment(client) -> Payment:
    """A customer's payment, arrived as M-Pesa sends it: a C2B confirmation to our paybill."""
    body = {**sample("c2b_confirmation"), "TransID": RECEIPT, "TransAmount": "1500.00", "MSISDN": "254705912645"}
    url = reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})
    assert client.post(url, data=json.dumps(body), content_type="application/json").status_code == 200
    return Payment.objects.get(receipt=RECEIPT)


def approved_reversal(payment: Payment) -> Payout:
    created = api(make_requester()).post(
        f"/api/payments/{payment.pk}/reverse/", {"reason": "Customer paid the wrong business"}, format="json"
    )
    assert created.status_code == 201, created.content
    approved = api(make_approver()).post(f"/api/payouts/{created.json()['id']}/approve/")
    assert approved.json()["status"] == "approved", approved.content
    return Payout.objects.get(pk=created.json()["id"])


def test_a_reversal_of_unknown_outcome_is_asked_about_from_our_paybill_through_its_app(client, daraja):
    payout = approved_reversal(received_payment(client))
    sent = outcome_unknown(client, daraja, payout, REVERSAL, "reversal-timeout")

    query, token = the_query(daraja)
    assert sent["ReceiverParty"] == query["PartyA"] == C2B_SHORTCODE  # the paybill that reverses it
    assert (query["IdentifierType"], query["OriginalConversationID"]) == ("4", DARAJA_OCID)
    assert token == "Bearer tok-stk-key"  # the STK/C2B app the reversal went through, not the B2C one
    assert wire(daraja, REVERSAL)[0].request.headers["Authorization"] == token


# --- Which credentials a query uses ------------------------------------------------------------------------


def credential_set(name: str, shortcode: str, initiator: str, credential: str) -> DarajaCredentialSet:
    DarajaCredentialSet.objects.filter(active=True).update(active=False)
    return DarajaCredentialSet.objects.create(
        name=name,
        active=True,
        b2c_shortcode=shortcode,
        initiator_name=initiator,
        security_credential_encrypted=encrypt_value(credential),
    )


def test_a_query_uses_the_credential_set_that_sent_the_payout_not_the_one_active_now(client, daraja, settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    by_environment = requested_and_approved("mobile", amount="100", phone="0705912645")
    daraja.post(B2C, body=requests.exceptions.ReadTimeout("read timed out"))
    assert send(by_environment) == "verifying"
    first = credential_set("first", "600222", "first-operator", "Zmlyc3Q=")
    by_first = requested_and_approved("mobile", amount="100", phone="0705912646")
    assert send(by_first) == "verifying"
    paybill = requested_and_approved("paybill", party_b="888880", account_reference="INV-7")
    daraja.post(B2B, json=daraja_answer())
    assert send(paybill) == "submitted"
    assert post(client, "b2b-timeout", paybill, body_of(wire(daraja, B2B)[0])).status_code == 200
    credential_set("second", "600333", "second-operator", "c2Vjb25k")  # the operator switches sets meanwhile

    sweep_payouts.apply().get()
    queries = {body_of(c)["OriginalConversationID"]: body_of(c) for c in wire(daraja, STATUS)}
    asked = {ocid: (q["Initiator"], q["SecurityCredential"], q["PartyA"]) for ocid, q in queries.items()}
    assert asked == {
        by_environment.originator_conversation_id: ("testapi", "ZW5jcnlwdGVk", B2C_SHORTCODE),
        by_first.originator_conversation_id: ("first-operator", "Zmlyc3Q=", "600222"),
        DARAJA_OCID: ("first-operator", "Zmlyc3Q=", B2B_SHORTCODE),
    }
    assert Payout.objects.get(pk=by_first.pk).sent_with_id == first.pk


# --- What a status answer proves on these rails --------------------------------------------------------------


def status_answer(**values) -> dict:
    """A Transaction Status answer in the shape integrators receive (tests/fixtures/third_party/), with the
    values of its parameters replaced."""
    body = third_party("status_b2b_transfer")
    for parameter in body["Result"]["ResultParameters"]["ResultParameter"]:
        parameter["Value"] = values.get(parameter["Key"], parameter["Value"])
    return body


def test_a_paybill_of_unknown_outcome_is_completed_by_its_status_answer_with_receipt_amount_and_charge(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-2041")
    outcome_unknown(client, daraja, payout, B2B, "b2b-timeout")
    the_query(daraja)

    answer = status_answer(
        DebitPartyName=f"{B2B_SHORTCODE} - Our Company",
        CreditPartyName="888880 - Biller Company",
        Amount=2500.00,
        DebitPartyCharges="Business Pay Bill Charge|KES|23.00",
        ReasonType="Business Pay Bill",
    )
    assert post(client, "status-result", payout, answer).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id, payout.amount, payout.charge) == (
        PayoutStatus.COMPLETED,
        "SEM3B2B7T0",
        Decimal("2500.00"),
        Decimal("23.00"),
    )
    assert ledger.account_balance("mpesa_charges") == Decimal("23.00")
    assert ledger.trial_balance().balanced
    assert WebhookEvent.objects.filter(payout=payout, type="payout.completed").count() == 1
    # Delivered again: nothing changes and the charge is not posted twice.
    assert post(client, "status-result", payout, answer).status_code == 200
    assert ledger.account_balance("mpesa_charges") == Decimal("23.00")


def test_a_status_answer_for_another_business_transfer_sends_the_paybill_to_a_person(client, daraja):
    payout = requested_and_approved("paybill", party_b="888880", account_reference="INV-2041")
    outcome_unknown(client, daraja, payout, B2B, "b2b-timeout")

    assert post(client, "status-result", payout, third_party("status_b2b_transfer")).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id, payout.charge) == (PayoutStatus.NEEDS_REVIEW, None, None)
    assert "business number 000000 paid, the payout names 888880" in payout.review_reason
    assert ledger.account_balance("mpesa_charges") == 0


@pytest.mark.parametrize("transaction_status", ["Completed", "Failed"])
def test_a_status_answer_never_settles_a_reversal_a_person_checks_it(client, daraja, transaction_status):
    payment = received_payment(client)
    payout = approved_reversal(payment)
    outcome_unknown(client, daraja, payout, REVERSAL, "reversal-timeout")
    the_query(daraja)

    answer = status_answer(
        DebitPartyName=f"{C2B_SHORTCODE} - Our Paybill",
        CreditPartyName="254705912645 - Customer",
        Amount=1500.00,
        TransactionStatus=transaction_status,
        DebitPartyCharges="Reversal Charge|KES|12.00",
    )
    response = post(client, "status-result", payout, answer)
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert (payout.status, payout.transaction_id, payout.charge) == (PayoutStatus.NEEDS_REVIEW, None, None)
    assert payout.review_reason.startswith("A Transaction Status answer cannot prove a reversal")
    assert f"reports it {transaction_status.lower()}" in payout.review_reason
    # Neither reversed nor given back: the payment's amount stays held until a person decides.
    assert (payment.status, payment.refundable_amount) == (PaymentStatus.COMPLETED, 0)
    assert ledger.account_balance("mpesa_charges") == 0
    assert WebhookEvent.objects.filter(payout=payout, type="payout.needs_review").exists()
