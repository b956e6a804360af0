"""Paybill, till, float top-up and Pochi through the simulator's real HTTP routes, sent by the real client
(daraja/rails.py) and read back by the real parsers (daraja/rail_results.py): every B2B scenario, the
directory's SFC_IC0003, and the Working and Utility balances moving."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from daraja.callbacks import load_json, parse_b2c_result, parse_balance_result, parse_status_result
from daraja.client import DarajaClient
from daraja.errors import DarajaOutcomeUnknown
from daraja.rail_results import parse_b2b_result
from daraja.rails import Rail, pay_business, pay_pochi, top_up_float
from daraja_simulator import Ledger, SimulatorServer, SimulatorSettings, phone_for
from daraja_simulator.rails import B2B_SCENARIOS, PAYBILLS, TILLS
from tests.daraja_simulator.conftest import FAST
from tests.daraja_simulator.helpers import (
    BALANCE_PATH,
    RESULT_PATH,
    STATUS_PATH,
    STATUS_TIMEOUT_PATH,
    TIMEOUT_PATH,
    DictCache,
    make_client,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"
SUCCESS_SAMPLE = json.loads((SAMPLES / "b2b_result_success.json").read_text())
FAILURE_SAMPLE = json.loads((SAMPLES / "b2b_result_failure.json").read_text())
UTILITY, WORKING = Decimal("1000000.00"), Decimal("500000.00")
DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()


def pay(client, receiver, *, rail=Rail.PAYBILL, party_b="888880", reference="INV-2041", amount=239):
    return pay_business(
        client,
        rail=rail,
        amount=Decimal(amount),
        party_b=party_b,
        account_reference=reference,
        remarks="Supplier invoice",
        result_url=receiver.url(RESULT_PATH),
        timeout_url=receiver.url(TIMEOUT_PATH),
    )


def result_of(receiver) -> dict:
    (body,) = receiver.wait_for(RESULT_PATH)
    return load_json(json.dumps(body))  # as the callback views read it: fractions as Decimal


def balances(simulator: SimulatorServer) -> tuple[Decimal, Decimal]:
    snapshot = simulator.ledger.snapshot()
    return Decimal(snapshot["working_balance"]), Decimal(snapshot["utility_balance"])


def test_paybill_success_is_the_documented_result_and_is_paid_from_working(simulator, client, receiver):
    accepted = pay(client, receiver, amount=239)

    body = result_of(receiver)
    assert set(body["Result"]) == set(SUCCESS_SAMPLE["Result"])
    sample_keys = {p["Key"] for p in SUCCESS_SAMPLE["Result"]["ResultParameters"]["ResultParameter"]}
    assert {p["Key"] for p in body["Result"]["ResultParameters"]["ResultParameter"]} == sample_keys
    assert body["Result"]["ResultCode"] == "0" and body["Result"]["ResultType"] == "0"  # strings, as documented
    parsed = parse_b2b_result(body)
    assert parsed.succeeded and parsed.receipt and parsed.receipt.startswith("SIM")
    assert parsed.originator_conversation_id == accepted.originator_conversation_id
    assert parsed.conversation_id == accepted.conversation_id
    assert parsed.amount == Decimal("239.00")
    assert (parsed.receiver_number, parsed.receiver_name) == ("888880", PAYBILLS["888880"])
    assert parsed.bill_reference == "INV-2041"
    assert parsed.charges is None and parsed.completed_at is not None
    assert parsed.working_balance == WORKING - 239
    assert balances(simulator) == (WORKING - 239, UTILITY)  # B2B never touches Utility
    (row,) = simulator.ledger.snapshot()["b2b_payments"]
    assert (row["outcome"], row["command_id"], row["receiver_type"]) == ("paid", "BusinessPayBill", "4")


def test_a_till_is_paid_on_the_till_rail(simulator, client, receiver):
    pay(client, receiver, rail=Rail.TILL, party_b="123456", reference="")
    parsed = parse_b2b_result(result_of(receiver))
    assert parsed.succeeded and parsed.receiver_name == TILLS["123456"] and parsed.bill_reference == ""
    assert balances(simulator) == (WORKING - 239, UTILITY)


@pytest.mark.parametrize(("rail", "party_b"), [(Rail.PAYBILL, "123456"), (Rail.TILL, "888880")])
def test_a_till_sent_as_a_paybill_or_the_reverse_fails_with_sfc_ic0003(simulator, client, receiver, rail, party_b):
    pay(client, receiver, rail=rail, party_b=party_b, reference="INV-1")
    body = result_of(receiver)
    assert body["Result"]["ResultCode"] == "SFC_IC0003"
    parsed = parse_b2b_result(body)
    assert parsed.receipt is None
    assert parsed.code_info.is_final_failure and "paybill against till" in parsed.code_info.admin_message
    assert balances(simulator) == (WORKING, UTILITY)


@pytest.mark.parametrize(("suffix", "code"), [("001", 1), ("002", 2001)])
def test_failure_scenarios_carry_the_documented_quirks(simulator, client, receiver, suffix, code):
    pay(client, receiver, party_b=f"700{suffix}")
    body = result_of(receiver)
    assert set(body["Result"]) == set(FAILURE_SAMPLE["Result"])
    assert body["Result"]["ResultCode"] == code  # a number
    assert isinstance(body["Result"]["ResultParameters"]["ResultParameter"], dict)  # ONE object
    assert body["Result"]["TransactionID"] == "OAK0000000"
    parsed = parse_b2b_result(body)
    assert parsed.receipt is None and parsed.code_info.is_final_failure and parsed.completed_at is not None
    assert balances(simulator) == (WORKING, UTILITY)


def test_number_codes_scenario_still_reads_as_success(simulator, client, receiver):
    pay(client, receiver, party_b="700009")
    body = result_of(receiver)
    assert body["Result"]["ResultCode"] == 0 and body["Result"]["ResultType"] == 0
    assert parse_b2b_result(body).succeeded


def test_no_result_scenario_pays_and_posts_nothing(simulator, client, receiver):
    accepted = pay(client, receiver, party_b="700022")
    assert accepted.conversation_id
    assert simulator.wait_for_callbacks(2.0)
    time.sleep(3 * FAST.delay)
    assert receiver.bodies(RESULT_PATH) == []
    assert simulator.ledger.snapshot()["b2b_payments"][0]["outcome"] == "paid"
    assert balances(simulator) == (WORKING - 239, UTILITY)


def test_lost_answer_scenario_times_the_client_out_and_the_result_comes_later(simulator, receiver):
    client = make_client(simulator, read_timeout=0.5)  # FAST.slow_seconds is 1.5
    with pytest.raises(DarajaOutcomeUnknown):
        pay(client, receiver, party_b="700040")
    parsed = parse_b2b_result(result_of(receiver))
    assert parsed.succeeded and parsed.originator_conversation_id  # the only place its ids now appear
    assert balances(simulator) == (WORKING - 239, UTILITY)


def test_paying_more_than_the_working_account_holds_fails_with_code_1(simulator_keys, receiver):
    settings = SimulatorSettings(delay=0.05, working_balance=Decimal("100.00"), callback_timeout=2.0)
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys) as simulator:
        pay(make_client(simulator), receiver, amount=239)
        body = result_of(receiver)
        assert body["Result"]["ResultCode"] == 1
        assert balances(simulator) == (Decimal("100.00"), UTILITY)


# --- Float top-up and the account balance ---------------------------------------------------------------


def test_a_top_up_moves_working_into_utility_and_the_balance_query_shows_both(simulator, client, receiver):
    top_up_float(
        client,
        amount=Decimal("50000"),
        remarks="Float top-up",
        result_url=receiver.url(RESULT_PATH),
        timeout_url=receiver.url(TIMEOUT_PATH),
    )
    parsed = parse_b2b_result(result_of(receiver))
    assert parsed.succeeded and parsed.receiver_number == "600992"  # our own B2C shortcode
    assert parsed.working_balance == WORKING - 50000
    assert balances(simulator) == (WORKING - 50000, UTILITY + 50000)
    (row,) = simulator.ledger.snapshot()["b2b_payments"]
    assert (row["command_id"], row["party_b"]) == ("BusinessPayToBulk", "600992")

    client.account_balance(result_url=receiver.url(BALANCE_PATH), timeout_url=receiver.url(TIMEOUT_PATH))
    (body,) = receiver.wait_for(BALANCE_PATH)
    balance = parse_balance_result(load_json(json.dumps(body)))
    assert (balance.working_available, balance.utility_available) == (WORKING - 50000, UTILITY + 50000)


def test_a_top_up_scenario_is_chosen_by_its_amount(simulator, client, receiver):
    top_up_float(
        client,
        amount=Decimal("10022"),
        remarks="Float top-up",
        result_url=receiver.url(RESULT_PATH),
        timeout_url=receiver.url(TIMEOUT_PATH),
    )
    assert simulator.wait_for_callbacks(2.0)
    time.sleep(3 * FAST.delay)
    assert receiver.bodies(RESULT_PATH) == []  # no_result
    assert balances(simulator) == (WORKING - 10022, UTILITY + 10022)


# --- Pochi ------------------------------------------------------------------------------------------------


def pochi(client, receiver, phone: str, ocid: str):
    return pay_pochi(
        client,
        originator_conversation_id=ocid,
        amount=Decimal("100"),
        phone=phone,
        remarks="Trader",
        result_url=receiver.url(RESULT_PATH),
        timeout_url=receiver.url(TIMEOUT_PATH),
    )


def test_pochi_is_paid_from_utility_with_a_b2c_result_carrying_our_id(simulator, client, receiver):
    accepted = pochi(client, receiver, phone_for("645"), "pochi-1")
    (body,) = receiver.wait_for(RESULT_PATH)
    parsed = parse_b2c_result(load_json(json.dumps(body)))
    assert parsed.originator_conversation_id == accepted.originator_conversation_id == "pochi-1"
    assert parsed.succeeded and parsed.amount == 100 and parsed.receipt
    assert parsed.working_funds == WORKING  # B2C results report both accounts
    assert balances(simulator) == (WORKING, UTILITY - 100)
    (row,) = simulator.ledger.snapshot()["payments"]
    assert row["command_id"] == "BusinessPayToPochi"


def test_pochi_follows_the_b2c_scenarios(simulator, client, receiver):
    pochi(client, receiver, phone_for("001"), "pochi-2")
    (body,) = receiver.wait_for(RESULT_PATH)
    assert body["Result"]["ResultCode"] == 1
    assert balances(simulator) == (WORKING, UTILITY)


# --- Bad requests, over raw HTTP ----------------------------------------------------------------------------


def raw_b2b(simulator, client, **changes) -> requests.Response:
    body = json.loads((SAMPLES / "b2b_paybill_request.json").read_text())
    body.update(SecurityCredential=client.config.security_credential, **changes)
    body = {k: v for k, v in body.items() if v is not None}
    token = client.access_token(product="b2c")
    return requests.post(
        f"{simulator.url}/mpesa/b2b/v1/paymentrequest",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"PartyB": "12"}, "PartyB"),
        ({"AccountReference": None}, "AccountReference"),
        ({"AccountReference": "A" * 14}, "AccountReference"),
        ({"CommandID": "BusinessPayment"}, "CommandID"),
        ({"RecieverIdentifierType": "1"}, "RecieverIdentifierType"),
        ({"Amount": "10.5"}, "Amount"),
        ({"ResultURL": "https://example.com/mpesa/result"}, "ResultURL"),
    ],
)
def test_bad_b2b_requests_are_refused_and_change_nothing(simulator, client, changes, field):
    response = raw_b2b(simulator, client, **changes)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.002.02" and field in response.json()["errorMessage"]
    assert simulator.ledger.snapshot()["b2b_payments"] == []
    assert balances(simulator) == (WORKING, UTILITY)


def test_the_documented_request_is_accepted_with_darajas_ids(simulator, client):
    response = raw_b2b(simulator, client, ResultURL="https://example.com/cb/b2b-result/tok/")
    assert response.status_code == 200
    assert set(response.json()) == set(json.loads((SAMPLES / "b2b_response_accepted.json").read_text()))


def test_a_b2b_path_called_with_get_is_a_wrong_method_and_without_a_token_refused(simulator):
    assert requests.get(f"{simulator.url}/mpesa/b2b/v1/paymentrequest", timeout=5).status_code == 405
    refused = requests.post(f"{simulator.url}/mpesa/b2pochi/v1/paymentrequest", json={}, timeout=5)
    assert refused.status_code == 404 and refused.json()["errorCode"] == "404.001.03"


# --- Scenario table, docs, persistence ----------------------------------------------------------------------


def test_the_scenarios_endpoint_lists_the_b2b_rows(simulator):
    listed = requests.get(f"{simulator.url}/simulator/scenarios", timeout=5).json()["b2b"]
    assert [row["name"] for row in listed] == [s.name for s in B2B_SCENARIOS.values()]


def test_b2b_table_in_the_docs_matches_the_code():
    section = DOC.split("## B2B scenarios", 1)[1].split("\n## ", 1)[0]
    documented = dict(re.findall(r"^\| `(\d{3})` \| (\w+) \|", section, flags=re.MULTILINE))
    assert documented == {suffix: s.name for suffix, s in B2B_SCENARIOS.items()}
    rails = DOC.split("## Payout rails", 1)[1].split("\n## ", 1)[0]
    directory = dict(re.findall(r"^\| `(\d+)` \| (paybill|till) \|", rails, flags=re.MULTILINE))
    assert directory == {**dict.fromkeys(PAYBILLS, "paybill"), **dict.fromkeys(TILLS, "till")}


def test_the_ledger_keeps_b2b_payments_and_both_balances_across_a_restart(tmp_path, simulator_keys, receiver):
    path = tmp_path / "ledger.json"
    with SimulatorServer(port=0, settings=FAST, keys=simulator_keys, ledger_path=path) as simulator:
        pay(make_client(simulator), receiver)
        receiver.wait_for(RESULT_PATH)
    reloaded = Ledger(path)
    assert reloaded.working_balance == WORKING - 239 and reloaded.utility_balance == UTILITY
    assert reloaded.b2b_payments[0].party_b == "888880"
    reloaded.reset()
    assert reloaded.working_balance == WORKING and reloaded.b2b_payments == []


def test_a_b2b_payment_is_found_by_a_status_query_only_from_the_shortcode_it_was_sent_from(simulator, receiver):
    b2b_client = DarajaClient(replace(make_client(simulator).config, b2b_shortcode="600000"), DictCache())
    accepted = pay(b2b_client, receiver, amount=239)
    receiver.wait_for(RESULT_PATH)

    def ask(party_a: str, count: int) -> dict:
        b2b_client.transaction_status(
            original_conversation_id=accepted.originator_conversation_id,
            party_a=party_a,
            result_url=receiver.url(STATUS_PATH),
            timeout_url=receiver.url(STATUS_TIMEOUT_PATH),
        )
        return receiver.wait_for(STATUS_PATH, count)[-1]

    found = parse_status_result(load_json(json.dumps(ask("600000", 1))))
    assert found.found_completed and (found.amount, found.receipt) == (Decimal("239.00"), accepted_receipt(simulator))
    assert (found.debit_party.number, found.credit_party.number) == ("600000", "888880")
    # Asked from the B2C shortcode, M-Pesa looks in the wrong place: not found, which settles nothing.
    elsewhere = parse_status_result(load_json(json.dumps(ask("600992", 2))))
    assert (elsewhere.result_code, elsewhere.found_completed, elsewhere.found_failed) == ("R000002", False, False)


def accepted_receipt(simulator: SimulatorServer) -> str:
    (row,) = simulator.ledger.snapshot()["b2b_payments"]
    return row["transaction_id"]
