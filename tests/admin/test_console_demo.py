"""`seed_demo`: a fortnight with every state for every page to show, seeded once; and the sample statement
shipped in docs/demo/ reconciles against it with exactly the one planted mismatch."""

from __future__ import annotations

import csv
import io

import pytest
from django.conf import settings
from django.core.management import call_command

from payments.models import FloatBalance, Payout, PayoutBatch, PayoutKind, PayoutStatus
from tests.admin.conftest import logged_in

pytestmark = pytest.mark.django_db
STATEMENT = settings.BASE_DIR / "docs" / "demo" / "ORG_600992_Statement_demo.csv"


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_fortnight_has_every_state_and_is_seeded_once(django_user_model):
    seed()
    statuses = set(Payout.objects.values_list("status", flat=True))
    assert {
        PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW,
        PayoutStatus.PENDING_APPROVAL, PayoutStatus.SUBMITTED,
    } <= statuses  # fmt: skip
    failed_codes = set(Payout.objects.filter(status=PayoutStatus.FAILED).values_list("result_code", flat=True))
    assert len(failed_codes) >= 3
    assert Payout.objects.filter(kind=PayoutKind.REFUND, status=PayoutStatus.COMPLETED).exists()
    assert Payout.objects.filter(kind=PayoutKind.REFUND, status=PayoutStatus.PENDING_APPROVAL).exists()
    batch = PayoutBatch.objects.get()
    assert {p.status for p in batch.payouts.all()} >= {PayoutStatus.COMPLETED, PayoutStatus.FAILED,
                                                       PayoutStatus.PENDING_APPROVAL}  # fmt: skip
    days = {r.astimezone().date() for r in FloatBalance.objects.values_list("observed_at", flat=True)}
    assert len(days) >= 30
    before = (Payout.objects.count(), FloatBalance.objects.count(), django_user_model.objects.count())
    assert "already there" in seed()
    assert (Payout.objects.count(), FloatBalance.objects.count(), django_user_model.objects.count()) == before

    # The overview has something in every section.
    approver = django_user_model.objects.get(username="approver")
    page = logged_in(approver).get("/admin/").content.decode()
    data = logged_in(approver).get("/api/dashboard/").json()
    assert data["awaiting_my_approval"] >= 5 and data["needs_review"] == 1 and data["failed_today"] >= 2
    assert data["float"]["latest"] is not None and all(d["float"] for d in data["float"]["series"][1:])
    assert "Today's failures and what to do" in page


def test_the_sample_statement_reconciles_with_one_planted_mismatch(tmp_path):
    seed()
    report = tmp_path / "report.csv"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("reconcile_statement", str(STATEMENT), report=str(report), stdout=out, stderr=io.StringIO())
    assert exit_.value.code == 1
    with report.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["receipt"]) for r in rows] == [("amount_mismatch", "DEMOST0003")]
    assert "Matched by receipt: 6" in out.getvalue()
