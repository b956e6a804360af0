"""Issue 32: the callbacks service (mpesa_payouts/callbacks_wsgi.py, settings_callbacks.py, urls_callbacks.py).
Safaricom's callbacks through the service's own middleware and URLs: stored raw and answered as on the
console, still refused by source IP and token; the console's pages and the API are not served there. Once in
process (the Django test client loads the service's middleware list and URLconf) and once through a real
gunicorn started on `mpesa_payouts.callbacks_wsgi:application`."""

from __future__ import annotations

import json

import pytest
import requests
from django.test import Client, override_settings
from django.urls import reverse

from mpesa_payouts import settings_callbacks
from payments.models import AuditEvent, CallbackOutcome, DarajaCallback, PayoutStatus
from tests.e2e.support import GUNICORN, WebServer
from tests.factories import b2c_result, make_payout
from tests.security.conftest import web_environment

pytestmark = pytest.mark.django_db

CONSOLE_PATHS = ["/", "/admin/", "/admin/login/", "/account/login/", "/api/payouts/", "/api/docs/", "/admin/inbox/"]


@pytest.fixture
def service():
    """A test client served as the callbacks service is: its middleware list and its URLconf."""
    with override_settings(MIDDLEWARE=settings_callbacks.MIDDLEWARE, ROOT_URLCONF=settings_callbacks.ROOT_URLCONF):
        yield Client()


def result_path(payout) -> str:
    return reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})


def post_result(client, payout, **extra):
    raw = json.dumps(b2c_result(payout))
    return client.post(result_path(payout), data=raw, content_type="application/json", **extra), raw


def test_a_result_is_stored_raw_answered_and_settles_the_payout(service):
    payout = make_payout()
    response, raw = post_result(service, payout)

    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert "Set-Cookie" not in response.headers  # no session middleware ran
    callback = DarajaCallback.objects.get()
    assert callback.raw_body == raw
    assert callback.outcome == CallbackOutcome.PROCESSED
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert AuditEvent.objects.filter(payout=payout, to_status=PayoutStatus.COMPLETED, callback=callback).exists()


def test_the_source_ip_is_still_checked(service, settings):
    settings.CALLBACK_ALLOWED_IPS = ["196.201.214.0/24"]
    payout = make_payout()
    response, _ = post_result(service, payout)

    assert response.status_code == 403
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


def test_a_token_nobody_was_given_is_still_refused(service):
    payout = make_payout()
    raw = json.dumps(b2c_result(payout))
    url = reverse("callbacks:b2c-result", kwargs={"token": "0" * 40})
    response = service.post(url, data=raw, content_type="application/json")

    assert response.status_code == 404
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_console_and_api_pages_are_not_served(service, path):
    assert service.get(path).status_code == 404
    assert service.post(path, data={"username": "admin", "password": "x"}).status_code == 404


def test_the_middleware_list_is_minimal_and_a_part_of_the_consoles():
    from mpesa_payouts import settings as console

    assert settings_callbacks.MIDDLEWARE == [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    # What it keeps behaves as on the console: the same classes, in the console's order.
    assert [m for m in console.MIDDLEWARE if m in settings_callbacks.MIDDLEWARE] == settings_callbacks.MIDDLEWARE
    assert settings_callbacks.INSTALLED_APPS == console.INSTALLED_APPS


def test_the_console_still_serves_the_same_callback_urls(client):
    payout = make_payout()
    response, raw = post_result(client, payout)

    assert response.status_code == 200
    assert DarajaCallback.objects.get().raw_body == raw


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_through_a_real_gunicorn_on_the_callbacks_entry(tmp_path):
    """The entry loads its own settings even when the service's environment names the console's."""
    from tests.e2e.support import free_port

    payout = make_payout()
    port = free_port()
    env = web_environment(port, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", GUNICORN_THREADS="2")
    assert env["DJANGO_SETTINGS_MODULE"] == "mpesa_payouts.settings"
    command = [str(GUNICORN), "mpesa_payouts.callbacks_wsgi:application", "--config", "deploy/gunicorn.conf.py"]
    server = WebServer.start(command, env=env, log_path=tmp_path / "callbacks.log", name="callbacks")
    server.url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready()
        raw = json.dumps(b2c_result(payout))
        response = requests.post(
            server.url + result_path(payout), data=raw, headers={"Content-Type": "application/json"}, timeout=15
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
        assert DarajaCallback.objects.get().raw_body == raw
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.COMPLETED
        for path in ("/admin/", "/admin/login/", "/api/payouts/"):
            assert requests.get(server.url + path, timeout=15, allow_redirects=False).status_code == 404
        # No session cookie and no console page headers: none of the console's middleware ran.
        assert "Set-Cookie" not in response.headers
        assert "Content-Security-Policy" not in response.headers
    finally:
        server.stop(timeout=10)
