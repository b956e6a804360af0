"""Paybill, till, Pochi and float top-up requests (daraja/rails.py) against mocked HTTP: the documented bodies,
the refusals of bad input before anything is sent, and the ids of Daraja's answer."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from daraja.client import DarajaClient
from daraja.config import DarajaConfig
from daraja.errors import DarajaConfigurationError, DarajaOutcomeUnknown, DarajaValidationError
from daraja.rails import (
    B2B_COMMANDS,
    Rail,
    b2b_payload,
    party_a_for,
    pay_business,
    pay_pochi,
    pochi_payload,
    top_up_float,
)
from daraja.result_codes import RAIL_NAMESPACES
from tests.daraja.helpers import BASE_URL, SECURITY_CREDENTIAL, FakeCache, FakeClock, add_token, make_config

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"
B2B_URL = f"{BASE_URL}/mpesa/b2b/v1/paymentrequest"
POCHI_URL = f"{BASE_URL}/mpesa/b2pochi/v1/paymentrequest"
RESULT = "https://payouts.example.co.ke/callbacks/b2b/result/abc"
TIMEOUT = "https://payouts.example.co.ke/callbacks/b2b/timeout/abc"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def rails_client(**config) -> DarajaClient:
    clock = FakeClock()
    return DarajaClient(make_config(**config), FakeCache(clock), clock=clock)


def business(config: DarajaConfig | None = None, **overrides) -> dict:
    values = {
        "rail": Rail.PAYBILL,
        "amount": Decimal("239"),
        "party_b": "888880",
        "account_reference": "INV-2041",
        "remarks": "Supplier invoice",
        "result_url": RESULT,
        "timeout_url": TIMEOUT,
    }
    values.update(overrides)
    return b2b_payload(config or make_config(), **values)


def test_every_rail_has_a_result_table():
    assert {str(rail) for rail in Rail} == set(RAIL_NAMESPACES)


# --- Request bodies, exactly per rail --------------------------------------------------------------------


def test_paybill_body_is_the_documented_one():
    body = business(requester="254700000000")
    assert set(body) == set(sample("b2b_paybill_request.json"))  # "CommandID", not the docs' "Command ID"
    assert body["CommandID"] == "BusinessPayBill"
    assert body["SenderIdentifierType"] == "4" and body["RecieverIdentifierType"] == "4"
    assert body["PartyA"] == "600992"  # no B2B shortcode configured: the B2C one
    assert body["PartyB"] == "888880" and body["AccountReference"] == "INV-2041"
    assert body["Amount"] == "239" and body["Initiator"] == "testapi"
    assert body["SecurityCredential"] == SECURITY_CREDENTIAL
    assert "OriginatorConversationID" not in body  # a B2B request carries no caller id


def test_till_body_uses_buy_goods_and_type_2_and_may_leave_out_the_reference():
    body = business(rail=Rail.TILL, party_b="123456", account_reference="")
    assert body["CommandID"] == "BusinessBuyGoods" and body["RecieverIdentifierType"] == "2"
    assert "AccountReference" not in body and "Requester" not in body
    assert business(rail=Rail.TILL, party_b="123456", account_reference="Order 7")["AccountReference"] == "Order 7"


def test_paybill_and_pochi_are_drawn_from_the_b2b_shortcode_when_one_is_set():
    config = make_config(b2b_shortcode="700100")
    assert business(config)["PartyA"] == "700100"
    assert pochi(config)["PartyA"] == "700100"


@pytest.mark.parametrize("config", [make_config(), make_config(b2b_shortcode="700100", topup_from_shortcode="700200")])
def test_a_status_query_and_the_send_read_one_rule_for_the_shortcode_a_rail_leaves(config):
    # The status query names party_a_for(config, rail): the send's own PartyA, rail by rail.
    for rail in (Rail.PAYBILL, Rail.TILL, Rail.FLOAT_TOPUP):
        party_b = "5432109" if rail == Rail.TILL else ("" if rail == Rail.FLOAT_TOPUP else "888880")
        reference = "INV-2041" if rail == Rail.PAYBILL else ""
        sent = business(config, rail=rail, party_b=party_b, account_reference=reference)
        assert party_a_for(config, rail) == sent["PartyA"]
    assert party_a_for(config, Rail.POCHI) == pochi(config)["PartyA"]
    assert party_a_for(config, Rail.MOBILE) == config.b2c_shortcode == "600992"


def test_float_topup_moves_money_from_the_topup_shortcode_into_our_b2c_shortcode():
    body = business(make_config(b2b_shortcode="700100"), rail=Rail.FLOAT_TOPUP, party_b="", account_reference="")
    assert set(body) == set(sample("topup_request.json")) - {"AccountReference", "Requester"}
    assert body["CommandID"] == "BusinessPayToBulk" and body["RecieverIdentifierType"] == "4"
    assert (body["PartyA"], body["PartyB"]) == ("700100", "600992")  # top-up default: the B2B shortcode
    config = make_config(b2b_shortcode="700100", topup_from_shortcode="700200")
    assert business(config, rail=Rail.FLOAT_TOPUP, party_b="", account_reference="")["PartyA"] == "700200"


def test_a_float_topup_names_no_receiver_of_its_own():
    with pytest.raises(DarajaValidationError, match="names no receiver") as caught:
        business(rail=Rail.FLOAT_TOPUP, party_b="999999")
    assert caught.value.code == "invalid_party_b"


def pochi(config: DarajaConfig | None = None, **overrides) -> dict:
    values = {
        "originator_conversation_id": "600997_Test_32et3241ed8yu",
        "amount": Decimal("10"),
        "phone": "254705912645",
        "remarks": "remarked",
        "occasion": "ChristmasPay",
        "result_url": RESULT,
        "timeout_url": TIMEOUT,
    }
    values.update(overrides)
    return pochi_payload(config or make_config(), **values)


def test_pochi_body_is_the_documented_one_with_our_own_id():
    body = pochi()
    assert set(body) == set(sample("b2pochi_request.json"))
    assert body["CommandID"] == "BusinessPayToPochi" and body["InitiatorName"] == "testapi"
    assert body["OriginatorConversationID"] == "600997_Test_32et3241ed8yu"
    assert body["PartyB"] == "254705912645" and body["Occassion"] == "ChristmasPay"


# --- Bad input: a clear error, nothing built -------------------------------------------------------------


@pytest.mark.parametrize("party_b", ["", "1234", "12345678", "88888a", "254705912645", " "])
@pytest.mark.parametrize("rail", [Rail.PAYBILL, Rail.TILL])
def test_party_b_must_be_5_to_7_digits(rail, party_b):
    with pytest.raises(DarajaValidationError) as caught:
        business(rail=rail, party_b=party_b)
    assert caught.value.code == "invalid_party_b"
    assert f"{'till' if rail == Rail.TILL else 'paybill'} number must be 5 to 7 digits" in caught.value.message


@pytest.mark.parametrize("party_b", ["12345", "1234567"])
def test_party_b_of_5_and_7_digits_is_accepted(party_b):
    assert business(party_b=party_b)["PartyB"] == party_b


@pytest.mark.parametrize("reference", ["", "   ", "A" * 14])
def test_a_paybill_needs_an_account_reference_of_1_to_13_characters(reference):
    with pytest.raises(DarajaValidationError) as caught:
        business(account_reference=reference)
    assert caught.value.code == "invalid_account_reference"
    assert "1 to 13 characters" in caught.value.message


def test_a_till_reference_may_be_empty_but_not_too_long():
    with pytest.raises(DarajaValidationError, match="1 to 13 characters long"):
        business(rail=Rail.TILL, party_b="123456", account_reference="A" * 14)
    assert business(account_reference="A" * 13)["AccountReference"] == "A" * 13


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount": Decimal("10.50")}, "invalid_amount"),
        ({"amount": Decimal("0")}, "invalid_amount"),
        ({"remarks": "x"}, "invalid_remarks"),
        ({"requester": "0712"}, "invalid_phone"),
        ({"rail": Rail.MOBILE}, "invalid_rail"),
        ({"rail": "bank"}, "invalid_rail"),
    ],
)
def test_other_bad_b2b_input_is_refused(overrides, code):
    with pytest.raises(DarajaValidationError) as caught:
        business(**overrides)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"phone": "0712345678"}, "invalid_phone"),
        ({"originator_conversation_id": ""}, "invalid_originator_conversation_id"),
        ({"amount": Decimal("-5")}, "invalid_amount"),
    ],
)
def test_bad_pochi_input_is_refused(overrides, code):
    with pytest.raises(DarajaValidationError) as caught:
        pochi(**overrides)
    assert caught.value.code == code


def test_a_topup_without_a_b2c_shortcode_is_a_configuration_error():
    with pytest.raises(DarajaConfigurationError, match="MPESA_B2C_SHORTCODE"):
        business(make_config(b2c_shortcode=""), rail=Rail.FLOAT_TOPUP, party_b="")


def test_config_repr_names_the_new_shortcodes_and_hides_secrets():
    text = repr(make_config(b2b_shortcode="700100", topup_from_shortcode="700200"))
    assert "700100" in text and "700200" in text and SECURITY_CREDENTIAL not in text


# --- Sending -------------------------------------------------------------------------------------------


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_token(rsps)
        yield rsps


def test_pay_business_returns_darajas_ids_from_the_answer(mocked):
    mocked.add(responses.POST, B2B_URL, json=sample("b2b_response_accepted.json"))
    accepted = pay_business(
        rails_client(),
        rail=Rail.TILL,
        amount=Decimal("500"),
        party_b="123456",
        remarks="Goods",
        result_url=RESULT,
        timeout_url=TIMEOUT,
    )
    assert accepted.rail == "till"
    assert accepted.originator_conversation_id == "5118-111210482-1"
    assert accepted.conversation_id == "AG_20230420_2010759fd5662ef6d054"
    assert accepted.response_code == "0"
    sent = json.loads(mocked.calls[1].request.body)
    assert sent["CommandID"] == "BusinessBuyGoods" and sent["PartyB"] == "123456"


def test_top_up_float_posts_to_the_b2b_endpoint(mocked):
    mocked.add(responses.POST, B2B_URL, json=sample("b2b_response_accepted.json"))
    accepted = top_up_float(
        rails_client(), amount=Decimal("50000"), remarks="Float", result_url=RESULT, timeout_url=TIMEOUT
    )
    sent = json.loads(mocked.calls[1].request.body)
    assert sent["CommandID"] == "BusinessPayToBulk" and sent["PartyB"] == "600992"
    assert accepted.rail == "float_topup" and accepted.conversation_id


def test_pay_pochi_posts_to_the_b2pochi_endpoint_with_our_id(mocked):
    mocked.add(
        responses.POST, POCHI_URL, json={**sample("b2b_response_accepted.json"), "OriginatorConversationID": "ours-1"}
    )
    accepted = pay_pochi(
        rails_client(),
        originator_conversation_id="ours-1",
        amount=Decimal("10"),
        phone="254705912645",
        remarks="remarked",
        result_url=RESULT,
        timeout_url=TIMEOUT,
    )
    assert json.loads(mocked.calls[1].request.body)["OriginatorConversationID"] == "ours-1"
    assert accepted.originator_conversation_id == "ours-1"


def test_an_acceptance_without_a_conversation_id_is_an_unknown_outcome(mocked):
    mocked.add(responses.POST, B2B_URL, json={"ResponseCode": "0", "ResponseDescription": "Accepted"})
    with pytest.raises(DarajaOutcomeUnknown):
        pay_business(
            rails_client(),
            rail=Rail.PAYBILL,
            amount=Decimal("239"),
            party_b="888880",
            account_reference="INV-1",
            remarks="Invoice",
            result_url=RESULT,
            timeout_url=TIMEOUT,
        )


def test_bad_input_sends_nothing_and_logs_no_credential(mocked, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DarajaValidationError):
        pay_business(
            rails_client(),
            rail=Rail.PAYBILL,
            amount=Decimal("239"),
            party_b="88",
            remarks="Invoice",
            account_reference="INV-1",
            result_url=RESULT,
            timeout_url=TIMEOUT,
        )
    assert len(mocked.calls) == 0
    mocked.add(responses.POST, B2B_URL, json=sample("b2b_response_accepted.json"))
    pay_business(
        rails_client(),
        rail=Rail.PAYBILL,
        amount=Decimal("239"),
        party_b="888880",
        remarks="Invoice",
        account_reference="INV-1",
        result_url=RESULT,
        timeout_url=TIMEOUT,
    )
    assert "Daraja accepted b2b rail=paybill" in caplog.text
    assert SECURITY_CREDENTIAL not in caplog.text and RESULT not in caplog.text  # the URL carries a token


def test_b2b_commands_cover_exactly_the_b2b_rails():
    assert set(B2B_COMMANDS) == {Rail.PAYBILL, Rail.TILL, Rail.FLOAT_TOPUP}
