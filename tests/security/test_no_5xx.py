"""Input the outside tester sent that made the system answer 5xx: each is now a clear 4xx or a working page.
Ledger dates the calendar cannot hold, forged ledger cursors, a NUL in an event id, a stored body with a lone
surrogate, and the pages and API writes that read the cache while Redis is down. A property-based test sends
random query strings to every API list."""

from __future__ import annotations

import base64
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.cache import caches
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.api_throttles import forget_local_counts
from ledger.models import FundingRequest
from payments.models import FinanceJob, FinanceJobKind, FinanceJobStatus, Payout
from tests.factories import make_approver, make_callback, make_payment, make_requester, make_user
from tests.payments.admin.conftest import logged_in

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


@pytest.fixture
def cache_down():
    """Redis away: nothing listens on 127.0.0.1:1."""
    forget_local_counts()
    with override_settings(CACHES=DEAD_REDIS):
        caches["default"]  # noqa: B018 - the handler is rebuilt for the new setting
        yield
    caches["default"].clear()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def boss():
    """A superuser: every list and page is theirs to read."""
    return make_user("boss", is_staff=True, is_superuser=True)


# --- Dates and cursors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [{"end": "9999-12-31"}, {"start": "0001-01-01"}, {"start": "9999-12-31"}])
def test_ledger_entries_with_a_date_the_calendar_cannot_hold_are_400(boss, query):
    response = token_client(boss).get("/api/ledger/accounts/mpesa_utility/entries/", query)
    assert response.status_code == 400, response.content
    assert set(response.json()) == set(query)


@pytest.mark.parametrize(
    "cursor", [base64.b64encode(b"p=garbage").decode(), base64.b64encode(b"p=0001-01-01 00:00+14:00").decode()]
)
def test_a_forged_ledger_cursor_is_404_as_on_other_lists(boss, cursor):
    response = token_client(boss).get("/api/ledger/accounts/mpesa_utility/entries/", {"cursor": cursor})
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize("when", ["0001-01-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_funding_effective_at_the_calendars_edge_is_400_and_creates_nothing(boss, when):
    response = token_client(boss).post(
        "/api/ledger/funding/", {"kind": "top_up", "amount": "100.00", "note": "float", "effective_at": when}
    )
    assert response.status_code == 400, response.content
    assert "effective_at" in response.json()
    assert not FundingRequest.objects.exists()


@pytest.mark.parametrize("after", ["\x00", "evt_\x00", "x" * 5000])
def test_an_event_id_that_cannot_be_one_is_400(boss, after):
    response = token_client(boss).get("/api/events/", {"after": after})
    assert response.status_code == 400, response.content
    assert "after" in response.json()


# --- A stored body with a lone surrogate ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["approver", "superuser"])
def test_the_admin_page_of_a_callback_whose_body_held_a_lone_surrogate_opens(who):
    user = make_approver() if who == "approver" else make_user(is_staff=True, is_superuser=True)
    # Stored as received (PostgreSQL cannot hold the surrogate itself as text); JSON reads it back as one.
    callback = make_callback(raw_body='{"Result": {"ResultDesc": "\\ud800 broken"}}')
    response = logged_in(user).get(f"/admin/payments/darajacallback/{callback.pk}/change/")
    assert response.status_code == 200
    assert "\\ud800 broken" in response.content.decode()


# --- Redis down -------------------------------------------------------------------------------------------------


def test_a_disbursement_request_is_taken_while_redis_is_down(cache_down):
    response = token_client(make_requester()).post(
        "/api/payouts/", {"phone": "0712345678", "amount": "500.00", "remarks": "Trainer fee"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Payout.objects.get().amount == Decimal("500.00")


def test_a_refund_request_is_taken_while_redis_is_down(cache_down):
    payment = make_payment()
    response = token_client(make_requester()).post(
        f"/api/payments/{payment.pk}/refund/", {"reason": "Double charge"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Payout.objects.get().payment_id == payment.pk


def test_an_stk_push_is_asked_for_while_redis_is_down(cache_down, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("payments.incoming.stk.publish_now", lambda task, *args: None)
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(make_requester()).post(
            "/api/payments/stk-push/", {"phone": "0708374149", "amount": "150", "account_reference": "ORDER-9"},
            format="json",
        )  # fmt: skip
    assert response.status_code == 201, response.content


def test_the_throttle_still_counts_in_the_process_while_redis_is_down(cache_down, settings, caplog):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "payout_create": "2/min"}}
    client = token_client(make_requester())
    body = {"phone": "0712345678", "amount": "500.00", "remarks": "Trainer fee"}
    answers = [client.post("/api/payouts/", body, format="json").status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert "cache unavailable" in caplog.text


def test_finance_job_pages_open_while_redis_is_down(cache_down, boss):
    job = FinanceJob.objects.create(
        kind=FinanceJobKind.EXPORT, status=FinanceJobStatus.RUNNING, requested_by=boss,
        params={"kind": "payouts", "start": "2024-07-01", "end": "2024-07-31", "format": "csv"},
    )  # fmt: skip
    client = logged_in(boss)
    assert client.get(f"/admin/payments/financejob/{job.pk}/change/").status_code == 200
    progress = client.get(f"/admin/payments/financejob/{job.pk}/progress/")
    assert progress.status_code == 200
    assert progress.json()["status"] == "running" and progress.json()["finished"] is False
    assert client.get("/admin/payments/financejob/").status_code == 200


# --- Every list, random query strings ------------------------------------------------------------------------

LIST_URLS = [
    "/api/payments/",
    "/api/payouts/",
    "/api/reconciliation/discrepancies/",
    "/api/stats/",
    "/api/dashboard/",
    "/api/reports/",
    "/api/events/",
    "/api/webhook-endpoints/",
    "/api/ledger/accounts/",
    "/api/ledger/accounts/mpesa_utility/entries/",
    "/api/ledger/trial-balance/",
    "/api/ledger/funding/",
]
PARAMETERS = [
    "cursor", "page_size", "start", "end", "at", "after", "status", "kind", "source", "phone", "receipt",
    "result_code", "created_after", "created_before", "ordering", "format", "group", "export",
]  # fmt: skip
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\x00", "\ud800", "evt_\x00", "9999-12-31", "0001-01-01", "0001-01-01T00:00:00+14:00",
                     "9999-12-31T23:59:59-14:00", "99999-01-01", "-1", "1e400", "NaN", "Infinity"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.sampled_from(LIST_URLS), query=st.dictionaries(st.sampled_from(PARAMETERS), nasty_text, max_size=4))
def test_no_list_answers_5xx_whatever_its_query_string(boss, url, query):
    client = APIClient()
    client.force_authenticate(boss)
    # As a client on the wire sends it: a lone surrogate travels as its UTF-8 bytes (%ED%A0%80).
    response = client.get(f"{url}?{urlencode(query, encoding='utf-8', errors='surrogatepass')}")
    assert response.status_code < 500, (url, query, response.content[:300])
