"""System checks that refuse a dangerous configuration, and the small operator commands."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.checks import check_configuration
from payments.models import PayoutStatus
from tests.factories import make_payout


def ids(settings_obj) -> set[str]:
    return {message.id for message in check_configuration()}


def test_local_defaults_pass(settings):
    assert ids(settings) == set()


def test_production_refuses_debug_default_key_and_http(settings):
    from mpesa_payouts.settings import INSECURE_SECRET_KEY

    settings.MPESA_ENVIRONMENT = "production"
    settings.DEBUG = True
    settings.SECRET_KEY = INSECURE_SECRET_KEY
    settings.CALLBACK_BASE_URL = "http://payouts.example.co.ke"
    assert {"payments.E010", "payments.E011", "payments.E012"} <= ids(settings)


def test_production_with_safe_settings_passes(settings):
    settings.MPESA_ENVIRONMENT = "production"
    settings.DEBUG = False
    settings.SECRET_KEY = "x" * 50
    settings.CALLBACK_BASE_URL = "https://payouts.example.co.ke"
    assert ids(settings) == set()


@pytest.mark.parametrize("origin", ["https://mpesa.example.com", "https://pay.example.com/safaricom",
                                    "https://example.com/sql", "https://QUERY.example.com"])
def test_callback_url_with_a_word_safaricom_rejects_is_an_error(settings, origin):
    settings.CALLBACK_BASE_URL = origin
    assert "payments.E003" in ids(settings)


def test_wildcard_allow_list_warns_loudly(settings):
    settings.CALLBACK_ALLOWED_IPS = ["*"]
    assert "payments.W001" in ids(settings)


def test_bad_allow_list_entry_is_an_error(settings):
    settings.CALLBACK_ALLOWED_IPS = ["196.201.214.0/24", "not-an-ip"]
    assert "payments.E002" in ids(settings)


def test_unknown_environment_is_an_error(settings):
    settings.MPESA_ENVIRONMENT = "staging"
    assert "payments.E001" in ids(settings)


@pytest.mark.django_db
def test_callback_urls_prints_full_static_urls_and_payout_shape(settings):
    out = io.StringIO()
    call_command("callback_urls", stdout=out)
    text = out.getvalue()
    assert "https://payouts.example.co.ke/callbacks/c2b/confirmation/" in text
    assert "https://payouts.example.co.ke/callbacks/b2c/result/TOKEN/" in text
    from payments.callbacks.tokens import static_token

    assert static_token("c2b") in text


@pytest.mark.django_db
def test_verify_payouts_queries_stuck_and_unknown_payouts_only(monkeypatch):
    asked = []
    monkeypatch.setattr(
        "payments.management.commands.verify_payouts.payout_query_status",
        lambda payout_id, source: asked.append(payout_id) or "queried",
    )
    old = timezone.now() - timezone.timedelta(hours=2)
    stuck = make_payout(status=PayoutStatus.SUBMITTED, status_changed_at=old)
    unknown = make_payout(status=PayoutStatus.VERIFYING)
    make_payout(status=PayoutStatus.SUBMITTED)  # fresh: its result may still come
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGDONE1")
    out = io.StringIO()
    call_command("verify_payouts", stdout=out)
    assert sorted(asked) == sorted([stuck.pk, unknown.pk])
    assert "2 payouts checked: 2 queried" in out.getvalue()

    asked.clear()
    call_command("verify_payouts", "--older-than", "60", stdout=io.StringIO())
    assert asked == [stuck.pk]
