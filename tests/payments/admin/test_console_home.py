"""The console's home: `/` opens it, its title is SITE_NAME, the index is an overview for the person signed
in ("Needs you", today and this week, the float), and `GET /api/dashboard/` gives the same figures."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import CallbackOutcome, Payout, PayoutDay, PayoutKind, PayoutStatus
from payments.payouts import services as payout_services
from tests.factories import make_callback, make_float_reading, make_payment, make_payout, make_user
from tests.payments.admin.conftest import logged_in, request_payout

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_root_redirects_to_the_console_and_the_title_is_the_site_name(client, approver, settings):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    page = logged_in(approver).get("/admin/")
    text = page.content.decode()
    assert "<title>Overview | M-Pesa payouts</title>" in text
    assert "Django administration" not in text and ">M-Pesa payouts<" in text


def test_needs_you_counts_only_what_this_approver_may_approve(requester, approver):
    other_approver = make_user("olga", groups=("Payout approvers",), is_staff=True)
    dual = make_user("dual", groups=("Payout requesters", "Payout approvers"), is_staff=True)
    plain = request_payout(requester, amount="500")
    request_payout(requester, amount="600", phone="0722000111")
    approved_once = request_payout(requester, amount="20000", phone="0733000111")  # needs two approvers
    payout_services.payout_approve(payout_id=approved_once.pk, approved_by=approver, source="admin")
    edited_by_dual = request_payout(requester, amount="700", phone="0744000111")
    payout_services.payout_update(payout_id=edited_by_dual.pk, updated_by=dual, amount=Decimal("750"))
    own_of_dual = request_payout(dual, amount="800", phone="0755000111")

    # alan approved one already: the other four wait for him.
    assert api(approver).get("/api/dashboard/").json()["awaiting_my_approval"] == 4
    # dual requested one and edited another: neither is theirs to approve.
    data = api(dual).get("/api/dashboard/").json()
    assert data["awaiting_my_approval"] == 3 and data["pending_approval"] == 5
    assert api(other_approver).get("/api/dashboard/").json()["awaiting_my_approval"] == 5

    page = logged_in(dual).get("/admin/").content.decode()
    assert 'id="card-awaiting"' in page and "?awaiting=me" in page
    # The card's link lists exactly those.
    listed = logged_in(dual).get("/admin/payments/payout/?awaiting=me")
    assert listed.status_code == 200
    ids = {p.pk for p in listed.context["cl"].result_list}
    assert plain.pk in ids and approved_once.pk in ids
    assert edited_by_dual.pk not in ids and own_of_dual.pk not in ids and len(ids) == 3


def test_a_requester_sees_no_approval_queue_but_sees_review_and_failures(clock, requester, requester_client):
    make_payout(status=PayoutStatus.NEEDS_REVIEW, review_reason="Result disagrees with the payout")
    make_payout(status=PayoutStatus.FAILED, result_code="2001", status_changed_at=timezone.now())
    page = requester_client.get("/admin/").content.decode()
    assert 'id="card-awaiting"' not in page
    assert 'id="card-needs-review"' in page and "status__exact=needs_review" in page
    # Today's failures with what to do, from the result-code catalogue.
    assert "2001" in page and "initiator" in page.lower()
    data = api(requester).get("/api/dashboard/").json()
    assert data["awaiting_my_approval"] == 0 and data["needs_review"] == 1 and data["failed_today"] == 1
    assert data["failures_today"][0]["result_code"] == "2001" and data["failures_today"][0]["action"]


def test_today_and_this_week_figures(approver, clock):
    now = timezone.localtime()
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today_start - timedelta(days=now.weekday())
    payment = make_payment(amount=Decimal("5000.00"))
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("1500.00"), transaction_id="TODAY00001",
                status_changed_at=now)  # fmt: skip
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("2500.00"), transaction_id="TODAY00002",
                kind=PayoutKind.REFUND, payment=payment, status_changed_at=now)  # fmt: skip
    make_payout(status=PayoutStatus.FAILED, result_code="1", status_changed_at=now)
    # Earlier this week and not today: there is no such moment on a Monday (the week starts today).
    week_extra = 0
    if week_start < today_start:
        make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("100.00"), transaction_id="WEEK000001",
                    status_changed_at=today_start - timedelta(minutes=1))  # fmt: skip
        week_extra = 1
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("999.00"), transaction_id="LASTWEEK01",
                status_changed_at=week_start - timedelta(minutes=1))  # fmt: skip
    make_payout(status=PayoutStatus.SUBMITTED)
    make_payout(status=PayoutStatus.VERIFYING)
    make_callback(outcome=CallbackOutcome.REJECTED, http_status=403)

    data = api(approver).get("/api/dashboard/").json()
    today, week = data["today"], data["this_week"]
    assert data["paid_today"] == {"count": 2, "amount": "4000.00"} == today["paid"]
    assert today["refunds"] == {"count": 1, "amount": "2500.00"}
    assert today["failed"] == 1 and today["success_rate"] == pytest.approx(66.7)
    assert today["callbacks_refused"] == 1
    assert week["paid"]["count"] == 2 + week_extra
    assert data["in_flight"] == 2

    page = logged_in(approver).get("/admin/").content.decode()
    assert "KES 4,000.00" in page and "66.7%" in page and "2 in flight" in page


def test_float_latest_reading_threshold_chart_and_table(clock, approver, settings):
    settings.LOW_BALANCE_THRESHOLD = Decimal("10000")
    now = timezone.now()
    make_float_reading(utility_available=Decimal("80000.00"), observed_at=now - timedelta(days=3))
    make_float_reading(utility_available=Decimal("7500.00"), observed_at=now - timedelta(minutes=5))
    data = api(approver).get("/api/dashboard/").json()
    assert data["float"]["latest"]["utility_available"] == "7500.00"
    assert data["float"]["low"] is True and data["float"]["low_balance_threshold"] == "10000.00"
    series = data["float"]["series"]
    assert len(series) == 30 and series[-1]["float"] == "7500.00" and series[-4]["float"] == "80000.00"
    assert series[0]["float"] is None

    page = logged_in(approver).get("/admin/").content.decode()
    assert "KES 7,500.00" in page and "Below the low-balance threshold" in page
    # Charts are inline SVG (no script), labelled in words, with a table of the same numbers.
    assert page.count("<svg class=\"console-chart\"") == 2 and "low-balance threshold KES 10,000.00" in page
    assert 'id="series-table"' in page and "KES 80,000.00" in page
    assert "<script>" not in page and "javascript:" not in page
    assert "payouts are running" in page
    # Each axis reads in round quarters: the float's top is 80,000 with room (100k), the empty volume's KES 100.
    axes = re.findall(r'<svg class="console-chart".*?</svg>', page, flags=re.S)
    labels = [re.findall(r'text-anchor="end" font-size="11" fill="#333">([^<]+)</text>', axis) for axis in axes]
    assert labels[0][:5] == ["0", "25k", "50k", "75k", "100k"]
    assert labels[1][:5] == ["0", "25", "50", "75", "100"]


def test_kill_switch_state_is_shown(approver, settings):
    payout_services.payout_control_set(paused=True, changed_by=approver, reason="Month-end audit", source="admin")
    page = logged_in(approver).get("/admin/").content.decode()
    assert "payouts are PAUSED" in page and "Month-end audit" in page
    assert api(approver).get("/api/dashboard/").json()["payouts_paused"] is True


def test_the_dashboard_api_is_for_the_console_roles_only(client):
    outsider = make_user("staffonly", is_staff=True)
    assert api(outsider).get("/api/dashboard/").status_code == 403
    assert client.get("/api/dashboard/").status_code in (401, 403)
    superuser = make_user("root", is_staff=True, is_superuser=True)
    assert api(superuser).get("/api/dashboard/").status_code == 200
    # A staff user without a role sees the admin index without the figures.
    page = logged_in(outsider).get("/admin/").content.decode()
    assert 'id="needs-you"' not in page


def test_the_dashboard_is_documented_in_the_openapi_schema():
    superuser = make_user("root", is_staff=True, is_superuser=True)
    schema = api(superuser).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    answer = schema["paths"]["/api/dashboard/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/Dashboard")
    assert {"awaiting_my_approval", "needs_review", "failed_today", "paid_today", "float"} <= set(
        schema["components"]["schemas"]["Dashboard"]["properties"]
    )


def test_the_overview_runs_a_fixed_number_of_queries_and_no_full_count(approver, requester):
    for n in range(5):
        request_payout(requester, amount=str(100 + n), phone=f"07120000{n:02d}")
    for n in range(3):
        make_payout(status=PayoutStatus.FAILED, result_code=str(n + 1), status_changed_at=timezone.now())
    client = logged_in(approver)
    client.get("/admin/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    few = len(queries)
    for n in range(20):
        request_payout(requester, amount=str(200 + n), phone=f"07130000{n:02d}")
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/")
    assert len(queries) == few  # as many queries whatever the number of payouts
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql and '"PAYMENTS_PAYOUT"' in sql:
            assert "WHERE" in sql, sql  # every count of payouts is bounded by an indexed condition


@pytest.mark.postgres
def test_the_daily_totals_the_trigger_keeps_agree_with_the_payouts(clock):
    now = timezone.now()
    moving = make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("700.00"))
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("1500.00"), transaction_id="DAY0000001",
                status_changed_at=now - timedelta(days=1))  # fmt: skip
    make_payout(status=PayoutStatus.FAILED, amount=Decimal("300.00"), kind=PayoutKind.REFUND,
                payment=make_payment(amount=Decimal("300.00")), status_changed_at=now)  # fmt: skip
    # A payout that ends, then is moved to another day: it leaves the first day's total.
    Payout.objects.filter(pk=moving.pk).update(status=PayoutStatus.COMPLETED, transaction_id="DAY0000002",
                                               status_changed_at=now)  # fmt: skip
    Payout.objects.filter(pk=moving.pk).update(status_changed_at=now - timedelta(days=3))

    kept = {
        (row["day"], row["kind"], row["status"]): (row["n"], row["total"])
        for row in PayoutDay.objects.values("day", "kind", "status").annotate(n=Sum("count"), total=Sum("amount"))
        if row["n"]
    }
    actual = {
        (row["day"], row["kind"], row["status"]): (row["n"], row["total"])
        for row in Payout.objects.filter(status__in=["completed", "failed"])
        .annotate(day=TruncDate("status_changed_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "kind", "status")
        .annotate(n=Count("id"), total=Sum("amount"))
    }
    assert kept == actual and len(kept) == 3
