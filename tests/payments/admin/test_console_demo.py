"""`seed_demo`: a fortnight with every state for every page to show, seeded once; and the sample statement
shipped in docs/demo/ reconciles against it with exactly the one planted mismatch."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from payments.callbacks.tokens import static_token
from payments.models import (
    AuditEvent,
    FinanceJob,
    FloatBalance,
    Payout,
    PayoutBatch,
    PayoutKind,
    PayoutPlan,
    PayoutPlanStatus,
    PayoutStatus,
    Recipient,
    RecipientStatus,
)
from tests import fake_daraja
from tests.clock import travel_to
from tests.factories import sample
from tests.ledger.conftest import post_callback
from tests.payments.admin.conftest import logged_in
from tests.payments.factories import token_client as api

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
    # Saved recipients, all approved, and a weekly plan paying the two trainers: its next run is on the overview.
    assert set(Recipient.objects.values_list("status", flat=True)) == {RecipientStatus.ACTIVE}
    plan = PayoutPlan.objects.get()
    assert plan.status == PayoutPlanStatus.ACTIVE and plan.lines.count() == 2
    assert "Trainers weekly" in page and 'id="payout-plans"' in page
    assert Recipient.objects.count() == 3 and PayoutPlan.objects.count() == 1  # seeded once


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


def test_the_demo_books_agree_and_a_real_drift_shows_as_a_problem(client, settings):
    """After `make run`'s seed_demo and ledger_backfill, the ledger's float is the float the home page shows,
    and M-Pesa's next balance reading (the simulator reports the float seed_demo was given) flags nothing."""
    fake_daraja.configure(settings)
    settings.FLOAT_DRIFT_ALERT_KES = Decimal("100")
    call_command("seed_demo", "--float", "228037.00", stdout=io.StringIO())  # what the sample reading reports
    call_command("ledger_backfill", stdout=io.StringIO())
    approver = get_user_model().objects.get(username="approver")
    home = logged_in(approver).get("/api/dashboard/").json()
    [utility] = [line for line in api(approver).get("/api/ledger/accounts/").json() if line["code"] == "mpesa_utility"]
    assert Decimal(utility["balance"]) == Decimal(home["float"]["latest"]["utility_available"]) == Decimal("228037.00")
    assert api(approver).get("/api/ledger/trial-balance/").json()["balanced"] is True

    body = sample("account_balance_result")  # M-Pesa: Utility Account KES 228,037.00
    assert post_callback(client, "balance-result", static_token("balance"), body).status_code == 200
    assert drifts(approver) == []
    page = logged_in(approver).get("/admin/ledger/floatcheck/").content.decode()
    assert "Agrees" in page and "Drift: look into it" not in page and "KES 228,037.00" in page

    # A reading KES 50,000 short of the ledger: a real drift, drawn as a problem in words.
    raw = json.dumps(body).replace("Utility Account|KES|228037.00|228037.00", "Utility Account|KES|178037.00|178037.00")
    assert post_callback(client, "balance-result", static_token("balance"), raw).status_code == 200
    assert [d["object_type"] for d in drifts(approver)] == ["float_check"]
    page = logged_in(approver).get("/admin/ledger/floatcheck/").content.decode()
    assert "Drift: look into it" in page and "KES -50,000.00" in page and "icon-yes.svg" not in page


def drifts(user) -> list[dict]:
    response = api(user).get("/api/reconciliation/discrepancies/", {"kind": "float_drift"})
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize("moment", ["2026-12-07T00:05:00+03:00", "2026-12-09T12:00:00+03:00"])
def test_the_demo_trail_is_in_the_past_and_in_lifecycle_order(moment):
    """A few minutes past midnight Nairobi, today's seeded payouts would otherwise be sent after now."""
    with travel_to(moment, tick=False):
        seed()
        now = timezone.now()
        for payout in Payout.objects.all():
            times = [payout.created_at, payout.approved_at, payout.submitted_at, payout.completed_at]
            times = [t for t in times if t is not None]
            assert times == sorted(times) and times[-1] <= now, (payout.recipient_reference, times)
            assert payout.status_changed_at <= now
            if payout.mpesa_completed_at and payout.approved_at:
                assert payout.approved_at <= payout.mpesa_completed_at, payout.recipient_reference
            events = list(payout.events.order_by("id").values_list("created_at", flat=True))
            assert events == sorted(events) and events[-1] <= now, (payout.recipient_reference, events)
        assert not AuditEvent.objects.filter(created_at__gt=now).exists()
        assert not FloatBalance.objects.filter(observed_at__gt=now).exists()


def test_every_line_of_the_sample_statement_is_accounted_for_and_the_balances_agree(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    """13 lines: 6 payouts matched (one of them with the planted mismatch), 6 charges, the KES 100,000
    transfer; opening balance + the lines = the statement's closing balance, on the console's result page."""
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the job's task runs here, as the worker would run it
    settings.CONSOLE_FILES_DIR = tmp_path / "console-files"
    seed()
    client = logged_in(get_user_model().objects.get(username="approver"))
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(
            "/admin/payments/financejob/reconcile/",
            {"statement": SimpleUploadedFile(STATEMENT.name, STATEMENT.read_bytes())},
        )
    assert asked.status_code == 302, asked.content.decode()[:500]
    page = " ".join(client.get(asked["Location"]).content.decode().split())

    assert "1 discrepancy" in page and "Amount mismatch" in page
    assert "<td>Payouts matched to ours</td><td>6</td><td>KES -24,050.00</td>" in page
    assert "<td>M-Pesa charges</td><td>6</td><td>KES -90.00</td>" in page
    assert "<td>Transfers between the organisation&#x27;s accounts</td><td>1</td><td>KES 100,000.00</td>" in page
    assert '<th scope="row">All lines</th><td><strong>13</strong></td><td><strong>KES 75,860.00</strong>' in page
    assert (
        "Opening balance KES 250,000.00 + the lines KES 75,860.00 = KES 325,860.00; the statement's closing "
        "balance is KES 325,860.00: <strong>they agree</strong>."
    ) in page.replace("&#x27;", "'")

    # The one discrepancy is marked resolved with what was found: never without a note, once, audited.
    job_id = FinanceJob.objects.get().pk
    blank = client.post(f"/admin/payments/financejob/{job_id}/discrepancies/0/resolve/", {"note": "  "}, follow=True)
    assert "a resolution needs a note" in blank.content.decode()
    requester = get_user_model().objects.get(username="requester")
    refused = api(requester).post(
        f"/api/reconciliation/statements/{job_id}/discrepancies/0/resolve/", {"note": "Fine"}, format="json"
    )
    assert refused.status_code == 403
    assert api(get_user_model().objects.get(username="approver2")).post(
        f"/api/reconciliation/statements/{job_id}/discrepancies/0/resolve/", {}, format="json"
    ).status_code == 400  # fmt: skip
    assert not AuditEvent.objects.filter(action="statement_discrepancy_resolved").exists()

    note = "Recipient was paid KES 2,050 by agreement; our request was corrected after approval."
    done = client.post(f"/admin/payments/financejob/{job_id}/discrepancies/0/resolve/", {"note": note}, follow=True)
    assert "DEMOST0003: marked resolved." in done.content.decode()
    assert f"Resolved by approver: {note}" in done.content.decode()
    event = AuditEvent.objects.get(action="statement_discrepancy_resolved")
    assert event.actor.username == "approver" and event.details["receipt"] == "DEMOST0003"
    again = api(get_user_model().objects.get(username="approver2")).post(
        f"/api/reconciliation/statements/{job_id}/discrepancies/0/resolve/", {"note": "Also fine"}, format="json"
    )
    assert again.status_code == 409 and "resolved already by approver" in again.json()["detail"]
