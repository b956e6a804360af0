"""The name check against the Daraja simulator over real HTTP (docs/simulator.md, "Name checks"): a payout
requested through the API, its lookup run by the worker's task, the answer in the API detail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from daraja_simulator import SimulatorKeys, SimulatorServer, SimulatorSettings
from payments.tasks import check_payout_name
from tests.factories import make_requester

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    settings = SimulatorSettings(delay=0.05, slow_seconds=1.5, callback_timeout=2.0)
    with SimulatorServer(port=0, settings=settings, keys=SimulatorKeys.generate()) as server:
        yield server


@pytest.fixture(autouse=True)
def against_the_simulator(settings, simulator, monkeypatch):
    settings.MPESA_BASE_URL = simulator.url
    settings.MPESA_B2C_CONSUMER_KEY, settings.MPESA_B2C_CONSUMER_SECRET = "sim-key", "sim-secret"
    settings.MPESA_B2C_SHORTCODE = "600992"
    settings.MPESA_NAME_CHECK = True
    monkeypatch.setattr("payments.payouts.name_check.queue_name_check", lambda payout_id: None)


def checked(**payee) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_requester()).key}")
    body = {"amount": "1500", "remarks": "March fee", **payee}
    created = client.post("/api/payouts/", body, format="json")
    assert created.status_code == 201, created.content
    check_payout_name.apply(args=[created.json()["id"]]).get()
    return client.get(f"/api/payouts/{created.json()['id']}/").json()


@pytest.mark.parametrize(
    ("payee", "status"),
    [
        pytest.param(dict(phone="254700000645", recipient_name="Jane Doe"), "match", id="number-match"),
        pytest.param(dict(phone="254700000405", recipient_name="Jane Doe"), "mismatch", id="number-405-differs"),
        pytest.param(dict(phone="254700000404", recipient_name="Jane Doe"), "not_found", id="number-404-unknown"),
        pytest.param(dict(rail="till", party_b="5432109", recipient_name="Simulated Business"), "match",
                     id="till-match"),
        pytest.param(dict(rail="paybill", party_b="888880", account_reference="INV-1", recipient_name="Acme Ltd"),
                     "mismatch", id="paybill-differs"),
        pytest.param(dict(rail="till", party_b="555404", recipient_name="Simulated Business"), "not_found",
                     id="till-404-unknown"),
    ],
)
def test_each_simulated_answer_is_shown_on_the_payout(payee, status):
    assert checked(**payee)["name_check_status"] == status
