"""The address rules: private, loopback and link-local addresses (and IPv6 forms that lead to them: 6to4,
NAT64) refused in every environment (at creation and again at send time) unless the host is in
WEBHOOK_ALLOWED_HOSTS; in production, https only."""

from __future__ import annotations

import pytest

from tests.payments.factories import token_client as api
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def production(settings):
    settings.MPESA_ENVIRONMENT = "production"
    settings.WEBHOOK_ALLOWED_HOSTS = []
    return settings


def create(user, url: str):
    return api(user).post("/api/webhook-endpoints/", {"url": url, "events": ["*"]}, format="json")


@pytest.mark.parametrize(
    "url,says",
    [
        ("http://93.184.216.34/hooks", "https"),
        ("https://127.0.0.1/hooks", "127.0.0.1"),
        ("https://localhost:8443/hooks", "127.0.0.1"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://192.168.0.10/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hooks", "::1"),
        ("https://[::ffff:10.0.0.1]/hooks", "WEBHOOK_ALLOWED_HOSTS"),
        ("https://0.0.0.0/hooks", "0.0.0.0"),
        ("https://user:pw@93.184.216.34/hooks", "user name"),
    ],
)
def test_production_refuses_our_own_network_and_plain_http(production, integrator, url, says):
    response = create(integrator, url)
    assert response.status_code == 400, response.content
    assert says in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_production_accepts_a_public_https_address(production, integrator):
    assert create(integrator, "https://93.184.216.34/hooks").status_code == 201


def test_allowed_hosts_let_an_internal_receiver_in(production, integrator):
    production.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "hooks.internal.example"]
    assert create(integrator, "https://127.0.0.1:8443/hooks").status_code == 201


def test_changing_the_url_in_production_is_checked_too(production, integrator):
    created = create(integrator, "https://93.184.216.34/hooks")
    patched = api(integrator).patch(f"/api/webhook-endpoints/{created.json()['id']}/",
                                    {"url": "https://169.254.169.254/latest/meta-data"}, format="json")
    assert patched.status_code == 400 and "link-local" in patched.json()["url"][0]
    assert WebhookEndpoint.objects.get().url == "https://93.184.216.34/hooks"


@pytest.mark.parametrize(
    "url,leads_to",
    [
        ("https://[2002:a9fe:a9fe::]/", "169.254.169.254"),  # 6to4 of the cloud metadata address
        ("https://[2002:0a00:0001::1]/hooks", "10.0.0.1"),
        ("https://[64:ff9b::a9fe:a9fe]/", "169.254.169.254"),  # NAT64, well-known prefix
        ("https://[64:ff9b::7f00:1]/hooks", "127.0.0.1"),
        ("https://[64:ff9b:1::a9fe:a9fe]/", ""),  # NAT64, a site's local-use prefix: never public
    ],
)
def test_private_addresses_inside_ipv6_are_refused(production, integrator, url, leads_to):
    response = create(integrator, url)
    assert response.status_code == 400, response.content
    assert "WEBHOOK_ALLOWED_HOSTS" in response.json()["url"][0] and leads_to in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("environment", ["sandbox", "simulator"])
@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "https://[2002:a9fe:a9fe::]/", "http://10.0.0.5:8080/hooks"]
)
def test_outside_production_our_own_network_is_refused_too(settings, integrator, environment, url):
    settings.MPESA_ENVIRONMENT, settings.WEBHOOK_ALLOWED_HOSTS = environment, []
    response = create(integrator, url)
    assert response.status_code == 400, response.content
    assert "WEBHOOK_ALLOWED_HOSTS" in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_outside_production_a_listed_loopback_receiver_and_http_are_allowed(settings, integrator, receiver):
    settings.MPESA_ENVIRONMENT, settings.WEBHOOK_ALLOWED_HOSTS = "sandbox", ["127.0.0.1"]
    assert create(integrator, receiver.url()).status_code == 201


def test_the_address_is_checked_again_at_send_time(production, integrator, receiver, broker):
    """Registered while allowed; the allow-list changes (or DNS now points inside): nothing is sent."""
    from tests.webhooks.test_delivery import request_refund

    production.MPESA_ENVIRONMENT, production.WEBHOOK_ALLOWED_HOSTS = "sandbox", ["127.0.0.1"]
    assert create(integrator, receiver.url()).status_code == 201
    production.MPESA_ENVIRONMENT, production.WEBHOOK_ALLOWED_HOSTS = "production", []
    request_refund()
    assert broker.run() == ["retry"]
    assert receiver.got() == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("Refused: The URL must be https")

    production.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    WebhookEndpoint.objects.update(url=receiver.url().replace("http://", "https://"))
    WebhookDelivery.objects.update(next_attempt_at=delivery.created_at)
    broker.queue[:] = [(delivery.pk, None)]
    production.WEBHOOK_ALLOWED_HOSTS = []
    assert broker.run() == ["retry"]
    assert receiver.got() == []
    assert "127.0.0.1" in WebhookDelivery.objects.get().last_error
