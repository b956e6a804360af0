"""The Daraja client against mocked HTTP (`responses`): bodies, tokens, and how every failure is classed."""

from __future__ import annotations

import base64
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from daraja.client import DarajaClient
from daraja.errors import (
    DarajaAuthError,
    DarajaConfigurationError,
    DarajaConnectError,
    DarajaDuplicate,
    DarajaError,
    DarajaNotSent,
    DarajaOutcomeUnknown,
    DarajaRateLimited,
    DarajaValidationError,
)
from tests.daraja.helpers import (
    ACCEPTED,
    B2C_SECRET,
    B2C_URL,
    BALANCE_URL,
    OAUTH_URL,
    SECURITY_CREDENTIAL,
    STATUS_URL,
    STK_PASSKEY,
    STK_SECRET,
    STK_URL,
    FakeCache,
    add_token,
    make_config,
    pay,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def sent_json(call) -> dict:
    return json.loads(call.request.body)


# --- Requests as documented ---------------------------------------------------------------------------


def test_b2c_payment_sends_the_documented_v3_body(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, json=sample("b2c_response_accepted.json"))

    accepted = pay(client, amount=Decimal("1500.00"))

    oauth, b2c = mocked.calls
    assert (
        oauth.request.headers["Authorization"] == "Basic " + base64.b64encode(f"b2c-key:{B2C_SECRET}".encode()).decode()
    )
    assert "grant_type=client_credentials" in oauth.request.url
    body = sent_json(b2c)
    assert set(body) == set(sample("b2c_request_v3.json"))  # same keys, "Occassion" spelling included
    assert body["Amount"] == "1500"  # whole shillings
    assert body["PartyA"] == "600992"
    assert body["PartyB"] == "254705912645"
    assert body["InitiatorName"] == "testapi"
    assert body["SecurityCredential"] == SECURITY_CREDENTIAL
    assert body["OriginatorConversationID"] == "600997_Test_32et3241ed8yu"
    assert body["Occassion"] == "ChristmasPay"
    assert b2c.request.headers["Authorization"] == "Bearer tok-1"
    assert accepted.conversation_id == "AG_20240706_20106e9209f64bebd05b"
    assert accepted.originator_conversation_id == "600997_Test_32et3241ed8yu"
    assert accepted.response_code == "0"


def test_every_request_carries_the_connect_and_read_timeouts(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, json=ACCEPTED)
    pay(client)
    assert [call.request.req_kwargs["timeout"] for call in mocked.calls] == [(3.0, 20.0), (3.0, 20.0)]


def test_transaction_status_query_body(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, STATUS_URL, json={**ACCEPTED, "OriginatorConversationID": "16917-22577599-3"})

    accepted = client.transaction_status(
        original_conversation_id="7071-4170-a0e5-8345632bad442144258",
        result_url="https://payouts.example.co.ke/callbacks/status/result/x",
        timeout_url="https://payouts.example.co.ke/callbacks/status/timeout/x",
    )

    body = sent_json(mocked.calls[1])
    assert set(body) == set(sample("transaction_status_request.json"))
    assert body["CommandID"] == "TransactionStatusQuery"
    assert body["IdentifierType"] == "4"
    assert body["PartyA"] == "600992"
    assert body["Initiator"] == "testapi"
    assert body["OriginalConversationID"] == "7071-4170-a0e5-8345632bad442144258"
    assert accepted.originator_conversation_id == "16917-22577599-3"


def test_a_status_query_names_the_shortcode_and_the_app_it_is_given(client, mocked):
    # A payout sent from another shortcode (B2B, top-up, a reversal's paybill) is asked about from there.
    mocked.add(responses.GET, OAUTH_URL, json={"access_token": "tok-stk", "expires_in": "3599"})
    mocked.add(responses.POST, STATUS_URL, json=ACCEPTED)

    client.transaction_status(
        original_conversation_id="AG-ocid",
        party_a="174379",
        product="stk",
        result_url="https://x.example/r",
        timeout_url="https://x.example/t",
    )

    oauth, query = mocked.calls
    assert oauth.request.headers["Authorization"] == _basic(client.config.stk_credentials)
    assert query.request.headers["Authorization"] == "Bearer tok-stk"
    assert (sent_json(query)["PartyA"], sent_json(query)["IdentifierType"]) == ("174379", "4")


def _basic(credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.consumer_key}:{credentials.consumer_secret}".encode()).decode()


def test_account_balance_query_body(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, BALANCE_URL, json=ACCEPTED)

    client.account_balance(result_url="https://x.example/r", timeout_url="https://x.example/t")

    body = sent_json(mocked.calls[1])
    assert body["CommandID"] == "AccountBalance"
    assert body["IdentifierType"] == "4"
    assert body["PartyA"] == "600992"
    assert body["SecurityCredential"] == SECURITY_CREDENTIAL


def test_stk_push_password_is_shortcode_passkey_and_nairobi_timestamp(client, mocked):
    mocked.add(responses.GET, OAUTH_URL, json={"access_token": "stk-token", "expires_in": 3599})
    stk_answer = {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": "ws_CO_191220191020363925",
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }
    mocked.add(responses.POST, STK_URL, json=stk_answer)

    accepted = client.stk_push(
        phone="254708374149",
        amount=Decimal("1"),
        account_reference="INV-42",
        description="Invoice 42",
        callback_url="https://x.example/callbacks/stk/y",
    )

    oauth, stk = mocked.calls
    assert oauth.request.headers["Authorization"].endswith(base64.b64encode(f"stk-key:{STK_SECRET}".encode()).decode())
    body = sent_json(stk)
    # The fake clock is 2024-07-06 19:48:52 UTC, which is 22:48:52 in Nairobi (UTC+3).
    assert body["Timestamp"] == "20240706224852"
    assert base64.b64decode(body["Password"]).decode() == f"174379{STK_PASSKEY}20240706224852"
    assert body["TransactionType"] == "CustomerPayBillOnline"
    assert (body["PartyA"], body["PartyB"], body["PhoneNumber"]) == ("254708374149", "174379", "254708374149")
    assert body["Amount"] == "1"
    assert accepted.checkout_request_id == "ws_CO_191220191020363925"
    assert accepted.customer_message == "Success. Request accepted for processing"


# --- Refused before sending -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount": Decimal("10.50")}, "invalid_amount"),
        ({"amount": Decimal("0")}, "invalid_amount"),
        ({"phone": "0705912645"}, "invalid_phone"),
        ({"command_id": "Refund"}, "invalid_command_id"),
        ({"remarks": "x"}, "invalid_remarks"),
        ({"originator_conversation_id": ""}, "invalid_originator_conversation_id"),
    ],
)
def test_invalid_payouts_are_refused_without_any_http_call(client, mocked, overrides, code):
    with pytest.raises(DarajaValidationError) as caught:
        pay(client, **overrides)
    assert caught.value.code == code
    assert len(mocked.calls) == 0


def test_missing_configuration_is_refused_without_any_http_call(cache, clock, mocked):
    client = DarajaClient(make_config(security_credential=""), cache, clock=clock)
    with pytest.raises(DarajaConfigurationError) as caught:
        pay(client)
    assert isinstance(caught.value, DarajaNotSent)
    assert "security credential" in caught.value.message
    assert len(mocked.calls) == 0


# --- How failures are classed ------------------------------------------------------------------------------


def error(code: str, message: str) -> dict:
    return {"requestId": "1c5b-4ba8-815c-ac45c57a3db01469899", "errorCode": code, "errorMessage": message}


@pytest.mark.parametrize(
    ("status", "body", "expected", "code", "retryable"),
    [
        (400, error("400.002.02", "Bad Request - Invalid PartyB"), DarajaValidationError, "400.002.02", False),
        (400, error("400.002.05", "Invalid Request Payload"), DarajaValidationError, "400.002.05", False),
        (429, error("500.003.02", "Spike arrest violation"), DarajaRateLimited, "500.003.02", True),
        (500, error("500.003.02", "Spike arrest violation"), DarajaRateLimited, "500.003.02", True),
        (500, error("500.003.03", "Quota violation"), DarajaRateLimited, "500.003.03", True),
        (500, error("500.002.1001", "Duplicate OriginatorConversationID."), DarajaDuplicate, "500.002.1001", False),
        (500, error("500.003.1001", "Internal Server Error"), DarajaOutcomeUnknown, "500.003.1001", False),
        (500, error("500.001.1001", "Wrong credentials"), DarajaAuthError, "500.001.1001", False),
        (404, error("404.001.04", "Invalid Authentication Header"), DarajaAuthError, "404.001.04", False),
        (503, None, DarajaOutcomeUnknown, "http_503", False),
        (502, "<html>Bad gateway</html>", DarajaOutcomeUnknown, "http_502", False),
        (200, "<html>maintenance</html>", DarajaOutcomeUnknown, "unparseable_response", False),
        (200, {"ConversationID": "AG_1"}, DarajaOutcomeUnknown, "unparseable_response", False),
        (200, {"ResponseCode": "0", "ResponseDescription": "ok"}, DarajaOutcomeUnknown, "unparseable_response", False),
        (200, {**ACCEPTED, "ResponseCode": "1", "ResponseDescription": "Rejected"}, DarajaValidationError, "1", False),
    ],
)
def test_error_answers_are_classed_by_whether_mpesa_may_have_acted(
    client, mocked, status, body, expected, code, retryable
):
    add_token(mocked)
    if isinstance(body, dict):
        mocked.add(responses.POST, B2C_URL, json=body, status=status)
    else:
        mocked.add(responses.POST, B2C_URL, body=body or "", status=status)

    with pytest.raises(DarajaError) as caught:
        pay(client)

    assert type(caught.value) is expected
    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert caught.value.http_status == status
    assert caught.value.may_have_been_processed is isinstance(caught.value, DarajaOutcomeUnknown)
    assert len(mocked.calls) == 2  # one token, one payment: nothing was resent


def test_subscriber_lock_on_stk_is_a_wait_and_retry(client, mocked):
    add_token(mocked)
    lock = error(
        "500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber"
    )
    mocked.add(responses.POST, STK_URL, json=lock, status=500)
    with pytest.raises(DarajaRateLimited) as caught:
        client.stk_push(
            phone="254708374149", amount=Decimal(1), account_reference="A", description="B", callback_url="https://x/y"
        )
    assert caught.value.retryable is True


def test_oauth_refusal_is_an_auth_error_and_the_payment_is_never_sent(client, mocked):
    mocked.add(
        responses.GET,
        OAUTH_URL,
        json={"errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"},
        status=400,
    )
    with pytest.raises(DarajaAuthError) as caught:
        pay(client)
    assert caught.value.code == "400.008.01"
    assert caught.value.retryable is False
    assert [call.request.method for call in mocked.calls] == ["GET"]


def test_oauth_timeout_is_not_sent_because_the_payment_never_left(client, mocked):
    mocked.add(responses.GET, OAUTH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(DarajaNotSent) as caught:
        pay(client)
    assert caught.value.retryable is True
    assert len(mocked.calls) == 1


def test_read_timeout_means_the_outcome_is_unknown(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        pay(client)
    assert caught.value.code == "read_timeout"
    assert caught.value.retryable is False


def test_connect_timeout_means_nothing_was_sent(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(DarajaConnectError) as caught:
        pay(client)
    assert caught.value.code == "connect_timeout"
    assert caught.value.retryable is True


def test_connection_refused_means_nothing_was_sent(client, mocked):
    add_token(mocked)
    # The exact chain requests raises for ECONNREFUSED: ConnectionError(MaxRetryError(reason=NewConnectionError)).
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    mocked.add(
        responses.POST,
        B2C_URL,
        body=requests.exceptions.ConnectionError(MaxRetryError(None, B2C_URL, reason=refused)),
    )
    with pytest.raises(DarajaConnectError) as caught:
        pay(client)
    assert caught.value.code == "connect_error"
    assert caught.value.retryable is True


def test_connection_dropped_after_sending_means_the_outcome_is_unknown(client, mocked):
    add_token(mocked)
    dropped = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    mocked.add(responses.POST, B2C_URL, body=requests.exceptions.ConnectionError(dropped))
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        pay(client)
    assert caught.value.code == "connection_lost"


# --- Tokens ----------------------------------------------------------------------------------------------


def test_token_is_fetched_once_for_many_calls(client, mocked):
    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, json=ACCEPTED)
    mocked.add(responses.POST, BALANCE_URL, json=ACCEPTED)
    pay(client, originator_conversation_id="a")
    pay(client, originator_conversation_id="b")
    client.account_balance(result_url="https://x.example/r", timeout_url="https://x.example/t")
    assert [c.request.method for c in mocked.calls].count("GET") == 1


def test_token_is_shared_by_clients_over_one_django_cache(mocked):
    from django.core.cache import cache as django_cache

    add_token(mocked)
    mocked.add(responses.POST, B2C_URL, json=ACCEPTED)
    first = DarajaClient(make_config(), django_cache)
    second = DarajaClient(make_config(), django_cache)  # another process, as far as the token goes

    pay(first, originator_conversation_id="a")
    pay(second, originator_conversation_id="b")

    assert [c.request.method for c in mocked.calls] == ["GET", "POST", "POST"]
    assert mocked.calls[2].request.headers["Authorization"] == "Bearer tok-1"


def test_cache_key_holds_neither_the_secret_nor_the_consumer_key(client, cache, mocked):
    add_token(mocked)
    client.access_token(product="b2c")
    (key,) = cache.data
    assert B2C_SECRET not in key and "b2c-key" not in key
    assert "tok-1" not in key


def test_b2c_and_stk_apps_get_their_own_tokens(client, mocked):
    mocked.add(responses.GET, OAUTH_URL, json={"access_token": "b2c-token", "expires_in": "3599"})
    mocked.add(responses.GET, OAUTH_URL, json={"access_token": "stk-token", "expires_in": "3599"})
    assert client.access_token(product="b2c") == "b2c-token"
    assert client.access_token(product="stk") == "stk-token"
    assert client.access_token(product="b2c") == "b2c-token"
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("expires_in", ["3599", 3599])
def test_token_is_refreshed_a_minute_before_it_expires(client, clock, mocked, expires_in):
    add_token(mocked, "tok-1", expires_in)
    add_token(mocked, "tok-2", expires_in)
    assert client.access_token(product="b2c") == "tok-1"
    clock.advance(3599 - 61)
    assert client.access_token(product="b2c") == "tok-1"
    clock.advance(2)  # now less than 60 s before Daraja's expiry
    assert client.access_token(product="b2c") == "tok-2"
    assert len(mocked.calls) == 2


def test_refresh_happens_even_if_the_cache_ignores_timeouts(cache, clock, mocked):
    class ForgetfulTimeoutCache(FakeCache):
        def set(self, key, value, timeout):
            super().set(key, value, None)  # keeps forever

    client = DarajaClient(make_config(), ForgetfulTimeoutCache(clock), clock=clock)
    add_token(mocked, "tok-1")
    add_token(mocked, "tok-2")
    client.access_token(product="b2c")
    clock.advance(3600)
    assert client.access_token(product="b2c") == "tok-2"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"requestId": "x", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
        (401, {"requestId": "x", "errorCode": "401.002.01", "errorMessage": "Error Occurred - Invalid Access Token"}),
        (400, {"requestId": "x", "errorCode": "400.003.01", "errorMessage": "Invalid Access Token"}),
        (401, None),
    ],
)
def test_invalid_token_is_dropped_refreshed_and_the_call_retried_once(client, cache, mocked, status, body):
    add_token(mocked, "stale")
    add_token(mocked, "fresh")
    if body is None:
        mocked.add(responses.POST, B2C_URL, body="", status=status)
    else:
        mocked.add(responses.POST, B2C_URL, json=body, status=status)
    mocked.add(responses.POST, B2C_URL, json=ACCEPTED)

    accepted = pay(client)

    assert accepted.conversation_id == ACCEPTED["ConversationID"]
    methods = [c.request.method for c in mocked.calls]
    assert methods == ["GET", "POST", "GET", "POST"]
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer stale"
    assert mocked.calls[3].request.headers["Authorization"] == "Bearer fresh"
    assert client.access_token(product="b2c") == "fresh"  # the new token is what the cache now holds


def test_two_invalid_token_answers_give_up_without_a_third_attempt(client, mocked):
    add_token(mocked, "one")
    add_token(mocked, "two")
    invalid = {"requestId": "x", "errorCode": "401.002.01", "errorMessage": "Invalid Access Token"}
    mocked.add(responses.POST, B2C_URL, json=invalid, status=401)

    with pytest.raises(DarajaAuthError) as caught:
        pay(client)

    assert caught.value.code == "401.002.01"
    assert [c.request.method for c in mocked.calls] == ["GET", "POST", "GET", "POST"]


def test_404_001_03_after_the_token_refresh_is_a_configuration_error_with_a_hint(client, mocked):
    """Daraja also answers 404.001.03 when the app lacks the product: a fresh token refused too is not a
    transient problem to retry five times, it is configuration (and says what to check)."""
    add_token(mocked, "one")
    add_token(mocked, "two")
    invalid = {"requestId": "x", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}
    mocked.add(responses.POST, B2C_URL, json=invalid, status=404)

    with pytest.raises(DarajaConfigurationError) as caught:
        pay(client)

    assert caught.value.code == "404.001.03"
    assert caught.value.retryable is False
    assert "lacks this product" in caught.value.message
    assert "one" not in caught.value.message and "two" not in caught.value.message  # no token in the message
    assert [c.request.method for c in mocked.calls] == ["GET", "POST", "GET", "POST"]


def test_a_token_another_process_already_refreshed_is_used_not_dropped(cache, clock, mocked):
    client = DarajaClient(make_config(), cache, clock=clock)
    add_token(mocked, "stale")
    calls = {"n": 0}

    def b2c(request):
        calls["n"] += 1
        if calls["n"] == 1:
            # Meanwhile another worker fetched a new token (invalidating ours) and stored it.
            (key,) = cache.data
            cache.set(key, {"token": "theirs", "refresh_at": clock() + 3000}, 3000)
            return (404, {}, json.dumps({"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}))
        return (200, {}, json.dumps(ACCEPTED))

    mocked.add_callback(responses.POST, B2C_URL, callback=b2c)
    pay(client)
    assert [c.request.method for c in mocked.calls] == ["GET", "POST", "POST"]
    assert mocked.calls[2].request.headers["Authorization"] == "Bearer theirs"


# --- Nothing secret leaks -----------------------------------------------------------------------------------


def test_no_secret_appears_in_errors_or_logs(client, mocked, caplog):
    caplog.set_level(logging.DEBUG)
    mocked.add(responses.GET, OAUTH_URL, json={"access_token": "TOKEN-abc123xyz", "expires_in": "3599"})
    answers = [
        (400, error("400.002.02", "Bad Request - Invalid Amount")),
        (500, error("500.002.1001", "Duplicate OriginatorConversationID.")),
        (404, error("404.001.03", "Invalid Access Token")),
        (404, error("404.001.03", "Invalid Access Token")),
        (500, None),
        requests.exceptions.ReadTimeout("timed out"),
        (500, error("500.001.1001", "Wrong credentials")),
    ]

    def answer(request):
        next_answer = answers.pop(0)
        if isinstance(next_answer, Exception):
            raise next_answer
        status, body = next_answer
        return (status, {}, json.dumps(body) if body else "")

    mocked.add_callback(responses.POST, B2C_URL, callback=answer)
    mocked.add_callback(responses.POST, STK_URL, callback=answer)

    texts = [repr(client.config), str(client.config)]
    for _ in range(5):
        with pytest.raises(DarajaError) as caught:
            pay(client)
        texts += [str(caught.value), repr(caught.value), caught.value.message]
    with pytest.raises(DarajaError) as caught:
        client.stk_push(
            phone="254708374149", amount=Decimal(1), account_reference="A", description="B", callback_url="https://x/y"
        )
    texts += [str(caught.value), repr(caught.value)]
    assert not answers  # every failure above was exercised

    everything = "\n".join(texts) + caplog.text
    for secret in (B2C_SECRET, STK_SECRET, "TOKEN-abc123xyz", SECURITY_CREDENTIAL, STK_PASSKEY, "254705912645"):
        assert secret not in everything
    assert "2547****2645" in caplog.text  # the phone appears masked, so log lines are still useful
