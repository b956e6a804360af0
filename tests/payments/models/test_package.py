"""payments/models/ is a package by sub-domain (docs/architecture.md, "Models"): each model lives in the module
of its sub-domain, every one is importable from `payments.models` as before, and its table is the one the
migrations made. The status sets the lifecycle, the limits and the indexes share are defined once there."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

import payments.models
from payments.models import SENT_STATUSES, SUBMITTED_STATUSES, PayoutStatus

SUB_DOMAINS = {
    "payments.models.incoming",
    "payments.models.payouts",
    "payments.models.payout_totals",
    "payments.models.callbacks",
    "payments.models.audit",
    "payments.models.floats",
    "payments.models.finance",
    "payments.models.credentials",
    "payments.models.submissions",
    "payments.models.idempotency",
    "payments.models.recipients",
    "payments.models.approval_rules",
    "payments.models.tariffs",
    "payments.models.plans",
}


@pytest.mark.parametrize("model", list(apps.get_app_config("payments").get_models()), ids=lambda m: m.__name__)
def test_each_model_lives_in_its_sub_domain_and_is_imported_from_payments_models(model):
    assert model.__module__ in SUB_DOMAINS
    assert getattr(payments.models, model.__name__) is model
    assert model._meta.app_label == "payments"
    # The tables the migrations created keep their names: moving a class must not rename one.
    assert model._meta.db_table == f"payments_{model.__name__.lower()}"


def test_the_submitted_statuses_are_the_sent_ones_that_have_left():
    assert set(SENT_STATUSES) - set(SUBMITTED_STATUSES) == {PayoutStatus.SENDING}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("index", ["payout_sent_submitted", "payout_sent_phone_submitted"])
def test_the_sent_indexes_cover_exactly_the_submitted_statuses(index):
    # The limits at send name SUBMITTED_STATUSES in their SQL so the planner uses these partial indexes: the
    # index the migrations built must hold the same statuses, or every send scans every payout.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [index],
        )
        (predicate,) = cursor.fetchone()
    named = {status for status in PayoutStatus.values if f"'{status}'" in predicate}
    assert named == set(SUBMITTED_STATUSES)
