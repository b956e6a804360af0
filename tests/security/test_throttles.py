"""Writes that had no rate limit: funding requests, webhook endpoint changes and the console's exports and
reconciliations. Each is bounded per person (scoped rates in DEFAULT_THROTTLE_RATES), through the real routes;
beyond the rate the answer is 429 and nothing is created."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.api_throttles import forget_local_counts
from ledger.models import FundingRequest
from payments.models import FinanceJob
from tests.factories import make_user
from tests.payments.admin.conftest import logged_in
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def rate(settings):
    """`rate(scope, "2/min")`: that scope's rate for this test, counted from zero."""
    cache.clear()
    forget_local_counts()

    def set_rate(scope: str, value: str) -> None:
        rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, scope: value}}

    return set_rate


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_funding_requests_are_throttled_per_person(rate):
    rate("funding_request", "2/min")
    client = token_client(make_user("fiona", is_staff=True, is_superuser=True))
    body = {"kind": "top_up", "amount": "1000.00", "note": "float top-up"}
    answers = [client.post("/api/ledger/funding/", body).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert FundingRequest.objects.count() == 2
    other = token_client(make_user("omar", is_staff=True, is_superuser=True))
    assert other.post("/api/ledger/funding/", body).status_code == 201


def test_webhook_endpoint_changes_are_throttled_per_person_and_reads_are_not(rate):
    rate("webhook_manage", "2/min")
    integrator = make_user("integrator")
    integrator.user_permissions.add(Permission.objects.get(codename="manage_webhooks"))
    client = token_client(integrator)
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}
    answers = [client.post("/api/webhook-endpoints/", body, format="json").status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert WebhookEndpoint.objects.count() == 2
    assert client.get("/api/webhook-endpoints/").status_code == 200


def test_console_exports_and_reconciliations_are_throttled_per_person(rate):
    rate("console_job", "2/min")
    client = logged_in(make_user("boss", is_staff=True, is_superuser=True))
    body = {"start": "2024-07-01", "end": "2024-07-31", "kind": "payouts", "format": "csv"}
    answers = [client.post("/admin/payments/financejob/export/", body) for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "try again in" in answers[-1].content.decode()
    assert FinanceJob.objects.count() == 2
