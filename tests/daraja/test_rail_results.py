"""Parsing of B2B (paybill, till, top-up) and Pochi results (daraja/rail_results.py), each documented sample
and each quirk, and the rail-aware reading of their codes."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.nairobi_time import NAIROBI
from daraja.callbacks import B2CResult, CallbackParseError, load_json
from daraja.rail_results import (
    B2BResult,
    is_placeholder_receipt,
    parse_account_reading,
    parse_amount_form,
    parse_b2b_result,
    parse_b2b_timeout,
    parse_rail_result,
)
from daraja.result_codes import Namespace, classify_rail, lookup

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"


def sample(name: str) -> dict:
    # As the callback views read bodies: numbers with a fraction become Decimal, never float.
    return load_json((SAMPLES / name).read_bytes())


def test_the_documented_success_gives_every_field():
    parsed = parse_b2b_result(sample("b2b_result_success.json"))
    assert parsed.succeeded and parsed.result_code == "0"
    assert parsed.originator_conversation_id == "626f6ddf-ab37-4650-b882-b1de92ec9aa4"
    assert parsed.conversation_id == "12345677dfdf89099B3"
    assert parsed.receipt == "QKA81LK5CY"
    assert parsed.amount == Decimal("190.00") and isinstance(parsed.amount, Decimal)
    assert parsed.completed_at == datetime(2022, 11, 10, 11, 7, 17, tzinfo=NAIROBI)
    assert parsed.charges is None  # DebitPartyCharges ""
    assert (parsed.receiver_number, parsed.receiver_name) == ("000000", "Biller Company")
    assert parsed.working_balance == Decimal("6186.83")
    assert parsed.affected_account.account == "Working Account"
    assert parsed.affected_account.current == Decimal("346568.83")
    assert parsed.affected_account.reserved == Decimal("340382.00")
    assert parsed.bill_reference == "19008"
    assert parsed.currency == "KES"


def test_the_documented_failure_has_no_receipt_and_a_number_code():
    parsed = parse_b2b_result(sample("b2b_result_failure.json"))
    assert parsed.result_code == "2001"
    assert not parsed.succeeded and parsed.code_info.is_final_failure
    assert parsed.receipt is None  # OAK0000000 is a placeholder
    assert parsed.amount is None and parsed.working_balance is None and parsed.bill_reference == ""
    # The one parameter (an object, not a list) still gives the completion time.
    assert parsed.completed_at == datetime(2020, 1, 20, 16, 48, 25, tzinfo=NAIROBI)


def success_with(**changes) -> dict:
    body = copy.deepcopy(sample("b2b_result_success.json"))
    body["Result"].update(changes)
    return body


@pytest.mark.parametrize("code", [0, "0", " 0 ", Decimal("0")])
def test_a_success_code_may_be_a_string_or_a_number(code):
    assert parse_b2b_result(success_with(ResultCode=code)).succeeded


@pytest.mark.parametrize("placeholder", ["OAK0000000", "OA00000000", "oak0000000"])
def test_a_placeholder_transaction_id_is_never_a_receipt_even_on_success(placeholder):
    assert is_placeholder_receipt(placeholder)
    assert parse_b2b_result(success_with(TransactionID=placeholder)).receipt is None


@pytest.mark.parametrize("receipt", ["QKA81LK5CY", "SIM0000001", "OAK000000A"])
def test_a_real_receipt_is_not_a_placeholder(receipt):
    assert not is_placeholder_receipt(receipt)


def test_a_failure_never_gives_its_transaction_id_as_a_receipt():
    assert parse_b2b_result(success_with(ResultCode=1, TransactionID="QKA81LK5CY")).receipt is None


def parameters_of(body: dict) -> list[dict]:
    return body["Result"]["ResultParameters"]["ResultParameter"]


def test_charges_are_read_when_there_are_some():
    body = success_with()
    for item in parameters_of(body):
        if item["Key"] == "DebitPartyCharges":
            item["Value"] = "Business Pay Bill Charge|KES|22.00"
    assert parse_b2b_result(body).charges == Decimal("22.00")


def test_without_the_affected_account_the_working_balance_comes_from_the_amount_form():
    body = success_with()
    body["Result"]["ResultParameters"]["ResultParameter"] = [
        p for p in parameters_of(body) if p["Key"] not in ("DebitPartyAffectedAccountBalance", "DebitAccountBalance")
    ]
    assert parse_b2b_result(body).working_balance == Decimal("6186.83")  # InitiatorAccountCurrentBalance


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}", Decimal("6186.83")),
        ("{Amount={CurrencyCode=KES, MinimumAmount=618683}}", Decimal("6186.83")),
        ("{Amount={BasicAmount=1,250.50}}", Decimal("1250.50")),
        ("", None),
        ("garbage", None),
    ],
)
def test_the_amount_form(value, expected):
    assert parse_amount_form(value) == expected


def test_account_reading_shapes():
    reading = parse_account_reading("Working Account|KES|346568.83|6186.83|340382.00|0.00")
    assert (reading.current, reading.available, reading.uncleared) == (
        Decimal("346568.83"),
        Decimal("6186.83"),
        Decimal("0.00"),
    )
    assert parse_account_reading("Working Account|KES") is None
    assert parse_account_reading("Working Account|KES|1|x") is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"Result": "x"},
        {"Result": {"ResultCode": "0"}},  # neither id
        {"Result": {"OriginatorConversationID": "1", "ResultCode": {"a": 1}}},
        {"Result": {"OriginatorConversationID": "1"}},
    ],
)
def test_bodies_we_cannot_act_on_are_refused_with_a_safe_message(body):
    with pytest.raises(CallbackParseError):
        parse_b2b_result(body)


def test_a_receiver_public_name_names_a_shortcode_never_a_phone():
    body = success_with()
    for item in parameters_of(body):
        if item["Key"] == "ReceiverPartyPublicName":
            item["Value"] = "888880 - Kenya Power"
    parsed = parse_b2b_result(body)
    assert (parsed.receiver_number, parsed.receiver_name) == ("888880", "Kenya Power")


# --- By rail ---------------------------------------------------------------------------------------------


def test_parse_rail_result_reads_pochi_as_b2c_and_b2b_rails_as_b2b():
    b2c = json.loads((SAMPLES / "b2c_result_success.json").read_text())
    assert isinstance(parse_rail_result("pochi", b2c), B2CResult)
    assert isinstance(parse_rail_result("mobile", b2c), B2CResult)
    for rail in ("paybill", "till", "float_topup"):
        assert isinstance(parse_rail_result(rail, sample("b2b_result_success.json")), B2BResult)
    with pytest.raises(ValueError):
        parse_rail_result("bank", b2c)


def test_sfc_ic0003_on_a_b2b_rail_says_to_check_paybill_against_till():
    info = classify_rail("till", "SFC_IC0003")
    assert info.is_final_failure and info.namespace == Namespace.B2B
    assert "paybill against till" in info.admin_message
    assert "till" in info.action and "paybill" in info.action
    # The B2C entry is unchanged: a phone that is not an M-Pesa number.
    assert classify_rail("mobile", "SFC_IC0003") == lookup("SFC_IC0003") and "phone" in lookup("SFC_IC0003").action


@pytest.mark.parametrize("code", ["15", "17", "26", "1037", "9999"])
def test_codes_that_prove_nothing_stay_unknown_on_b2b_rails(code):
    assert classify_rail("paybill", code).is_unknown


def test_insufficient_funds_on_a_b2b_rail_names_the_working_account():
    assert "Working account" in classify_rail("float_topup", 1).admin_message
    assert "utility" in classify_rail("pochi", 1).admin_message.lower()


def test_an_unknown_rail_is_a_bug_not_input():
    with pytest.raises(ValueError):
        classify_rail("bank", "0")


# --- QueueTimeOut posts of B2B requests ------------------------------------------------------------------


def test_an_echoed_b2b_request_is_a_timeout_naming_whom_and_how_much():
    notice = parse_b2b_timeout(json.loads((SAMPLES / "b2b_paybill_request.json").read_text()))
    assert (notice.originator_conversation_id, notice.party_b, notice.amount) == ("", "888880", Decimal("239"))
    assert notice.result_code == ""  # a timeout, never a failure


def test_a_result_envelope_at_the_timeout_url_is_a_timeout():
    body = {"Result": {"ResultCode": "1037", "ResultDesc": "Timeout", "ConversationID": "AG_1"}}
    assert parse_b2b_timeout(body).result_code == "1037"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"CommandID": "BusinessPayBill", "PartyB": "888880"},
        {"CommandID": "BusinessPayment", "PartyB": "1", "Amount": "5"},
        {"Result": {"ResultDesc": "x"}},
    ],
)
def test_anything_less_is_not_a_b2b_timeout(body):
    with pytest.raises(CallbackParseError):
        parse_b2b_timeout(body)
