"""Failed admin logins are throttled per user and per address (django-axes), with a clear message, and
every login, failure and lock-out is in the audit log (issue 16). The attack replayed: guessing an
approver's password at the admin login page, from one address and from many."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from payments.models import AuditEvent
from tests.factories import make_approver

pytestmark = pytest.mark.django_db

PASSWORD = "pass-Word-123"  # tests.factories.make_user
LIMIT = 5  # AXES_FAILURE_LIMIT's default


def admin_login(username: str, password: str, ip: str = "10.0.0.1", client: Client | None = None):
    client = client or Client()
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password,
                                                      "next": "/admin/"}, REMOTE_ADDR=ip)


def actions(username: str) -> list[str]:
    return [e.action for e in AuditEvent.objects.filter(details__username=username).order_by("id")]


def test_guessing_one_users_password_locks_that_user_out_with_a_clear_message():
    make_approver("alan")
    for _ in range(LIMIT - 1):
        assert admin_login("alan", "guess").status_code == 200  # the login form again, with its error
    locked = admin_login("alan", "guess")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text and "15 minutes" in text and "axes_reset_username" in text

    # The right password does not help while locked, from this address or another one.
    assert admin_login("alan", PASSWORD).status_code == 429
    assert admin_login("alan", PASSWORD, ip="10.9.9.9").status_code == 429
    # The fifth failure locks (its lock-out event is written just before its failure event), then each
    # refused attempt is one more failure.
    first = actions("alan")[: LIMIT + 1]
    assert sorted(first) == ["login_failed"] * LIMIT + ["login_locked_out"]
    failed = AuditEvent.objects.filter(action="login_failed", details__username="alan").first()
    assert failed.details["ip"] == "10.0.0.1" and failed.actor.username == "alan" and failed.source == "admin"
    assert all(PASSWORD not in str(e.details) and "guess" not in str(e.details)
               for e in AuditEvent.objects.filter(details__username="alan"))


def test_guessing_many_users_from_one_address_locks_the_address():
    make_approver("alan")
    make_approver("nina")
    for n in range(LIMIT):
        admin_login(f"someone{n}", "guess", ip="10.6.6.6")
    assert admin_login("alan", PASSWORD, ip="10.6.6.6").status_code == 429
    # Another address is not affected, nor is the user.
    ok = admin_login("nina", PASSWORD, ip="10.0.0.2")
    assert ok.status_code == 302 and ok["Location"] == "/admin/"


def test_the_lock_lifts_after_the_cool_off_and_a_login_is_recorded():
    make_approver("alan")
    for _ in range(LIMIT):
        admin_login("alan", "guess")
    assert admin_login("alan", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    client = Client()
    response = admin_login("alan", PASSWORD, client=client)
    assert response.status_code == 302
    assert client.get("/admin/payments/payout/").status_code == 200
    login = AuditEvent.objects.filter(action="login", details__username="alan").get()
    assert (login.actor.username, login.details["ip"]) == ("alan", "10.0.0.1")


def test_the_two_step_login_is_throttled_too(settings):
    settings.ADMIN_REQUIRE_2FA = True
    make_approver("alan")
    for _ in range(LIMIT):
        Client().post("/account/login/", {"login_view-current_step": "auth", "auth-username": "alan",
                                          "auth-password": "guess"}, REMOTE_ADDR="10.0.0.1")
    locked = Client().post("/account/login/", {"login_view-current_step": "auth", "auth-username": "alan",
                                               "auth-password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert locked.status_code == 429
    assert "login_locked_out" in actions("alan")
