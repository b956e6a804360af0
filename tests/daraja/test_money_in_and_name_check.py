"""C2B URL registration, STK Push Query, Hakikisha, Org Info and the name comparison."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses

from daraja.config import FORBIDDEN_URL_WORDS
from daraja.errors import DarajaAuthError, DarajaValidationError
from daraja.money_in import StkQueryOutcome, c2b_register_urls, classify_stk_query, stk_query
from daraja.name_check import (
    NameCheckOutcome,
    hakikisha_lookup,
    org_info_lookup,
    parse_hakikisha,
    parse_org_info,
)
from daraja.names import NameMatch, compare_business_name, compare_first_name
from tests.daraja.helpers import BASE_URL, STK_PASSKEY, add_token

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"
C2B_URL = f"{BASE_URL}/mpesa/c2b/v2/registerurl"
STK_QUERY_URL = f"{BASE_URL}/mpesa/stkpushquery/v1/query"
HAKIKISHA_URL = f"{BASE_URL}/mpesa/b2c/hakikisha/v1/hakikisha"
ORG_INFO_URL = f"{BASE_URL}/sfcverify/v1/query/info"
GOOD = "https://payouts.example.co.ke/cb/c2b-confirmation/tok/"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(), parse_float=Decimal)


def sent(mocked, url: str) -> dict:
    return json.loads(next(c.request.body for c in mocked.calls if c.request.url == url))


# --- C2B URL registration ---------------------------------------------------------------------------------


def test_c2b_registration_body_is_the_documented_one(client, mocked):
    add_token(mocked)
    mocked.add(
        responses.POST,
        C2B_URL,
        json={"OriginatorCoversationID": "7619-1", "ResponseCode": "0", "ResponseDescription": "Success"},
    )
    registration = c2b_register_urls(
        client, shortcode="601426", confirmation_url=GOOD, validation_url=GOOD.replace("confirmation", "validation")
    )
    assert set(sent(mocked, C2B_URL)) == set(sample("c2b_register_request.json"))
    assert sent(mocked, C2B_URL)["ResponseType"] == "Completed"
    assert registration.response_code == "0" and registration.originator_conversation_id == "7619-1"


def test_c2b_registration_can_use_v1(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, f"{BASE_URL}/mpesa/c2b/v1/registerurl", json={"ResponseCode": "0"})
    c2b_register_urls(client, shortcode="601426", confirmation_url=GOOD, validation_url=GOOD, version="v1")
    assert mocked.calls[-1].request.url.endswith("/v1/registerurl")


@pytest.mark.parametrize("word", FORBIDDEN_URL_WORDS)
def test_a_url_with_a_word_safaricom_refuses_is_refused_before_calling(client, mocked, word):
    url = f"https://pay.example.co.ke/{word.upper()}/secret-token-123/"
    with pytest.raises(DarajaValidationError) as caught:
        c2b_register_urls(client, shortcode="601426", confirmation_url=GOOD, validation_url=url)
    assert f'"{word}"' in caught.value.message and "ValidationURL" in caught.value.message
    assert "secret-token-123" not in str(caught.value)  # the URL's token never reaches a message
    assert not mocked.calls


@pytest.mark.parametrize("kwargs", [{"response_type": "Maybe"}, {"shortcode": "60A"}, {"confirmation_url": "ftp://x"}])
def test_other_bad_registration_input_is_refused(client, mocked, kwargs):
    values = {"shortcode": "601426", "confirmation_url": GOOD, "validation_url": GOOD, **kwargs}
    with pytest.raises(DarajaValidationError):
        c2b_register_urls(client, **values)
    assert not mocked.calls


# --- STK Push Query ---------------------------------------------------------------------------------------


def test_stk_query_sample_cancelled_is_failed_with_its_reason(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, STK_QUERY_URL, json=sample("stk_query_response.json"))

    answer = stk_query(client, checkout_request_id="ws_CO_260520211133524545")

    body = sent(mocked, STK_QUERY_URL)
    assert set(body) == set(sample("stk_query_request.json"))
    assert base64.b64decode(body["Password"]).decode() == f"174379{STK_PASSKEY}{body['Timestamp']}"
    assert answer.outcome is StkQueryOutcome.FAILED and answer.result_code == "1032"
    assert answer.reason == "The customer cancelled the M-Pesa prompt"
    assert answer.checkout_request_id == "ws_CO_13012021093521236557"


@pytest.mark.parametrize("code", ["1032", "1037", "2001", "1", "1019", "1025", "9999", 1032])
def test_codes_that_prove_the_customer_did_not_pay(code):
    answer = classify_stk_query(200, {**sample("stk_query_response.json"), "ResultCode": code})
    assert answer.outcome is StkQueryOutcome.FAILED and answer.reason


def test_result_code_zero_is_paid_without_a_receipt():
    answer = classify_stk_query(200, {**sample("stk_query_response.json"), "ResultCode": "0"})
    assert answer.outcome is StkQueryOutcome.PAID and "no receipt" in answer.reason


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (429, {"errorCode": "500.003.02", "errorMessage": "Spike arrest"}, StkQueryOutcome.RETRY_LATER),
        (500, {"errorCode": "500.003.02", "errorMessage": "Spike arrest"}, StkQueryOutcome.RETRY_LATER),
        (
            500,
            {"errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"},
            StkQueryOutcome.PENDING,
        ),
        (200, {"ResponseCode": "0", "ResultCode": "4999", "ResultDesc": "?"}, StkQueryOutcome.PENDING),
        (200, {"ResponseCode": "0"}, StkQueryOutcome.PENDING),
        (502, None, StkQueryOutcome.PENDING),
    ],
)
def test_throttle_and_unclear_answers_are_not_outcomes(status, body, outcome):
    assert classify_stk_query(status, body).outcome is outcome


def test_stk_query_timeout_is_pending_and_refused_credentials_raise(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, STK_QUERY_URL, body=requests.exceptions.ReadTimeout())
    assert stk_query(client, checkout_request_id="ws_CO_1").outcome is StkQueryOutcome.PENDING

    mocked.replace(responses.POST, STK_QUERY_URL, status=401, json={"errorCode": "401.002.01", "errorMessage": "x"})
    with pytest.raises(DarajaAuthError):
        stk_query(client, checkout_request_id="ws_CO_1")


# --- Hakikisha ----------------------------------------------------------------------------------------------


def test_hakikisha_found_gives_the_first_name_and_masked_rest(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, HAKIKISHA_URL, json=sample("hakikisha_response.json"))

    answer = hakikisha_lookup(client, msisdn="254722000000", request_id="8aeefeea-8713-4a4d-b1b4-7b8c143b7ec1")

    body = sent(mocked, HAKIKISHA_URL)
    assert body["body"] == {"msisdn": "254722000000", "shortcode": "600992"}
    assert (
        body["header"]["requestID"] == "8aeefeea-8713-4a4d-b1b4-7b8c143b7ec1" and body["header"]["timestamp"].isdigit()
    )
    assert answer.outcome is NameCheckOutcome.FOUND
    assert answer.first_name == "john" and answer.masked_rest == "M****** M******"


def test_hakikisha_unknown_number_is_not_found():
    answer = parse_hakikisha(400, sample("hakikisha_error.json"))
    assert answer.outcome is NameCheckOutcome.NOT_FOUND and answer.message == "The customer does not exist."


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"requestId": "1", "errorCode": "500.003.1001", "errorMessage": "Internal Server Error"}),
        (400, {"header": {"status": "400"}, "body": {"message": "Invalid shortcode"}}),
        (200, "not json"),
    ],
)
def test_hakikisha_errors_are_not_checked(status, body):
    assert parse_hakikisha(status, body).outcome is NameCheckOutcome.NOT_CHECKED


def test_hakikisha_timeout_is_not_checked_and_bad_numbers_are_refused(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, HAKIKISHA_URL, body=requests.exceptions.ConnectTimeout())
    assert hakikisha_lookup(client, msisdn="254722000000").outcome is NameCheckOutcome.NOT_CHECKED
    with pytest.raises(DarajaValidationError):
        hakikisha_lookup(client, msisdn="0722000000")


# --- Org Info ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["4000", 0, "0"])
def test_org_info_success_is_decided_by_the_name_not_the_code(client, mocked, code):
    add_token(mocked)
    mocked.add(responses.POST, ORG_INFO_URL, json={**sample("org_info_response.json"), "ResponseCode": code})
    answer = org_info_lookup(client, identifier="666677", identifier_type="paybill")
    assert sent(mocked, ORG_INFO_URL) == sample("org_info_request.json")
    assert answer.outcome is NameCheckOutcome.FOUND and answer.organization_name == "Daraja"
    assert answer.charge_profile_id == "20013"


def test_org_info_without_a_name():
    not_found = parse_org_info(200, {"ResponseCode": "4001", "DetailedMessage": "Organization not found"})
    assert not_found.outcome is NameCheckOutcome.NOT_FOUND
    assert parse_org_info(200, {"ResponseCode": "4000"}).outcome is NameCheckOutcome.NOT_CHECKED
    assert parse_org_info(503, None).outcome is NameCheckOutcome.NOT_CHECKED


def test_org_info_refuses_bad_identifiers(client, mocked):
    with pytest.raises(DarajaValidationError):
        org_info_lookup(client, identifier="12", identifier_type="till")
    with pytest.raises(DarajaValidationError):
        org_info_lookup(client, identifier="666677", identifier_type="3")
    assert not mocked.calls


# --- Names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "reported", "match"),
    [
        ("John Mwangi", "john", NameMatch.MATCH),
        ("Mwangi JOHN", "John", NameMatch.MATCH),
        ("Zoë Wanjiru", "ZOE", NameMatch.MATCH),
        ("José Otieno", "jose", NameMatch.MATCH),
        ("Peter Kamau", "john", NameMatch.MISMATCH),
        ("Peter Kamau", "M******", NameMatch.UNKNOWN),
        ("", "john", NameMatch.UNKNOWN),
    ],
)
def test_first_names(expected, reported, match):
    assert compare_first_name(expected, reported) is match


@pytest.mark.parametrize(
    ("expected", "reported", "match"),
    [
        ("Mama Mboga Groceries Ltd", "MAMA MBOGA GROCERIES", NameMatch.MATCH),
        ("Daraja", "Daraja", NameMatch.MATCH),
        ("Acme Hardware Limited", "Daraja Pull API Test", NameMatch.MISMATCH),
        ("Café Nairobi", "CAFE NAIROBI LTD", NameMatch.MATCH),
        ("", "Daraja", NameMatch.UNKNOWN),
    ],
)
def test_business_names(expected, reported, match):
    assert compare_business_name(expected, reported) is match
