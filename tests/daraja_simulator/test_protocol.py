"""The simulator's HTTP surface: OAuth, tokens, payload checks, the ledger endpoints and persistence."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from daraja.errors import DarajaAuthError, DarajaValidationError
from daraja_simulator import SimulatorServer, SimulatorSettings, phone_for
from tests.daraja_simulator.helpers import RESULT_PATH, make_client, send_payout


def test_bad_bearer_token_gets_404_with_a_daraja_error_body_as_the_real_api(simulator):
    answer = requests.post(
        f"{simulator.url}/mpesa/b2c/v3/paymentrequest", json={}, headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert answer.status_code == 404  # the real API answers 404.001.03 with HTTP 404
    assert answer.json()["errorCode"] == "404.001.03"
    assert set(answer.json()) == {"requestId", "errorCode", "errorMessage"}


def test_client_recovers_when_the_simulator_forgets_its_tokens(simulator, client, receiver):
    send_payout(client, receiver, ocid="before", phone=phone_for("645"))
    simulator.revoke_tokens()  # like a token replaced by another process, or expired early
    send_payout(client, receiver, ocid="after", phone=phone_for("645"))  # refreshed once, then accepted
    assert simulator.ledger.snapshot()["paid_count"] == 2


def test_oauth_accepts_only_configured_credentials(simulator_keys):
    settings = SimulatorSettings(credentials=(("right-key", "right-secret"),))
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys) as simulator:
        good = requests.get(
            f"{simulator.url}/oauth/v1/generate?grant_type=client_credentials",
            auth=("right-key", "right-secret"),
            timeout=5,
        )
        assert good.status_code == 200
        assert good.json()["expires_in"] == "3599"  # a string, like Daraja's
        with pytest.raises(DarajaAuthError):
            make_client(simulator, consumer=("right-key", "wrong-secret")).access_token(product="b2c")


def test_oauth_without_grant_type_or_credentials_is_refused(simulator):
    assert requests.get(f"{simulator.url}/oauth/v1/generate", auth=("k", "s"), timeout=5).status_code == 400
    answer = requests.get(f"{simulator.url}/oauth/v1/generate?grant_type=client_credentials", timeout=5)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "400.008.01"


def test_malformed_json_is_invalid_payload(simulator, client):
    token = client.access_token(product="b2c")
    answer = requests.post(
        f"{simulator.url}/mpesa/b2c/v3/paymentrequest",
        data=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "400.002.05"


@pytest.mark.parametrize("path", ["/callbacks/mpesa/result", "/callbacks/status/query/x", "/hooks/SafariCom"])
def test_callback_urls_with_words_safaricom_refuses_are_refused(simulator, client, path):
    with pytest.raises(DarajaValidationError) as caught:
        client.b2c_payment(
            originator_conversation_id="url-check",
            command_id="BusinessPayment",
            amount=Decimal(100),
            phone=phone_for("645"),
            remarks="Refund",
            occasion="",
            result_url=f"http://127.0.0.1:8000{path}",
            timeout_url="http://127.0.0.1:8000/callbacks/b2c/timeout/x",
        )
    assert caught.value.code == "400.002.02"
    assert simulator.ledger.snapshot()["count"] == 0


def test_ledger_endpoint_and_reset(simulator, client, receiver):
    send_payout(client, receiver, ocid="one", phone=phone_for("645"), amount=100)
    ledger = requests.get(f"{simulator.url}/simulator/ledger", timeout=5).json()
    assert ledger["paid_count"] == 1
    assert ledger["paid_total"] == "100.00"
    assert ledger["payments"][0]["originator_conversation_id"] == "one"
    assert ledger["paid_more_than_once"] == []

    reset = requests.post(f"{simulator.url}/simulator/reset", timeout=5)
    assert reset.status_code == 200
    ledger = requests.get(f"{simulator.url}/simulator/ledger", timeout=5).json()
    assert ledger["count"] == 0
    assert ledger["utility_balance"] == "1000000.00"


def test_certificate_endpoint_serves_the_certificate(simulator):
    answer = requests.get(f"{simulator.url}/simulator/certificate", timeout=5)
    assert answer.content == simulator.certificate_pem


def test_ledger_file_is_written_on_every_change_and_reloaded(simulator_keys, receiver, tmp_path):
    path = tmp_path / "ledger.json"
    settings = SimulatorSettings(delay=0.05)
    with SimulatorServer(port=0, settings=settings, keys=simulator_keys, ledger_path=path) as simulator:
        send_payout(make_client(simulator), receiver, ocid="kept", phone=phone_for("645"), amount=400)
        saved = json.loads(path.read_text())
        assert saved["payments"][0]["originator_conversation_id"] == "kept"
        receiver.wait_for(RESULT_PATH)
        assert simulator.wait_for_callbacks(5)
    assert not list(tmp_path.glob(".ledger-*"))  # no temporary file left behind

    with SimulatorServer(port=0, settings=settings, keys=simulator_keys, ledger_path=path) as restarted:
        assert restarted.ledger.snapshot()["paid_count"] == 1
        assert restarted.ledger.utility_balance == Decimal("1000000.00") - 400
        with pytest.raises(Exception, match="500.002.1001"):  # still remembers the id after a restart
            send_payout(make_client(restarted), receiver, ocid="kept", phone=phone_for("645"))


def test_key_dir_keeps_the_certificate_across_restarts(tmp_path):
    first = SimulatorServer(port=0, key_dir=tmp_path / "keys")
    second = SimulatorServer(port=0, key_dir=tmp_path / "keys")
    assert first.certificate_pem == second.certificate_pem
    assert oct((tmp_path / "keys" / "simulator-key.pem").stat().st_mode & 0o777) == "0o600"
