"""Issue 16, bad input at the callback URLs: what PostgreSQL cannot hold as text (an escaped NUL, a lone
surrogate) in a callback's OriginatorConversationID or TransID, a body nested deeper than any parser recurses,
and the cache (Redis) down under a refused request. Each is a clear 4xx (or the usual answer), stored, and
changes nothing; nothing answers 500. Through the real routes (Django test client, the admin)."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from notifications.models import Alert, Notification
from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, CallbackOutcome, DarajaCallback, Payment, PayoutStatus
from tests.factories import b2c_result, make_payout, make_user, sample

pytestmark = pytest.mark.django_db

# As they arrive on the wire: JSON escapes, not characters.
BAD_TEXT = [r"\u0000", r"\ud800", r"AG_\u0000_1", r"\udfff-x"]


def c2b_url() -> str:
    return reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})


def raw_with(body: dict, key_path: tuple[str, ...], escaped: str) -> str:
    """`body` as JSON with the value at `key_path` replaced by `escaped` written verbatim (an escape sequence)."""
    target = body
    for key in key_path[:-1]:
        target = target[key]
    target[key_path[-1]] = "@@BAD@@"
    return json.dumps(body).replace('"@@BAD@@"', f'"{escaped}"')


@pytest.mark.parametrize("escaped", BAD_TEXT)
def test_b2c_result_with_nul_or_lone_surrogate_in_originator_conversation_id_is_400_and_stored(client, escaped):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    raw = raw_with(b2c_result(payout), ("Result", "OriginatorConversationID"), escaped)
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})

    response = client.post(url, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["ResultCode"] == 1
    assert "NUL" in response.json()["ResultDesc"]
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.INVALID
    assert escaped in callback.raw_body  # the request as received, escape and all
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("escaped", BAD_TEXT)
def test_c2b_confirmation_with_nul_or_lone_surrogate_in_trans_id_is_400_and_stored(client, escaped):
    raw = raw_with(sample("c2b_confirmation"), ("TransID",), escaped)

    response = client.post(c2b_url(), data=raw, content_type="application/json")

    assert response.status_code == 400
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.http_status) == (CallbackOutcome.INVALID, 400)
    assert escaped in callback.raw_body
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "amount", ["1e20", "NaN", "Infinity", "-500.00", "0", "1234567890123", "10000000000.00", "100.005", 1e20]
)
def test_c2b_confirmation_with_an_amount_no_payment_can_have_is_400_stored_and_not_retried(client, amount):
    body = {**sample("c2b_confirmation"), "TransAmount": amount}

    response = client.post(c2b_url(), data=json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert b"TransAmount" in response.content
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.http_status, callback.next_attempt_at) == (CallbackOutcome.INVALID, 400, None)
    assert json.loads(callback.raw_body)["TransAmount"] == amount
    assert not Payment.objects.exists()


def test_an_escaped_emoji_pair_is_still_fine(client):
    body = sample("c2b_confirmation")
    raw = raw_with(body, ("FirstName",), r"JANE \ud83d\ude00")
    assert client.post(c2b_url(), data=raw, content_type="application/json").status_code == 200
    assert Payment.objects.get().payer_name.startswith("JANE")


@pytest.mark.parametrize("body", ["[" * 30000 + "]" * 30000, "[" * 60000, '{"Result":' * 5000 + "1" + "}" * 5000])
def test_deeply_nested_body_is_400_stored_and_its_admin_page_renders(client, body):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})

    response = client.post(url, data=body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["ResultDesc"]
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.INVALID
    assert callback.raw_body == body
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED

    client.force_login(make_user(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:payments_darajacallback_change", args=[callback.pk]))
    assert page.status_code == 200
    assert "nested too deeply" in page.content.decode()


def test_hundred_thousand_levels_are_over_the_size_limit_413(client):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    response = client.post(url, data="[" * 100_000, content_type="application/json")
    assert response.status_code == 413
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED


# --- The cache is down ---------------------------------------------------------------------------------------

DEAD_REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def cache_down():
    with override_settings(CACHES=DEAD_REDIS):
        caches["default"]  # noqa: B018 - the handler is rebuilt for the new setting
        yield
    caches["default"].clear()


@override_settings(CALLBACK_REJECTION_ALERT_THRESHOLD=3, ADMIN_WHATSAPP_NUMBERS=["254700111222"])
def test_refused_requests_are_answered_counted_and_alerted_when_the_cache_is_down(client, cache_down, caplog):
    with caplog.at_level(logging.WARNING):
        answers = [
            client.post(c2b_url(), data="{}", content_type="application/json", REMOTE_ADDR="203.0.113.9").status_code
            for _ in range(4)
        ]
    assert answers == [403, 403, 403, 403]
    assert DarajaCallback.objects.filter(outcome=CallbackOutcome.REJECTED).count() == 4
    # The throttles (the per-address store limit, the alert's flood shortcut) fall back and say so...
    assert "cache unavailable" in caplog.text
    assert "could not record notifications" not in caplog.text
    # ...and the burst alert still goes out, once.
    assert Notification.objects.filter(alert=Alert.CALLBACKS_REJECTED).count() == 1


def test_results_are_applied_when_the_cache_is_down(client, cache_down):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    assert client.post(url, data=b2c_result(payout), content_type="application/json").status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
