"""Reversal and Pull Transactions: request bodies, the documented samples and their quirks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses

from daraja.callbacks import CallbackParseError
from daraja.errors import DarajaConfigurationError, DarajaOutcomeUnknown, DarajaValidationError
from daraja.pull_transactions import (
    MsisdnKind,
    parse_pull_answer,
    parse_pull_rows,
    pull_all,
    pull_query,
    pull_register,
)
from daraja.result_codes import Namespace, classify
from daraja.reversal import ReversalOutcome, parse_reversal_result, reversal_payload, reversal_request
from tests.daraja.helpers import BASE_URL, SECURITY_CREDENTIAL, add_token

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"
REVERSAL_URL = f"{BASE_URL}/mpesa/reversal/v1/request"
PULL_REGISTER_URL = f"{BASE_URL}/pulltransactions/v1/register"
PULL_QUERY_URL = f"{BASE_URL}/pulltransactions/v1/query"
START = datetime(2020, 8, 4, 5, 36, tzinfo=UTC)  # 08:36 in Nairobi
END = datetime(2020, 8, 5, 7, 10, tzinfo=UTC)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(), parse_float=Decimal)


def sent(mocked, url: str) -> dict:
    return json.loads(next(c.request.body for c in mocked.calls if c.request.url == url))


# --- Reversal ---------------------------------------------------------------------------------------------


def reverse(client, **overrides):
    values = {
        "transaction_id": "PDU91HIVIT",
        "amount": Decimal("200"),
        "receiver_party": "603021",
        "remarks": "Payment reversal",
        "result_url": "https://payouts.example.co.ke/cb/reversal-result/tok/",
        "timeout_url": "https://payouts.example.co.ke/cb/reversal-timeout/tok/",
    }
    values.update(overrides)
    return reversal_request(client, **values)


def test_reversal_request_body_is_the_documented_one(client, mocked):
    add_token(mocked)
    accepted_body = {
        "OriginatorConversationID": "8a8b-1",
        "ConversationID": "AG_2021_x",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    mocked.add(responses.POST, REVERSAL_URL, json=accepted_body)

    accepted = reverse(client)

    body = sent(mocked, REVERSAL_URL)
    documented = sample("reversal_request.json")
    assert set(body) == set(documented)
    assert body["CommandID"] == "TransactionReversal" and body["RecieverIdentifierType"] == "11"
    assert body["TransactionID"] == "PDU91HIVIT" and body["Amount"] == "200" and body["ReceiverParty"] == "603021"
    assert body["SecurityCredential"] == SECURITY_CREDENTIAL and body["Initiator"] == "testapi"
    assert accepted.conversation_id == "AG_2021_x" and accepted.originator_conversation_id == "8a8b-1"
    assert mocked.calls[0].request.url.startswith(f"{BASE_URL}/oauth")  # the STK/C2B app's token by default


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("transaction_id", "not a receipt", "invalid_transaction_id"),
        ("amount", Decimal("10.50"), "invalid_amount"),
        ("receiver_party", "60A", "invalid_receiver_party"),
        ("remarks", "x", "invalid_remarks"),
    ],
)
def test_bad_reversal_input_is_refused_before_sending(client, mocked, field, value, code):
    with pytest.raises(DarajaValidationError) as caught:
        reverse(client, **{field: value})
    assert caught.value.code == code
    assert not mocked.calls


def test_a_reversal_without_an_initiator_is_a_configuration_error():
    with pytest.raises(DarajaConfigurationError):
        reversal_payload(
            transaction_id="PDU91HIVIT",
            amount=Decimal(1),
            receiver_party="603021",
            remarks="ok",
            result_url="https://x.test/a",
            timeout_url="https://x.test/b",
            initiator_name="",
            security_credential="",
        )


def test_reversal_success_sample_completes_with_its_parameters():
    result = parse_reversal_result(sample("reversal_result_success.json"))
    assert result.outcome is ReversalOutcome.COMPLETED and not result.already_reversed
    assert result.result_code == "0" and result.transaction_id == "SKE52PAWR9"
    assert result.original_transaction_id == "SKC82PACB8"
    assert result.amount == Decimal("1.0") and result.charge == Decimal("0.0")
    assert result.credit_party.phone == "254705912645" and result.credit_party.name == "NICHOLAS JOHN SONGOK"
    assert result.completed_at.isoformat() == "2021-11-14T13:27:11+03:00"


def test_reversal_invalid_sample_is_a_final_failure_without_a_receipt():
    result = parse_reversal_result(sample("reversal_result_invalid.json"))
    assert result.outcome is ReversalOutcome.FAILED
    assert result.result_code == "R000002" and result.transaction_id == ""  # SKE0000000 is a placeholder


def test_already_reversed_means_the_money_is_back_and_is_flagged():
    data = sample("reversal_result_invalid.json")
    data["Result"]["ResultCode"] = "r000001"
    result = parse_reversal_result(data)
    assert result.outcome is ReversalOutcome.COMPLETED and result.already_reversed
    assert result.transaction_id == ""


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("8006", ReversalOutcome.FAILED),
        ("17", ReversalOutcome.UNKNOWN),
        ("X123", ReversalOutcome.UNKNOWN),
        (0, ReversalOutcome.COMPLETED),
    ],
)
def test_other_reversal_codes_read_as_b2c(code, outcome):
    data = sample("reversal_result_invalid.json")
    data["Result"]["ResultCode"] = code
    assert parse_reversal_result(data).outcome is outcome


def test_a_reversal_result_without_a_code_is_invalid():
    data = sample("reversal_result_invalid.json")
    data["Result"]["ResultCode"] = {"x": 1}
    with pytest.raises(CallbackParseError):
        parse_reversal_result(data)


def test_reversal_codes_are_in_their_own_namespace():
    assert classify(Namespace.REVERSAL, "R000001").is_success
    assert classify(Namespace.REVERSAL, "R000002").is_final_failure
    assert classify(Namespace.B2C, "R000002").is_unknown  # a status query's R000002 proves nothing


# --- Pull Transactions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status_code", ["1000", "1001"])
def test_pull_register_accepts_registered_and_already_registered(client, mocked, status_code):
    add_token(mocked)
    answer = {**sample("pull_register_response.json"), "ResponseStatus": status_code}
    mocked.add(responses.POST, PULL_REGISTER_URL, json=answer)

    registration = pull_register(
        client,
        shortcode="600000",
        nominated_number="254722000000",
        callback_url="https://payouts.example.co.ke/cb/pull/tok/",
    )

    assert registration.already_registered is (status_code == "1001")
    body = sent(mocked, PULL_REGISTER_URL)
    assert body == {**sample("pull_register_request.json"), "CallBackURL": "https://payouts.example.co.ke/cb/pull/tok/"}


def test_pull_register_refusal_raises(client, mocked):
    add_token(mocked)
    mocked.add(
        responses.POST,
        PULL_REGISTER_URL,
        status=400,
        json={"requestId": "1", "errorCode": "400.001", "errorMessage": "Invalid shortcode"},
    )
    with pytest.raises(DarajaValidationError):
        pull_register(
            client,
            shortcode="600000",
            nominated_number="254722000000",
            callback_url="https://payouts.example.co.ke/cb/pull/tok/",
        )


def test_pull_register_refuses_a_forbidden_word_before_sending(client, mocked):
    with pytest.raises(DarajaValidationError, match='"mpesa"'):
        pull_register(
            client,
            shortcode="600000",
            nominated_number="254722000000",
            callback_url="https://pay.example.co.ke/mpesa/pull/tok/",
        )
    assert not mocked.calls


def test_pull_sample_rows_parse_to_decimal_and_aware_time():
    page = parse_pull_answer(200, sample("pull_query_response.json"))
    (row,) = page.rows
    assert row.transaction_id == "LHG31AA5TX" and row.amount == Decimal("233.80")
    assert row.occurred_at == datetime(2020, 8, 5, 10, 13, tzinfo=UTC)
    assert row.msisdn == "254722000000" and row.msisdn_kind is MsisdnKind.FULL
    assert (row.transaction_type, row.bill_reference, row.organization_name) == (
        "c2b-pay-bill-debit",
        "ORDER-1",
        "Daraja Pull API Test",
    )


def test_pull_empty_sample_is_no_rows():
    page = parse_pull_answer(200, sample("pull_query_empty.json"))
    assert page.rows == () and page.unreadable == () and page.size == 0


def test_rows_as_a_flat_list_or_a_list_of_lists_read_the_same():
    row = sample("pull_query_response.json")["Response"][0][0]
    assert parse_pull_rows([row]) == parse_pull_rows([[row]]) == parse_pull_rows(json.dumps([[row]]))


def test_masked_hashed_and_unreadable_rows():
    base = sample("pull_query_response.json")["Response"][0][0]
    rows, unreadable = parse_pull_rows(
        [
            {**base, "msisdn": "2547 ***** 126"},
            {**base, "msisdn": "a" * 64},
            {**base, "amount": "1e20"},
            {**base, "transactionId": ""},
            "junk",
        ]
    )
    assert [r.msisdn_kind for r in rows] == [MsisdnKind.MASKED, MsisdnKind.HASHED]
    assert [reason for _, reason in unreadable] == [
        "amount is not a positive amount to the cent",
        "no transactionId",
        "not an object",
    ]


def test_pull_query_sends_nairobi_times(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, PULL_QUERY_URL, json=sample("pull_query_empty.json"))
    pull_query(client, shortcode="600000", start=START, end=END)
    assert sent(mocked, PULL_QUERY_URL) == sample("pull_query_request.json")


def test_pull_query_refuses_a_naive_or_backwards_window(client, mocked):
    with pytest.raises(DarajaValidationError):
        pull_query(client, shortcode="600000", start=datetime(2020, 8, 4), end=datetime(2020, 8, 5))
    with pytest.raises(DarajaValidationError):
        pull_query(client, shortcode="600000", start=END, end=START)
    assert not mocked.calls


def _page(n: int, first: int) -> dict:
    base = sample("pull_query_response.json")["Response"][0][0]
    rows = [{**base, "transactionId": f"LHG{first + i:07d}"} for i in range(n)]
    return {"ResponseCode": "1000", "ResponseMessage": "Success", "Response": [rows]}


def test_pull_all_pages_by_offset_until_a_short_page(client, mocked):
    add_token(mocked)
    for answer in (_page(3, 0), _page(3, 3), _page(1, 6)):
        mocked.add(responses.POST, PULL_QUERY_URL, json=answer)

    history = pull_all(client, shortcode="600000", start=START, end=END)

    offsets = [json.loads(c.request.body)["OffSetValue"] for c in mocked.calls if c.request.url == PULL_QUERY_URL]
    assert offsets == ["0", "3", "6"]
    assert history.complete and history.pages == 3 and len({r.transaction_id for r in history.rows}) == 7


def test_pull_all_stops_at_an_empty_page_and_at_max_pages(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, PULL_QUERY_URL, json=_page(2, 0))
    mocked.add(responses.POST, PULL_QUERY_URL, json=sample("pull_query_empty.json"))
    history = pull_all(client, shortcode="600000", start=START, end=END)
    assert history.complete and len(history.rows) == 2 and history.pages == 2

    mocked.add(responses.POST, PULL_QUERY_URL, json=_page(2, 0))
    history = pull_all(client, shortcode="600000", start=START, end=END, page_size=2, max_pages=2)
    assert not history.complete and history.pages == 2


def test_pull_nothing_available_error_is_an_empty_page():
    page = parse_pull_answer(500, {"requestId": "1", "errorCode": "500", "errorMessage": "No data available"})
    assert page.rows == () and page.response_code == "500"


def test_a_lost_reversal_answer_is_unknown_and_no_secret_reaches_the_log(client, mocked, caplog):
    add_token(mocked)
    mocked.add(responses.POST, REVERSAL_URL, body=requests.exceptions.ReadTimeout())
    with caplog.at_level("DEBUG"), pytest.raises(DarajaOutcomeUnknown) as caught:
        reverse(client, result_url="https://payouts.example.co.ke/cb/reversal-result/tok-SECRET-77/")
    assert len([c for c in mocked.calls if c.request.url == REVERSAL_URL]) == 1  # never sent twice
    for secret in (SECURITY_CREDENTIAL, "tok-SECRET-77", "tok-1"):
        assert secret not in caplog.text and secret not in str(caught.value)
