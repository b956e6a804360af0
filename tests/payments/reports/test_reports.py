"""Reports (docs/reports.md) through the real routes: `GET /api/reports/` and the console's Reports page, logged in,
with their CSV and XLSX downloads."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from rest_framework.test import APIClient

from daraja import result_codes
from payments.models import PaymentSource, PayoutRail, PayoutStatus
from tests.clock import travel_to
from tests.payments.admin.conftest import logged_in
from tests.payments.factories import make_approver, make_payment, make_payout, make_requester, make_user

pytestmark = pytest.mark.django_db
NOW = "2027-01-05T10:00:00+03:00"
_receipts = count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def payout(status: str, created: str, **fields):
    if status == PayoutStatus.COMPLETED:
        fields.setdefault("transaction_id", f"TX{next(_receipts):08d}")
    moment = at(created)
    fields.setdefault("status_changed_at", moment)
    return make_payout(status=status, created_at=moment, **fields)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def reader():
    return make_approver("rhoda")


@travel_to(NOW)
def test_an_unknown_outcome_is_counted_apart_never_as_a_failure(reader):
    day = "2027-01-04T09:00:00+03:00"
    payout(PayoutStatus.COMPLETED, day, amount=Decimal("100.00"), approved_at=at("2027-01-04T09:10:00+03:00"),
           completed_at=at("2027-01-04T09:40:00+03:00"))
    payout(PayoutStatus.COMPLETED, day, rail=PayoutRail.PAYBILL, phone="", party_b="888880", account_reference="ACC1",
           amount=Decimal("250.00"), charge=Decimal("15.00"))
    payout(PayoutStatus.FAILED, day, result_code="2001", amount=Decimal("40.00"))
    payout(PayoutStatus.VERIFYING, day, amount=Decimal("7.00"))
    payout(PayoutStatus.NEEDS_REVIEW, day, amount=Decimal("8.00"))
    # Submitted yesterday and never answered: past the result deadline, its outcome is unknown.
    payout(PayoutStatus.SUBMITTED, day, amount=Decimal("9.00"))
    # Submitted a minute ago: still in flight, neither unknown nor failed.
    payout(PayoutStatus.SUBMITTED, day, status_changed_at=at(NOW) - timedelta(minutes=1))
    payout(PayoutStatus.PENDING_APPROVAL, day)
    make_payment(source=PaymentSource.C2B, amount=Decimal("1000.00"), created_at=at(day))
    make_payment(source=PaymentSource.STK_PUSH, amount=Decimal("500.00"), created_at=at(day))

    response = api(reader).get("/api/reports/", {"start": "2027-01-01", "end": "2027-01-05"})
    assert response.status_code == 200
    totals = response.json()["totals"]
    assert totals["completed"] == {"count": 2, "amount": "350.00"}
    assert totals["failed"] == {"count": 1, "amount": "40.00"}
    assert totals["unknown"] == {"count": 3, "amount": "24.00"}
    assert totals["in_flight"] == 1 and totals["not_sent"] == 1 and totals["sent"] == 7 and totals["requested"] == 8
    assert totals["success_rate"] == 66.7  # 2 of the 3 whose outcome is known; the unknown three left out
    assert totals["money_out"]["mobile"]["amount"] == "100.00" and totals["money_out"]["paybill"]["amount"] == "250.00"
    assert totals["money_in"]["c2b"]["amount"] == "1000.00" and totals["money_in"]["stk_push"]["amount"] == "500.00"
    assert totals["charges"] == "15.00"
    assert totals["minutes_to_approval"] == 10.0 and totals["minutes_approval_to_completion"] == 30.0

    page = logged_in(reader).get("/admin/reports/", {"start": "2027-01-01", "end": "2027-01-05"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="reports-link"' in text  # the console's navigation leads here
    assert "3 &middot; KES 24.00" in text and "66.7%" in text and "<svg" in text
    assert "Outcome unknown" in text


@travel_to(NOW)
def test_failures_by_reason_with_the_catalogue_text(reader):
    day = "2027-01-02T12:00:00+03:00"
    payout(PayoutStatus.FAILED, day, result_code="2001", amount=Decimal("10.00"))
    payout(PayoutStatus.FAILED, day, result_code="2001", amount=Decimal("30.00"))
    payout(PayoutStatus.FAILED, day, result_code="400.002.02", amount=Decimal("5.00"))
    payout(PayoutStatus.FAILED, day, rail=PayoutRail.TILL, phone="", party_b="123456", result_code="SFC_IC0003",
           amount=Decimal("70.00"))

    failures = api(reader).get("/api/reports/", {"start": "2027-01-01"}).json()["failures"]
    by_code = {f["result_code"]: f for f in failures}
    assert by_code["2001"]["count"] == 2 and by_code["2001"]["amount"] == "40.00"
    assert by_code["2001"]["meaning"] == result_codes.classify_rail("mobile", "2001").admin_message
    assert by_code["400.002.02"]["meaning"] == result_codes.lookup("400.002.02").admin_message
    # A till's code is read in the B2B table, where SFC_IC0003 is a known refusal (not "unknown code").
    till = result_codes.classify_rail("till", "SFC_IC0003")
    assert till.known and by_code["SFC_IC0003"]["meaning"] == till.admin_message
    assert failures[0]["result_code"] == "2001"  # most frequent first

    text = logged_in(reader).get("/admin/reports/", {"start": "2027-01-01"}).content.decode()
    assert till.admin_message in text and "2001" in text


@travel_to(NOW)
def test_grouping_by_day_week_and_month_across_a_month_end_in_nairobi_time(reader):
    payout(PayoutStatus.COMPLETED, "2026-12-28T10:00:00+03:00", amount=Decimal("1.00"))  # a Monday
    payout(PayoutStatus.COMPLETED, "2026-12-31T23:30:00+03:00", amount=Decimal("2.00"))
    # 00:30 on the 1st in Nairobi is still the 31st in UTC: it belongs to January.
    payout(PayoutStatus.COMPLETED, "2027-01-01T00:30:00+03:00", amount=Decimal("4.00"))
    query = {"start": "2026-12-28", "end": "2027-01-03"}

    def periods(group):
        data = api(reader).get("/api/reports/", {**query, "group": group}).json()["periods"]
        return [(p["start"], p["end"], p["completed"]["amount"]) for p in data]

    by_day = periods("day")
    assert len(by_day) == 7
    assert ("2026-12-31", "2026-12-31", "2.00") in by_day and ("2027-01-01", "2027-01-01", "4.00") in by_day
    assert periods("week") == [("2026-12-28", "2027-01-03", "7.00")]
    assert periods("month") == [("2026-12-28", "2026-12-31", "3.00"), ("2027-01-01", "2027-01-03", "4.00")]

    page = logged_in(reader).get("/admin/reports/", {**query, "group": "month"}).content.decode()
    assert "Dec 2026" in page and "Jan 2027" in page


@travel_to(NOW)
def test_csv_and_xlsx_exports_neutralise_a_cell_that_would_run_as_a_formula(reader):
    from openpyxl import load_workbook

    payout(PayoutStatus.FAILED, "2027-01-02T12:00:00+03:00", result_code="=HYPERLINK(\"x\")", amount=Decimal("12.50"))
    query = {"start": "2027-01-01", "end": "2027-01-05", "group": "week"}

    response = logged_in(reader).get("/admin/reports/", {**query, "export": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    codes = [row[0] for row in rows if len(row) == 5 and row[3] == "1"]
    assert codes == ["'=HYPERLINK(\"x\")"]
    assert not any(cell.startswith("=") for row in rows for cell in row)

    response = api(reader).get("/api/reports/", {**query, "export": "xlsx"})
    assert response.status_code == 200 and "spreadsheetml" in response["Content-Type"]
    book = load_workbook(io.BytesIO(response.content))
    failures = book["Failures by reason"]
    code = failures.cell(row=2, column=1)
    assert code.value == "'=HYPERLINK(\"x\")" and code.data_type == "s"
    assert failures.cell(row=2, column=5).value == 12.5  # amounts stay numbers
    periods = book["Periods"]
    headers = [c.value for c in periods[1]]
    assert periods.cell(row=2, column=headers.index("Failed") + 1).value == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2027-01-05", "end": "2027-01-01"}, "end"),
        ({"start": "2025-01-01", "end": "2027-01-01"}, "end"),
        ({"group": "year"}, "group"),
        ({"start": "2027-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "start"),
        ({"export": "pdf"}, "export"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(reader, params, field):
    with travel_to(NOW):
        response = api(reader).get("/api/reports/", params)
        assert response.status_code == 400
        assert list(response.json()) == [field] and response.json()[field][0]
        page = logged_in(reader).get("/admin/reports/", params)
    assert page.status_code == 400
    assert f"{field}: " in page.content.decode()


def test_readers_of_payouts_may_read_reports_and_nobody_else():
    requester = make_requester("rita")
    assert api(requester).get("/api/reports/").status_code == 200
    assert logged_in(requester).get("/admin/reports/").status_code == 200
    nobody = make_user("staffonly", is_staff=True)
    assert api(nobody).get("/api/reports/").status_code == 403
    page = logged_in(nobody).get("/admin/reports/")
    assert page.status_code == 403 and 'id="reports-link"' not in page.content.decode()


@travel_to(NOW)
def test_a_payout_counts_once_where_it_stands_now_as_it_moves_through_the_lifecycle(reader):
    from django.db import connection

    from payments.models import PayoutReportDay
    from tests.payments.factories import advance

    day = "2027-01-03T08:00:00+03:00"
    moving = payout(PayoutStatus.APPROVED, day, amount=Decimal("60.00"), approved_at=at("2027-01-03T08:05:00+03:00"))
    payout(PayoutStatus.FAILED, day, result_code="2001", amount=Decimal("5.00"))

    def totals():
        return api(reader).get("/api/reports/", {"start": "2027-01-03", "end": "2027-01-03"}).json()["totals"]

    assert totals()["not_sent"] == 1 and totals()["sent"] == 1
    advance(moving.pk, PayoutStatus.SENDING)
    assert totals()["not_sent"] == 0 and totals()["in_flight"] == 1 and totals()["sent"] == 2
    advance(moving.pk, PayoutStatus.COMPLETED,
            fields={"transaction_id": "TXMOVE0001", "completed_at": at("2027-01-03T08:25:00+03:00"),
                    "charge": Decimal("3.00")})  # fmt: skip
    now = totals()
    assert now["completed"] == {"count": 1, "amount": "60.00"} and now["in_flight"] == 0 and now["requested"] == 2
    assert now["charges"] == "3.00" and now["minutes_approval_to_completion"] == 20.0
    assert now["minutes_to_approval"] == 5.0 and now["success_rate"] == 50.0
    if connection.vendor == "postgresql":  # the running totals agree with the payouts themselves, row for row
        kept = PayoutReportDay.objects.filter(count__gt=0).values_list("status").distinct()
        assert sorted(s for (s,) in kept) == ["completed", "failed"]


@travel_to(NOW)
def test_the_running_totals_agree_with_the_payouts_after_every_kind_of_write():
    from django.db import connection

    from payments.models import Payout
    from payments.reports import figures
    from payments.reports.params import ReportPeriod
    from tests.payments.factories import advance

    if connection.vendor != "postgresql":
        pytest.skip("the running totals are kept by a PostgreSQL trigger")
    day = "2027-01-02T23:50:00+03:00"
    a = payout(PayoutStatus.APPROVED, day, approved_at=at("2027-01-03T00:20:00+03:00"))
    b = payout(PayoutStatus.SUBMITTED, day, rail=PayoutRail.PAYBILL, phone="", party_b="888880", account_reference="X")
    c = payout(PayoutStatus.FAILED, "2027-01-04T01:00:00+03:00", result_code="1")
    advance(a.pk, PayoutStatus.SENDING)
    advance(b.pk, PayoutStatus.COMPLETED, fields={"transaction_id": "TXAGREE001", "charge": Decimal("12.00"),
                                                  "completed_at": at("2027-01-03T09:00:00+03:00")})  # fmt: skip
    Payout.objects.filter(pk=c.pk).update(result_code="2001")  # a failed payout's code corrected
    Payout.objects.filter(pk=a.pk).update(amount=Decimal("99.00"), created_at=at("2027-01-01T10:00:00+03:00"))
    payout(PayoutStatus.REJECTED, day).delete()
    make_payment(amount=Decimal("70.00"), created_at=at("2027-01-01T00:10:00+03:00"))
    pending = make_payment(source=PaymentSource.STK_PUSH, status="pending", amount=Decimal("30.00"),
                           created_at=at(day), checkout_request_id="ws_CO_agree")  # fmt: skip
    from payments.incoming.lifecycle import payment_transition

    payment_transition(payment_id=pending.pk, action="payment_completed", to_status="completed", source="callback",
                       fields={"receipt": "RCPAGREE01"})  # fmt: skip

    def normal(rows):
        keep = ("day", "rail", "status", "failure_code", "n", "amount", "charge", "approval_time", "approvals",
                "completion_time", "completions")  # fmt: skip
        zero = {"charge": Decimal("0"), "approval_time": timedelta(0), "completion_time": timedelta(0)}
        return sorted(tuple(row[k] if row[k] is not None else zero[k] for k in keep) for row in rows)

    period = ReportPeriod(start=at(day).date().replace(day=1), end=at(NOW).date(), group="day")
    assert normal(figures.kept_rows(period)) == normal(figures.summed_rows(period))
    assert len(figures.kept_rows(period)) == 3
    assert sorted(map(sorted_items, figures.kept_payment_rows(period))) == sorted(
        map(sorted_items, figures.summed_payment_rows(period))
    )
    assert len(figures.kept_payment_rows(period)) == 2


def sorted_items(row: dict) -> tuple:
    return tuple(sorted(row.items()))


def test_the_api_schema_documents_the_report_and_its_parameters(reader):
    response = api(reader).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    operation = response.json()["paths"]["/api/reports/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "group", "export"}
