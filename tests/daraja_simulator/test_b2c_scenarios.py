"""Every B2C row of the scenario table, over real HTTP with the real client and a real callback receiver."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from daraja.errors import DarajaDuplicate, DarajaOutcomeUnknown, DarajaRateLimited
from daraja_simulator import SimulatorServer, SimulatorSettings, phone_for
from tests.daraja_simulator.conftest import FAST
from tests.daraja_simulator.helpers import (
    RESULT_PATH,
    TIMEOUT_PATH,
    WAIT,
    ask_status,
    make_client,
    result_parameters,
    send_payout,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja_samples"
SUCCESS_SAMPLE = json.loads((SAMPLES / "b2c_result_success.json").read_text())
FAILURE_SAMPLE = json.loads((SAMPLES / "b2c_result_failure.json").read_text())
FLOAT = Decimal("1000000.00")


def payments(simulator: SimulatorServer) -> list[dict]:
    return simulator.ledger.snapshot()["payments"]


def test_success_result_looks_like_the_documented_sample(simulator, client, receiver):
    phone = phone_for("645")
    accepted = send_payout(client, receiver, ocid="ocid-success", phone=phone, amount=1500)

    (body,) = receiver.wait_for(RESULT_PATH)
    result = body["Result"]
    assert set(result) == set(SUCCESS_SAMPLE["Result"])
    assert result["ResultCode"] == 0
    assert result["OriginatorConversationID"] == "ocid-success"
    assert result["ConversationID"] == accepted.conversation_id
    params = result_parameters(body)
    assert set(params) == {p["Key"] for p in SUCCESS_SAMPLE["Result"]["ResultParameters"]["ResultParameter"]}
    assert params["TransactionAmount"] == 1500
    assert params["TransactionReceipt"] == result["TransactionID"]
    assert re.fullmatch(r"SIM[A-Z0-9]{7}", params["TransactionReceipt"])
    assert params["ReceiverPartyPublicName"].startswith(f"{phone} - ")
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}", params["TransactionCompletedDateTime"])
    assert Decimal(str(params["B2CUtilityAccountAvailableFunds"])) == FLOAT - 1500
    (row,) = payments(simulator)
    assert (row["outcome"], row["transaction_id"], row["amount"]) == ("paid", params["TransactionReceipt"], 1500)


@pytest.mark.parametrize(
    ("suffix", "code"), [("001", 1), ("002", 2001), ("003", 2040), ("004", 8006), ("005", "SFC_IC0003")]
)
def test_failure_results_carry_the_code_and_no_parameters(simulator, client, receiver, suffix, code):
    send_payout(client, receiver, ocid=f"ocid-{suffix}", phone=phone_for(suffix))

    (body,) = receiver.wait_for(RESULT_PATH)
    result = body["Result"]
    assert set(result) == set(FAILURE_SAMPLE["Result"])  # no ResultParameters
    assert result["ResultCode"] == code
    assert payments(simulator)[0]["outcome"] == "failed"
    assert simulator.ledger.utility_balance == FLOAT


@pytest.mark.parametrize(("suffix", "paid", "status"), [("010", False, None), ("011", True, "Completed")])
def test_queue_timeout_echoes_the_original_request(simulator, client, receiver, suffix, paid, status):
    ocid = f"ocid-{suffix}"
    send_payout(client, receiver, ocid=ocid, phone=phone_for(suffix))

    (echo,) = receiver.wait_for(TIMEOUT_PATH)
    assert echo["OriginatorConversationID"] == ocid
    assert echo["PartyB"] == phone_for(suffix)
    assert echo["SecurityCredential"] == client.config.security_credential  # as integrators report: redact it!
    assert simulator.wait_for_callbacks(WAIT)
    assert receiver.bodies(RESULT_PATH) == []
    assert (payments(simulator)[0]["outcome"] == "paid") is paid

    result = ask_status(client, receiver, ocid)
    if paid:
        assert result["ResultCode"] == "0"
        assert result_parameters({"Result": result})["TransactionStatus"] == status
    else:
        assert result["ResultCode"] == "R000002"


@pytest.mark.parametrize(("suffix", "paid"), [("012", False), ("013", True)])
def test_queue_timeout_as_a_result_envelope(simulator, client, receiver, suffix, paid):
    send_payout(client, receiver, ocid=f"ocid-{suffix}", phone=phone_for(suffix))
    (body,) = receiver.wait_for(TIMEOUT_PATH)
    assert body["Result"]["ResultCode"] == "1037"
    assert body["Result"]["OriginatorConversationID"] == f"ocid-{suffix}"
    assert (simulator.ledger.snapshot()["paid_count"] == 1) is paid


def test_same_result_delivered_three_times_pays_once(simulator, client, receiver):
    send_payout(client, receiver, ocid="ocid-thrice", phone=phone_for("020"), amount=250)
    bodies = receiver.wait_for(RESULT_PATH, 3)
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    snapshot = simulator.ledger.snapshot()
    assert snapshot["paid_count"] == 1
    assert Decimal(snapshot["utility_balance"]) == FLOAT - 250


def test_result_can_arrive_before_the_synchronous_answer(simulator, client, receiver):
    accepted = send_payout(client, receiver, ocid="ocid-early", phone=phone_for("021"))
    # No waiting: by the time the client holds the acceptance, the Result is already with the receiver.
    (body,) = receiver.bodies(RESULT_PATH)
    assert body["Result"]["ConversationID"] == accepted.conversation_id


def test_no_callback_at_all_only_a_status_query_finds_the_payment(simulator, client, receiver):
    send_payout(client, receiver, ocid="ocid-silent", phone=phone_for("022"), amount=300)
    assert simulator.wait_for_callbacks(WAIT)
    assert receiver.received == []
    result = ask_status(client, receiver, "ocid-silent")
    params = result_parameters({"Result": result})
    assert params["TransactionStatus"] == "Completed"
    assert params["Amount"] == 300
    assert params["OriginatorConversationID"] == "ocid-silent"


def test_spike_arrest_refuses_every_attempt_and_records_no_payment(simulator, client, receiver):
    for _ in range(2):
        with pytest.raises(DarajaRateLimited) as caught:
            send_payout(client, receiver, ocid="ocid-spike", phone=phone_for("030"))
        assert caught.value.code == "500.003.02"
        assert caught.value.http_status == 429
    snapshot = simulator.ledger.snapshot()
    assert snapshot["count"] == 0
    assert len(snapshot["rejected_requests"]) == 2


def test_spike_arrest_on_first_attempt_then_the_same_request_is_accepted(simulator, client, receiver):
    with pytest.raises(DarajaRateLimited) as caught:
        send_payout(client, receiver, ocid="ocid-spike-once", phone=phone_for("031"))
    assert caught.value.http_status == 500
    assert caught.value.retryable is True

    send_payout(client, receiver, ocid="ocid-spike-once", phone=phone_for("031"))  # same id: it never got in

    (body,) = receiver.wait_for(RESULT_PATH)
    assert body["Result"]["ResultCode"] == 0
    assert simulator.ledger.snapshot()["paid_count"] == 1


def test_duplicate_answer_is_settled_by_a_status_query(simulator, client, receiver):
    with pytest.raises(DarajaDuplicate) as caught:
        send_payout(client, receiver, ocid="ocid-dup", phone=phone_for("032"), amount=700)
    assert caught.value.may_have_been_processed is True

    result = ask_status(client, receiver, "ocid-dup")
    assert result_parameters({"Result": result})["TransactionStatus"] == "Completed"
    (row,) = payments(simulator)
    assert row["duplicate_attempts"] == 1


def test_slow_answer_times_out_the_client_but_the_payment_is_made(simulator, simulator_keys, receiver):
    client = make_client(simulator, read_timeout=0.5)  # the simulator answers after 1.5 s

    with pytest.raises(DarajaOutcomeUnknown) as caught:
        send_payout(client, receiver, ocid="ocid-slow", phone=phone_for("040"))

    assert caught.value.code == "read_timeout"
    assert simulator.ledger.snapshot()["paid_count"] == 1  # paid although the client never heard back
    (body,) = receiver.wait_for(RESULT_PATH)
    assert body["Result"]["ResultCode"] == 0
    assert result_parameters({"Result": ask_status(client, receiver, "ocid-slow")})["TransactionStatus"] == "Completed"


# --- Rules that apply to every number ---------------------------------------------------------------------


def test_resending_an_originator_id_is_refused_and_flagged(simulator, client, receiver):
    send_payout(client, receiver, ocid="ocid-twice", phone=phone_for("777"))
    with pytest.raises(DarajaDuplicate):
        send_payout(client, receiver, ocid="ocid-twice", phone=phone_for("777"))

    snapshot = simulator.ledger.snapshot()
    assert snapshot["paid_count"] == 1
    assert snapshot["duplicate_attempts"] == [{"originator_conversation_id": "ocid-twice", "count": 1}]
    assert len(snapshot["payments"][0]["received_at"]) == 2


def test_without_dedupe_a_resend_pays_again_and_the_ledger_says_so(simulator_keys, receiver):
    settings = SimulatorSettings(delay=0.05, dedupe=False)
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys) as simulator:
        client = make_client(simulator)
        send_payout(client, receiver, ocid="ocid-again", phone=phone_for("777"))
        send_payout(client, receiver, ocid="ocid-again", phone=phone_for("777"))
        snapshot = simulator.ledger.snapshot()
    assert snapshot["paid_count"] == 2
    assert snapshot["paid_more_than_once"] == ["ocid-again"]


def test_simultaneous_sends_of_one_id_pay_once(simulator, client, receiver):
    outcomes: list[str] = []

    def send() -> None:
        try:
            send_payout(client, receiver, ocid="ocid-race", phone=phone_for("777"))
            outcomes.append("accepted")
        except DarajaDuplicate:
            outcomes.append("duplicate")

    client.access_token(product="b2c")  # one token up front, so the threads race on the payment only
    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 7
    assert simulator.ledger.snapshot()["paid_count"] == 1


def test_credential_from_another_certificate_fails_with_2001(simulator, receiver):
    from daraja.security import make_test_keypair

    _, foreign_certificate = make_test_keypair()
    client = make_client(simulator, certificate=foreign_certificate)
    send_payout(client, receiver, ocid="ocid-badcred", phone=phone_for("777"))  # accepted, as Safaricom does

    (body,) = receiver.wait_for(RESULT_PATH)
    assert body["Result"]["ResultCode"] == 2001
    assert payments(simulator)[0]["outcome"] == "failed"


def test_configured_initiator_password_must_match(simulator_keys, receiver):
    settings = SimulatorSettings(delay=0.05, initiator_password="right-password")
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys) as simulator:
        send_payout(make_client(simulator, password="wrong-password"), receiver, ocid="a", phone=phone_for("777"))
        send_payout(make_client(simulator, password="right-password"), receiver, ocid="b", phone=phone_for("777"))
        bodies = receiver.wait_for(RESULT_PATH, 2)
    codes = {b["Result"]["OriginatorConversationID"]: b["Result"]["ResultCode"] for b in bodies}
    assert codes == {"a": 2001, "b": 0}


@pytest.mark.parametrize(("amount", "code"), [(5, 2), (250_001, 3), (2_000_000, 3)])
def test_amount_limits(simulator, client, receiver, amount, code):
    send_payout(client, receiver, ocid=f"ocid-{amount}", phone=phone_for("777"), amount=amount)
    (body,) = receiver.wait_for(RESULT_PATH)
    assert body["Result"]["ResultCode"] == code


def test_float_runs_out(simulator_keys, receiver):
    settings = SimulatorSettings(delay=0.05, float_balance=Decimal("150"))
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys) as simulator:
        client = make_client(simulator)
        send_payout(client, receiver, ocid="first", phone=phone_for("777"), amount=100)
        send_payout(client, receiver, ocid="second", phone=phone_for("777"), amount=100)
        bodies = receiver.wait_for(RESULT_PATH, 2)
    codes = {b["Result"]["OriginatorConversationID"]: b["Result"]["ResultCode"] for b in bodies}
    assert codes == {"first": 0, "second": 1}


def test_result_parameters_come_in_varying_order(simulator, client, receiver):
    for index in range(6):
        send_payout(client, receiver, ocid=f"order-{index}", phone=phone_for("777"))
    bodies = receiver.wait_for(RESULT_PATH, 6)
    orders = {tuple(p["Key"] for p in b["Result"]["ResultParameters"]["ResultParameter"]) for b in bodies}
    assert len(orders) > 1


def test_fast_settings_are_what_these_tests_assume():
    assert FAST.delay < 0.5 and FAST.slow_seconds > 0.5
