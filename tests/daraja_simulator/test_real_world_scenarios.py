"""The simulator plays what the real Daraja sends (issue 15, part 5): Results that say 15 or 17 for a paid
request, a failure with one parameter object and a placeholder TransactionID, a hashed-MSISDN C2B
confirmation, and the HTTP statuses of the real API (404 for 404.001.03, 405 for a wrong method)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from daraja_simulator import phone_for
from daraja_simulator.payloads import PLACEHOLDER_TRANSACTION_ID
from tests.daraja_simulator.helpers import RESULT_PATH, ask_status, result_parameters, send_payout

C2B_CONFIRMATION_PATH = "/callbacks/c2b/confirmation/tok"


@pytest.mark.parametrize(
    ("suffix", "code", "desc"), [("015", 15, "Duplicate Detected"), ("017", 17, "Internal Failure")]
)
def test_a_result_that_says_15_or_17_for_a_payout_that_was_paid(client, receiver, simulator, suffix, code, desc):
    send_payout(client, receiver, ocid=f"ocid-{suffix}", phone=phone_for(suffix))
    (result,) = receiver.wait_for(RESULT_PATH)
    assert result["Result"]["ResultCode"] == code
    assert result["Result"]["ResultDesc"] == desc
    assert "ResultParameters" not in result["Result"]

    status = ask_status(client, receiver, f"ocid-{suffix}")
    assert status["ResultCode"] == "0"
    assert result_parameters({"Result": status})["TransactionStatus"] == "Completed"
    assert simulator.ledger.snapshot()["paid_count"] == 1


def test_a_failure_with_one_parameter_object_and_a_placeholder_transaction_id(client, receiver, simulator):
    send_payout(client, receiver, ocid="ocid-006", phone=phone_for("006"))
    (result,) = receiver.wait_for(RESULT_PATH)
    body = result["Result"]
    assert body["ResultCode"] == 21
    assert body["TransactionID"] == PLACEHOLDER_TRANSACTION_ID
    parameter = body["ResultParameters"]["ResultParameter"]
    assert isinstance(parameter, dict) and parameter["Key"] == "BOCompletedTime"
    assert simulator.ledger.snapshot()["paid_count"] == 0


def _bearer(simulator) -> dict[str, str]:
    token = requests.get(
        f"{simulator.url}/oauth/v1/generate?grant_type=client_credentials", auth=("sim-key", "sim-secret"), timeout=5
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("msisdn", "hashed"), [(phone_for("064"), True), (phone_for("645"), False)])
def test_a_c2b_confirmation_with_a_hashed_or_masked_msisdn(simulator, receiver, msisdn, hashed):
    headers = _bearer(simulator)
    registered = requests.post(f"{simulator.url}/mpesa/c2b/v2/registerurl", headers=headers, timeout=5, json={
        "ShortCode": "600984", "ResponseType": "Completed",
        "ConfirmationURL": receiver.url(C2B_CONFIRMATION_PATH),
        "ValidationURL": receiver.url("/callbacks/c2b/validation/tok"),
    })  # fmt: skip
    assert registered.status_code == 200 and registered.json()["ResponseCode"] == "0"
    paid = requests.post(f"{simulator.url}/mpesa/c2b/v1/simulate", headers=headers, timeout=5, json={
        "ShortCode": "600984", "CommandID": "CustomerPayBillOnline", "Amount": 150, "Msisdn": msisdn,
        "BillRefNumber": "ORDER-42",
    })  # fmt: skip
    assert paid.status_code == 200

    (confirmation,) = receiver.wait_for(C2B_CONFIRMATION_PATH)
    assert (confirmation["TransAmount"], confirmation["BillRefNumber"]) == ("150.00", "ORDER-42")
    if hashed:
        assert confirmation["MSISDN"] == hashlib.sha256(msisdn.encode()).hexdigest()
        assert len(confirmation["MSISDN"]) == 64
    else:
        assert confirmation["MSISDN"] == f"{msisdn[:4]} ***** {msisdn[-3:]}"


def test_c2b_simulate_for_an_unregistered_shortcode_is_refused(simulator):
    answer = requests.post(f"{simulator.url}/mpesa/c2b/v1/simulate", headers=_bearer(simulator), timeout=5, json={
        "ShortCode": "999999", "CommandID": "CustomerPayBillOnline", "Amount": 1, "Msisdn": phone_for("645"),
    })  # fmt: skip
    assert answer.status_code == 400 and answer.json()["errorCode"] == "400.002.02"


def test_an_invalid_token_is_http_404_with_404_001_03(simulator):
    answer = requests.post(f"{simulator.url}/mpesa/transactionstatus/v1/query", json={},
                           headers={"Authorization": "Bearer stale"}, timeout=5)
    assert (answer.status_code, answer.json()["errorCode"]) == (404, "404.001.03")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/mpesa/b2c/v3/paymentrequest"),
        ("GET", "/mpesa/stkpush/v1/processrequest"),
        ("POST", "/oauth/v1/generate"),
        ("POST", "/simulator/ledger"),
    ],
)
def test_a_wrong_method_is_http_405_as_the_real_api(simulator, method, path):
    answer = requests.request(method, f"{simulator.url}{path}", timeout=5)
    assert answer.status_code == 405
    assert answer.json()["errorCode"] == "405.001"
