"""Transaction Status, Account Balance and STK push against the simulator, over real HTTP."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from daraja.errors import DarajaAuthError
from daraja.security import make_test_keypair
from daraja_simulator import phone_for
from tests.daraja_simulator.helpers import (
    BALANCE_PATH,
    RESULT_PATH,
    STATUS_PATH,
    STK_PATH,
    ask_status,
    make_client,
    result_parameters,
    send_payout,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"


def test_status_of_a_paid_payout_tells_the_whole_truth(simulator, client, receiver):
    send_payout(client, receiver, ocid="paid-ocid", phone=phone_for("645"), amount=1234)
    (result_body,) = receiver.wait_for(RESULT_PATH)
    receipt = result_body["Result"]["TransactionID"]

    result = ask_status(client, receiver, "paid-ocid")

    assert result["ResultCode"] == "0"
    params = result_parameters({"Result": result})
    assert params["ReceiptNo"] == receipt
    assert params["TransactionStatus"] == "Completed"
    assert params["Amount"] == 1234
    assert params["OriginatorConversationID"] == "paid-ocid"
    assert params["ConversationID"] == result_body["Result"]["ConversationID"]
    assert params["ReceiverPartyPublicName"].startswith(phone_for("645") + " - ")
    assert len(str(params["FinalisedTime"])) == 14  # yyyymmddHHMMSS
    assert "DebitPartyCharges" in params
    assert result["OriginatorConversationID"] != "paid-ocid"  # the envelope is the query's, not the payout's


def test_status_of_a_failed_payout_says_failed(simulator, client, receiver):
    send_payout(client, receiver, ocid="failed-ocid", phone=phone_for("001"))
    result = ask_status(client, receiver, "failed-ocid")
    assert result["ResultCode"] == "0"
    params = result_parameters({"Result": result})
    assert params["TransactionStatus"] == "Failed"
    assert params["TransactionReason"] == "The balance is insufficient for the transaction."


def test_status_of_an_unknown_id_is_not_found(client, receiver):
    result = ask_status(client, receiver, "never-sent")
    assert result["ResultCode"] == "R000002"
    assert "not found" in result["ResultDesc"]
    assert "ResultParameters" not in result


def test_status_by_receipt_alone(simulator, client, receiver):
    send_payout(client, receiver, ocid="by-receipt", phone=phone_for("645"))
    receipt = receiver.wait_for(RESULT_PATH)[0]["Result"]["TransactionID"]
    client.transaction_status(
        original_conversation_id="",
        transaction_id=receipt,
        result_url=receiver.url(STATUS_PATH),
        timeout_url=receiver.url(STATUS_PATH),
    )
    (status,) = receiver.wait_for(STATUS_PATH)
    assert result_parameters(status)["OriginatorConversationID"] == "by-receipt"


def test_status_query_with_a_bad_credential_fails_with_2001(simulator, receiver):
    _, foreign = make_test_keypair()
    client = make_client(simulator, certificate=foreign)
    client.transaction_status(
        original_conversation_id="x", result_url=receiver.url(STATUS_PATH), timeout_url=receiver.url(STATUS_PATH)
    )
    (body,) = receiver.wait_for(STATUS_PATH)
    assert body["Result"]["ResultCode"] == 2001


def test_account_balance_reports_the_utility_float_after_payouts(simulator, client, receiver):
    send_payout(client, receiver, ocid="spend", phone=phone_for("645"), amount=2500)
    accepted = client.account_balance(result_url=receiver.url(BALANCE_PATH), timeout_url=receiver.url(BALANCE_PATH))

    (body,) = receiver.wait_for(BALANCE_PATH)
    sample = json.loads((SAMPLES / "account_balance_result.json").read_text())
    assert set(body["Result"]) == set(sample["Result"])
    assert body["Result"]["ConversationID"] == accepted.conversation_id
    accounts = {entry.split("|")[0]: entry.split("|") for entry in result_parameters(body)["AccountBalance"].split("&")}
    assert Decimal(accounts["Utility Account"][3]) == Decimal("1000000.00") - 2500  # Available
    assert accounts["Utility Account"][1] == "KES"


def stk(client, receiver, phone: str):
    return client.stk_push(
        phone=phone,
        amount=Decimal(1),
        account_reference="INV-1",
        description="Invoice 1",
        callback_url=receiver.url(STK_PATH),
    )


def test_stk_success_callback_looks_like_the_sample(simulator, client, receiver):
    accepted = stk(client, receiver, "254708374149")
    (body,) = receiver.wait_for(STK_PATH)
    callback = body["Body"]["stkCallback"]
    sample = json.loads((SAMPLES / "stk_callback_success.json").read_text())["Body"]["stkCallback"]
    assert set(callback) == set(sample)
    assert callback["ResultCode"] == 0
    assert callback["CheckoutRequestID"] == accepted.checkout_request_id
    assert callback["MerchantRequestID"] == accepted.merchant_request_id
    items = {item["Name"]: item.get("Value") for item in callback["CallbackMetadata"]["Item"]}
    assert items["Amount"] == 1.0
    assert items["PhoneNumber"] == 254708374149
    assert str(items["MpesaReceiptNumber"]).startswith("SIM")
    assert len(str(items["TransactionDate"])) == 14


def test_stk_cancelled_by_user(simulator, client, receiver):
    stk(client, receiver, phone_for("032"))
    (body,) = receiver.wait_for(STK_PATH)
    callback = body["Body"]["stkCallback"]
    assert callback["ResultCode"] == 1032
    assert callback["ResultDesc"] == "Request cancelled by user"
    assert "CallbackMetadata" not in callback


def test_stk_with_a_wrong_passkey_is_refused(simulator_keys, receiver):
    from daraja_simulator import SimulatorServer, SimulatorSettings

    with SimulatorServer(
        port=0, settings=SimulatorSettings(delay=0.05, stk_passkey="right"), keys=simulator_keys
    ) as sim:
        client = make_client(sim)  # its passkey is "passkey"
        with pytest.raises(DarajaAuthError) as caught:
            stk(client, receiver, "254708374149")
    assert caught.value.code == "500.001.1001"
