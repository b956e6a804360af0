"""Reversal, Pull Transactions, C2B URL registration, STK Push Query, Hakikisha and Org Info against the
simulator over real HTTP, through the client functions the product calls."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from daraja.errors import DarajaValidationError
from daraja.money_in import StkQueryOutcome, c2b_register_urls, stk_query
from daraja.name_check import NameCheckOutcome, hakikisha_lookup, org_info_lookup
from daraja.names import NameMatch, compare_business_name, compare_first_name
from daraja.pull_transactions import MsisdnKind, pull_all, pull_register
from daraja.reversal import ReversalOutcome, parse_reversal_result, reversal_request
from daraja.security import make_test_keypair
from daraja_simulator import SimulatorServer, SimulatorSettings, phone_for, scenarios
from daraja_simulator.payloads import now, public_name
from tests.daraja_simulator.helpers import STK_PATH, make_client

SHORTCODE = "600984"
CONFIRMATION_PATH = "/callbacks/c2b/confirmation/tok"
REVERSAL_PATH = "/callbacks/reversal/result/tok"


def _bearer(simulator) -> dict[str, str]:
    token = requests.get(
        f"{simulator.url}/oauth/v1/generate?grant_type=client_credentials", auth=("sim-key", "sim-secret"), timeout=5
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _register_c2b(client, receiver) -> None:
    c2b_register_urls(
        client,
        shortcode=SHORTCODE,
        confirmation_url=receiver.url(CONFIRMATION_PATH),
        validation_url=receiver.url("/callbacks/c2b/validation/tok"),
    )


def _customer_pays(simulator, msisdn: str, amount: int = 150, bill_ref: str = "ORDER-42") -> None:
    paid = requests.post(f"{simulator.url}/mpesa/c2b/v1/simulate", headers=_bearer(simulator), timeout=5, json={
        "ShortCode": SHORTCODE, "CommandID": "CustomerPayBillOnline", "Amount": amount, "Msisdn": msisdn,
        "BillRefNumber": bill_ref,
    })  # fmt: skip
    assert paid.status_code == 200


def _reverse(client, receiver, receipt: str, count: int) -> dict:
    accepted = reversal_request(
        client,
        transaction_id=receipt,
        amount=Decimal(150),
        receiver_party=SHORTCODE,
        remarks="Paid twice",
        result_url=receiver.url(REVERSAL_PATH),
        timeout_url=receiver.url("/callbacks/reversal/timeout/tok"),
    )
    body = receiver.wait_for(REVERSAL_PATH, count)[-1]
    assert body["Result"]["ConversationID"] == accepted.conversation_id
    return body


def _window() -> dict:
    moment = now()
    return {"start": moment - timedelta(hours=1), "end": moment + timedelta(hours=1)}


# --- C2B registration and Reversal -------------------------------------------------------------------------


def test_a_c2b_payment_is_reversed_once_then_reported_already_reversed(simulator, client, receiver):
    _register_c2b(client, receiver)
    _customer_pays(simulator, phone_for("645"))
    (confirmation,) = receiver.wait_for(CONFIRMATION_PATH)
    receipt = confirmation["TransID"]

    first = parse_reversal_result(_reverse(client, receiver, receipt, 1))
    assert first.outcome is ReversalOutcome.COMPLETED and not first.already_reversed
    assert first.original_transaction_id == receipt and first.transaction_id
    assert first.amount == Decimal(150) and first.credit_party.phone == phone_for("645")

    again = parse_reversal_result(_reverse(client, receiver, receipt, 2))
    assert again.outcome is ReversalOutcome.COMPLETED and again.already_reversed and again.result_code == "R000001"


def test_reversing_a_receipt_the_simulator_never_took_fails(simulator, client, receiver):
    result = parse_reversal_result(_reverse(client, receiver, "SIMNOTREAL", 1))
    assert result.outcome is ReversalOutcome.FAILED and result.result_code == "R000002"


def test_a_reversal_with_a_credential_that_does_not_decrypt_fails_and_reverses_nothing(simulator, client, receiver):
    _register_c2b(client, receiver)
    _customer_pays(simulator, phone_for("645"))
    receipt = receiver.wait_for(CONFIRMATION_PATH)[0]["TransID"]
    _, foreign = make_test_keypair()

    refused = parse_reversal_result(_reverse(make_client(simulator, certificate=foreign), receiver, receipt, 1))

    assert refused.outcome is ReversalOutcome.FAILED and refused.result_code == "2001"
    assert parse_reversal_result(_reverse(client, receiver, receipt, 2)).already_reversed is False


def test_the_simulator_refuses_a_registration_with_a_word_safaricom_refuses(simulator, client, receiver):
    answer = requests.post(f"{simulator.url}/mpesa/c2b/v2/registerurl", headers=_bearer(simulator), timeout=5, json={
        "ShortCode": SHORTCODE, "ResponseType": "Completed",
        "ConfirmationURL": receiver.url("/callbacks/mpesa/confirmation"), "ValidationURL": receiver.url("/v"),
    })  # fmt: skip
    assert answer.status_code == 400 and answer.json()["errorCode"] == "400.002.02"
    with pytest.raises(DarajaValidationError, match='"mpesa"'):
        c2b_register_urls(client, shortcode=SHORTCODE, confirmation_url=receiver.url("/mpesa/c"),
                          validation_url=receiver.url("/v"))  # fmt: skip


# --- Pull Transactions -------------------------------------------------------------------------------------


def test_pull_finds_the_payment_whose_confirmation_never_came(simulator, client, receiver):
    _register_c2b(client, receiver)
    _customer_pays(simulator, phone_for("099"), amount=233, bill_ref="ORDER-1")  # the "forgotten" scenario
    forgotten = requests.post(f"{simulator.url}/simulator/c2b/unconfirmed", timeout=5, json={
        "ShortCode": SHORTCODE, "Amount": 75, "Msisdn": phone_for("645"), "BillRefNumber": "ORDER-2",
    })  # fmt: skip
    assert forgotten.status_code == 200
    simulator.wait_for_callbacks()
    assert receiver.bodies(CONFIRMATION_PATH) == []

    registration = pull_register(client, shortcode=SHORTCODE, nominated_number=phone_for("645"),
                                 callback_url=receiver.url("/callbacks/pull/tok"))  # fmt: skip
    again = pull_register(client, shortcode=SHORTCODE, nominated_number=phone_for("645"),
                          callback_url=receiver.url("/callbacks/pull/tok"))  # fmt: skip
    assert not registration.already_registered and again.already_registered

    history = pull_all(client, shortcode=SHORTCODE, **_window())

    assert history.complete and history.unreadable == ()
    found = {row.bill_reference: row for row in history.rows}
    assert found["ORDER-1"].amount == Decimal("233.00") and found["ORDER-1"].msisdn == phone_for("099")
    assert found["ORDER-2"].transaction_id == forgotten.json()["TransID"]
    assert all(row.msisdn_kind is MsisdnKind.FULL and row.occurred_at.tzinfo for row in history.rows)


def test_pull_pages_by_offset(simulator, client, receiver):
    simulator.simulator.money_in.page_size = 2
    for amount in range(10, 15):
        requests.post(f"{simulator.url}/simulator/c2b/unconfirmed", timeout=5, json={
            "ShortCode": SHORTCODE, "Amount": amount, "Msisdn": phone_for("645"),
        })  # fmt: skip
    pull_register(client, shortcode=SHORTCODE, nominated_number=phone_for("645"),
                  callback_url=receiver.url("/callbacks/pull/tok"))  # fmt: skip

    history = pull_all(client, shortcode=SHORTCODE, **_window())

    assert history.pages == 3 and sorted(row.amount for row in history.rows) == [Decimal(n) for n in range(10, 15)]
    empty = pull_all(client, shortcode=SHORTCODE, start=now() - timedelta(days=3), end=now() - timedelta(days=2))
    assert empty.rows == () and empty.complete


def test_pull_query_of_an_unregistered_shortcode_is_refused(simulator, client):
    with pytest.raises(DarajaValidationError):
        pull_all(client, shortcode="600111", **_window())


# --- STK Push Query -----------------------------------------------------------------------------------------


def _push(client, receiver, phone: str) -> str:
    accepted = client.stk_push(phone=phone, amount=Decimal(1), account_reference="INV-1", description="Invoice 1",
                               callback_url=receiver.url(STK_PATH))  # fmt: skip
    return accepted.checkout_request_id


@pytest.mark.parametrize(("suffix", "outcome", "code"), [
    ("645", StkQueryOutcome.PAID, "0"), ("032", StkQueryOutcome.FAILED, "1032"), ("001", StkQueryOutcome.FAILED, "1"),
])  # fmt: skip
def test_stk_query_tells_what_became_of_a_push(simulator, client, receiver, suffix, outcome, code):
    checkout = _push(client, receiver, phone_for(suffix))
    receiver.wait_for(STK_PATH)

    answer = stk_query(client, checkout_request_id=checkout)

    assert (answer.outcome, answer.result_code, answer.checkout_request_id) == (outcome, code, checkout)
    throttled = stk_query(client, checkout_request_id=checkout)  # at once again: spike arrest
    assert throttled.outcome is StkQueryOutcome.RETRY_LATER and throttled.result_code == "500.003.02"


def test_stk_query_before_the_customer_answers_and_for_an_unknown_id_is_pending(simulator_keys, receiver):
    with SimulatorServer(port=0, settings=SimulatorSettings(delay=3.0), keys=simulator_keys) as slow:
        client = make_client(slow)
        checkout = _push(client, receiver, phone_for("645"))
        pending = stk_query(client, checkout_request_id=checkout)
        assert pending.outcome is StkQueryOutcome.PENDING and pending.result_code == "500.001.1001"
        unknown = stk_query(client, checkout_request_id="ws_CO_000")
        assert unknown.outcome is StkQueryOutcome.PENDING and unknown.result_code == "400.002.02"


# --- Hakikisha and Org Info ---------------------------------------------------------------------------------


def test_hakikisha_gives_the_name_b2c_results_show(simulator, client):
    phone = phone_for("645")
    answer = hakikisha_lookup(client, msisdn=phone)
    assert answer.outcome is NameCheckOutcome.FOUND
    assert answer.middle_name.endswith("******") and answer.last_name.endswith("******")
    assert compare_first_name(public_name(phone).split(" - ")[1], answer.first_name) is NameMatch.MATCH


def test_hakikisha_for_a_number_that_does_not_exist_and_a_name_that_differs(simulator, client):
    missing = hakikisha_lookup(client, msisdn=phone_for("404"))
    assert missing.outcome is NameCheckOutcome.NOT_FOUND and "does not exist" in missing.message
    other = hakikisha_lookup(client, msisdn=phone_for("405"))
    assert other.outcome is NameCheckOutcome.FOUND
    assert compare_first_name(public_name(phone_for("405")).split(" - ")[1], other.first_name) is NameMatch.MISMATCH


def test_org_info_knows_tills_but_one(simulator, client):
    known = org_info_lookup(client, identifier="666677", identifier_type="paybill")
    assert known.outcome is NameCheckOutcome.FOUND and known.shortcode == "666677"
    assert compare_business_name("Simulated Business 666677 Ltd", known.organization_name) is NameMatch.MATCH
    unknown = org_info_lookup(client, identifier="123404", identifier_type="till")
    assert unknown.outcome is NameCheckOutcome.NOT_FOUND and unknown.organization_name == ""


def test_name_checks_need_a_token(simulator):
    answer = requests.post(f"{simulator.url}/mpesa/b2c/hakikisha/v1/hakikisha", timeout=5, json={})
    assert answer.status_code == 404 and answer.json()["errorCode"] == "404.001.03"


def test_the_name_check_and_c2b_tables_in_the_docs_match_the_code():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    assert f"| Hakikisha (`msisdn`) | `{scenarios.HAKIKISHA_NOT_FOUND_SUFFIX}` | HTTP 400" in doc
    assert f"| Hakikisha (`msisdn`) | `{scenarios.HAKIKISHA_OTHER_NAME_SUFFIX}` | found, with a first name" in doc
    assert f"| Org Info (`Identifier`) | `{scenarios.ORG_UNKNOWN_SUFFIX}` | no `OrganizationName`" in doc
    assert f"| `{scenarios.C2B_UNCONFIRMED_SUFFIX}` | none: the payment is made but its confirmation" in doc
