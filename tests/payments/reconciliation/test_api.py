"""The read side of the API through its real routes: payments, payouts, stats, discrepancies, the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.audit_events import event_record
from payments.models import (
    CallbackKind,
    CallbackOutcome,
    PaymentSource,
    PaymentStatus,
    PayoutKind,
    PayoutStatus,
)
from tests.factories import (
    make_approval,
    make_approver,
    make_callback,
    make_float_reading,
    make_payment,
    make_payout,
    make_requester,
    make_user,
)
from tests.payments.reconciliation.conftest import walk

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
ENDPOINTS = [
    "/api/payments/",
    "/api/payouts/",
    "/api/stats/",
    "/api/reconciliation/discrepancies/",
    "/api/schema/",
]


# --- Who may read ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ENDPOINTS + ["/api/payments/{payment}/", "/api/payouts/{payout}/"])
def test_non_staff_users_get_403_and_anonymous_401(url):
    payment, payout = make_payment(), make_payout()
    url = url.format(payment=payment.pk, payout=payout.pk)
    # A requester who is not staff (as the API might see a partner's token) may not read.
    user = make_user("outsider")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get(url).status_code == 403

    session = APIClient()
    session.force_login(user)
    assert session.get(url).status_code == 403

    assert APIClient().get(url).status_code == 401


def test_staff_read_with_a_session_too(staff):
    client = APIClient()
    client.force_login(staff)
    assert client.get("/api/payouts/").status_code == 200


# --- Payments -----------------------------------------------------------------------------------------


def test_payment_fields(api):
    payment = make_payment(
        receipt="SGR7ABCD12",
        amount=Decimal("1500.00"),
        refunded_amount=Decimal("400.00"),
        phone="254712000001",
        account_reference="INV-9",
        source=PaymentSource.STK_PUSH,
        created_at=T0,
    )
    [item] = api.get("/api/payments/").json()["results"]
    assert item == api.get(f"/api/payments/{payment.pk}/").json()
    expected = {
        "id": payment.pk,
        "source": "stk_push",
        "status": "completed",
        "phone": "254712000001",
        "amount": "1500.00",
        "receipt": "SGR7ABCD12",
        "account_reference": "INV-9",
        "refunded_amount": "400.00",
        "refundable_amount": "1100.00",
        "created_at": "2024-07-01T12:00:00+03:00",
    }
    assert {k: item[k] for k in expected} == expected
    assert item["updated_at"]


def test_refundable_amount_is_zero_unless_completed(api):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None)
    assert api.get(f"/api/payments/{payment.pk}/").json()["refundable_amount"] == "0.00"


def test_payment_filters(api):
    a = make_payment(status=PaymentStatus.COMPLETED, source=PaymentSource.C2B, phone="254712000001", created_at=T0)
    b = make_payment(
        status=PaymentStatus.FAILED,
        source=PaymentSource.STK_PUSH,
        phone="254712000002",
        receipt=None,
        created_at=T0 + timedelta(days=1),
    )
    c = make_payment(
        status=PaymentStatus.PENDING,
        source=PaymentSource.STK_PUSH,
        phone="254712000003",
        receipt=None,
        created_at=T0 + timedelta(days=2),
    )

    def ids(**params):
        response = api.get("/api/payments/", params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [c.pk, b.pk, a.pk]
    assert ids(status="failed") == [b.pk]
    assert set(ids(status=["failed", "pending"])) == {b.pk, c.pk}
    assert ids(source="c2b") == [a.pk]
    assert ids(phone="0712000002") == [b.pk]
    assert ids(phone="+254 712 000 003") == [c.pk]
    assert ids(receipt=a.receipt.lower()) == [a.pk]
    assert ids(created_after="2024-07-02") == [c.pk, b.pk]
    assert ids(created_before="2024-07-02") == [a.pk]
    assert ids(created_after="2024-07-02T00:00:00+03:00", created_before="2024-07-03T00:00:00+03:00") == [b.pk]
    assert api.get("/api/payments/", {"status": "bogus"}).status_code == 400
    assert api.get("/api/payments/", {"created_after": "yesterday"}).status_code == 400


def test_masked_c2b_phone_is_matched_as_given(api):
    payment = make_payment(phone="2547 ***** 126")
    make_payment(phone="254712000009")
    assert [r["id"] for r in api.get("/api/payments/", {"phone": "2547 ***** 126"}).json()["results"]] == [payment.pk]


def test_payments_pagination_is_stable_and_complete(api):
    # Equal timestamps: the id breaks the tie, so no row is skipped or repeated across pages.
    payments = [make_payment(created_at=T0 + timedelta(minutes=i // 2)) for i in range(7)]
    results, pages = walk(api, "/api/payments/", {"page_size": 2})
    assert pages == 4
    expected = sorted(payments, key=lambda p: (p.created_at, p.pk), reverse=True)
    assert [r["id"] for r in results] == [p.pk for p in expected]

    first = api.get("/api/payments/", {"page_size": 2}).json()
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]


def test_filters_and_pagination_together(api):
    wanted = [
        make_payment(status=PaymentStatus.FAILED, receipt=None, created_at=T0 + timedelta(hours=i)) for i in range(5)
    ]
    for i in range(5):
        make_payment(created_at=T0 + timedelta(hours=i, minutes=30))
    results, pages = walk(api, "/api/payments/", {"page_size": 2, "status": "failed"})
    assert pages == 3
    assert [r["id"] for r in results] == [p.pk for p in reversed(wanted)]


# --- Payouts ------------------------------------------------------------------------------------------


@pytest.fixture
def settled_payout():
    requester = make_requester("rita")
    payment = make_payment(source=PaymentSource.STK_PUSH, amount=Decimal("2000.00"))
    payout = make_payout(
        kind=PayoutKind.REFUND,
        payment=payment,
        status=PayoutStatus.COMPLETED,
        transaction_id="SG632NMUAB",
        result_code="0",
        result_description="The service request is processed successfully.",
        amount=Decimal("1500.00"),
        phone="254712000001",
        requested_by=requester,
        created_at=T0,
        completed_at=T0 + timedelta(minutes=3),
        conversation_id="AG_20240701_000",
    )
    alan, bea = make_approver("alan"), make_approver("bea")
    make_approval(payout, alan, created_at=T0 + timedelta(minutes=1))
    make_approval(payout, make_approver("voided"), voided_at=T0 + timedelta(minutes=1), created_at=T0)
    make_approval(payout, bea, created_at=T0 + timedelta(minutes=2))
    event_record(action="requested", source="api", payout=payout, actor=requester, to_status="pending_approval")
    event_record(
        action="completed",
        source="callback",
        payout=payout,
        from_status="submitted",
        to_status="completed",
        details={"result_code": "0"},
    )
    return payout


def test_payout_list_fields(api, settled_payout):
    [item] = api.get("/api/payouts/").json()["results"]
    p = settled_payout
    expected = {
        "id": p.pk,
        "kind": "refund",
        "status": "completed",
        "phone": "254712000001",
        "amount": "1500.00",
        "command_id": "BusinessPayment",
        "payment": p.payment_id,
        "originator_conversation_id": p.originator_conversation_id,
        "conversation_id": "AG_20240701_000",
        "transaction_id": "SG632NMUAB",
        "result_code": "0",
        "result_description": "The service request is processed successfully.",
        "requested_by": "rita",
        "created_at": "2024-07-01T12:00:00+03:00",
        "completed_at": "2024-07-01T12:03:00+03:00",
    }
    assert {k: item[k] for k in expected} == expected
    # Voided approvals no longer count and are not listed.
    assert item["approvals"] == [
        {"approver": "alan", "created_at": "2024-07-01T12:01:00+03:00"},
        {"approver": "bea", "created_at": "2024-07-01T12:02:00+03:00"},
    ]
    assert "events" not in item


def test_payout_detail_has_the_audit_trail(api, settled_payout):
    detail = api.get(f"/api/payouts/{settled_payout.pk}/").json()
    assert [a["approver"] for a in detail["approvals"]] == ["alan", "bea"]
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"], e["source"]) for e in detail["events"]] == [
        ("requested", "", "pending_approval", "rita", "api"),
        ("completed", "submitted", "completed", None, "callback"),
    ]
    assert detail["events"][1]["details"] == {"result_code": "0"}
    assert api.get("/api/payouts/999999/").status_code == 404


def test_payout_list_makes_the_same_queries_for_3_or_30_payouts(api, django_assert_num_queries):
    def fill(n):
        for _ in range(n):
            payout = make_payout()
            make_approval(payout)

    fill(3)
    # token with its user, its permissions (user's and groups'), the page with requesters, approvals with approvers
    with django_assert_num_queries(5):
        assert len(api.get("/api/payouts/").json()["results"]) == 3
    fill(27)
    with django_assert_num_queries(5):
        assert len(api.get("/api/payouts/").json()["results"]) == 30


def test_payout_filters(api):
    requester = make_requester()
    c2b = make_payment(source=PaymentSource.C2B)
    stk = make_payment(source=PaymentSource.STK_PUSH)
    a = make_payout(
        status=PayoutStatus.COMPLETED,
        transaction_id="SGA0000001",
        result_code="0",
        phone="254712000001",
        kind=PayoutKind.REFUND,
        payment=c2b,
        requested_by=requester,
        created_at=T0,
    )
    b = make_payout(
        status=PayoutStatus.FAILED,
        result_code="2001",
        phone="254712000002",
        kind=PayoutKind.REFUND,
        payment=stk,
        requested_by=requester,
        created_at=T0 + timedelta(days=1),
    )
    c = make_payout(
        status=PayoutStatus.NEEDS_REVIEW,
        phone="254712000003",
        requested_by=requester,
        created_at=T0 + timedelta(days=2),
    )

    def ids(**params):
        response = api.get("/api/payouts/", params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [c.pk, b.pk, a.pk]
    assert ids(status="failed") == [b.pk]
    assert ids(status=["completed", "needs_review"]) == [c.pk, a.pk]
    assert ids(kind="disbursement") == [c.pk]
    assert ids(kind="refund") == [b.pk, a.pk]
    assert ids(source="stk_push") == [b.pk]
    assert ids(phone="0712000001") == [a.pk]
    assert ids(receipt="sga0000001") == [a.pk]
    assert ids(result_code="2001") == [b.pk]
    assert ids(created_after="2024-07-02") == [c.pk, b.pk]
    assert ids(created_before="2024-07-02") == [a.pk]
    assert ids(kind="refund", created_after="2024-07-02") == [b.pk]
    assert api.get("/api/payouts/", {"kind": "gift"}).status_code == 400


def test_payouts_pagination(api):
    payouts = [make_payout(created_at=T0 + timedelta(seconds=i % 3)) for i in range(9)]
    results, pages = walk(api, "/api/payouts/", {"page_size": 4})
    assert pages == 3
    assert [r["id"] for r in results] == [
        p.pk for p in sorted(payouts, key=lambda p: (p.created_at, p.pk), reverse=True)
    ]
    big = api.get("/api/payouts/", {"page_size": 100000}).json()
    assert len(big["results"]) == 9 and big["next"] is None
    assert api.get("/api/payouts/", {"cursor": "garbage"}).status_code == 404


# --- Stats --------------------------------------------------------------------------------------------


def test_stats(api):
    in_range = T0 + timedelta(days=1)
    make_payment(amount=Decimal("1000.00"), created_at=in_range)
    make_payment(amount=Decimal("250.50"), created_at=in_range)
    make_payment(status=PaymentStatus.FAILED, receipt=None, amount=Decimal("99.00"), created_at=in_range)
    make_payment(amount=Decimal("5000.00"), created_at=T0 - timedelta(days=10))  # outside
    refund_of = make_payment(created_at=T0 - timedelta(days=10))
    for status, amount, kind in [
        (PayoutStatus.COMPLETED, "100.00", PayoutKind.DISBURSEMENT),
        (PayoutStatus.COMPLETED, "40.00", PayoutKind.REFUND),
        (PayoutStatus.FAILED, "70.00", PayoutKind.DISBURSEMENT),
        (PayoutStatus.PENDING_APPROVAL, "10.00", PayoutKind.DISBURSEMENT),
        (PayoutStatus.VERIFYING, "10.00", PayoutKind.DISBURSEMENT),
        (PayoutStatus.NEEDS_REVIEW, "10.00", PayoutKind.DISBURSEMENT),
    ]:
        make_payout(
            status=status,
            amount=Decimal(amount),
            kind=kind,
            payment=refund_of if kind == PayoutKind.REFUND else None,
            transaction_id=f"SGX{status[:4].upper()}{kind[:3].upper()}" if status == PayoutStatus.COMPLETED else None,
            created_at=in_range,
        )
    make_payout(
        status=PayoutStatus.COMPLETED,
        transaction_id="SGOLD00001",
        amount=Decimal("999.00"),
        created_at=T0 - timedelta(days=10),
    )
    make_float_reading(utility_available=Decimal("12345.67"), observed_at=T0 - timedelta(hours=1))
    make_float_reading(utility_available=Decimal("1000.00"), observed_at=T0 - timedelta(days=2))

    stats = api.get("/api/stats/", {"start": "2024-07-02", "end": "2024-07-02"}).json()
    assert stats == {
        "start": "2024-07-02",
        "end": "2024-07-02",
        "total_payments": 3,
        "completed_payments": 2,
        "failed_payments": 1,
        "payment_revenue": "1250.50",
        "reversed_payments": 0,
        "reversed_total": "0.00",
        "total_payouts": 6,
        "completed_payouts": 2,
        "failed_payouts": 1,
        "pending_approval_payouts": 1,
        "verifying_payouts": 1,
        "needs_review_payouts": 1,
        "payout_total": "140.00",
        "refunded_total": "40.00",
        "last_known_float": "12345.67",
        "last_known_float_at": "2024-07-01T11:00:00+03:00",
    }
    everything = api.get("/api/stats/").json()
    assert everything["total_payments"] == 5 and everything["total_payouts"] == 7
    assert everything["payout_total"] == "1139.00"
    assert api.get("/api/stats/", {"start": "2024-07-03", "end": "2024-07-01"}).status_code == 400
    assert api.get("/api/stats/", {"start": "1 July"}).status_code == 400


def test_stats_days_are_nairobi_days(api):
    # 22:30 UTC on 30 June is 01:30 on 1 July in Nairobi.
    make_payout(created_at=datetime(2024, 6, 30, 22, 30, tzinfo=UTC))
    assert api.get("/api/stats/", {"start": "2024-06-30", "end": "2024-06-30"}).json()["total_payouts"] == 0
    assert api.get("/api/stats/", {"start": "2024-07-01", "end": "2024-07-01"}).json()["total_payouts"] == 1


def test_stats_with_nothing_recorded(api):
    stats = api.get("/api/stats/").json()
    assert stats["total_payouts"] == 0 and stats["payout_total"] == "0.00"
    assert stats["last_known_float"] is None and stats["last_known_float_at"] is None


# --- Discrepancies -----------------------------------------------------------------------------------


@pytest.fixture
def problems(settings):
    settings.PAYOUT_RESULT_DEADLINE_MINUTES = 15
    now = timezone.now()
    long_ago = now - timedelta(hours=3)
    found = {
        "review": make_payout(
            status=PayoutStatus.NEEDS_REVIEW, review_reason="Amount differs: 900 vs 1000", status_changed_at=long_ago
        ),
        "overdue_submitted": make_payout(status=PayoutStatus.SUBMITTED, status_changed_at=now - timedelta(minutes=40)),
        "overdue_verifying": make_payout(status=PayoutStatus.VERIFYING, status_changed_at=long_ago),
        "mismatch": make_callback(mismatch=True, error="Amount 900.00 differs from 1000.00", received_at=long_ago),
        "unmatched": make_callback(
            outcome=CallbackOutcome.UNMATCHED, originator_conversation_id="PO-nobody", received_at=long_ago
        ),
        "invalid": make_callback(
            outcome=CallbackOutcome.INVALID,
            kind=CallbackKind.STK,
            error="Invalid callback: missing Body",
            received_at=long_ago,
        ),
        "pending": make_payment(status=PaymentStatus.PENDING, receipt=None, created_at=now - timedelta(days=2)),
    }
    # None of these needs a person.
    make_payout(status=PayoutStatus.SUBMITTED, status_changed_at=now - timedelta(minutes=5))
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGOK000001")
    make_callback()
    make_payment(status=PaymentStatus.PENDING, receipt=None, created_at=now - timedelta(hours=2))
    return found


def test_discrepancies_list_every_kind_with_object_and_sentence(api, problems):
    response = api.get("/api/reconciliation/discrepancies/")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["previous"] is None
    got = [(d["kind"], d["object_type"], d["object_id"]) for d in body["results"]]
    assert got == [
        ("payout_needs_review", "payout", problems["review"].pk),
        ("payout_overdue", "payout", problems["overdue_verifying"].pk),
        ("payout_overdue", "payout", problems["overdue_submitted"].pk),
        ("result_mismatch", "callback", problems["mismatch"].pk),
        ("callback_unmatched", "callback", problems["unmatched"].pk),
        ("callback_invalid", "callback", problems["invalid"].pk),
        ("payment_pending", "payment", problems["pending"].pk),
    ]
    by_kind = {d["kind"]: d for d in body["results"]}
    assert by_kind["payout_needs_review"]["message"] == (
        f"Payout #{problems['review'].pk} (KES 10.00 to 254705912645) needs review: Amount differs: 900 vs 1000."
    )
    assert by_kind["payout_needs_review"]["object"]["status"] == "needs_review"
    overdue = [d for d in body["results"] if d["kind"] == "payout_overdue"]
    assert "has been submitted for 40 minutes with no result; the deadline is 15 minutes" in overdue[1]["message"]
    assert "has been verifying for 3 hours" in overdue[0]["message"]
    assert "Amount 900.00 differs from 1000.00" in by_kind["result_mismatch"]["message"]
    assert "PO-nobody" in by_kind["callback_unmatched"]["message"]
    assert by_kind["callback_unmatched"]["object"]["outcome"] == "unmatched"
    assert "missing Body" in by_kind["callback_invalid"]["message"]
    assert "pending for 2 days" in by_kind["payment_pending"]["message"]
    assert by_kind["payment_pending"]["object"]["refundable_amount"] == "0.00"
    assert all(d["message"].endswith(".") for d in body["results"])


def test_discrepancies_filter_by_kind(api, problems):
    def kinds(**params):
        return [d["kind"] for d in api.get("/api/reconciliation/discrepancies/", params).json()["results"]]

    assert kinds(kind="payout_overdue") == ["payout_overdue", "payout_overdue"]
    assert kinds(kind=["payment_pending", "callback_invalid"]) == ["callback_invalid", "payment_pending"]
    assert api.get("/api/reconciliation/discrepancies/", {"kind": "nonsense"}).status_code == 400


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
def test_discrepancies_paginate_across_kinds_both_ways(api, problems, page_size):
    everything = [d["object_id"] for d in api.get("/api/reconciliation/discrepancies/").json()["results"]]
    results, pages = walk(api, "/api/reconciliation/discrepancies/", {"page_size": page_size})
    assert [d["object_id"] for d in results] == everything
    assert pages == -(-len(everything) // page_size)

    # And back again from the last page through `previous`.
    page = api.get("/api/reconciliation/discrepancies/", {"page_size": page_size}).json()
    while page["next"]:
        page = api.get(page["next"]).json()
    backwards = [d["object_id"] for d in page["results"]]
    while page["previous"]:
        page = api.get(page["previous"]).json()
        backwards = [d["object_id"] for d in page["results"]] + backwards
    assert backwards == everything


def test_discrepancies_bad_cursor(api):
    assert api.get("/api/reconciliation/discrepancies/", {"cursor": "nope"}).status_code == 404


def test_nothing_to_do(api):
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGOK000002")
    assert api.get("/api/reconciliation/discrepancies/").json() == {"next": None, "previous": None, "results": []}


# --- Schema and docs --------------------------------------------------------------------------------


def test_schema_documents_the_whole_api(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/payments/",
        "/api/payments/{id}/",
        "/api/payouts/",
        "/api/payouts/{id}/",
        "/api/stats/",
        "/api/reconciliation/discrepancies/",
    ]:
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/payouts/"]["get"]["parameters"]}
    assert {
        "status",
        "source",
        "phone",
        "receipt",
        "created_after",
        "created_before",
        "kind",
        "result_code",
        "cursor",
        "page_size",
    } <= params
    stats = schema["components"]["schemas"]["Stats"]["properties"]
    assert "last_known_float" in stats


def test_docs_page_is_self_contained_and_staff_only(staff):
    client = Client()
    assert client.get("/api/docs/").status_code == 302  # to the admin login
    client.force_login(staff)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
